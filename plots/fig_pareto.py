"""accuracy vs effective model size, one curve per bit width, and the per-task accuracy table."""
import pqplot as P

SUITE = "pareto"
ARTIFACT = "Fig. 1 / Fig. 7a"


def frontier(points):
    """Points (x, y) not dominated by a smaller-or-equal x with a higher y (the upper-left envelope)."""
    out, best = [], None
    for x, y in sorted(points, key=lambda p: (p[0], -p[1])):
        if best is None or y > best:
            out.append((x, y))
            best = y
    return out


def nonembed_params(s):
    """Quantized (non-embedding) parameter count per model, from its sizes at several bit widths:
    size = Q × bits/8 + E × 2 bytes is a line in bits with slope Q/8 (least squares)."""
    out = {}
    for model in s.models():
        pts = [(s.bits(i), s.num(i, "size_bytes")) for i in range(len(s.rows))
               if s.text(i, "model") == model and s.num(i, "size_bytes") is not None]
        if len({b for b, _ in pts}) < 2:
            continue
        mb = sum(b for b, _ in pts) / len(pts)
        my = sum(y for _, y in pts) / len(pts)
        slope = sum((b - mb) * (y - my) for b, y in pts) / sum((b - mb) ** 2 for b, _ in pts)
        if slope > 0:
            out[model] = 8 * slope
    return out


def render(s, figdir, tabdir):
    n = len(s.rows)
    scale = P.acc_scale([s.num(i, "acc_avg") for i in range(n)])
    q = nonembed_params(s)
    # Top: the paper's axis (the 16-bit embedding included, which dominates at our sizes); bottom:
    # non-embedding parameters × bits/8, the part that quantization changes.
    panels = [("acc_avg", "total"), ("val_loss", "total"), ("acc_avg", "nonembed"), ("val_loss", "nonembed")]
    fig, axes = P.subplots(4, 2, height_per_row=3.0)
    for ax, (key, xaxis) in zip(axes, panels):
        k_ = scale if key == "acc_avg" else 1
        allpts = []
        for b in s.bit_widths():
            pts = []
            for i in range(n):
                size, v = s.num(i, "size_bytes"), s.num(i, key)
                if s.bits(i) != b or size is None or v is None:
                    continue
                if xaxis == "nonembed":
                    model = s.text(i, "model")
                    if model not in q:
                        continue
                    size = q[model] * min(b, 16) / 8
                pts.append((size / 1e6, v * k_, P.scaled_ci(s.ci_drawn(i, key), k_)))
            if not pts:
                continue
            pts.sort()
            P.errorbars(ax, [p[0] for p in pts], [p[1] for p in pts], [p[2] for p in pts], P.bit_color(b),
                        marker="o", ms=3.5, label=P.bit_label(b))
            allpts += pts
        if allpts:
            sign = 1 if key == "acc_avg" else -1
            f = [(x, sign * y) for x, y in frontier([(x, sign * y) for x, y, _ in allpts])]
            ax.plot([p[0] for p in f], [p[1] for p in f], color="black", lw=3, alpha=0.15, zorder=0,
                    drawstyle="steps-post", label="Pareto frontier")
        else:
            P.no_data(ax)
        unit = "effective model size (MB" if xaxis == "total" else "non-embedding weights × bits/8 (MB"
        ax.set_xlabel("%s%s)" % (unit, P.maybe_log(ax, [p[0] for p in allpts])))
        ax.set_ylabel("avg. zero-shot accuracy (%)" if key == "acc_avg" else "validation loss (nats/token)")
        ax.set_title("%s vs %s" % ("accuracy" if key == "acc_avg" else "loss (lower is better)",
                                   "total size" if xaxis == "total" else "non-embedding size"))
    handles = {}
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    files = P.save_figure(fig, s, "Fig. 1 / Fig. 7a: accuracy-size trade-off (top: size = quantized params × bits/8 "
                          "+ FP params × 2 bytes; bottom: quantized params × bits/8 only); %s" % P.INTERVAL_NOTE,
                          figdir, "fig1_pareto", legend=list(handles.values()))

    tasks = sorted({t for i in range(n) for t in s.numdict(i, "acc")})
    tscale = P.acc_scale([v for i in range(n) for v in s.numdict(i, "acc").values()])
    header = ["model", "bits", "quantizer", "size (MB)"] + tasks + ["avg", "val. loss"]
    rows = []
    for model in s.models():
        for i in sorted((i for i in range(n) if s.text(i, "model") == model), key=s.bits):
            acc, se = s.numdict(i, "acc"), s.numdict(i, "acc_stderr")
            cells = [model, "%g" % s.bits(i), str(s.rows[i].get("quantizer", "–")),
                     P.fmt(None if s.num(i, "size_bytes") is None else s.num(i, "size_bytes") / 1e6, 2)]
            for t in tasks:
                if t not in acc:
                    cells.append("–")
                elif t in se:
                    cells.append("%.1f ± %.1f" % (acc[t] * tscale, se[t] * tscale))
                else:
                    cells.append("%.1f" % (acc[t] * tscale))
            avg = s.num(i, "acc_avg")
            cells += [P.fmt(None if avg is None else avg * scale, 1), P.fmt(s.num(i, "val_loss"), 3)]
            rows.append(cells)
    files += P.write_table(s, tabdir, "table_pareto_tasks", "Zero-shot accuracy (%) per task, ± standard error",
                           header, rows, align="llll" + "r" * (len(tasks) + 2))
    return files


if __name__ == "__main__":
    P.main_one(__import__(__name__))
