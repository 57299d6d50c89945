"""ternary (1.58-bit) methods compared: ParetoQ vs RTN, min-max QAT and from-scratch absmean (BitNet-like)."""
import pqplot as P

SUITE = "ternary"
ARTIFACT = "Fig. 8 / Table 2"

LABELS = {"paretoq": "ParetoQ (SEQ, fine-tuned)", "rtn": "RTN (PTQ)", "minmax_qat": "min-max QAT (LLM-QAT-like)",
          "absmean_scratch": "absmean from scratch (BitNet b1.58-like)"}


def methods(s):
    out = []
    for i in range(len(s.rows)):
        if s.text(i, "method") not in out:
            out.append(s.text(i, "method"))
    return out


def render(s, figdir, tabdir):
    n = len(s.rows)
    scale = P.acc_scale([s.num(i, "acc_avg") for i in range(n)])
    fig, axes = P.subplots(2, 2, height_per_row=3.0)
    for ax, key, label in ((axes[0], "acc_avg", "avg. zero-shot accuracy (%)"),
                           (axes[1], "val_loss", "validation loss (nats/token)")):
        plotted, xs = False, []
        for k, m in enumerate(methods(s)):
            pts = []
            for i in range(n):
                size, v = s.num(i, "size_bytes"), s.num(i, key)
                if s.text(i, "method") == m and size is not None and v is not None:
                    pts.append((size / 1e6, v * (scale if key == "acc_avg" else 1)))
            if pts:
                pts.sort()
                xs += [p[0] for p in pts]
                ax.plot([p[0] for p in pts], [p[1] for p in pts], "os^Dv"[k % 5] + "-", color=P.CYCLE[k],
                        label=LABELS.get(m, m))
                plotted = True
        if not plotted:
            P.no_data(ax)
        ax.set_xlabel("effective model size (MB%s)" % P.maybe_log(ax, xs))
        ax.set_ylabel(label)
    handles, _ = axes[0].get_legend_handles_labels()
    files = P.save_figure(fig, s, "Fig. 8: ternary (1.58-bit) methods at each model size", figdir, "fig8_ternary",
                          legend=handles)

    ms = methods(s)
    header = ["model"] + ["%s acc / loss" % m for m in ms]
    rows = []
    for model in s.models():
        cells = [model]
        for m in ms:
            hit = [i for i in range(n) if s.text(i, "model") == model and s.text(i, "method") == m]
            if not hit:
                cells.append("–")
                continue
            a, l = s.num(hit[0], "acc_avg"), s.num(hit[0], "val_loss")
            cells.append("%s / %s" % (P.fmt(None if a is None else a * scale, 1), P.fmt(l, 3)))
        rows.append(cells)
    files += P.write_table(s, tabdir, "table2_ternary", "Ternary (1.58-bit): avg. accuracy (%) / validation loss",
                           header, rows, align="l" + "r" * len(ms),
                           note="Methods: " + "; ".join("%s = %s" % (m, LABELS.get(m, m)) for m in ms) + ".")
    return files


if __name__ == "__main__":
    P.main_one(__import__(__name__))
