"""Writes results/<tier>/REPORT.md and report.html: each figure next to the paper's finding it tests, with one
computed sentence per finding saying whether our measurement agrees, and a "Not reproduced, and why" section.

    /usr/bin/python3 plots/report.py --tier small            # after `make plots TIER=small`
    /usr/bin/python3 plots/report.py --results DIR --out DIR

Every sentence is built from the numbers in the suite files (plots/findings.py holds the rules);
nothing is written by hand. Missing suites are listed as not measured. report.html is the same report as a
static page (figures as relative <img>, verdict badges, tables, run ids listed; no external resources).
Exit status 1 when a suite file is malformed or none exists.
"""
import argparse
import html
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import findings as F  # noqa: E402
import pqplot as P  # noqa: E402

# Paper order of the artifacts: (suite, heading, figure stem, table stems).
SECTIONS = [
    ("pareto", "Fig. 1 / Fig. 7a — accuracy vs model size", "fig1_pareto", ["table_pareto_tasks"]),
    ("budget", "Fig. 2 — splitting a fixed token budget between FP and QAT", "fig2_budget", []),
    ("tokens", "Fig. 3 — QAT tokens: fine-tune vs from scratch", "fig3_tokens", []),
    ("transition", "Fig. 4 — weight change during QAT (learning transition)", "fig4_transition", []),
    ("grids", "Fig. 5 — quantization grids", "fig5_grids", []),
    ("quantfn", "Fig. 6 — quantization functions", "fig6_quantfn", []),
    ("speed", "Fig. 7c — accuracy vs CPU decode speed", "fig7c_speed", []),
    ("ternary", "Fig. 8 / Table 2 — ternary methods", "fig8_ternary", ["table2_ternary"]),
    ("baselines", "Fig. 9 / Table 1 — ParetoQ vs PTQ and QAT baselines", "fig9_baselines", ["table1_baselines"]),
    ("kernels", "Kernel table — low-bit GEMV/GEMM on this CPU", "kernels", ["table_kernels"]),
]

MARK = {F.AGREES: "✅ agrees", F.PARTLY: "◐ partly", F.DISAGREES: "❌ disagrees", F.NOISE: "≈ within noise",
        F.INSUFFICIENT: "⚠ insufficient data"}
BADGE = {F.AGREES: "agrees", F.PARTLY: "partly", F.DISAGREES: "disagrees", F.NOISE: "noise",
         F.INSUFFICIENT: "insufficient"}

SMOKE_NOTE = ("**This is the smoke tier: a CI check that every step of the pipeline runs, on models and "
              "budgets far too small to test any of the paper's findings. Its verdicts say nothing about "
              "the paper; read them as a test that the report is computed.**")


def describe_machine(m):
    if isinstance(m, dict):
        keys = [k for k in ("cpu", "cpu_model", "model", "cores", "threads", "os", "compiler", "openblas_core")
                if k in m]
        return ", ".join("%s %s" % (k, m[k]) for k in keys) or ", ".join("%s %s" % kv for kv in sorted(m.items())[:5])
    return str(m) if m else "not recorded"


def describe_device(device):
    if device == "cuda":
        return ("cuda (pretraining, QAT, PTQ and evaluation on the GPU each run's manifest names; "
                "kernel and decode timings on the CPU above)")
    return device or "not recorded (cpu unless the README says otherwise)"


def collect(results, figdir, tabdir, out_dir):
    """Loads every suite and computes its findings; returns (sections, loaded suites, problems)."""
    loaded, problems, sections = {}, [], []
    for suite, heading, fig, tables in SECTIONS:
        sec = {"suite": suite, "heading": heading, "status": "ok", "findings": [], "tables": [], "fig": None}
        sections.append(sec)
        path = os.path.join(results, suite + ".json")
        sec["json"] = os.path.relpath(path, out_dir)
        if not os.path.exists(path):
            sec["status"] = "missing"
            continue
        try:
            loaded[suite] = P.load(path, suite)
            loaded[suite].contrasts()  # checked here, so a malformed contrast names its file
        except P.Malformed as e:
            problems.append(str(e))
            sec["status"], sec["error"] = "malformed", str(e)
            loaded.pop(suite, None)
            continue
        if os.path.exists(os.path.join(figdir, fig + ".png")):
            sec["fig"] = fig
        sec["tables"] = [(t, open(os.path.join(tabdir, t + ".md"), encoding="utf-8").read().rstrip())
                         for t in tables if os.path.exists(os.path.join(tabdir, t + ".md"))]
    ctx = F.context(list(loaded.values()), results)
    for sec in sections:
        s = loaded.get(sec["suite"])
        if s is None:
            continue
        try:
            sec["findings"] = F.BY_SUITE[sec["suite"]](s, ctx)
        except P.Malformed as e:
            problems.append(str(e))
            sec["status"], sec["error"] = "malformed", str(e)
            del loaded[sec["suite"]]
            continue
        sec["suite_obj"] = s
        finding = s.doc.get("finding")
        sec["finding"] = finding.strip() if isinstance(finding, str) else ""
    return sections, loaded, problems, ctx


