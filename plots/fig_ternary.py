"""ternary (1.58-bit) methods compared: ParetoQ vs RTN, min-max QAT and from-scratch absmean (BitNet-like)."""
import pqplot as P

SUITE = "ternary"
ARTIFACT = "Fig. 8 / Table 2"

LABELS = {"paretoq": "ParetoQ (SEQ, fine-tuned)", "rtn": "RTN (PTQ)", "minmax_qat": "min-max QAT (LLM-QAT-like)",
          "absmean_scratch": "absmean from scratch (BitNet b1.58-like)"}
# The verdict's metric (validation loss) first; accuracy beside it, both with 95% intervals.
METRICS = [("val_loss", "validation loss (nats/token)"), ("acc_avg", "avg. zero-shot accuracy (%)")]


def methods(s):
    out = []
    for i in range(len(s.rows)):
        if s.text(i, "method") not in out:
            out.append(s.text(i, "method"))
    return out


def render(s, figdir, tabdir):
    n = len(s.rows)
    scale = P.acc_scale([s.num(i, "acc_avg") for i in range(n)])
    ms, models = methods(s), s.models()
    fig, axes = P.subplots(2, 2, height_per_row=3.0)
    for ax, (key, label) in zip(axes, METRICS):
        k_ = scale if key == "acc_avg" else 1
        # Models on x (small to large, with their size), methods side by side within a model: the
        # methods of one model share its size, so on a size axis their markers sat on top of each other.
        for k, m in enumerate(ms):
            for x, model in enumerate(models):
                hit = [i for i in range(n) if s.text(i, "model") == model and s.text(i, "method") == m
                       and s.num(i, key) is not None]
                if hit:
                    i = hit[0]
                    P.interval_bar(ax, x + (k - (len(ms) - 1) / 2) * 0.15, s.num(i, key) * k_,
                                   P.scaled_ci(s.ci_drawn(i, key), k_), P.CYCLE[k], marker="os^Dv"[k % 5], ms=4.5,
                                   label=LABELS.get(m, m) if x == 0 else None)
        ax.set_xticks(range(len(models)))
        sizes = {}
        for i in range(n):
            if s.num(i, "size_bytes") is not None:
                sizes.setdefault(s.text(i, "model"), s.num(i, "size_bytes"))
        ax.set_xticklabels(["%s\n(%s MB)" % (m, P.fmt(sizes[m] / 1e6, 2)) if m in sizes else m for m in models])
        ax.set_xlim(-0.6, len(models) - 0.4)
        ax.margins(y=0.12)
        ax.set_xlabel("model (effective size at 1.58 bits)")
        ax.set_ylabel(label)
        ax.set_title("%s (%s)" % ("loss — the verdict's metric" if key == "val_loss" else "accuracy",
                                  "lower is better" if key == "val_loss" else "higher is better"))
        if not ax.lines and not ax.collections:
            P.no_data(ax)
    handles, _ = axes[0].get_legend_handles_labels()
    files = P.save_figure(fig, s, "Fig. 8: ternary (1.58-bit) methods at each model size; %s" % P.INTERVAL_NOTE,
                          figdir, "fig8_ternary", legend=handles)

    header = ["model"] + ["%s acc / loss" % m for m in ms]
    rows = []
    for model in models:
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
