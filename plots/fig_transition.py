"""relative L1 weight change ||W_qat - W_fp||_1 / ||W_fp||_1 per layer, by bit width."""
from matplotlib.lines import Line2D

import pqplot as P

SUITE = "transition"
ARTIFACT = "Fig. 4"

WHICH = ["q", "k", "v", "o", "gate", "up", "down"]


def matrix_name(which):
    """'wq', 'w_down', 'q' -> 'q', 'down', 'q' (the harness may prefix weight names with w/w_)."""
    for prefix in ("w_", "w"):
        if which.startswith(prefix) and which[len(prefix):] in WHICH:
            return which[len(prefix):]
    return which


def render(s, figdir, tabdir):
    models = s.models()
    fig, axes = P.subplots(len(models), min(len(models), 2), height_per_row=3.0)
    for ax, model in zip(axes, models):
        bits = sorted({s.bits(i) for i in range(len(s.rows)) if s.text(i, "model") == model})
        groups, kinds = [], []
        for b in bits:
            vals = [(s.num(i, "rel_l1"), matrix_name(s.text(i, "which"))) for i in range(len(s.rows))
                    if s.text(i, "model") == model and s.bits(i) == b and s.num(i, "rel_l1") is not None]
            groups.append(vals)
            for _, w in vals:
                if w not in kinds:
                    kinds.append(w)
        pos = [k for k, g in enumerate(groups) if g]
        if not pos:
            P.no_data(ax)
        else:
            vp = ax.violinplot([[v for v, _ in groups[k]] for k in pos], positions=pos, widths=0.8,
                               showextrema=False)
            for body, k in zip(vp["bodies"], pos):
                body.set_facecolor(P.bit_color(bits[k]))
                body.set_alpha(0.25)
            ax.boxplot([[v for v, _ in groups[k]] for k in pos], positions=pos, widths=0.25, showfliers=False,
                       medianprops={"color": "black"})
            kinds = [w for w in WHICH if w in kinds] + sorted(w for w in kinds if w not in WHICH)
            for k in pos:
                # Deterministic horizontal spread (golden-ratio sequence) so points do not hide each other.
                for j, (v, w) in enumerate(groups[k]):
                    dx = ((j * 0.6180339887) % 1.0 - 0.5) * 0.5
                    ax.plot(k + dx, v, "o", ms=2.5, color=P.CYCLE[kinds.index(w) % len(P.CYCLE)], alpha=0.8,
                            zorder=3)
            handles = [Line2D([], [], ls="", marker="o", ms=3, color=P.CYCLE[j % len(P.CYCLE)], label=w)
                       for j, w in enumerate(kinds)]
            ax.legend(handles=handles, title="matrix", frameon=False, ncol=2, fontsize=6, title_fontsize=6,
                      loc="upper right")
        ax.set_xticks(range(len(bits)))
        ax.set_xticklabels([P.bit_short(b) for b in bits])
        ax.set_xlim(-0.6, len(bits) - 0.4)
        ax.set_ylim(bottom=0)
        ax.set_xlabel("QAT bit width (bits per weight)")
        ax.set_ylabel("rel. L1 change ‖ΔW‖₁ / ‖W_FP‖₁")
        ax.set_title("%s: one point per layer and matrix" % model)
    return P.save_figure(fig, s, "Fig. 4: relative L1 weight change ‖W_QAT − W_FP‖₁ / ‖W_FP‖₁ during QAT, per layer and matrix", figdir, "fig4_transition")


if __name__ == "__main__":
    P.main_one(__import__(__name__))