def why_not(f):
    """The 'not reproduced, and why' paragraph of one finding: the verdict, the resolution this tier
    reached (seeds, mde) next to the paper's effect, and what scale the finding needs."""
    paper, num = F.PAPER.get(f.key, ("?", None))
    parts = ["Our verdict: %s." % MARK[f.verdict].split(" ", 1)[1]]
    if f.cases:
        parts.append("This tier measured it with %s and a %s; the paper's effect: %s." % (
            F.seeds_text(f.cases), F.mde_text(f.cases), paper))
        need = F.seeds_needed(f)
        if need is not None and need > max(c.n_seeds or 1 for c in f.cases):
            parts.append("At this noise, about %d seeds would resolve an effect the size of the paper's." % need)
    elif f.sentence.startswith(F.NO_INTERVALS):
        parts.append("The results file has no intervals (one seed, written before the statistics): no "
                     "difference can be called. The paper's effect: %s." % paper)
    else:
        parts.append("Not measurable from these results. The paper's effect: %s." % paper)
    parts.append("What it needs: %s" % F.NEEDS.get(f.key, "(not recorded)"))
    return " ".join(parts)


def task_rows(ctx):
    rows = []
    for t, v in sorted(ctx["tasks"].items()):
        ci = "–" if v["lo"] is None else "[%.1f, %.1f]" % (100 * v["lo"], 100 * v["hi"])
        rows.append([t, "–" if v["chance"] is None else "%.1f" % (100 * v["chance"]), "%.1f" % (100 * v["acc"]), ci,
                     "%s (%s)" % (v["model"], v["suite"]), "yes" if v["passes"] else "**no: left out of verdicts**"])
    return rows


TASK_HEADER = ["task", "chance (%)", "best FP acc. (%)", "95% interval", "model (suite)", "above chance?"]


def write_markdown(path, sections, head_lines, summary, nots, ctx):
    out = list(head_lines)
    out += ["", "## Summary", "", "| artifact | paper's finding | our measurement |", "|---|---|---|"]
    out += ["| %s | %s | %s |" % (h.split(" — ")[0], c.replace("|", "/"), MARK[v]) for h, c, v in summary]
    if ctx["tasks"]:
        out += ["", "## Tasks: passed above chance?", "",
                "A task no full-precision model passes significantly above chance (the lower end of its 95% "
                "interval above chance) measures nothing at this scale; accuracy verdicts leave it out.", "",
                "| " + " | ".join(TASK_HEADER) + " |", "|---|---:|---:|---|---|---|"]
        out += ["| " + " | ".join(r) + " |" for r in task_rows(ctx)]
    for sec in sections:
        out += ["", "## " + sec["heading"], ""]
        if sec["status"] == "missing":
            out.append("**Not measured:** `%s.json` is missing." % sec["suite"])
            continue
        if sec["status"] == "malformed":
            out.append("**Malformed results file:** %s" % sec["error"])
            continue
        fig = sec["fig"]
        if fig:
            out += ["![%s](figures/%s.png)" % (sec["heading"], fig), "",
                    "Figure: [`figures/%s.png`](figures/%s.png), [`.pdf`](figures/%s.pdf)." % (fig, fig, fig), ""]
        else:
            out += ["_(figure not found: run `make plots` first)_", ""]
        if sec["finding"]:
            out += ["Finding under test (from the suite definition): _%s_" % sec["finding"], ""]
        for f in sec["findings"]:
            out += ["- **Paper:** %s" % f.claim, "  **Ours (%s):** %s" % (MARK[f.verdict], f.sentence)]
        for stem, text in sec["tables"]:
            out += ["", text, "", "LaTeX: [`tables/%s.tex`](tables/%s.tex)." % (stem, stem)]
        out += ["", "Provenance: %s." % P.provenance(sec["suite_obj"])]
    out += ["", "## Not reproduced, and why", ""]
    if not nots:
        out.append("Every finding measured here agrees with the paper.")
    for heading, f in nots:
        out += ["### %s: %s" % (heading.split(" — ")[0], f.claim), "", why_not(f), ""]
    P.write_text(path, "\n".join(out).rstrip() + "\n")


# --- HTML ----------------------------------------------------------------------------------

