"""pqplot — what every figure and table script of paretoq shares.

The scripts only draw: every number they show comes from an aggregated suite file
results/<tier>/<suite>.json written by `pq suite run`. A metric that is absent or null was
not measured, so its point is left out, never filled in.

Output is deterministic: the same results give byte-identical PNG, PDF, Markdown and LaTeX
files (fixed dpi and fonts, no timestamps or software versions in the metadata, fixed SVG
hash salt), and every file is written atomically (temporary file, then rename).
"""
import argparse
import json
import math
import os
import sys
import tempfile

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

SUITES = ["grids", "budget", "tokens", "transition", "quantfn", "pareto", "speed", "ternary",
          "baselines", "kernels"]

# Parameter fields a row must have to be placed in its figure; metrics are optional.
REQUIRED = {
    "grids": ["quantizer", "bits", "u", "q"],
    "budget": ["model", "bits", "fp_fraction"],
    "tokens": ["model", "bits", "init", "qat_tokens"],
    "transition": ["model", "bits", "layer", "which"],
    "quantfn": ["model", "bits", "quantizer"],
    "pareto": ["model", "bits"],
    "speed": ["model", "bits"],
    "ternary": ["model", "method"],
    "baselines": ["model", "bits", "method"],
    "kernels": ["format", "rows", "cols"],
}

DPI = 200
WIDTH = 6.4  # inches: a two-column-wide paper figure

plt.rcParams.update({
    "svg.hashsalt": "paretoq",
    "font.family": "DejaVu Sans",
    "font.size": 8,
    "axes.titlesize": 8.5,
    "axes.labelsize": 8,
    "legend.fontsize": 7,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 1.4,
    "lines.markersize": 4,
    "pdf.fonttype": 42,
    "path.simplify": False,
})

# One colour per bit width, the same in every figure.
BIT_COLORS = {1.0: "#d62728", 1.58: "#ff7f0e", 2.0: "#2ca02c", 3.0: "#1f77b4", 4.0: "#9467bd",
              8.0: "#8c564b", 16.0: "#7f7f7f", 32.0: "#000000"}
CYCLE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
         "#bcbd22", "#17becf"]


LINESTYLES = ["-", "--", ":", "-."]


class Malformed(Exception):
    """A results file that cannot be what the harness writes."""


# --- reading --------------------------------------------------------------------------------

