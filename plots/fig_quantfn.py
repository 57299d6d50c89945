"""quantization functions compared at every bit width (learned vs statistics-based ranges, SEQ vs LSQ)."""
import pqplot as P

SUITE = "quantfn"
ARTIFACT = "Fig. 6"

METRICS = [("acc_avg", "avg. zero-shot accuracy (%)"), ("val_loss", "validation loss (nats/token)")]


def render(s, figdir, tabdir):
    n = len(s.rows)
    models = s.models()
    names = []
    for i in range(n):
        if s.text(i, "quantizer") not in names:
            names.append(s.text(i, "quantizer"))
    scale = P.acc_scale([s.num(i, "acc_avg") for i in range(n)])
    index = {(s.text(i, "model"), s.bits(i), s.text(i, "quantizer")): i for i in range(n)}
    fig, axes = P.subplots(len(models) * 2, 1, height_per_row=2.3)
    handles = {}
    for m_idx, model in enumerate(models):
        bits = sorted({s.bits(i) for i in range(n) if s.text(i, "model") == model})
        for k, (key, label) in enumerate(METRICS):
            ax = axes[2 * m_idx + k]

            def value(b, q):
                i = index.get((model, b, q))
                v = None if i is None else s.num(i, key)
                return None if v is None else v * (scale if key == "acc_avg" else 1)

            for h in P.grouped_bars(ax, bits, names, value, zoom=True):
                handles.setdefault(h.get_label(), h)
            ax.set_xticklabels([P.bit_label(b) for b in bits])
            ax.set_ylabel(label)
            ax.set_title("%s — %s (y axis zoomed to the data)" % (model, "accuracy" if key == "acc_avg" else "loss"))
            if not ax.patches:
                P.no_data(ax)
    axes[-1].set_xlabel("QAT bit width")
    return P.save_figure(fig, s, "Fig. 6: quantization functions at each bit width (learned ranges: sign, seq, lsq; "
                         "statistics-based: minmax, clip)", figdir, "fig6_quantfn",
                         legend=[handles[q] for q in names if q in handles])


if __name__ == "__main__":
    P.main_one(__import__(__name__))
