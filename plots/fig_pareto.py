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


def render(s, figdir, tabdir):
    n = len(s.rows)
    scale = P.acc_scale([s.num(i, "acc_avg") for i in range(n)])
    fig, axes = P.subplots(2, 2, height_per_row=3.2)
    for ax, key, label in ((axes[0], "acc_avg", "avg. zero-shot accuracy (%)"),
                           (axes[1], "val_loss", "validation loss (nats/token)")):
        allpts = []
        for b in s.bit_widths():
            pts = []
            for i in range(n):
                size, v = s.num(i, "size_bytes"), s.num(i, key)
                if s.bits(i) == b and size is not None and v is not None:
                    pts.append((size / 1e6, v * (scale if key == "acc_avg" else 1)))
            if not pts:
                continue
            pts.sort()
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", color=P.bit_color(b), label=P.bit_label(b))
            allpts += pts
        if allpts:
            sign = 1 if key == "acc_avg" else -1
            f = [(x, sign * y) for x, y in frontier([(x, sign * y) for x, y in allpts])]
            ax.plot([p[0] for p in f], [p[1] for p in f], color="black", lw=3, alpha=0.15, zorder=0,
                    drawstyle="steps-post", label="Pareto frontier")
        else:
            P.no_data(ax)
        ax.set_xlabel("effective model size (MB%s)" % P.maybe_log(ax, [p[0] for p in allpts]))
        ax.set_ylabel(label)
        ax.set_title("accuracy vs size" if key == "acc_avg" else "validation loss vs size (lower is better)")
    handles = {}
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    files = P.save_figure(fig, s, "Fig. 1 / Fig. 7a: accuracy-size trade-off "
                          "(size = quantized params × bits/8 + FP params × 2 bytes)", figdir, "fig1_pareto",
                          legend=list(handles.values()))

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
