"""quantization functions compared at every bit width (learned vs statistics-based ranges, SEQ vs LSQ)."""
import pqplot as P

SUITE = "quantfn"
ARTIFACT = "Fig. 6"

# The verdict metric first. Points with 95% intervals, one panel per bit width on its own scale:
# bars on a zoomed axis would exaggerate, bars from zero would hide every difference.
METRICS = [("val_loss", "validation loss\n(nats/token)"), ("acc_avg", "avg. zero-shot\naccuracy (%)")]


def render(s, figdir, tabdir):
    n = len(s.rows)
    models = s.models()
    names = []
    for i in range(n):
        if s.text(i, "quantizer") not in names:
            names.append(s.text(i, "quantizer"))
    colors = {q: P.CYCLE[k % len(P.CYCLE)] for k, q in enumerate(names)}
    scale = P.acc_scale([s.num(i, "acc_avg") for i in range(n)])
    bits = s.bit_widths()
    panels = [(m, key, label, b) for m in models for key, label in METRICS for b in bits]
    fig, axes = P.subplots(len(panels), len(bits), height_per_row=2.0)
    for ax, (model, key, label, b) in zip(axes, panels):
        k_ = scale if key == "acc_avg" else 1
        here = [i for i in range(n) if s.text(i, "model") == model and s.bits(i) == b and s.num(i, key) is not None]
        for x, i in enumerate(sorted(here, key=lambda i: names.index(s.text(i, "quantizer")))):
            q = s.text(i, "quantizer")
            P.interval_bar(ax, x, s.num(i, key) * k_, P.scaled_ci(s.ci_drawn(i, key), k_), colors[q], ms=4)
        ax.set_xticks(range(len(here)))
        ax.set_xticklabels([s.text(i, "quantizer") for i in sorted(here, key=lambda i: names.index(s.text(i, "quantizer")))],
                           rotation=45, ha="right", fontsize=6)
        ax.set_xlim(-0.6, max(len(here), 1) - 0.4)
        ax.margins(y=0.15)
        ax.set_title("%s %s" % (model, P.bit_label(b)), fontsize=7)
        if b == bits[0]:
            ax.set_ylabel(label)
        if not here:
            P.no_data(ax)
    return P.save_figure(fig, s, "Fig. 6: quantization functions per bit width (learned: sign, seq, lsq; statistics: "
                         "minmax, clip; controls: sign_max = sign with scale init max|W| instead of mean|W|, "
                         "lsq_wide = LSQ initialised so its extra negative level is in use); each panel on its "
                         "own scale; %s" % P.INTERVAL_NOTE, figdir, "fig6_quantfn")


if __name__ == "__main__":
    P.main_one(__import__(__name__))