class Suite:
    """One aggregated results file: the document plus checked accessors."""

    def __init__(self, path, doc, name, rows, incomplete=0):
        self.path = path
        self.doc = doc
        self.name = name
        self.rows = rows
        self.incomplete = incomplete  # rows of runs not finished, left out (they lack their parameters)
        self.tier = str(doc.get("tier", "?"))
        manifest = doc.get("manifest") if isinstance(doc.get("manifest"), dict) else {}
        self.code_version = str(manifest.get("code_version", "?"))

    def where(self, i):
        return "%s: rows[%d]" % (self.path, i)

    def num(self, i, key):
        """Row i's field `key` as a float, or None when absent/null (not measured)."""
        v = self.rows[i].get(key)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise Malformed("%s: field '%s' is %r, expected a number or null" % (self.where(i), key, v))
        if not math.isfinite(v):
            return None
        return float(v)

    def bits(self, i):
        v = self.rows[i].get("bits_value", self.rows[i].get("bits"))  # grids: "bits" is the name ("1.58")
        try:
            return float(v)
        except (TypeError, ValueError):
            raise Malformed("%s: field 'bits' is %r, expected a number" % (self.where(i), v))

    def text(self, i, key):
        v = self.rows[i].get(key)
        if not isinstance(v, (str, int, float)) or isinstance(v, bool):
            raise Malformed("%s: field '%s' is %r, expected a name" % (self.where(i), key, v))
        return str(v)

    def numlist(self, i, key):
        v = self.rows[i].get(key)
        if not isinstance(v, list) or not all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                              for x in v):
            raise Malformed("%s: field '%s' must be a list of numbers" % (self.where(i), key))
        return [float(x) for x in v]

    def numdict(self, i, key):
        """A {name: number|null} field; absent => {}."""
        v = self.rows[i].get(key)
        if v is None:
            return {}
        if not isinstance(v, dict):
            raise Malformed("%s: field '%s' must be an object of numbers" % (self.where(i), key))
        out = {}
        for k, x in v.items():
            if x is None:
                continue
            if isinstance(x, bool) or not isinstance(x, (int, float)):
                raise Malformed("%s: field '%s.%s' is %r, expected a number" % (self.where(i), key, k, x))
            if math.isfinite(x):
                out[k] = float(x)
        return out

    def ci(self, i, key):
        """Row i's 95% interval of `key` ("val_loss", or "acc.<task>") from its "ci95" field, as (lo, hi),
        or None when the row has none (one seed of an old results file: no interval)."""
        node = self.rows[i].get("ci95")
        for part in key.split(".", 1) if key.startswith("acc.") else [key]:
            node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            return None
        if (not isinstance(node, list) or len(node) != 2
                or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in node)):
            raise Malformed("%s: field 'ci95.%s' is %r, expected [lo, hi]" % (self.where(i), key, node))
        lo, hi = float(node[0]), float(node[1])
        return (lo, hi) if math.isfinite(lo) and math.isfinite(hi) else None

    def ci_drawn(self, i, key):
        """The interval a figure draws: the row's ci95, else for an accuracy the binomial one from the
        stored standard errors (acc ± 1.96 se; the average over T tasks: ± 1.96 sqrt(sum se²) / T)."""
        ci = self.ci(i, key)
        if ci is not None:
            return ci
        se = self.numdict(i, "acc_stderr")
        v = self.num(i, key if not key.startswith("acc.") else "acc_avg")
        if key == "acc_avg" and se and v is not None:
            h = 1.96 * math.sqrt(sum(x * x for x in se.values())) / len(se)
            return (v - h, v + h)
        return None

    def per_seed(self, i, key):
        """Row i's per-seed values of `key` (finite numbers only), [] when not stored."""
        v = (self.rows[i].get("per_seed") or {}).get(key) if isinstance(self.rows[i].get("per_seed"), dict) else None
        if v is None:
            return []
        if not isinstance(v, list):
            raise Malformed("%s: field 'per_seed.%s' must be a list" % (self.where(i), key))
        return [float(x) for x in v if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)]

    def n_seeds(self, i):
        seeds = self.rows[i].get("seeds")
        return len(seeds) if isinstance(seeds, list) else 1

    def contrasts(self):
        """The file's contrasts (see README "Statistics"), checked; None when the file has none (an
        old results file: no intervals, so no verdict can call a difference)."""
        cs = self.doc.get("contrasts")
        if cs is None:
            return None
        if not isinstance(cs, list):
            raise Malformed("%s: field 'contrasts' must be a list" % self.path)
        for k, c in enumerate(cs):
            where = "%s: contrasts[%d]" % (self.path, k)
            if not isinstance(c, dict):
                raise Malformed("%s is not an object" % where)
            for f in ("name", "metric"):
                if not isinstance(c.get(f), str):
                    raise Malformed("%s: field '%s' is %r, expected a name" % (where, f, c.get(f)))
            for f in ("a", "b"):
                if not isinstance(c.get(f), dict):
                    raise Malformed("%s: field '%s' must be an object (the row's key)" % (where, f))
            ci = c.get("ci95")
            if (not isinstance(ci, list) or len(ci) != 2
                    or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in ci)):
                raise Malformed("%s: field 'ci95' is %r, expected [lo, hi]" % (where, ci))
            for f in ("effect", "mde", "n_seeds"):
                v = c.get(f)
                if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
                    raise Malformed("%s: field '%s' is %r, expected a number" % (where, f, v))
            if not isinstance(c.get("effect"), (int, float)):
                raise Malformed("%s: field 'effect' is missing" % where)
        return cs

    def find(self, key):
        """Index of the row whose fields match every field of `key` (numbers within 1e-9), or None."""
        for i, r in enumerate(self.rows):
            if all(_same(r.get(k, r.get("bits_value") if k == "bits" else None), v) for k, v in key.items()):
                return i
        return None

    def run_ids(self):
        ids = set()
        for r in self.rows:
            for x in r.get("run_ids") or []:
                if isinstance(x, str):
                    ids.add(x)
        return sorted(ids)

    def models(self):
        """Model names in the order the harness lists them (its ladder order: small to large)."""
        seen = []
        for i in range(len(self.rows)):
            m = self.text(i, "model")
            if m not in seen:
                seen.append(m)
        return seen

    def bit_widths(self):
        return sorted({self.bits(i) for i in range(len(self.rows))})


def _same(x, y):
    if isinstance(x, (int, float)) and isinstance(y, (int, float)) and not isinstance(x, bool):
        return abs(float(x) - float(y)) < 1e-9
    return x == y or (x is not None and y is not None and str(x) == str(y))