CSS = """body{font:15px/1.45 system-ui,-apple-system,'DejaVu Sans',sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222}h1{font-size:1.6em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
img{max-width:100%;height:auto;border:1px solid #eee}table{border-collapse:collapse;font-size:13px;margin:.6em 0}
td,th{border:1px solid #ddd;padding:3px 7px;text-align:left;vertical-align:top}th{background:#f5f5f5}
.badge{display:inline-block;padding:1px 8px;border-radius:9px;font-size:12px;font-weight:600;white-space:nowrap}
.agrees{background:#d8f3dc;color:#1b4332}.disagrees{background:#ffd6d6;color:#7a0000}
.partly{background:#fff1c1;color:#6b4e00}.noise{background:#e3e8f0;color:#2a3a55}.insufficient{background:#eee;color:#555}
.note{background:#fff4e5;border-left:4px solid #f0a030;padding:.6em 1em}.claim{color:#444}
.finding{margin:.8em 0}code{font-size:12px}details{margin:.5em 0}.ids{columns:2;font-size:12px}"""

STATUS_SCRIPT = """window.addEventListener("error", function (e) {
  document.getElementById("pq-status").setAttribute("data-error", String(e.message)); });
window.addEventListener("load", function () {
  var imgs = document.images, ok = 0;
  for (var i = 0; i < imgs.length; i++) if (imgs[i].complete && imgs[i].naturalWidth > 0) ok++;
  var s = document.getElementById("pq-status");
  s.setAttribute("data-images", ok + "/" + imgs.length);
  s.textContent = "page loaded: " + ok + " of " + imgs.length + " figures shown";
});"""


def esc(t):
    return html.escape(str(t), quote=True)


def inline_md(t):
    """The few Markdown marks our sentences and tables use: **bold**, _italic_, `code`."""
    t = esc(t)
    t = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", t)
    t = re.sub(r"`([^`]+)`", r"<code>\1</code>", t)
    t = re.sub(r"(?<![\w/])_(.+?)_(?![\w/])", r"<i>\1</i>", t)
    return t


def md_table_html(text):
    """A table .md written by pqplot.write_table (title line, pipe table, caption) as HTML."""
    out, rows = [], []
    for line in text.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if all(re.fullmatch(r":?-+:?", c) for c in cells):
                continue
            rows.append(cells)
        else:
            if rows:
                out.append(table_html(rows[0], rows[1:]))
                rows = []
            if line.strip():
                out.append("<p>%s</p>" % inline_md(line))
    if rows:
        out.append(table_html(rows[0], rows[1:]))
    return "\n".join(out)


def table_html(header, rows):
    return ("<table><tr>%s</tr>%s</table>" % ("".join("<th>%s</th>" % inline_md(h) for h in header),
                                             "".join("<tr>%s</tr>" % "".join("<td>%s</td>" % inline_md(c) for c in r)
                                                     for r in rows)))


def badge(v):
    return '<span class="badge %s">%s</span>' % (BADGE[v], esc(MARK[v]))


