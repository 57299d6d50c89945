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
    colors = {m: P.CYCLE[k % len(P.CYCLE)] for k, m in enumerate(ms)}
    # The verdict's metric (validation loss), one panel per (model, bit width) on its own scale, points
    # with 95% intervals: RTN at 2 bits sits far above the rest, and a shared or zoomed bar axis hid the
    # differences that decide the verdict.
    panels = [(model, b) for model in models for b in sorted({s.bits(i) for i in range(n) if s.text(i, "model") == model})]
    ncol = min(3, max(1, len(panels)))
    fig, axes = P.subplots(len(panels), ncol, height_per_row=2.2)
    index = {(s.text(i, "model"), s.bits(i), s.text(i, "method")): i for i in range(n)}
    handles = {}
    for ax, (model, b) in zip(axes, panels):
        x = 0
        for m in ms:
            i = index.get((model, b, m))
            if i is None or s.num(i, "val_loss") is None:
                continue
            P.interval_bar(ax, x, s.num(i, "val_loss"), s.ci_drawn(i, "val_loss"), colors[m], ms=4.5,
                           label=LABELS.get(m, m))
            x += 1
        present = [m for m in ms if (model, b, m) in index and s.num(index[(model, b, m)], "val_loss") is not None]
        ax.set_xticks(range(len(present)))
        ax.set_xticklabels([LABELS.get(m, m) for m in present], rotation=30, ha="right", fontsize=6)
        ax.set_xlim(-0.6, max(1, len(present)) - 0.4)
        ax.margins(y=0.15)
        ax.set_ylabel("validation loss (nats/token)" if (model, b) == panels[0] or ncol == 1 else "")
        ax.set_title("%s %s" % (model, P.bit_label(b)))
        if not present:
            P.no_data(ax)
    files = P.save_figure(fig, s, "Fig. 9: ParetoQ vs PTQ (RTN, GPTQ) and min-max QAT by validation loss (the "
                          "verdict's metric; lower is better), each panel on its own scale; %s" % P.INTERVAL_NOTE,
                          figdir, "fig9_baselines")

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