def load(path, name):
    """Reads and checks results/<tier>/<name>.json; raises Malformed naming the file and field."""
    try:
        with open(path, "rb") as f:
            doc = json.loads(f.read().decode("utf-8"))
    except UnicodeDecodeError as e:
        raise Malformed("%s: not UTF-8 text (%s)" % (path, e))
    except json.JSONDecodeError as e:
        raise Malformed("%s: line %d column %d: invalid JSON (%s)" % (path, e.lineno, e.colno, e.msg))
    if not isinstance(doc, dict):
        raise Malformed("%s: expected a JSON object at the top level" % path)
    if doc.get("suite", name) != name:
        raise Malformed("%s: field 'suite' is %r, expected %r" % (path, doc.get("suite"), name))
    rows = doc.get("rows")
    if not isinstance(rows, list):
        raise Malformed("%s: field 'rows' is missing or not a list" % path)
    kept, incomplete = [], 0
    for i, r in enumerate(rows):
        if not isinstance(r, dict):
            raise Malformed("%s: rows[%d] is not an object" % (path, i))
        if "run_ids" in r and not (isinstance(r["run_ids"], list)
                                   and all(isinstance(x, str) for x in r["run_ids"])):
            raise Malformed("%s: rows[%d]: field 'run_ids' must be a list of strings" % (path, i))
        lacking = [key for key in REQUIRED[name] if r.get(key) is None]
        if lacking and r.get("incomplete") is True:
            # The harness marks rows whose runs have not finished; per-layer (transition) and
            # per-kernel rows only get their parameters from the finished run, so skip, and say so.
            incomplete += 1
            continue
        if lacking:
            raise Malformed("%s: rows[%d] lacks the field '%s'" % (path, i, lacking[0]))
        kept.append(r)
    return Suite(path, doc, name, kept, incomplete)


# --- labels and styles ----------------------------------------------------------------------

def is_control(row):
    """A control run (issue 15), not a point of the sweep: the full-precision fine-tune beside QAT
    (transition: method "fp_control"; tokens: init "fp_control"). Budget's control, full precision for the
    whole budget, is its 16-bit row (see fig_budget). Figures draw controls as references and leave them
    out of optima and averages."""
    return "fp_control" in (row.get("method"), row.get("init"))


def lr_rule(row):
    """The transition suite's learning-rate rule: "recipe" (the paper's, per bit width) or "equal";
    rows from before the controls carry none and ran the recipe."""
    return row.get("lr_rule") or "recipe"


def bit_label(b):
    if b >= 16:
        return "%g-bit (FP)" % b
    if abs(b - 1.58) < 0.05:
        return "1.58-bit (ternary)"
    if b == 1:
        return "1-bit (binary)"
    return "%g-bit" % b


def bit_handles(bits, **kw):
    """Legend entries: one coloured line per bit width."""
    from matplotlib.lines import Line2D
    style = {"marker": "o"}
    style.update(kw)
    return [Line2D([], [], color=bit_color(b), label=bit_label(b), **style) for b in bits]


def bit_short(b):
    return "%g (FP)" % b if b >= 16 else "%g" % b


def bit_color(b, k=0):
    for key, c in BIT_COLORS.items():
        if abs(key - b) < 0.05:
            return c
    return CYCLE[k % len(CYCLE)]


def acc_scale(values):
    """Accuracies are fractions in [0, 1] (lm-eval convention); show them in percent."""
    vals = [v for v in values if v is not None]
    return 100.0 if not vals or max(vals) <= 1.0 else 1.0


def fmt(v, digits=3):
    return "–" if v is None else ("%.*f" % (digits, v))


def human(n):
    """1234567 -> '1.23M' (token counts, sizes)."""
    for div, suf in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= div:
            return "%.3g%s" % (n / div, suf)
    return "%g" % n


def short_ids(ids, n=4):
    if not ids:
        return "no run ids recorded"
    head = " ".join(x[:8] for x in ids[:n])
    more = " +%d more" % (len(ids) - n) if len(ids) > n else ""
    return "%d run%s: %s%s" % (len(ids), "" if len(ids) == 1 else "s", head, more)


def provenance(suite):
    unfinished = sum(1 for r in suite.rows if r.get("incomplete") is True) + suite.incomplete
    return "tier %s · code %s · %s (all ids in %s.json)%s" % (
        suite.tier, suite.code_version, short_ids(suite.run_ids()), suite.name,
        " · %d row%s from unfinished runs" % (unfinished, "" if unfinished == 1 else "s") if unfinished else "")


def caption(suite, what, sep=" · "):
    return what + sep + provenance(suite)


def no_data(ax, text="not measured"):
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="#888888")


# --- writing --------------------------------------------------------------------------------

