"""Writes results/<tier>/REPORT.md: each figure next to the paper's finding it tests, with one computed
sentence per finding saying whether our measurement agrees.

    /usr/bin/python3 plots/report.py --tier small            # after `make plots TIER=small`
    /usr/bin/python3 plots/report.py --results DIR --out DIR

Every sentence is built from the numbers in the suite files (plots/findings.py holds the rules);
nothing is written by hand. Missing suites are listed as not measured. Exit status 1 when a suite
file is malformed or none exists.
"""
import argparse
import os
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

MARK = {F.AGREES: "✅ agrees", F.PARTLY: "◐ partly", F.DISAGREES: "❌ disagrees", F.INSUFFICIENT: "⚠ insufficient data"}


def describe_machine(m):
    if isinstance(m, dict):
        keys = [k for k in ("cpu", "cpu_model", "model", "cores", "threads", "os", "compiler", "openblas_core")
                if k in m]
        return ", ".join("%s %s" % (k, m[k]) for k in keys) or ", ".join("%s %s" % kv for kv in sorted(m.items())[:5])
    return str(m) if m else "not recorded"


def main():
    ap = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    ap.add_argument("--tier", default="small")
    ap.add_argument("--results", help="directory holding the suite JSON files (default results/<tier>)")
    ap.add_argument("--out", help="where REPORT.md goes; figures/ and tables/ are read from there (default: results)")
    a = ap.parse_args()
    results, figdir, tabdir = P.paths(a.tier, a.results, a.out)
    out_dir = os.path.dirname(figdir)
    if not os.path.isdir(results):
        print("report: %s does not exist — run the suites first (make reproduce TIER=%s)" % (results, os.path.basename(os.path.normpath(results))),
              file=sys.stderr)
        return 1

    loaded, problems, summary, body = {}, [], [], []
    for suite, heading, fig, tables in SECTIONS:
        path = os.path.join(results, suite + ".json")
        body += ["", "## " + heading, ""]
        if not os.path.exists(path):
            body.append("**Not measured:** `%s.json` is missing from %s." % (suite, results))
            summary.append((heading, "(suite not run)", MARK[F.INSUFFICIENT]))
            continue
        try:
            s = P.load(path, suite)
            found = F.BY_SUITE[suite](s)
        except P.Malformed as e:
            problems.append(str(e))
            body.append("**Malformed results file:** %s" % e)
            summary.append((heading, "(malformed results)", MARK[F.INSUFFICIENT]))
            continue
        loaded[suite] = s
        if os.path.exists(os.path.join(figdir, fig + ".png")):
            body += ["![%s](figures/%s.png)" % (heading, fig), "",
                     "Figure: [`figures/%s.png`](figures/%s.png), [`.pdf`](figures/%s.pdf)." % (fig, fig, fig), ""]
        else:
            body += ["_(figure `figures/%s.png` not found: run `make plots` first)_" % fig, ""]
        if isinstance(s.doc.get("finding"), str) and s.doc["finding"].strip():
            body += ["Finding under test (from the suite definition): _%s_" % s.doc["finding"].strip(), ""]
        for f in found:
            body += ["- **Paper:** %s" % f.claim, "  **Ours (%s):** %s" % (MARK[f.verdict], f.sentence)]
            summary.append((heading, f.claim, MARK[f.verdict]))
        for t in tables:
            tpath = os.path.join(tabdir, t + ".md")
            if os.path.exists(tpath):
                with open(tpath, encoding="utf-8") as fh:
                    body += ["", fh.read().rstrip(), "",
                             "LaTeX: [`tables/%s.tex`](tables/%s.tex)." % (t, t)]
        body.append("")
        body.append("Provenance: %s." % P.provenance(s))

    if not loaded and not problems:
        print("report: no suite results in %s" % results, file=sys.stderr)
        return 1
    first = next(iter(loaded.values()), None)
    manifest = first.doc.get("manifest", {}) if first else {}
    manifest = manifest if isinstance(manifest, dict) else {}
    head = ["# paretoq — results report (tier `%s`)" % (first.tier if first else a.tier), "",
            "Generated by `plots/report.py` from `%s/*.json` (regenerate: `make plots report TIER=%s`). "
            "Every verdict below is computed from the stored numbers by the rules in `plots/findings.py`; "
            "the paper's findings are those listed in DESIGN.md §1 (ParetoQ, arXiv 2502.02631)." % (
                results, first.tier if first else a.tier),
            "", "- code version: `%s`" % manifest.get("code_version", "?"),
            "- machine: %s" % describe_machine(manifest.get("machine")),
            "- suites present: %d of %d%s" % (len(loaded), len(SECTIONS),
                                             " (missing: %s)" % ", ".join(x for x, *_ in SECTIONS
                                                                          if x not in loaded) if len(loaded) < len(SECTIONS) else ""),
            "", "## Summary", "", "| artifact | paper's finding | our measurement |", "|---|---|---|"]
    head += ["| %s | %s | %s |" % (h.split(" — ")[0], c.replace("|", "/"), v) for h, c, v in summary]
    if problems:
        head += ["", "**Malformed results files:**", ""] + ["- %s" % p for p in problems]
    P.write_text(os.path.join(out_dir, "REPORT.md"), "\n".join(head + body) + "\n")
    print("report: wrote %s (%d suites%s)" % (os.path.join(out_dir, "REPORT.md"), len(loaded),
                                             ", %d malformed" % len(problems) if problems else ""), file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
