"""the split of a fixed token budget between FP pretraining and QAT."""
from matplotlib.lines import Line2D

import pqplot as P

SUITE = "budget"
ARTIFACT = "Fig. 2"

METRICS = [("val_loss", "validation loss (nats/token)", min), ("acc_avg", "avg. zero-shot accuracy (%)", max)]


def render(s, figdir, tabdir):
    models = s.models()
    scale = P.acc_scale([s.num(i, "acc_avg") for i in range(len(s.rows))])
    fig, axes = P.subplots(len(models) * 2, 2, height_per_row=2.5)
    totals = set()
    control = False
    for m_idx, model in enumerate(models):
        for k, (key, label, best) in enumerate(METRICS):
            ax = axes[2 * m_idx + k]
            plotted = False
            for i in range(len(s.rows)):
                # The control: full precision for the whole budget (a 16-bit row), a reference line, not a
                # point of the split sweep, so it takes no part in the ★ optimum.
                v = s.num(i, key)
                if s.text(i, "model") == model and s.bits(i) >= 16 and v is not None:
                    k_ = scale if key == "acc_avg" else 1
                    ax.axhline(v * k_, color="black", ls="-.", lw=0.9, zorder=1)
                    ci = s.ci_drawn(i, key)
                    if ci is not None:
                        ax.axhspan(ci[0] * k_, ci[1] * k_, color="0.5", alpha=0.2, lw=0, zorder=0)
                    control = True
            for b in [b for b in s.bit_widths() if b < 16]:
                pts = []
                for i in range(len(s.rows)):
                    if s.text(i, "model") != model or s.bits(i) != b:
                        continue
                    v = s.num(i, key)
                    t = s.num(i, "total_tokens")
                    if t is not None:
                        totals.add(int(t))
                    if v is not None:
                        k_ = scale if key == "acc_avg" else 1
                        pts.append((s.num(i, "fp_fraction") * 100, v * k_, P.scaled_ci(s.ci_drawn(i, key), k_)))
                if not pts:
                    continue
                pts.sort()
                c = P.bit_color(b)
                P.errorbars(ax, [p[0] for p in pts], [p[1] for p in pts], [p[2] for p in pts], c, marker="o",
                            ms=3, label=P.bit_label(b))
                bx, by, _ = best(pts, key=lambda p: p[1])
                ax.plot([bx], [by], "*", color=c, ms=10, mec="black", mew=0.5, zorder=5)
                plotted = True
            ax.axvline(90, color="black", ls="--", lw=0.8)
            # The label away from the FP control's line: it lies low on the loss axis, high on the accuracy one.
            top = key == "val_loss"
            ax.text(89, 0.98 if top else 0.02, "90% (paper) ", transform=ax.get_xaxis_transform(), fontsize=6,
                    va="top" if top else "bottom", ha="right")
            ax.set_xlim(-3, 103)
            ax.set_xlabel("FP share of the token budget, B_FP / B_total (%)")
            ax.set_ylabel(label)
            ax.set_title("%s — %s" % (model, "loss (★ = lowest)" if key == "val_loss" else "accuracy (★ = highest)"))
            if not plotted:
                P.no_data(ax)
    budget = ", ".join(P.human(t) for t in sorted(totals)) or "?"
    handles = P.bit_handles([b for b in s.bit_widths() if b < 16])
    if control:
        handles.append(Line2D([], [], color="black", ls="-.", lw=0.9, label="FP control (whole budget)"))
    return P.save_figure(fig, s, "Fig. 2: fixed budget of %s tokens split between FP and QAT (0%% = QAT from scratch, "
                         "100%% = PTQ)%s; %s" % (budget, "; dash-dot line and grey band: the full-precision model "
                                                 "trained on the whole budget (a control, not a split)" if control else "",
                                                 P.INTERVAL_NOTE), figdir, "fig2_budget", legend=handles)


if __name__ == "__main__":
    P.main_one(__import__(__name__))