def _atomic(path, write):
    d = os.path.dirname(path) or "."
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp.", dir=d)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_figure(fig, suite, what, figdir, stem, legend=None):
    """Adds the caption lines (and a figure-wide legend on top, from `legend` handles) and writes
    <stem>.png and <stem>.pdf; returns both paths."""
    top = 1.0
    if legend:
        # As many columns as fit the figure's width (label text at ~0.06 in per character, plus the
        # handle), so long labels wrap onto more rows instead of running off the page.
        widest = max(len(h.get_label()) for h in legend) * 0.062 + 0.55
        ncol = max(1, min(len(legend), int(fig.get_figwidth() / widest)))
        if ncol >= len(legend) and len(legend) > 5:
            ncol = (len(legend) + 1) // 2
        rows = (len(legend) + ncol - 1) // ncol
        fig.legend(handles=legend, loc="upper center", ncol=ncol, frameon=False, bbox_to_anchor=(0.5, 1.0))
        top = 1.0 - (0.08 + 0.17 * rows) / fig.get_figheight()
    # Caption lines (what it shows, wrapped to the figure's width; where the numbers come from) in a
    # strip at the bottom, 0.12 inch per line.
    import textwrap
    lines = textwrap.wrap(what, width=int(fig.get_figwidth() * 19)) + [provenance(suite)]
    fig.text(0.01, 0.04 / fig.get_figheight(), "\n".join(lines), fontsize=5.5, color="#444444",
             ha="left", va="bottom", linespacing=1.4)
    fig.tight_layout(rect=(0, (0.08 + 0.12 * len(lines)) / fig.get_figheight(), 1, top))
    out = []
    for ext, meta in (("png", {"Software": None}),
                      ("pdf", {"CreationDate": None, "ModDate": None, "Producer": None, "Creator": None})):
        path = os.path.join(figdir, "%s.%s" % (stem, ext))
        _atomic(path, lambda f, ext=ext, meta=meta: fig.savefig(f, format=ext, dpi=DPI, metadata=meta))
        out.append(path)
    plt.close(fig)
    return out


def write_text(path, text):
    _atomic(path, lambda f: f.write(text.encode("utf-8")))
    return path


def _latex_escape(s):
    rep = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
           "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
           "±": r"$\pm$", "µ": r"$\mu$", "–": "--", "×": r"$\times$", "·": r"$\cdot$"}
    return "".join(rep.get(c, c) for c in s)


def write_table(suite, tabdir, stem, title, header, rows, align=None, note=None):
    """Writes <stem>.md and <stem>.tex (a booktabs table); returns both paths."""
    align = align or ("l" * len(header))
    cap = caption(suite, title)
    md = ["**%s**" % title, "", "| " + " | ".join(header) + " |",
          "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"]
    md += ["| " + " | ".join(r) + " |" for r in rows]
    md += ["", "_%s_" % cap]
    if note:
        md += ["", note]
    tex = ["% generated by plots/ from " + suite.name + ".json; do not edit",
           "\\begin{table}[t]", "\\centering", "\\small",
           "\\begin{tabular}{%s}" % align, "\\toprule",
           " & ".join(_latex_escape(h) for h in header) + " \\\\", "\\midrule"]
    tex += [" & ".join(_latex_escape(c) for c in r) + " \\\\" for r in rows]
    tex += ["\\bottomrule", "\\end{tabular}",
            "\\caption{%s}" % _latex_escape("%s. %s.%s" % (title, provenance(suite), " " + note if note else "")),
            "\\label{tab:%s}" % stem.replace("_", "-"), "\\end{table}"]
    return [write_text(os.path.join(tabdir, stem + ".md"), "\n".join(md) + "\n"),
            write_text(os.path.join(tabdir, stem + ".tex"), "\n".join(tex) + "\n")]


