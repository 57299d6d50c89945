"""Regenerates every figure and table of a tier from its stored results, running no experiment.

    /usr/bin/python3 plots/make_all.py --tier small        # results/small/*.json -> figures/, tables/
    /usr/bin/python3 plots/make_all.py --results DIR --out DIR

A missing suite file is reported and skipped. Exit status: 0 when every present file rendered,
1 when a file is malformed (the others are still drawn) or when no suite file exists at all.
"""
import argparse
import importlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pqplot as P  # noqa: E402

# One script per figure/table, in the paper's order of artifacts.
SCRIPTS = ["fig_grids", "fig_budget", "fig_tokens", "fig_transition", "fig_quantfn", "fig_pareto", "fig_speed",
           "fig_ternary", "fig_baselines", "tab_kernels"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    ap.add_argument("--tier", default="small")
    ap.add_argument("--results", help="directory holding the suite JSON files (default results/<tier>)")
    ap.add_argument("--out", help="where figures/ and tables/ go (default: the results directory)")
    a = ap.parse_args()
    results, figdir, tabdir = P.paths(a.tier, a.results, a.out)
    if not os.path.isdir(results):
        print("plots: %s does not exist — run the suites first (make reproduce TIER=%s)" % (results, os.path.basename(os.path.normpath(results))),
              file=sys.stderr)
        return 1
    status = {}
    for name in SCRIPTS:
        module = importlib.import_module(name)
        status[module.SUITE], _ = P.render_suite(module, results, figdir, tabdir)
    ok = [k for k, v in status.items() if v == "ok"]
    bad = [k for k, v in status.items() if v == "malformed"]
    missing = [k for k, v in status.items() if v == "missing"]
    print("plots: %d of %d suites rendered%s%s" % (
        len(ok), len(status), "; missing: " + ", ".join(missing) if missing else "",
        "; MALFORMED: " + ", ".join(bad) if bad else ""), file=sys.stderr)
    if bad:
        return 1
    if not ok:
        print("plots: no suite results in %s" % results, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
