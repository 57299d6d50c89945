"""low-bit GEMV/GEMM kernel timings vs fp32 OpenBLAS (table and bar chart)."""
import pqplot as P

SUITE = "kernels"
ARTIFACT = "kernel table"

# The kernel benchmark's own field names are accepted next to the suite's (first name wins).
ALIASES = {"bits_per_weight": ("bits_per_weight", "bits"), "weight_gbps": ("weight_gbps", "weight_gbs"),
           "frac_of_bandwidth": ("frac_of_bandwidth", "fraction_of_read", "fraction_of_triad"),
           "residency": ("residency", "placement")}


def num(s, i, key):
    for k in ALIASES.get(key, (key,)):
        v = s.num(i, k)
        if v is not None:
            return v
    return None


def text(s, i, key, default=""):
    for k in ALIASES.get(key, (key,)):
        if s.rows[i].get(k) is not None:
            return s.text(i, k)
    return default


def render(s, figdir, tabdir):
    n = len(s.rows)
    extra = [k for k in ("kernel", "act", "isa") if any(s.rows[i].get(k) is not None for i in range(n))]
    has_batch = any(s.rows[i].get("batch") is not None for i in range(n))

    def order_key(i):
        return (text(s, i, "residency"), num(s, i, "rows"), num(s, i, "cols"), num(s, i, "batch") or 1,
                num(s, i, "threads") or 0, -(num(s, i, "bits_per_weight") or 0), s.text(i, "format"),
                tuple(text(s, i, k) for k in extra))

    order = sorted(range(n), key=order_key)
    header = ["format"] + extra + ["bits/weight", "shape (rows×cols)"] + (["batch"] if has_batch else []) + [
        "threads", "weights", "median (µs)", "GFLOP/s", "weight GB/s", "of DRAM bw."]
    rows = []
    for i in order:
        f = num(s, i, "frac_of_bandwidth")
        rows.append([s.text(i, "format")] + [text(s, i, k, "–") for k in extra] +
                    [P.fmt(num(s, i, "bits_per_weight"), 2), "%d×%d" % (num(s, i, "rows"), num(s, i, "cols"))] +
                    ([P.fmt(num(s, i, "batch"), 0)] if has_batch else []) +
                    [P.fmt(num(s, i, "threads"), 0), text(s, i, "residency", "–"), P.fmt(num(s, i, "median_us"), 1),
                     P.fmt(num(s, i, "gflops"), 2), P.fmt(num(s, i, "weight_gbps"), 2),
                     "–" if f is None else "%.0f%%" % (100 * f)])
    files = P.write_table(s, tabdir, "table_kernels", "Kernel timings (median of repeated calls)", header, rows,
                          align="l" * (1 + len(extra)) + "rl" + ("r" if has_batch else "") + "rlrrrr",
                          note="weight GB/s = packed weight bytes read per call / median time; 'streamed' weights "
                               "exceed the caches (DRAM-bound, as in decoding), 'resident' ones fit.")

    # The chart: matrix-vector products only (batch 1, the decode case); per shape and format the fastest
    # measured variant (activation type, ISA), one panel per residency and thread count.
    best = {}
    for i in range(n):
        if (num(s, i, "batch") or 1) != 1 or num(s, i, "median_us") is None:
            continue
        panel = (text(s, i, "residency"), num(s, i, "threads"))
        shape = (int(num(s, i, "rows")), int(num(s, i, "cols")))
        k = (panel, shape, s.text(i, "format"))
        if k not in best or num(s, i, "median_us") < best[k][0]:
            best[k] = (num(s, i, "median_us"), num(s, i, "bits_per_weight") or 0)
    panels = sorted({k[0] for k in best}, key=lambda p: (p[0], p[1] or 0))
    formats = sorted({k[2] for k in best}, key=lambda f: (-max(b for (_, _, g), (_, b) in best.items() if g == f), f))
    fig, axes = P.subplots(max(1, len(panels)), min(2, max(1, len(panels))), height_per_row=2.8)
    handles = {}
    for ax, panel in zip(axes, panels):
        shapes = sorted({k[1] for k in best if k[0] == panel})
        for h in P.grouped_bars(ax, shapes, formats,
                                lambda shape, f: best.get((panel, shape, f), (None,))[0]):
            handles.setdefault(h.get_label(), h)
        ax.set_xticklabels(["%d×\n%d" % sh for sh in shapes], fontsize=6)  # two lines: no overlap
        ax.set_xlabel("weight matrix (rows × cols)")
        ax.set_ylabel("median time per GEMV (µs%s)" % P.maybe_log(
            ax, [v[0] for k, v in best.items() if k[0] == panel], axis="y", force=True))
        ax.set_title("%s weights, %s thread%s" % (panel[0] or "?", P.fmt(panel[1], 0), "" if panel[1] == 1 else "s"))
    if not panels:
        P.no_data(axes[0])
    files += P.save_figure(fig, s, "Kernel timings: matrix-vector product per packed format vs fp32 (fastest "
                           "activation type and ISA per format; lower is faster)", figdir, "kernels",
                           legend=[handles[f] for f in formats if f in handles])
    return files


if __name__ == "__main__":
    P.main_one(__import__(__name__))
