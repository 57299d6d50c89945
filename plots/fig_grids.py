"""quantization grids: each quantizer's transfer function q(u), u = W/alpha."""
import pqplot as P

SUITE = "grids"
ARTIFACT = "Fig. 5"


def normalizer(q):
    """Grids with integer levels (LSQ, min-max: up to 2^(b-1)) are scaled by their largest |level| so
    that every grid lies in [-1, 1] and all panels share one scale; SEQ/sign grids already do."""
    m = max(abs(v) for v in q) if q else 1.0
    return m if m > 1.0 + 1e-9 else 1.0


def render(s, figdir, tabdir):
    bits = s.bit_widths()
    fig, axes = P.subplots(len(bits), min(len(bits), 3), height_per_row=2.3)
    for ax, b in zip(axes, bits):
        rows = [i for i in range(len(s.rows)) if s.bits(i) == b]
        names = sorted({s.text(i, "quantizer") for i in rows})
        for k, name in enumerate(names):
            for i in rows:
                if s.text(i, "quantizer") != name:
                    continue
                u, q = s.numlist(i, "u"), s.numlist(i, "q")
                if len(u) != len(q):
                    raise P.Malformed("%s: 'u' has %d values but 'q' has %d" % (s.where(i), len(u), len(q)))
                m = normalizer(q)
                # Where two quantizers share levels the curves overlap: thinning dashed
                # lines drawn on top keep each one visible without moving any point.
                ax.plot([x / m for x in u], [y / m for y in q], color=P.CYCLE[k], lw=2.2 - 0.5 * min(k, 3),
                        ls=P.LINESTYLES[k % len(P.LINESTYLES)], label=name + (" (÷%g)" % m if m != 1 else ""),
                        zorder=2 + k)
        ax.set_title(P.bit_label(b))
        ax.set_xlim(-1.5, 1.5)
        ax.set_ylim(-1.15, 1.15)
        ax.set_xticks([-1, 0, 1])
        ax.set_yticks([-1, -0.5, 0, 0.5, 1])
        ax.set_xlabel("u = W / α")
        ax.set_ylabel("level q̂(u)")
        ax.axhline(0, color="#999999", lw=0.5)
        ax.legend(loc="upper left", frameon=False, fontsize=6)
    return P.save_figure(fig, s, "Fig. 5: quantization grids q̂(u), all panels on one scale (grids with integer "
                         "levels, e.g. LSQ, divided by their largest |level|, as the legend says)",
                         figdir, "fig5_grids")


if __name__ == "__main__":
    P.main_one(__import__(__name__))
