"""ParetoQ at 2/3/4 bits vs PTQ (RTN, GPTQ) and min-max QAT."""
import pqplot as P

SUITE = "baselines"
ARTIFACT = "Fig. 9 / Table 1"

LABELS = {"paretoq": "ParetoQ", "rtn": "RTN", "gptq": "GPTQ", "minmax_qat": "min-max QAT"}


def render(s, figdir, tabdir):
    n = len(s.rows)
    scale = P.acc_scale([s.num(i, "acc_avg") for i in range(n)])
    ms = []
    for i in range(n):
        if s.text(i, "method") not in ms:
            ms.append(s.text(i, "method"))
    models = s.models()
    fig, axes = P.subplots(len(models), min(2, len(models)), height_per_row=2.8)
    index = {(s.text(i, "model"), s.bits(i), s.text(i, "method")): i for i in range(n)}
    handles = {}
    for ax, model in zip(axes, models):
        bits = sorted({s.bits(i) for i in range(n) if s.text(i, "model") == model})

        def value(b, m):
            i = index.get((model, b, m))
            v = None if i is None else s.num(i, "acc_avg")
            return None if v is None else v * scale

        for h in P.grouped_bars(ax, bits, ms, value, zoom=True):
            handles.setdefault(h.get_label(), h)
        ax.set_xticklabels([P.bit_label(b) for b in bits])
        ax.set_xlabel("bit width")
        ax.set_ylabel("avg. zero-shot accuracy (%)")
        ax.set_title("%s (y axis zoomed to the data)" % model)
        if not ax.patches:
            P.no_data(ax)
    legend = [handles[m] for m in ms if m in handles]
    for h in legend:
        h.set_label(LABELS.get(h.get_label(), h.get_label()))
    files = P.save_figure(fig, s, "Fig. 9: ParetoQ vs PTQ (RTN, GPTQ) and min-max QAT", figdir, "fig9_baselines",
                          legend=legend)

    header = ["model", "bits"] + ["%s acc / loss" % LABELS.get(m, m) for m in ms]
    rows = []
    for model in models:
        for b in sorted({s.bits(i) for i in range(n) if s.text(i, "model") == model}):
            cells = [model, "%g" % b]
            for m in ms:
                hit = [i for i in range(n) if s.text(i, "model") == model and s.bits(i) == b and s.text(i, "method") == m]
                if not hit:
                    cells.append("–")
                    continue
                a, l = s.num(hit[0], "acc_avg"), s.num(hit[0], "val_loss")
                cells.append("%s / %s" % (P.fmt(None if a is None else a * scale, 1), P.fmt(l, 3)))
            rows.append(cells)
    files += P.write_table(s, tabdir, "table1_baselines", "Avg. zero-shot accuracy (%) / validation loss vs baselines",
                           header, rows, align="ll" + "r" * len(ms))
    return files


if __name__ == "__main__":
    P.main_one(__import__(__name__))