def maybe_log(ax, values, axis="x", force=False, label=None):
    """Log scale when the values span a factor of 8 or more (then plain-number tick labels), linear
    otherwise (a log axis over a narrow range has no labelled decade). Returns the label suffix."""
    from matplotlib.ticker import FuncFormatter, NullFormatter
    vals = [v for v in values if v is not None and v > 0]
    if not vals or (max(vals) / min(vals) < 8 and not force):
        return ""
    a = ax.xaxis if axis == "x" else ax.yaxis
    (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
    from matplotlib.ticker import LogLocator
    if max(vals) / min(vals) < 100:  # under two decades: label 1-2-5 steps, not only powers of ten
        a.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    a.set_major_formatter(FuncFormatter(lambda v, _: (label or (lambda x: "%g" % x))(v)))
    a.set_minor_formatter(NullFormatter())
    return ", log scale"


def grouped_bars(ax, groups, series, value, colors=None, zoom=False):
    """Bars for value(group, series) (None = not measured: no bar, and the remaining bars of the
    group close up around its centre). zoom: the y axis spans the data instead of starting at 0,
    so small differences stay visible. Returns the legend handles of the series drawn."""
    from matplotlib.patches import Patch
    colors = colors or {name: CYCLE[k % len(CYCLE)] for k, name in enumerate(series)}
    drawn, heights = [], []
    table = [[(name, value(g, name)) for name in series] for g in groups]
    table = [[(name, v) for name, v in row if v is not None] for row in table]
    width = 0.8 / max([1] + [len(row) for row in table])  # one bar width everywhere
    for gx, present in enumerate(table):
        for k, (name, v) in enumerate(present):
            ax.bar(gx + width * (k + 0.5 - len(present) / 2), v, width=width * 0.92, color=colors[name])
            heights.append(v)
            if name not in drawn:
                drawn.append(name)
    ax.set_xticks(range(len(groups)))
    if zoom and heights:
        lo, hi = min(heights), max(heights)
        pad = 0.12 * (hi - lo) if hi > lo else 0.05 * abs(hi) + 1e-3
        ax.set_ylim(lo - pad, hi + pad)
    return [Patch(color=colors[n], label=n) for n in series if n in drawn]


def interval_bar(ax, x, y, ci, color, **kw):
    """A point at (x, y) with its 95% interval as a vertical bar; a plain point when ci is None."""
    if ci is None:
        ax.plot([x], [y], kw.pop("marker", "o"), color=color, **kw)
        return
    lo, hi = ci
    ax.errorbar([x], [y], yerr=[[max(0.0, y - lo)], [max(0.0, hi - y)]], fmt=kw.pop("marker", "o"),
                color=color, ecolor=color, elinewidth=0.9, capsize=2.0, **kw)


def errorbars(ax, xs, ys, cis, color, **kw):
    """A line through the points with each point's 95% interval (cis: list of (lo, hi) or None)."""
    ax.plot(xs, ys, color=color, **{k: v for k, v in kw.items() if k in ("ls", "lw", "label", "zorder")})
    for x, y, c in zip(xs, ys, cis):
        interval_bar(ax, x, y, c, color, **{k: v for k, v in kw.items() if k in ("marker", "mfc", "ms", "zorder")})


def scaled_ci(ci, scale):
    return None if ci is None else (ci[0] * scale, ci[1] * scale)


INTERVAL_NOTE = "bars: 95% intervals where measured"


def subplots(n, ncols, height_per_row=2.6, width=WIDTH):
    nrows = max(1, (n + ncols - 1) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, height_per_row * nrows + 0.3), squeeze=False)
    flat = [a for row in axes for a in row]
    for a in flat[n:]:
        a.set_visible(False)
    return fig, flat[:n]


# --- running one script ---------------------------------------------------------------------

def paths(tier=None, results=None, out=None):
    results = results or os.path.join("results", tier)
    out = out or results
    return results, os.path.join(out, "figures"), os.path.join(out, "tables")


def render_suite(module, results, figdir, tabdir, log=sys.stderr):
    """Renders one suite; returns (status, files) with status 'ok', 'missing' or 'malformed'."""
    path = os.path.join(results, module.SUITE + ".json")
    if not os.path.exists(path):
        print("plots: %s missing — skipping %s (%s)" % (path, module.SUITE, module.ARTIFACT), file=log)
        return "missing", []
    try:
        suite = load(path, module.SUITE)
        files = module.render(suite, figdir, tabdir)
    except Malformed as e:
        print("plots: %s" % e, file=log)
        return "malformed", []
    for f in files:
        print("plots: wrote %s" % f, file=log)
    return "ok", files


def main_one(module):
    """Command line of a single figure script: python3 plots/fig_x.py --tier T [--results D --out D]."""
    ap = argparse.ArgumentParser(description="%s (%s) from results/<tier>/%s.json" % (
        module.ARTIFACT, module.__doc__.strip().splitlines()[0], module.SUITE))
    ap.add_argument("--tier", default="small")
    ap.add_argument("--results", help="directory holding the suite JSON (default results/<tier>)")
    ap.add_argument("--out", help="output directory (default: the results directory)")
    a = ap.parse_args()
    results, figdir, tabdir = paths(a.tier, a.results, a.out)
    status, _ = render_suite(module, results, figdir, tabdir)
    sys.exit(0 if status == "ok" else 1)