def write_html(path, sections, title, intro, smoke, meta, summary, nots, ctx):
    h = ["<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
         '<meta name="viewport" content="width=device-width, initial-scale=1">',
         "<title>%s</title><style>%s</style></head><body>" % (esc(title), CSS), "<h1>%s</h1>" % esc(title)]
    if smoke:
        h.append('<p class="note">%s</p>' % inline_md(SMOKE_NOTE))
    h.append("<p>%s</p><ul>%s</ul>" % (inline_md(intro), "".join("<li>%s</li>" % inline_md(m) for m in meta)))
    h.append('<p id="pq-status">(figures loading)</p>')
    h.append("<h2>Summary</h2>")
    h.append("<table><tr><th>artifact</th><th>paper's finding</th><th>our measurement</th></tr>%s</table>" % "".join(
        '<tr><td><a href="#%s">%s</a></td><td>%s</td><td>%s</td></tr>' % (sid, esc(hd.split(" — ")[0]), esc(c), badge(v))
        for sid, hd, c, v in summary))
    if ctx["tasks"]:
        h.append("<h2>Tasks: passed above chance?</h2><p>A task no full-precision model passes significantly "
                 "above chance measures nothing at this scale; accuracy verdicts leave it out.</p>")
        h.append(table_html(TASK_HEADER, task_rows(ctx)))
    for sec in sections:
        h.append('<h2 id="%s">%s</h2>' % (sec["suite"], esc(sec["heading"])))
        if sec["status"] == "missing":
            h.append("<p><b>Not measured:</b> <code>%s.json</code> is missing.</p>" % esc(sec["suite"]))
            continue
        if sec["status"] == "malformed":
            h.append("<p><b>Malformed results file:</b> %s</p>" % esc(sec["error"]))
            continue
        if sec["fig"]:
            h.append('<p><a href="figures/%s.pdf"><img src="figures/%s.png" alt="%s"></a></p>' % (
                esc(sec["fig"]), esc(sec["fig"]), esc(sec["heading"])))
        if sec["finding"]:
            h.append('<p class="claim">Finding under test (suite definition): <i>%s</i></p>' % esc(sec["finding"]))
        for f in sec["findings"]:
            h.append('<div class="finding">%s <b>Paper:</b> %s<br><b>Ours:</b> %s</div>' % (
                badge(f.verdict), esc(f.claim), esc(f.sentence)))
        for _, text in sec["tables"]:
            h.append(md_table_html(text))
        s = sec["suite_obj"]
        ids = s.run_ids()
        h.append('<details><summary>Provenance: %s; <a href="%s">%s</a></summary><ol class="ids">%s</ol></details>' % (
            esc(P.provenance(s)), esc(sec["json"]), esc(os.path.basename(sec["json"])),
            "".join('<li id="run-%s"><code>%s</code></li>' % (esc(x), esc(x)) for x in ids) or "<li>none</li>"))
    h.append('<h2 id="not-reproduced">Not reproduced, and why</h2>')
    if not nots:
        h.append("<p>Every finding measured here agrees with the paper.</p>")
    for heading, f in nots:
        h.append("<h3>%s %s: %s</h3><p>%s</p>" % (badge(f.verdict), esc(heading.split(" — ")[0]), esc(f.claim),
                                                  esc(why_not(f))))
    h.append("<script>%s</script></body></html>" % STATUS_SCRIPT)
    P.write_text(path, "\n".join(h) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    ap.add_argument("--tier", default="small")
    ap.add_argument("--results", help="directory holding the suite JSON files (default results/<tier>)")
    ap.add_argument("--out", help="where REPORT.md and report.html go; figures/ and tables/ are read from there "
                    "(default: results)")
    a = ap.parse_args()
    results, figdir, tabdir = P.paths(a.tier, a.results, a.out)
    out_dir = os.path.dirname(figdir)
    if not os.path.isdir(results):
        print("report: %s does not exist — run the suites first (make reproduce TIER=%s)" % (
            results, os.path.basename(os.path.normpath(results))), file=sys.stderr)
        return 1
    sections, loaded, problems, ctx = collect(results, figdir, tabdir, out_dir)
    if not loaded and not problems:
        print("report: no suite results in %s" % results, file=sys.stderr)
        return 1
    first = next(iter(loaded.values()), None)
    tier = first.tier if first else a.tier
    manifest = first.doc.get("manifest", {}) if first else {}
    manifest = manifest if isinstance(manifest, dict) else {}
    summary, nots = [], []
    for sec in sections:
        if sec["status"] != "ok":
            summary.append((sec["suite"], sec["heading"], "(suite not run)" if sec["status"] == "missing"
                            else "(malformed results)", F.INSUFFICIENT))
            continue
        for f in sec["findings"]:
            summary.append((sec["suite"], sec["heading"], f.claim, f.verdict))
            if f.verdict != F.AGREES:
                nots.append((sec["heading"], f))
    title = "paretoq — results report (tier `%s`)" % tier
    intro = ("Generated by `plots/report.py` from `%s/*.json` (regenerate: `make plots report TIER=%s`). Every "
             "verdict below is computed from the stored numbers by the rules in `plots/findings.py`: a finding "
             "*agrees* or *disagrees* only where the 95%% interval of the difference it rests on excludes zero "
             "in that direction, and is *within noise* otherwise; the paper's findings are those listed in "
             "DESIGN.md §1 (ParetoQ, arXiv 2502.02631)." % (results, tier))
    missing = [x for x, *_ in SECTIONS if x not in loaded]
    meta = ["code version: `%s`" % manifest.get("code_version", "?"),
            "machine: %s" % describe_machine(manifest.get("machine")),
            "device: %s" % describe_device(manifest.get("device")),
            "suites present: %d of %d%s" % (len(loaded), len(SECTIONS),
                                            " (missing: %s)" % ", ".join(missing) if missing else "")]
    smoke = tier == "smoke"
    head = ["# " + title, ""] + ([SMOKE_NOTE, ""] if smoke else []) + [intro, ""] + ["- " + m for m in meta]
    if problems:
        head += ["", "**Malformed results files:**", ""] + ["- %s" % p for p in problems]
    write_markdown(os.path.join(out_dir, "REPORT.md"), sections, head,
                   [(h, c, v) for _, h, c, v in summary], nots, ctx)
    write_html(os.path.join(out_dir, "report.html"), sections, title.replace("`", ""), intro, smoke, meta,
               summary, nots, ctx)
    print("report: wrote %s and report.html (%d suites%s)" % (
        os.path.join(out_dir, "REPORT.md"), len(loaded), ", %d malformed" % len(problems) if problems else ""),
        file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
