"""quantization grids: each quantizer's transfer function q(u), u = W/alpha."""
import pqplot as P

SUITE = "grids"
ARTIFACT = "Fig. 5"


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
                # Where two quantizers share levels the curves overlap: thinning dashed
                # lines drawn on top keep each one visible without moving any point.
                ax.plot(u, q, color=P.CYCLE[k], lw=2.2 - 0.5 * min(k, 3),
                        ls=P.LINESTYLES[k % len(P.LINESTYLES)], label=name, zorder=2 + k)
        ax.set_title(P.bit_label(b))
        ax.set_xlabel("u = W / α (dimensionless)")
        ax.set_ylabel("quantized level q̂(u)")
        ax.axhline(0, color="#999999", lw=0.5)
        ax.legend(loc="upper left", frameon=False)
    return P.save_figure(fig, s, "Fig. 5: quantization grids q̂(u)",
                         figdir, "fig5_grids")


if __name__ == "__main__":
    P.main_one(__import__(__name__))
