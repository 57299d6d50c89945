"""accuracy vs CPU decode speed with packed low-bit weights."""
import os

import findings as F
import pqplot as P

SUITE = "speed"
ARTIFACT = "Fig. 7c"


def render(s, figdir, tabdir):
    n = len(s.rows)
    scale = P.acc_scale([s.num(i, "acc_avg") for i in range(n)])
    fig, axes = P.subplots(2, 2, height_per_row=3.4)
    ax = axes[0]
    plotted, xs = False, []
    for b in s.bit_widths():
        pts = []
        for i in range(n):
            t, a = s.num(i, "tokens_per_s"), s.num(i, "acc_avg")
            if s.bits(i) == b and t is not None and a is not None:
                pts.append((t, a * scale, s.text(i, "model"), P.scaled_ci(s.ci_drawn(i, "acc_avg"), scale)))
        if not pts:
            continue
        pts.sort()
        xs += [p[0] for p in pts]
        P.errorbars(ax, [p[0] for p in pts], [p[1] for p in pts], [p[3] for p in pts], P.bit_color(b), marker="o",
                    ms=3.5, label=P.bit_label(b))
        for x, y, m, _ in pts:
            ax.annotate(m, (x, y), xytext=(3, 3), textcoords="offset points", fontsize=5.5, color="#444444")
        plotted = True
    if plotted:
        ax.legend(frameon=False)
    else:
        P.no_data(ax)
    ax.set_xlabel("decode speed (tokens/s%s; higher is faster)" % P.maybe_log(ax, xs))
    ax.set_ylabel("avg. zero-shot accuracy (%)")
    ax.set_title("the tier's models (fit in cache)")
    # Right: MobileLLM-shaped (125M, 350M) packed decode, whose weights stream from DRAM as in the
    # paper's setting: tokens/s per format, the bar the range over the benchmark's rounds.
    ax = axes[1]
    rows, path = F.load_decode(os.path.dirname(s.path))
    series = {}
    for r in rows:
        if r.get("format") == "t2":
            continue  # 2 bits twice (ternary packed in 2 bits): b2 is the 2-bit format compared
        rounds = [x for x in r.get("rounds_ms_per_token") or [] if isinstance(x, (int, float)) and x > 0]
        tps = r["tokens_per_s"]
        ci = (1e3 / max(rounds), 1e3 / min(rounds)) if rounds else None
        series.setdefault((r["model"], str(r.get("head", "?")), r.get("threads", 1)), []).append((r["bits"], tps, ci))
    styles = ["-", "--", ":", "-."]
    for k, ((model, head, th), pts) in enumerate(sorted(series.items(), key=lambda kv: str(kv[0]))):
        if th != min(t for (_, _, t) in series):
            continue  # one thread count: the other doubles the lines without changing the picture
        pts.sort()
        color = "#1f77b4" if "125" in model else "#d62728"
        P.errorbars(ax, [p[0] for p in pts], [p[1] for p in pts], [p[2] for p in pts], color,
                    ls=styles[k % 2 if head == "b8" else 1], marker="o" if head == "b8" else "s", ms=3.5,
                    label="%s, %s head" % (model.replace("mobilellm-", ""), head))
    ratios = F.decode_ratios(rows)
    if series:
        ax.set_xscale("log", base=2)
        ticks = sorted({p[0] for pts in series.values() for p in pts})
        ax.set_xticks(ticks)
        ax.set_xticklabels(["%g" % t for t in ticks])
        ax.minorticks_off()
        ax.legend(frameon=False, fontsize=6, loc="center right")
        best = [r for r in ratios if r[0][2] == min(t for (_, _, t) in series)]
        ax.set_title("MobileLLM-shaped packed decode, %d thread" % min(t for (_, _, t) in series))
        ax.text(0.3, 0.97, "2-bit over 4-bit speed:\n" + "\n".join(
            "%s %s head: %s×" % (m.replace("mobilellm-", ""), h, P.fmt(r, 2)) for (m, h, _), r, _, _, _ in best),
            transform=ax.transAxes, fontsize=6, va="top", ha="left", color="#333333")
    else:
        P.no_data(ax, "no decode timings (kernels.json \"decode\")")
    ax.set_xlabel("bits per weight (log scale)")
    ax.set_ylabel("decode speed (tokens/s)")
    src = os.path.relpath(path) if path else "none"
    return P.save_figure(fig, s, "Fig. 7c: left, accuracy vs CPU decode speed of the tier's models (labels: model); "
                         "right, packed decode of MobileLLM-shaped models from %s (bars: range over rounds)" % src,
                         figdir, "fig7c_speed")


if __name__ == "__main__":
    P.main_one(__import__(__name__))
