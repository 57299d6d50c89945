"""relative L1 weight change ||W_qat - W_fp||_1 / ||W_fp||_1 per layer, by bit width."""
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

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


# Side by side per bit width: the recipe's LR (the paper's: ≤2-bit at twice the 3-4-bit LR) and one
# equal LR for all widths (the control for that confound). The full-precision control (the same
# fine-tune without quantization) is a reference band per LR rule: its median and interquartile range.
RULES = {"recipe": (-0.2, 0.30, "QAT, recipe LR", "-"), "equal": (0.2, 0.10, "QAT, equal LR", "--")}


def values(s, model, b, rule, control):
    return [(s.num(i, "rel_l1"), matrix_name(s.text(i, "which"))) for i in range(len(s.rows))
            if s.text(i, "model") == model and s.bits(i) == b and P.lr_rule(s.rows[i]) == rule
            and P.is_control(s.rows[i]) == control and s.num(i, "rel_l1") is not None]


def quartiles(v):
    v = sorted(v)
    at = lambda q: v[min(len(v) - 1, int(q * (len(v) - 1) + 0.5))]
    return at(0.25), at(0.5), at(0.75)


def render(s, figdir, tabdir):
    models = s.models()
    rules = [r for r in RULES if any(P.lr_rule(row) == r for row in s.rows)] or ["recipe"]
    half = 0.36 if len(rules) > 1 else 0.8
    fig, axes = P.subplots(len(models), 1, height_per_row=3.4)
    kinds = []
    for ax, model in zip(axes, models):
        bits = sorted({s.bits(i) for i in range(len(s.rows)) if s.text(i, "model") == model})
        drawn = False
        for k, b in enumerate(bits):
            for rule in rules:
                dx0, alpha, _, ls = RULES[rule]
                x = k + (dx0 if len(rules) > 1 else 0.0)
                vals = values(s, model, b, rule, False)
                ctl = [v for v, _ in values(s, model, b, rule, True)]
                if ctl:
                    q1, q2, q3 = quartiles(ctl)
                    ax.fill_between([x - half / 2, x + half / 2], q1, q3, color="0.5", alpha=0.25, lw=0, zorder=1)
                    ax.plot([x - half / 2, x + half / 2], [q2, q2], color="black", ls=ls, lw=1.2, zorder=4)
                if not vals:
                    continue
                drawn = True
                vp = ax.violinplot([[v for v, _ in vals]], positions=[x], widths=half, showextrema=False)
                for body in vp["bodies"]:
                    body.set_facecolor(P.bit_color(b))
                    body.set_edgecolor(P.bit_color(b))
                    body.set_alpha(alpha)
                    if rule == "equal":
                        body.set_hatch("////")
                ax.boxplot([[v for v, _ in vals]], positions=[x], widths=half * 0.3, showfliers=False,
                           medianprops={"color": "black"}, manage_ticks=False)
                for j, (v, w) in enumerate(vals):
                    if w not in kinds:
                        kinds.append(w)
                    # Deterministic horizontal spread (golden-ratio sequence) so points do not hide each other.
                    dx = ((j * 0.6180339887) % 1.0 - 0.5) * half * 0.6
                    ax.plot(x + dx, v, "o", ms=2.0, color=P.CYCLE[order(kinds).index(w) % len(P.CYCLE)],
                            alpha=0.8, zorder=3)
        if not drawn:
            P.no_data(ax)
        ax.set_xticks(range(len(bits)))
        ax.set_xticklabels([P.bit_short(b) for b in bits])
        ax.set_xlim(-0.6, len(bits) - 0.4)
        ax.set_ylim(bottom=0)
        ax.margins(y=0.08)
        ax.set_xlabel("QAT bit width (bits per weight)" + ("; left: recipe LR, right (hatched): equal LR"
                                                          if len(rules) > 1 else ""))
        ax.set_ylabel("rel. L1 change ‖ΔW‖₁ / ‖W_FP‖₁")
        ax.set_title("%s: one point per layer and matrix" % model)
    handles = [Patch(facecolor="0.6", alpha=RULES[r][1] + 0.2, hatch="////" if r == "equal" else None,
                     label=RULES[r][2]) for r in rules]
    if any(P.is_control(row) for row in s.rows):
        handles += [Line2D([], [], color="black", ls=RULES[r][3], lw=1.2,
                           label="FP control, %s LR" % r) for r in rules]
    handles += [Line2D([], [], ls="", marker="o", ms=3, color=P.CYCLE[j % len(P.CYCLE)], label="matrix " + w)
                for j, w in enumerate(order(kinds))]
    return P.save_figure(fig, s, "Fig. 4: relative L1 weight change ‖W_QAT − W_FP‖₁ / ‖W_FP‖₁ during QAT, per layer "
                         "and matrix; QAT at the recipe's LR (≤2-bit at twice the 3-4-bit LR) and at one equal LR, "
                         "against the same fine-tune in full precision (black line: its median; grey band: its interquartile range)", figdir, "fig4_transition",
                         legend=handles)


def order(kinds):
    return [w for w in WHICH if w in kinds] + sorted(w for w in kinds if w not in WHICH)


if __name__ == "__main__":
    P.main_one(__import__(__name__))
