"""accuracy vs CPU decode speed with packed low-bit weights."""
import pqplot as P

SUITE = "speed"
ARTIFACT = "Fig. 7c"


def render(s, figdir, tabdir):
    n = len(s.rows)
    scale = P.acc_scale([s.num(i, "acc_avg") for i in range(n)])
    fig, axes = P.subplots(1, 1, height_per_row=3.4, width=4.8)
    ax = axes[0]
    plotted, xs = False, []
    for b in s.bit_widths():
        pts = []
        for i in range(n):
            t, a = s.num(i, "tokens_per_s"), s.num(i, "acc_avg")
            if s.bits(i) == b and t is not None and a is not None:
                pts.append((t, a * scale, s.text(i, "model")))
        if not pts:
            continue
        pts.sort()
        xs += [p[0] for p in pts]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", color=P.bit_color(b), label=P.bit_label(b))
        for x, y, m in pts:
            ax.annotate(m, (x, y), xytext=(3, 3), textcoords="offset points", fontsize=5.5, color="#444444")
        plotted = True
    if plotted:
        ax.legend(frameon=False)
    else:
        P.no_data(ax)
    ax.set_xlabel("decode speed (tokens/s%s; higher is faster)" % P.maybe_log(ax, xs))
    ax.set_ylabel("avg. zero-shot accuracy (%)")
    ax.set_title("accuracy vs CPU decode speed")
    return P.save_figure(fig, s, "Fig. 7c: accuracy vs CPU decode speed with packed low-bit weights (point labels: model)", figdir, "fig7c_speed")


if __name__ == "__main__":
    P.main_one(__import__(__name__))
