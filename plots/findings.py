"""findings — does each of our measurements agree with the paper's finding? Computed, not written.

One function per suite takes a loaded pqplot.Suite (and a context: which tasks are passed above chance,
the MobileLLM-shaped decode timings) and returns a list of Finding: the paper's claim (fixed text, from
DESIGN.md §1), one sentence built from our numbers, and a verdict.

Verdicts rest on the results' contrasts (README "Statistics"): each contrast is a difference between two
configurations with its 95% interval. Oriented so that positive means "the side the paper says is better
is better", a case *agrees* when its interval lies above zero, *disagrees* when it lies below, and is
*within noise* otherwise. A finding with several cases: agrees if every case agrees, disagrees if some
disagree and none agree, partly if some agree and the rest are within noise (or some disagree), within
noise if none is resolved. Every sentence gives the effects, their intervals, the number of seeds and the
smallest detectable effect (mde = 2.8 standard errors) next to the paper's effect size (PAPER below).
A results file without contrasts (written before the statistics existed) gets "insufficient data: no
intervals": its point estimates are described, no difference is called.
"""
import math
import os
import statistics

import pqplot as P

AGREES, PARTLY, DISAGREES, NOISE, INSUFFICIENT = "agrees", "partly", "disagrees", "within noise", "insufficient data"
NO_INTERVALS = "insufficient data: no intervals"

# The paper's effect per finding (DESIGN.md §1, issue 15): (what it reports, the number in our units
# of the contrast where there is one, or None when the paper's number is not in a unit we measure).
PAPER = {
    "grids": ("exact level sets: {−2/3, 0, 2/3} (SEQ ternary), {±1/4, ±3/4} (SEQ 2-bit)", None),
    "budget": ("optimum near 90% FP / 10% QAT; 0% (from scratch) and 100% (PTQ) clearly worse", None),
    "tokens_finetune": ("fine-tuning beats from-scratch QAT at every token count, by a wide margin", None),
    "tokens_saturation": ("3-4-bit saturates after ~10B QAT tokens, ≤2-bit keeps improving to 30B", None),
    "transition": ("relative L1 change ~0.4 at ≤2 bits vs ~0.1 at 3-4 bits (difference ~0.3, ×4)", 0.3),
    "quantfn_choice": ("sign at 1 bit, SEQ at 1.58/2 bits, LSQ at 3/4 bits best (a few accuracy points)", None),
    "quantfn_learned": ("learned ranges beat min-max/clipped statistics at every bit width", None),
    "pareto_acc": ("1.58/2/3-bit above 4-bit and binary at equal size (a few accuracy points at 125M-3B)", None),
    "pareto_loss": ("(our addition) the same frontier by validation loss", None),
    "speed": ("2-bit decodes ≈1.25× as fast as 4-bit on CPU at equal size", 0.25),
    "speed_tier": ("2-bit decodes ≈1.25× as fast as 4-bit on CPU at equal size", 0.25),
    "ternary": ("ParetoQ ternary beats RTN, LLM-QAT-like min-max QAT and BitNet-like from-scratch at every size", None),
    "baselines": ("ParetoQ beats RTN, GPTQ and min-max QAT at 2/3/4 bits, most at 2 bits", None),
    "kernels": ("2-bit ≈1.25× faster than 4-bit end to end; 2× is the bandwidth limit", 0.25),
}

# What a tier of our scale lacks for each finding, and the scale that finding needs ("Not reproduced,
# and why" in the report). Kept next to PAPER so that a reader can check one against the other.
NEEDS = {
    "grids": "nothing: a deterministic transfer function; a mismatch is a bug in the quantizer.",
    "budget": "FP checkpoints trained far enough that pretraining matters more than QAT (≥20 tokens per "
              "parameter; the paper's see thousands) and a budget large enough that 10% of it is ≥1000 QAT "
              "steps; ≥3 seeds at the splits near the optimum (0.8-0.95).",
    "tokens_finetune": "a trained FP checkpoint (≥20 tokens/param) so that fine-tuning starts from "
                       "something worth keeping; ≥3 seeds per token count.",
    "tokens_saturation": "QAT sweeps to ≥1000 optimizer steps (the paper: 40K-120K) with ≥4 token counts, "
                         "so that 3-4-bit curves can flatten while ≤2-bit ones still move; ≥3 seeds.",
    "transition": "QAT long enough to rewrite weights (≥1000 steps; the paper's 40K-120K) at an equal "
                  "learning rate across bit widths (the recipe doubles it at ≤2 bits, a confound).",
    "quantfn_choice": "differences between quantizers of a few thousandths of a nat need ≥3 seeds and a "
                      "paired bootstrap; at 3-4 bits the paper's gap is small even at 125M.",
    "quantfn_learned": "≥3 seeds; QAT long enough (≥1000 steps) for learned ranges to move from their init.",
    "pareto_acc": "zero-shot tasks passed above chance by the FP model (models ≥20 tokens/param, or tasks "
                  "redesigned for small models); pairs of models of about equal size across bit widths.",
    "pareto_loss": "pairs of models of about equal size across bit widths (a model ladder with ~2× steps) "
                   "and ≥3 seeds.",
    "speed": "memory-bound decode: MobileLLM-shaped (125M-350M) packed models whose weights exceed the "
             "caches; the tier's own models fit in cache, where decode is not bandwidth-bound.",
    "speed_tier": "models whose weights exceed the last-level cache (≥100M parameters); the tier's fit in "
                  "cache, so per-token overhead, not weight bytes, sets their speed.",
    "ternary": "trained FP models (≥20 tokens/param) and ≥1000 QAT steps, ≥3 seeds; the paper's margins "
               "are between 125M-3B models.",
    "baselines": "trained FP models (≥20 tokens/param) so that PTQ has something to preserve, ≥1000 QAT "
                 "steps, ≥3 seeds.",
    "kernels": "repeated timings (rounds) per shape to give an interval; weights larger than the caches.",
}

LOWER_BETTER = {"val_loss", "bpb", "loss", "word_ppl", "median_us", "ms_per_token"}
UNITS = {"val_loss": "nats/token", "bpb": "bits/byte", "acc_avg": "points", "rel_l1": "rel. L1",
         "tokens_per_s": "tokens/s"}

class Finding:
    def __init__(self, claim, sentence, verdict, key=None, cases=()):
        self.claim, self.sentence, self.verdict = claim, sentence, verdict
        self.key = key            # which paper finding (PAPER, NEEDS)
        self.cases = list(cases)  # the Case objects the verdict rests on (empty: none)


def share_verdict(k, n):
    """All of n => agrees, at least half => partly, else disagrees (n == 0 => insufficient)."""
    if n == 0:
        return INSUFFICIENT
    return AGREES if k == n else PARTLY if 2 * k >= n else DISAGREES


def g(v, d=3):
    return ("%." + str(d) + "g") % v


def bl(b):
    return "FP%g" % b if b >= 16 else P.bit_short(b) + "-bit"


def low_bit(b):
    return 1.5 < b < 3.5  # 1.58, 2 and 3 bits: the paper's frontier bit widths


# --- Fig. 5 ------------------------------------------------------------------------------

def _points_grids(s):
    claim = ("ParetoQ's stretched elastic quantizer (SEQ) gives balanced grids at 1.58 and 2 bits — "
             "{−2/3, 0, 2/3} and {±1/4, ±3/4}, symmetric, the 2-bit one without a zero level — while LSQ's integer "
             "grid clamp(round(u), −2^(b−1), 2^(b−1)−1) has one more negative than positive level.")
    checks, parts = [], []
    for i in range(len(s.rows)):
        name, b = s.text(i, "quantizer").lower(), s.bits(i)
        levels = sorted({round(v, 6) for v in s.numlist(i, "q")})
        symmetric = levels == sorted(-v + 0.0 for v in levels)
        zero = 0.0 in levels
        parts.append("%s@%s: %d levels, %s%s" % (name, P.bit_short(b), len(levels),
                                                  "symmetric" if symmetric else "asymmetric",
                                                  ", with 0" if zero else ", no 0"))
        if name == "seq" and abs(b - 1.58) < 0.05:
            checks.append(symmetric and zero and len(levels) == 3)
        elif name == "seq" and b == 2:
            checks.append(symmetric and not zero and len(levels) == 4)
        elif name == "lsq" and b in (2, 3, 4):
            checks.append(not symmetric and len(levels) == 2 ** int(b))
    if not checks:
        return [Finding(claim, "No SEQ or LSQ grid at 1.58-4 bits was stored, so the claim cannot be checked.",
                        INSUFFICIENT)]
    ok = sum(checks)
    return [Finding(claim, "Our transfer functions have %s; %d of %d SEQ/LSQ grids have the level set the "
                    "paper describes." % ("; ".join(parts), ok, len(checks)), share_verdict(ok, len(checks)))]


# --- Fig. 2 ------------------------------------------------------------------------------

def _points_budget(s):
    claim = ("With a fixed total token budget, spending ~90% on full-precision pretraining and ~10% on QAT "
             "fine-tuning is best; QAT from scratch (0%) and PTQ (100%) are both worse.")
    n = len(s.rows)
    key = "val_loss" if any(s.num(i, "val_loss") is not None for i in range(n)) else "acc_avg"
    better = min if key == "val_loss" else max
    bests, near, extreme = [], 0, 0
    for model in s.models():
        # bits ≥ 16: the full-precision control for the whole budget, not a split of the sweep.
        for b in sorted({s.bits(i) for i in range(n) if s.text(i, "model") == model and s.bits(i) < 16}):
            pts = [(s.num(i, "fp_fraction"), s.num(i, key)) for i in range(n)
                   if s.text(i, "model") == model and s.bits(i) == b and s.num(i, key) is not None]
            if len(pts) < 3:
                continue
            f, _ = better(pts, key=lambda p: p[1])
            bests.append("%s%s %g%%" % (model + " " if len(s.models()) > 1 else "", bl(b), 100 * f))
            near += 0.8 <= f <= 0.95
            extreme += f in (0.0, 1.0)
    if not bests:
        return [Finding(claim, "Fewer than three budget splits were measured per bit width: cannot locate a "
                        "best split.", INSUFFICIENT)]
    return [Finding(claim, "The split with the %s %s is %s: %d of %d curves are best between 80%% and 95%% FP, and "
                    "%d are best at an extreme (0%% or 100%%)." % (
                        "lowest" if key == "val_loss" else "highest",
                        "validation loss" if key == "val_loss" else "average accuracy",
                        ", ".join(bests), near, len(bests), extreme), share_verdict(near, len(bests)))]


# --- Fig. 3 ------------------------------------------------------------------------------

def _points_tokens(s):
    n = len(s.rows)
    out = []
    claim = "At every QAT token count, fine-tuning the FP checkpoint beats QAT from scratch."
    by = {}
    for i in range(n):
        v = s.num(i, "val_loss")
        if v is not None:
            by[(s.text(i, "model"), s.bits(i), s.num(i, "qat_tokens"), s.text(i, "init"))] = v
    pairs = [(k, by[k], by[k[:3] + ("scratch",)]) for k in by if k[3] == "finetune" and k[:3] + ("scratch",) in by]
    if not pairs:
        out.append(Finding(claim, "No token count has both a fine-tuned and a from-scratch validation loss.",
                           INSUFFICIENT))
    else:
        wins = sum(ft < sc for _, ft, sc in pairs)
        gap = statistics.median(sc - ft for _, ft, sc in pairs)
        out.append(Finding(claim, "Fine-tuning has the lower validation loss in %d of %d (model, bits, tokens) "
                           "pairs, by a median of %s nats/token." % (wins, len(pairs), g(gap)),
                           share_verdict(wins, len(pairs))))

    claim = ("Lower bit widths need more QAT tokens: 3-4-bit fine-tuning saturates early, while ≤2-bit keeps "
             "improving (the paper's learning transition).")
    late = {}
    for (model, b, _, init) in by:
        if init != "finetune" or (model, b) in late:
            continue
        curve = sorted((t, v) for (m, bb, t, ii), v in by.items() if m == model and bb == b and ii == "finetune")
        total = curve[0][1] - curve[-1][1] if len(curve) >= 3 else 0
        if total > 0:
            late[(model, b)] = (curve[-2][1] - curve[-1][1]) / total
    lo = [v for (m, b), v in late.items() if b <= 2]
    hi = [v for (m, b), v in late.items() if b >= 3]
    if not lo or not hi:
        out.append(Finding(claim, "Need fine-tuning curves of at least three token counts with a net improvement "
                           "at both ≤2 and ≥3 bits; we have %d and %d." % (len(lo), len(hi)), INSUFFICIENT))
    else:
        mlo, mhi = statistics.median(lo), statistics.median(hi)
        out.append(Finding(claim, "The last step of the token sweep still brings %.0f%% of the total loss "
                           "reduction at ≤2 bits but %.0f%% at ≥3 bits (medians over curves)." % (100 * mlo, 100 * mhi),
                           AGREES if mlo > mhi else DISAGREES))
    return out


# --- Fig. 4 ------------------------------------------------------------------------------

def _points_transition(s):
    claim = ("Learning transition: QAT at ≤2 bits rewrites the weights (relative L1 change ~0.4 in the paper), "
             "at 3-4 bits it only compensates (~0.1); the jump lies between 2 and 3 bits.")
    n = len(s.rows)
    sentences, verdicts = [], []
    for model in s.models():
        med = {}
        for b in sorted({s.bits(i) for i in range(n) if s.text(i, "model") == model}):
            vals = [s.num(i, "rel_l1") for i in range(n) if s.text(i, "model") == model and s.bits(i) == b
                    and s.num(i, "rel_l1") is not None and P.lr_rule(s.rows[i]) == "recipe"
                    and not P.is_control(s.rows[i])]
            if vals:
                med[b] = statistics.median(vals)
        lo = [v for b, v in med.items() if b <= 2]
        hi = [v for b, v in med.items() if b >= 3]
        if not lo or not hi:
            continue
        bits = sorted(med)
        steps = [(med[a] / med[c] if med[c] > 0 else math.inf, a, c) for a, c in zip(bits, bits[1:])]
        ratio, a, c = max(steps)
        gap = min(lo) / max(hi) if max(hi) > 0 else math.inf
        at_2_3 = min(lo) > max(hi) and a == 2 and c == 3
        verdicts.append(AGREES if at_2_3 and gap >= 2 else PARTLY if at_2_3 else DISAGREES)
        sentences.append("%s: median %s, the largest drop from %s to %s bits (×%s), ≤2-bit over ≥3-bit ×%s" % (
            model, ", ".join("%s %s" % (bl(b), g(med[b], 2)) for b in bits), P.bit_short(a), P.bit_short(c),
            g(ratio, 2), g(gap, 2)))
    if not verdicts:
        return [Finding(claim, "Relative L1 changes were not measured at both ≤2 and ≥3 bits.", INSUFFICIENT)]
    verdict = verdicts[0] if len(set(verdicts)) == 1 else PARTLY
    return [Finding(claim, "; ".join(sentences) + " (agreement needs every ≤2-bit median above every ≥3-bit one, "
                    "the largest drop between 2 and 3 bits and a gap of at least ×2; the paper's is ~×4).", verdict)]


# --- Fig. 6 ------------------------------------------------------------------------------

PAPER_CHOICE = {1.0: "sign", 1.58: "seq", 2.0: "seq", 3.0: "lsq", 4.0: "lsq", 8.0: "lsq"}
LEARNED = {"sign", "seq", "lsq", "paretoq", "sign_max", "lsq_wide"}
STATISTIC = {"minmax", "clip", "absmean", "rtn", "int8"}


def _points_quantfn(s):
    n = len(s.rows)
    table = {}
    for i in range(n):
        v = s.num(i, "val_loss")
        if v is not None:
            table.setdefault((s.text(i, "model"), s.bits(i)), {})[s.text(i, "quantizer").lower()] = v
    out = []
    claim = "The paper's choice per bit width — sign (LSQ binary) at 1 bit, SEQ at 1.58 and 2 bits, LSQ at 3-4 bits — is the best quantizer there."
    wins, cells, losers = 0, 0, []
    for (model, b), losses in sorted(table.items()):
        choice = "paretoq" if "paretoq" in losses else PAPER_CHOICE.get(round(b, 2))
        others = {q: v for q, v in losses.items() if q != choice and q != "paretoq"}
        if choice not in losses or not others:
            continue
        cells += 1
        best_other = min(others, key=others.get)
        if losses[choice] <= others[best_other]:
            wins += 1
        else:
            losers.append("%s %s beats %s %s at %s" % (best_other, g(others[best_other], 5), choice,
                                                       g(losses[choice], 5), bl(b)))
    if cells == 0:
        out.append(Finding(claim, "No bit width has the paper's quantizer and an alternative both measured.",
                           INSUFFICIENT))
    else:
        out.append(Finding(claim, "By validation loss the paper's choice is best (or tied) at %d of %d (model, bit "
                           "width) cells%s." % (wins, cells, "; " + ", ".join(losers) if losers else ""),
                           share_verdict(wins, cells)))
    claim = "Learned ranges (sign, SEQ, LSQ) beat statistics-based ranges (min-max, clipped) at every bit width."
    wins, cells, gaps = 0, 0, []
    for (model, b), losses in sorted(table.items()):
        learned = [v for q, v in losses.items() if q in LEARNED]
        stat = [v for q, v in losses.items() if q in STATISTIC]
        if learned and stat:
            cells += 1
            wins += min(learned) < min(stat)
            gaps.append(min(stat) - min(learned))
    if cells == 0:
        out.append(Finding(claim, "No bit width has both a learned and a statistics-based range measured.",
                           INSUFFICIENT))
    else:
        out.append(Finding(claim, "The best learned range has the lower validation loss at %d of %d (model, bit "
                           "width) cells (median margin %s nats/token)." % (wins, cells, g(statistics.median(gaps))),
                           share_verdict(wins, cells)))
    return out


# --- Fig. 1 / 7a -------------------------------------------------------------------------

def _interp(curve, x):
    """Linear interpolation in log(x) on a curve sorted by x; None outside it."""
    if len(curve) < 2 or not curve[0][0] <= x <= curve[-1][0]:
        return None
    for (x0, y0), (x1, y1) in zip(curve, curve[1:]):
        if x0 <= x <= x1:
            if x1 == x0:
                return max(y0, y1)
            t = (math.log(x) - math.log(x0)) / (math.log(x1) - math.log(x0))
            return y0 + t * (y1 - y0)
    return None


def _points_pareto(s):
    n = len(s.rows)
    out = []
    for key, what, sign in (("acc_avg", "average accuracy", 1), ("val_loss", "validation loss", -1)):
        claim = ("1.58-, 2- and 3-bit models lie on the accuracy-vs-size Pareto frontier, above 4-bit and binary "
                 "models of the same size." if key == "acc_avg" else
                 "(Our addition, less noisy than accuracy at this scale) the same frontier measured by validation loss.")
        curves = {}
        for i in range(n):
            x, y = s.num(i, "size_bytes"), s.num(i, key)
            if x is not None and y is not None:
                curves.setdefault(s.bits(i), []).append((x, sign * y))  # larger is better after the sign flip
        for c in curves.values():
            c.sort()
        allpts = [(x, y, b) for b, c in curves.items() for x, y in c]
        if len(allpts) < 3:
            out.append(Finding(claim, "Fewer than three models have both a size and %s %s." % (
                "an" if what[0] in "aeiou" else "a", what), INSUFFICIENT))
            continue
        front = {}
        best = None
        for x, y, b in sorted(allpts, key=lambda p: (p[0], -p[1])):
            if best is None or y > best:
                front[b] = front.get(b, 0) + 1
                best = y
        below, total, gaps = 0, 0, []
        for b in (1.0, 4.0):
            for x, y in curves.get(b, []):
                env = [v for bb, c in curves.items() if low_bit(bb) for v in [_interp(c, x)] if v is not None]
                if env:
                    total += 1
                    below += max(env) > y
                    gaps.append(max(env) - y)
        frontier = ", ".join("%s ×%d" % (bl(b), front[b]) for b in sorted(front))
        scale = P.acc_scale([y for _, y, _ in allpts]) if key == "acc_avg" else 1
        if total == 0:
            out.append(Finding(claim, "Frontier points by bit width: %s; no 4-bit or binary model lies within the "
                               "size range of a 1.58/2/3-bit curve, so 'above at the same size' cannot be tested."
                               % frontier, INSUFFICIENT))
            continue
        unit = "points" if key == "acc_avg" else "nats/token"
        noise = ""
        if key == "acc_avg":
            # Standard error of a mean over T tasks with independent errors: sqrt(sum se^2) / T.
            ses = []
            for i in range(n):
                se = s.numdict(i, "acc_stderr")
                if se:
                    ses.append(math.sqrt(sum(v * v for v in se.values())) / len(se))
            if ses:
                noise = "; the average accuracy's standard error is about ±%s points" % g(statistics.median(ses) * scale, 2)
        out.append(Finding(claim, "Frontier points by bit width: %s; at the sizes of the 4-bit and binary models, "
                           "the best 1.58/2/3-bit curve (interpolated in log size) is better in %d of %d cases "
                           "(median margin %s %s)%s." % (frontier, below, total, g(statistics.median(gaps) * scale),
                                                         unit, noise), share_verdict(below, total)))
    return out


# --- Fig. 7c -----------------------------------------------------------------------------

def _points_speed(s):
    claim = ("2-bit is the hardware sweet spot: its CPU decode is faster than 4-bit (about 1.25× at equal size "
             "in the paper) at a small accuracy cost.")
    n = len(s.rows)
    tps = {(s.text(i, "model"), s.bits(i)): s.num(i, "tokens_per_s") for i in range(n)
           if s.num(i, "tokens_per_s") is not None}
    ratios = [(m, tps[(m, 2.0)] / tps[(m, 4.0)]) for m in s.models() if (m, 2.0) in tps and (m, 4.0) in tps]
    if not ratios:
        return [Finding(claim, "No model has both a 2-bit and a 4-bit decode speed.", INSUFFICIENT)]
    pts = [(s.num(i, "tokens_per_s"), s.num(i, "acc_avg"), s.bits(i)) for i in range(n)
           if s.num(i, "tokens_per_s") is not None and s.num(i, "acc_avg") is not None]
    on_front = {}
    for x, y, b in pts:
        if not any(x2 >= x and y2 >= y and (x2, y2) != (x, y) for x2, y2, _ in pts):
            on_front[b] = on_front.get(b, 0) + 1
    faster = sum(r > 1 for _, r in ratios)
    front = ("accuracy-speed frontier points: " + ", ".join("%s ×%d" % (bl(b), on_front[b]) for b in sorted(on_front))
             if pts else "accuracy was not measured, so the accuracy-speed frontier cannot be drawn")
    return [Finding(claim, "2-bit decodes %s× as fast as 4-bit for the same model (%s); %s." % (
        g(statistics.median(r for _, r in ratios)), ", ".join("%s %s×" % (m, g(r)) for m, r in ratios), front),
        share_verdict(faster, len(ratios)))]


# --- Fig. 8 / Table 2 and Fig. 9 / Table 1 ---------------------------------------------------

# Which number decides "better" when comparing methods: validation loss where every method has it
# (PTQ runs may not), else held-out bits per byte (from the eval of every model), else accuracy.
METRICS = [("val_loss", 1, "validation loss", "nats/token"), ("bpb", 1, "bits per byte", "bits/byte"),
           ("acc_avg", -1, "average accuracy", "accuracy")]


def _method_wins(s, group_keys, claim, ours="paretoq"):
    n = len(s.rows)
    metric = None
    for key, sign, what, unit in METRICS:
        if all(s.num(i, key) is not None for i in range(n)) and n:
            metric = (key, sign, what, unit)
            break
    if metric is None:  # no metric complete everywhere: the one measured most often
        metric = max(METRICS, key=lambda m: sum(s.num(i, m[0]) is not None for i in range(n)))
    key_name, sign, what, unit = metric
    cells = {}
    for i in range(n):
        v = s.num(i, key_name)
        if v is not None:
            cells.setdefault(tuple(s.text(i, k) if k != "bits" else s.bits(i) for k in group_keys), {})[
                s.text(i, "method")] = sign * v  # lower is better after the sign
    wins, total, beaten, margins = 0, 0, [], {}
    for key, losses in sorted(cells.items()):
        if ours not in losses or len(losses) < 2:
            continue
        total += 1
        rival = min((m for m in losses if m != ours), key=losses.get)
        margin = losses[rival] - losses[ours]
        if margin >= 0:
            wins += 1
        else:
            beaten.append("%s beats it for %s" % (rival, " ".join(P.bit_short(k) + "-bit" if isinstance(k, float)
                                                                  else k for k in key)))
        if "bits" in group_keys:
            margins.setdefault(key[group_keys.index("bits")], []).append(margin)
    if total == 0:
        return Finding(claim, "No configuration has ParetoQ and a baseline both measured.", INSUFFICIENT), margins
    return Finding(claim, "ParetoQ has the %s %s in %d of %d configurations%s." % (
        "lowest" if sign > 0 else "highest", what, wins, total, "; " + ", ".join(beaten) if beaten else ""),
        share_verdict(wins, total)), (margins, unit if sign > 0 else "points")


def _points_ternary(s):
    f, _unused = _method_wins(s, ["model"], "ParetoQ's ternary QAT beats RTN, a min-max-statistics QAT (LLM-QAT-like) "
                        "and a ternary model trained from scratch (BitNet b1.58-like) at every model size.")
    return [f]


def _points_baselines(s):
    f, extra = _method_wins(s, ["model", "bits"], "At 2, 3 and 4 bits ParetoQ beats PTQ (RTN, GPTQ) and min-max "
                            "QAT, with the largest margin at the lowest bit width.")
    margins, unit = extra if isinstance(extra, tuple) else ({}, "")
    if f.verdict != INSUFFICIENT and len(margins) >= 2:
        scale = 100 if unit == "points" else 1  # accuracy margins in percentage points
        med = {b: statistics.median(v) * scale for b, v in margins.items()}
        largest = max(med, key=med.get)
        f.sentence = f.sentence[:-1] + "; the median margin over the best baseline (positive = ParetoQ better) is " \
            "%s %s%s." % (", ".join("%s %s" % (bl(b), g(med[b])) for b in sorted(med)), unit,
                          ", largest at %s" % bl(largest) if min(med.values()) > 0 else "")
        if largest != min(med) and f.verdict == AGREES:
            f.verdict = PARTLY
    return [f]


# --- kernel table ----------------------------------------------------------------------------

def _points_kernels(s):
    import tab_kernels as K
    claim = ("Decoding is memory-bound, so fewer bits per weight decode faster: a 2-bit kernel reads half the bytes "
             "of a 4-bit one (the paper measures 2-bit ≈1.25× faster than 4-bit end to end).")
    n = len(s.rows)
    best = {}
    for i in range(n):
        t, bpw = K.num(s, i, "median_us"), K.num(s, i, "bits_per_weight")
        if t is None or bpw is None or (K.num(s, i, "batch") or 1) != 1:
            continue
        width = 2 if abs(bpw - 2) < 0.1 else 4 if abs(bpw - 4) < 0.1 else None
        if width is None:
            continue
        k = (K.text(s, i, "residency"), int(K.num(s, i, "rows")), int(K.num(s, i, "cols")), K.num(s, i, "threads"))
        best.setdefault(k, {})
        best[k][width] = min(best[k].get(width, math.inf), t)
    ratios = [(k, v[4] / v[2]) for k, v in sorted(best.items(), key=lambda kv: str(kv[0])) if 2 in v and 4 in v]
    streamed = [r for k, r in ratios if k[0] == "streamed"] or [r for _, r in ratios]
    if not streamed:
        return [Finding(claim, "No shape has both a 2-bit and a 4-bit matrix-vector timing.", INSUFFICIENT)]
    fracs = [K.num(s, i, "frac_of_bandwidth") for i in range(n) if K.text(s, i, "residency") == "streamed"
             and K.num(s, i, "frac_of_bandwidth") is not None and (K.num(s, i, "batch") or 1) == 1]
    faster = sum(r > 1 for r in streamed)
    return [Finding(claim, "For %s weights, 4-bit GEMV takes %s× the time of 2-bit (median over %d shape/thread "
                    "settings, range %s-%s; 2× is the bandwidth limit)%s." % (
                        "streamed (DRAM-bound)" if any(k[0] == "streamed" for k, _ in ratios) else "all",
                        g(statistics.median(streamed)), len(streamed), g(min(streamed)), g(max(streamed)),
                        "; streamed GEMVs reach a median %.0f%% of DRAM bandwidth" % (100 * statistics.median(fracs))
                        if fracs else ""), share_verdict(faster, len(streamed)))]





# === verdicts from contrasts =================================================================

class Case:
    """One contrast, oriented: adv > 0 means the side the paper says is better is better here.
    lo, hi: its 95% interval (or a range, see `interval`); mde: smallest detectable effect (None when
    unknown); n_seeds: seeds behind it; scale: factor shown (100 for accuracy in points)."""

    def __init__(self, label, adv, lo, hi, mde=None, n_seeds=None, unit="", interval="95% CI", scale=1.0):
        self.label, self.adv, self.lo, self.hi = label, adv, lo, hi
        self.mde, self.n_seeds, self.unit, self.interval, self.scale = mde, n_seeds, unit, interval, scale

    @property
    def verdict(self):
        return AGREES if self.lo > 0 else DISAGREES if self.hi < 0 else NOISE

    def text(self):
        k = self.scale
        return "%s %s [%s, %s]" % (self.label, sg(self.adv * k), sg(self.lo * k), sg(self.hi * k))


def sg(v):
    """Signed number with 3 significant digits: +0.0213, −0.5."""
    return ("+" if v > 0 else "−" if v < 0 else "") + g(abs(v))


def combine(cases):
    n = len(cases)
    if n == 0:
        return INSUFFICIENT
    k = {v: sum(c.verdict == v for c in cases) for v in (AGREES, DISAGREES, NOISE)}
    if k[AGREES] == n:
        return AGREES
    if k[DISAGREES] == n or (k[DISAGREES] and not k[AGREES]):
        return DISAGREES
    if k[NOISE] == n:
        return NOISE
    return PARTLY


def better_side(metric, c=None):
    if c is not None and c.get("better") in ("lower", "higher"):
        return c["better"]
    base = metric.split(".")[0]
    return "lower" if base in LOWER_BETTER else "higher"


def differ(c):
    a, b = c["a"], c["b"]
    return {k for k in set(a) | set(b) if not P._same(a.get(k), b.get(k))}


def varies(c, field, fixed):
    """The contrast compares two values of `field` with every field of `fixed` equal on both sides."""
    d = differ(c)
    return field in d and not (d & set(fixed))


def side(c, field, which):
    return c[which].get(field, c.get("where", {}).get(field))


def orient(c, claim_is_a, label, better=None, scale=1.0):
    """The contrast as a Case, positive when the claim's side is better."""
    eff, (lo, hi) = float(c["effect"]), (float(c["ci95"][0]), float(c["ci95"][1]))
    if not claim_is_a:
        eff, lo, hi = -eff, -hi, -lo
    if (better or better_side(c["metric"], c)) == "lower":
        eff, lo, hi = -eff, -hi, -lo
    mde = c.get("mde")
    metric = c["metric"]
    unit = UNITS.get(metric.split(".")[0] if not metric.startswith("acc") else "acc_avg", "")
    return Case(label, eff, lo, hi, None if mde is None else float(mde), c.get("n_seeds"), unit, scale=scale)


def _num_label(v):
    return bl(float(v)) if isinstance(v, (int, float)) else str(v)


def where_label(c, skip=()):
    w = c.get("where") or {}
    parts = []
    for k, v in sorted(w.items(), key=lambda kv: (["model", "bits"] + [kv[0]]).index(kv[0])):
        if k in skip:
            continue
        parts.append(_num_label(v) if k == "bits" else P.human(v) + " tok" if k == "qat_tokens" else str(v))
    return " ".join(parts)


def seeds_text(cases):
    ns = sorted({c.n_seeds for c in cases if c.n_seeds is not None})
    if not ns:
        return "seeds not recorded"
    one = " (one seed: the interval covers only the units, not the run-to-run spread)" if ns == [1] else ""
    return ("%d seed%s" % (ns[0], "" if ns[0] == 1 else "s") if len(ns) == 1 else
            "%d-%d seeds" % (ns[0], ns[-1])) + one


def mde_text(cases):
    ms = [c.mde * c.scale for c in cases if c.mde is not None]
    unit = next((c.unit for c in cases if c.unit), "")
    if not ms:
        return "smallest detectable effect not recorded"
    span = g(min(ms), 2) if g(min(ms), 2) == g(max(ms), 2) else "%s-%s" % (g(min(ms), 2), g(max(ms), 2))
    return "smallest detectable effect %s %s" % (span, unit)


def summarize(key, claim, what, cases, rule, limit=8, extra=""):
    """The finding: cases listed (up to `limit`, the unresolved and disagreeing first), counts, seeds,
    mde and the paper's effect, and the combined verdict."""
    if not cases:
        return Finding(claim, what, INSUFFICIENT, key)
    order = sorted(cases, key=lambda c: {DISAGREES: 0, NOISE: 1, AGREES: 2}[c.verdict])
    shown = "; ".join(c.text() for c in order[:limit])
    more = " (+%d more)" % (len(cases) - limit) if len(cases) > limit else ""
    k = {v: sum(c.verdict == v for c in cases) for v in (AGREES, DISAGREES, NOISE)}
    interval = ", ".join(sorted({c.interval for c in cases}))
    sentence = ("%s (%s; %s): %s%s. Agrees in %d, disagrees in %d, within noise in %d of %d (%s; %s; %s). "
                "Paper: %s.%s" % (what, rule, interval, shown, more, k[AGREES], k[DISAGREES], k[NOISE], len(cases),
                                  seeds_text(cases), mde_text(cases), "positive = the paper's side is better",
                                  PAPER[key][0], extra))
    return Finding(claim, sentence, combine(cases), key, cases)


def legacy(found, keys):
    """An old results file: the point-estimate description, without a verdict."""
    for f, k in zip(found, keys):
        f.key = k
        if f.verdict != INSUFFICIENT or not f.sentence.startswith("insufficient"):
            f.sentence = "%s (the results file has no contrasts). Point estimates only, no difference called: %s" % (
                NO_INTERVALS, f.sentence)
        f.verdict = INSUFFICIENT
    return found


def cell_cases(cs, claim_side, keys, label_skip=()):
    """Cases grouped per cell (the contrast's `where`): the claim's side must beat every rival, so a cell
    is represented by its disagreeing case if any, else its least resolved one (smallest lower bound)."""
    cells = {}
    for c, claim_is_a in cs:
        w = tuple((k, side(c, k, "a")) for k in keys)
        rival = side(c, claim_side, "b" if claim_is_a else "a")
        label = " ".join(bl(float(v)) if k == "bits" and isinstance(v, (int, float)) else str(v) for k, v in w
                         if k not in label_skip and v is not None)
        case = orient(c, claim_is_a, "%s vs %s" % (label or "all", rival))
        cells.setdefault(w, []).append(case)
    out = []
    for w, cases in sorted(cells.items(), key=lambda kv: str(kv[0])):
        bad = [c for c in cases if c.verdict == DISAGREES]
        out.append(bad[0] if bad else min(cases, key=lambda c: c.lo))
    return out


# --- the context: tasks above chance, decode timings ------------------------------------------

# Chance accuracy of our tasks when a row does not carry its own "chance_acc" (1 / choices; see
# core/data/tasks_build.c: four choices everywhere but sentence_order's two).
CHANCE = {"wordnet_def": 0.25, "wordnet_hypernym": 0.25, "cloze": 0.25, "next_sentence": 0.25,
          "sentence_order": 0.5}


def task_status(suites):
    """Per task: does any full-precision model (bits ≥ 16) pass it significantly above chance? The
    interval is the row's ci95 (seeds and items), else a binomial one, acc ± 1.96 stderr."""
    out = {}
    for s in suites:
        for i in range(len(s.rows)):
            try:
                fp = s.bits(i) >= 16
            except P.Malformed:
                continue
            if not fp:
                continue
            acc, se = s.numdict(i, "acc"), s.numdict(i, "acc_stderr")
            chance = s.numdict(i, "chance_acc")
            for t, a in acc.items():
                ci = s.ci(i, "acc." + t)
                if ci is None and t in se:
                    ci = (a - 1.96 * se[t], a + 1.96 * se[t])
                c = chance.get(t, CHANCE.get(t))
                best = out.get(t)
                if best is None or (ci is not None and (best["lo"] is None or ci[0] > best["lo"])):
                    out[t] = {"chance": c, "acc": a, "lo": None if ci is None else ci[0],
                              "hi": None if ci is None else ci[1], "model": s.text(i, "model"), "suite": s.name,
                              "n_seeds": s.n_seeds(i)}
    for t, v in out.items():
        v["passes"] = v["chance"] is not None and v["lo"] is not None and v["lo"] > v["chance"]
    return out


def load_decode(results):
    """MobileLLM-shaped decode timings: the tier's kernels.json ("decode", as the kernel benchmark writes
    it), else the repository's results/bench/kernels.json. Returns (rows, path) or ([], None)."""
    import json
    here = os.path.dirname(os.path.abspath(__file__))
    for path in (os.path.join(results, "kernels.json"), os.path.join(here, "..", "results", "bench", "kernels.json")):
        try:
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
        except (OSError, ValueError):
            continue
        rows = doc.get("decode") if isinstance(doc, dict) else None
        if not isinstance(rows, list):
            rows = [r for r in (doc.get("rows") or []) if isinstance(r, dict) and "tokens_per_s" in r and "model" in r] \
                if isinstance(doc, dict) else []
        rows = [r for r in rows if isinstance(r, dict) and isinstance(r.get("model"), str)
                and isinstance(r.get("bits"), (int, float)) and isinstance(r.get("tokens_per_s"), (int, float))]
        if rows:
            return rows, os.path.normpath(path)
    return [], None


def median_interval(xs):
    """The median of xs and a distribution-free interval for it from the order statistics: the widest
    (j-th smallest, j-th largest) pair whose coverage under a binomial(n, 1/2) count is at least 95%,
    the full range below six values (five give 94%). Returns (median, lo, hi)."""
    xs = sorted(xs)
    n = len(xs)
    cdf, j = 0.0, 1  # cdf: P(count < j) for a binomial(n, 1/2)
    while j < n // 2:
        cdf += math.comb(n, j - 1) / 2.0 ** n
        if 2 * (cdf + math.comb(n, j) / 2.0 ** n) > 0.05:
            break
        j += 1
    return statistics.median(xs), xs[j - 1], xs[n - j]


def decode_ratios(rows):
    """Per (model, head, threads): the 2-bit speed-up, 4-bit over 2-bit time per token, paired round by
    round (each round timed both formats seconds apart, so a drift of the machine cancels in its ratio):
    the median of the per-round ratios, with median_interval's interval for it."""
    by = {}
    for r in rows:
        if r.get("format") not in ("b2", "b4"):
            continue
        rounds = [x for x in r.get("rounds_ms_per_token") or [] if isinstance(x, (int, float)) and x > 0]
        ms = r.get("ms_per_token") or 1e3 / r["tokens_per_s"]
        by.setdefault((r["model"], str(r.get("head", "?")), r.get("threads", 1)), {})[r["format"]] = rounds or [ms]
    out = []
    for (model, head, th), v in sorted(by.items(), key=lambda kv: str(kv[0])):
        if "b2" in v and "b4" in v:
            paired = [t4 / t2 for t2, t4 in zip(v["b2"], v["b4"])]
            out.append(((model, head, th),) + median_interval(paired) + (len(paired),))
    return out


def decode_cases(ratios, prefix=""):
    """decode_ratios' rows as Cases: the speed-up minus 1 and its interval."""
    return [Case("%s%s %s-head %st" % (prefix, m.replace("mobilellm-", ""), head, th), r - 1, lo - 1, hi - 1, None,
                 None, "× over 1", ("order-statistic interval over %d paired rounds" if n >= 6 else
                                    "range over %d paired rounds") % n)
            for (m, head, th), r, lo, hi, n in ratios]


def context(suites, results):
    rows, path = load_decode(results)
    return {"tasks": task_status(suites), "decode": rows, "decode_path": path}


# --- the findings -------------------------------------------------------------------------------

def grids(s, ctx=None):
    found = _points_grids(s)
    for f in found:
        f.key = "grids"
        f.sentence += " (Exact: a deterministic transfer function, no noise to bound.)"
    return found


def budget(s, ctx=None):
    claim = ("With a fixed total token budget, spending ~90% on full-precision pretraining and ~10% on QAT "
             "fine-tuning is best; QAT from scratch (0%) and PTQ (100%) are both worse.")
    cs = s.contrasts()
    if cs is None:
        return legacy(_points_budget(s), ["budget"])
    cases = []
    for c in cs:
        if not varies(c, "fp_fraction", ("model", "bits")) or c["metric"].startswith("acc"):
            continue
        fa, fb = c["a"].get("fp_fraction"), c["b"].get("fp_fraction")
        if not isinstance(fa, (int, float)) or not isinstance(fb, (int, float)):
            continue
        near_a, near_b = 0.8 <= fa <= 0.95, 0.8 <= fb <= 0.95
        if near_a == near_b or (fb if near_a else fa) not in (0, 1):
            continue
        other = fb if near_a else fa
        cases.append(orient(c, near_a, "%s %.0f%% vs %s" % (where_label(c), 100 * (fa if near_a else fb),
                                                            "scratch" if other == 0 else "PTQ")))
    return [summarize("budget", claim, "Near-90%%-FP split against QAT from scratch (0%%) and PTQ (100%%), "
                      "advantage in %s" % (cases[0].unit if cases else "loss"), cases,
                      "agreement: the ~90% split significantly better")] if cases else \
        [Finding(claim, "No contrast compares an 80-95% FP split with 0% or 100%: cannot test.", INSUFFICIENT, "budget")]


def tokens(s, ctx=None):
    cs = s.contrasts()
    if cs is None:
        return legacy(_points_tokens(s), ["tokens_finetune", "tokens_saturation"])
    claim1 = "At every QAT token count, fine-tuning the FP checkpoint beats QAT from scratch."
    cases = [orient(c, c["a"].get("init") == "finetune", where_label(c)) for c in cs
             if varies(c, "init", ("model", "bits", "qat_tokens")) and {c["a"].get("init"), c["b"].get("init")} == {"finetune", "scratch"}
             and not c["metric"].startswith("acc")]
    out = [summarize("tokens_finetune", claim1, "Fine-tuned minus from-scratch loss advantage per (model, bits, "
                     "tokens)", cases, "agreement: fine-tuning significantly better")
           if cases else Finding(claim1, "No contrast compares fine-tuning with from-scratch QAT.", INSUFFICIENT,
                                 "tokens_finetune")]
    claim2 = ("Lower bit widths need more QAT tokens: 3-4-bit fine-tuning saturates early, while ≤2-bit keeps "
              "improving (the paper's learning transition).")
    last = {}
    for c in cs:
        if (not varies(c, "qat_tokens", ("model", "bits", "init")) or c["metric"].startswith("acc")
                or side(c, "init", "a") not in (None, "finetune")):
            continue
        ta, tb = c["a"].get("qat_tokens"), c["b"].get("qat_tokens")
        if not isinstance(ta, (int, float)) or not isinstance(tb, (int, float)) or ta == tb:
            continue
        case = orient(c, ta > tb, "")
        model, bits = side(c, "model", "a"), float(side(c, "bits", "a"))
        top = max(ta, tb)
        if (model, bits) not in last or top > last[(model, bits)][0]:
            last[(model, bits)] = (top, case, min(ta, tb))
    cases = []
    for (m, b), (top, lo_case, _) in sorted(last.items()):
        if b > 2:
            continue
        for (m2, b2), (top2, hi_case, _) in sorted(last.items()):
            if m2 != m or b2 < 3:
                continue
            # The difference of two gains; its interval from the two intervals (non-overlap: conservative).
            mde = None if lo_case.mde is None or hi_case.mde is None else lo_case.mde + hi_case.mde
            cases.append(Case("%s %s vs %s" % (m, bl(b), bl(b2)), lo_case.adv - hi_case.adv,
                              lo_case.lo - hi_case.hi, lo_case.hi - hi_case.lo, mde,
                              lo_case.n_seeds, lo_case.unit, "95% CIs combined conservatively"))
    out.append(summarize("tokens_saturation", claim2, "Loss gained by the last step of the token sweep, ≤2-bit "
                         "minus ≥3-bit", cases, "agreement: ≤2-bit still gains significantly more")
               if cases else Finding(claim2, "No contrast measures the last step of a fine-tuning token sweep at "
                                     "both ≤2 and ≥3 bits.", INSUFFICIENT, "tokens_saturation"))
    return out


def transition(s, ctx=None):
    claim = ("Learning transition: QAT at ≤2 bits rewrites the weights (relative L1 change ~0.4 in the paper), "
             "at 3-4 bits it only compensates (~0.1); the jump lies between 2 and 3 bits.")
    cs = s.contrasts()
    if cs is None:
        return legacy(_points_transition(s), ["transition"])
    cases = []
    for c in cs:
        if c["metric"] != "rel_l1" or not varies(c, "bits", ("model",)) or not recipe_qat(c):
            continue
        ba, bb = float(c["a"].get("bits")), float(c["b"].get("bits"))
        if not ((ba <= 2 < 3 <= bb) or (bb <= 2 < 3 <= ba)):
            continue
        va, vb = c.get("a_value"), c.get("b_value")
        ratio = ""
        if isinstance(va, (int, float)) and isinstance(vb, (int, float)) and min(va, vb) > 0:
            lo_v, hi_v = (va, vb) if ba <= 2 else (vb, va)
            ratio = " (%s vs %s, ×%s)" % (g(lo_v, 2), g(hi_v, 2), g(lo_v / hi_v, 2))
        cases.append(orient(c, ba <= 2, "%s %s vs %s%s" % (where_label(c, ("bits",)), bl(min(ba, bb)),
                                                          bl(max(ba, bb)), ratio), better="higher"))
    if not cases:
        return [Finding(claim, "No contrast compares the relative L1 change at ≤2 and ≥3 bits.", INSUFFICIENT,
                        "transition")]
    return [summarize("transition", claim, "Relative L1 change at ≤2 bits minus at ≥3 bits, QAT at the "
                      "recipe's LR (≤2-bit at twice the 3-4-bit LR)", cases,
                      "agreement: ≤2-bit changes the weights significantly more", extra=transition_controls(cs, combine(cases)))]


def recipe_qat(c):
    """Both sides are QAT at the recipe's LR (rows from before the controls carry neither field)."""
    return all(c[k].get("lr_rule", "recipe") == "recipe" and c[k].get("method", "qat") == "qat" for k in "ab")


def _span(cases):
    """'+0.01 [−0.002, +0.03]' for one case; the range of effects and the widest interval for several."""
    if len(cases) == 1:
        return cases[0].text().strip()
    if g(min(c.adv for c in cases)) == g(max(c.adv for c in cases)):
        return "%s in each of %d (intervals from %s to %s)" % (sg(cases[0].adv), len(cases), sg(min(c.lo for c in cases)),
                                                            sg(max(c.hi for c in cases)))
    return "%s to %s (intervals from %s to %s)" % (sg(min(c.adv for c in cases)), sg(max(c.adv for c in cases)),
                                                   sg(min(c.lo for c in cases)), sg(max(c.hi for c in cases)))


def transition_controls(cs, recipe_verdict=None):
    """The controls' part of the sentence: does the ≤2-bit vs ≥3-bit gap survive at one equal LR, and
    how far does QAT move the weights beyond the same fine-tune in full precision?"""
    parts = []
    equal = [orient(c, float(c["a"]["bits"]) <= 2, "", better="higher") for c in cs
             if c["metric"] == "rel_l1" and varies(c, "bits", ("model",))
             and all(c[k].get("lr_rule") == "equal" and c[k].get("method", "qat") == "qat" for k in "ab")
             and (float(c["a"]["bits"]) <= 2) != (float(c["b"]["bits"]) <= 2)]
    if equal:
        k = {v: sum(c.verdict == v for c in equal) for v in (AGREES, DISAGREES, NOISE)}
        parts.append("At equal LR (the LR confound removed) the ≤2-bit minus ≥3-bit gap is %s: %s in %d, %s in "
                     "%d, %s in %d of %d (%s)" % (_span(equal), "larger", k[AGREES], "smaller", k[DISAGREES],
                                                  "within noise", k[NOISE], len(equal), "verdict on its own: " + combine(equal)))
        if recipe_verdict in (AGREES, PARTLY) and combine(equal) != AGREES:
            parts[-1] += (", so at this tier the recipe's gap is not shown to outlast its doubled LR: it may come "
                          "from the LR rather than the bit width")
    for lo_b in (True, False):
        fp = [orient(c, c["a"].get("method") == "qat", "", better="higher") for c in cs
              if c["metric"] == "rel_l1" and varies(c, "method", ("model", "bits"))
              and {c["a"].get("method"), c["b"].get("method")} == {"qat", "fp_control"}
              and (float(c["a"]["bits"]) <= 2) == lo_b]
        if fp:
            bits = sorted({float(c["a"]["bits"]) for c in cs if c["metric"] == "rel_l1"
                           and varies(c, "method", ("model", "bits")) and (float(c["a"]["bits"]) <= 2) == lo_b})
            k = sum(c.verdict == AGREES for c in fp)
            parts.append("%s QAT minus the same fine-tune in full precision: %s (above it in %d of %d)" % (
                "/".join(bl(b) for b in bits), _span(fp), k, len(fp)))
    return (" Controls: " + "; ".join(parts) + ".") if parts else ""


def quantfn(s, ctx=None):
    cs = s.contrasts()
    if cs is None:
        return legacy(_points_quantfn(s), ["quantfn_choice", "quantfn_learned"])
    cs = [c for c in cs if varies(c, "quantizer", ("model", "bits")) and not c["metric"].startswith("acc")]
    choice = []
    learned = []
    for c in cs:
        qa, qb = str(c["a"].get("quantizer")).lower(), str(c["b"].get("quantizer")).lower()
        b = side(c, "bits", "a")
        pick = PAPER_CHOICE.get(round(float(b), 2)) if isinstance(b, (int, float)) else None
        if pick in (qa, qb):
            choice.append((c, qa == pick))
        if (qa in LEARNED) != (qb in LEARNED) and STATISTIC & {qa, qb}:
            learned.append((c, qa in LEARNED))
    claim1 = ("The paper's choice per bit width — sign (LSQ binary) at 1 bit, SEQ at 1.58 and 2 bits, LSQ at "
              "3-4 bits — is the best quantizer there.")
    claim2 = "Learned ranges (sign, SEQ, LSQ) beat statistics-based ranges (min-max, clipped) at every bit width."
    c1 = cell_cases(choice, "quantizer", ("model", "bits"))
    c2 = cell_cases(learned, "quantizer", ("model", "bits"))
    return [summarize("quantfn_choice", claim1, "Per (model, bits), the paper's quantizer against its closest "
                      "rival, loss advantage", c1, "agreement: better than every rival, significantly",
                      extra=quantfn_controls(s, cs))
            if c1 else Finding(claim1, "No contrast compares the paper's quantizer with another.", INSUFFICIENT,
                               "quantfn_choice"),
            summarize("quantfn_learned", claim2, "Per (model, bits), a learned range against its closest "
                      "statistics-based rival, loss advantage", c2, "agreement: better than every statistics-based "
                      "range, significantly")
            if c2 else Finding(claim2, "No contrast compares a learned with a statistics-based range.",
                               INSUFFICIENT, "quantfn_learned")]


def quantfn_controls(s, cs):
    """The two controls of issue 15 named in the sentence: sign against sign_max (the 1-bit scale init,
    mean|W| vs max|W|) and lsq_wide (LSQ 2-bit with its −2 level in use) against seq and lsq."""
    parts = []
    for q, what in (("sign_max", "1-bit scale init, sign (mean|W|) vs sign_max (max|W|)"),
                    ("lsq_wide", "LSQ with its −2 level in use, seq/lsq vs lsq_wide")):
        # Oriented from the paper's side: positive = the other quantizer (not the control q) better.
        mine = [orient(c, str(c["a"].get("quantizer")).lower() != q, where_label(c) or "all") for c in cs
                if q in (str(c["a"].get("quantizer")).lower(), str(c["b"].get("quantizer")).lower())]
        if mine:
            parts.append("%s: %s (positive: the paper's quantizer better than the control)" % (what, "; ".join(c.text() for c in mine)))
            continue
        rows = [i for i in range(len(s.rows)) if str(s.text(i, "quantizer")).lower() == q
                and s.num(i, "val_loss") is not None]
        for i in rows:
            b = s.bits(i)
            others = ["%s %s" % (s.text(j, "quantizer"), g(s.num(j, "val_loss")))
                      for j in range(len(s.rows)) if s.text(j, "model") == s.text(i, "model") and s.bits(j) == b
                      and str(s.text(j, "quantizer")).lower() in ("seq", "lsq", "sign")
                      and s.num(j, "val_loss") is not None]
            parts.append("%s: %s %s %s val. loss %s vs %s (no contrast: point estimates, nothing called)" % (
                what, s.text(i, "model"), bl(b), q, g(s.num(i, "val_loss")), ", ".join(others) or "no rival"))
    return (" Controls: " + "; ".join(parts) + ".") if parts else ""


def _size(s, key):
    i = s.find(key)
    return None if i is None else s.num(i, "size_bytes")


def pareto(s, ctx=None):
    cs = s.contrasts()
    if cs is None:
        return legacy(_points_pareto(s), ["pareto_acc", "pareto_loss"])
    tasks = (ctx or {}).get("tasks") or {}
    passing = sorted(t for t, v in tasks.items() if v["passes"])
    failing = sorted(t for t, v in tasks.items() if not v["passes"])
    out = []
    for key, claim in (("pareto_acc", "1.58-, 2- and 3-bit models lie on the accuracy-vs-size Pareto frontier, "
                        "above 4-bit and binary models of the same size."),
                       ("pareto_loss", "(Our addition, less noisy than accuracy at this scale) the same frontier "
                        "measured by validation loss.")):
        if key == "pareto_acc":
            per_task = [c for c in cs if c["metric"].startswith("acc.") and c["metric"][4:] in passing]
            if per_task:
                use = per_task
            elif failing:
                why = ("no FP model passes any task significantly above chance" if not passing else
                       "the average accuracy includes tasks no FP model passes above chance (%s) and there "
                       "are no per-task contrasts for the others" % ", ".join(failing))
                out.append(Finding(claim, "Left out of the verdicts: %s." % why, INSUFFICIENT, key))
                continue
            else:
                use = [c for c in cs if c["metric"] == "acc_avg"]
        else:
            use = [c for c in cs if c["metric"] in ("val_loss", "bpb")]
        cases = []
        for c in use:
            ba, bb = c["a"].get("bits"), c["b"].get("bits")
            if not isinstance(ba, (int, float)) or not isinstance(bb, (int, float)):
                continue
            if low_bit(ba) == low_bit(bb) or not ({1.0, 4.0} & {float(ba), float(bb)}):
                continue
            claim_is_a = low_bit(ba)
            sa, sb = _size(s, c["a"]), _size(s, c["b"])
            if sa is None or sb is None:
                continue
            r = (sa / sb) if claim_is_a else (sb / sa)  # low-bit size over the other's
            case = orient(c, claim_is_a, "%s %s (%s MB) vs %s %s (%s MB)%s" % (
                c["a"].get("model", ""), bl(ba), g(sa / 1e6), c["b"].get("model", ""), bl(bb), g(sb / 1e6),
                " " + c["metric"][4:] if c["metric"].startswith("acc.") else ""),
                scale=100.0 if c["metric"].startswith("acc") and P.acc_scale([c.get("a_value")]) == 100 else 1.0)
            # Only a comparison at about equal size, or one the size difference cannot explain, tests
            # the frontier: a smaller low-bit model that wins, or a larger one that loses.
            if 0.9 <= r <= 1.1 or (r < 0.9 and case.verdict == AGREES) or (r > 1.1 and case.verdict == DISAGREES):
                cases.append(case)
        note = " Tasks passed above chance by an FP model: %s; left out: %s." % (
            ", ".join(passing) or "none", ", ".join(failing) or "none") if key == "pareto_acc" and tasks else ""
        out.append(summarize(key, claim, "Low-bit (1.58-3) against 4-bit or binary models at about the same "
                             "size, advantage", cases, "agreement: the low-bit model significantly better", extra=note)
                   if cases else Finding(claim, "No contrast compares a 1.58-3-bit model with a 4-bit or binary "
                                         "one of about the same size (or a larger one that it beats)." + note,
                                         INSUFFICIENT, key))
    return out


def speed(s, ctx=None):
    claim = ("2-bit is the hardware sweet spot: its CPU decode is faster than 4-bit (about 1.25× at equal size "
             "in the paper) at a small accuracy cost.")
    out = []
    ratios = decode_ratios((ctx or {}).get("decode") or [])
    if ratios:
        cases = decode_cases(ratios)
        f = summarize("speed", claim, "MobileLLM-shaped packed decode (%s): 2-bit speed-up over 4-bit, minus 1" %
                      os.path.relpath((ctx or {}).get("decode_path") or "?"), cases,
                      "agreement: the interval of the median per-round speed-up lies above 1",
                      extra=" Speed-ups: %s×." % ", ".join(g(r) for _, r, _, _, _ in ratios))
        out.append(f)
    else:
        out.append(Finding(claim, "No MobileLLM-shaped decode timings (kernels.json \"decode\") were found.",
                           INSUFFICIENT, "speed"))
    cs = s.contrasts()
    tier_claim = "(The tier's own models) the same 2-bit over 4-bit decode speed-up."
    if cs is None:
        legacy_f = legacy(_points_speed(s), ["speed_tier"])[0]
        legacy_f.claim = tier_claim
        out.append(legacy_f)
        return out
    cases = []
    for c in cs:
        if c["metric"] != "tokens_per_s" or not varies(c, "bits", ("model",)):
            continue
        ba, bb = float(c["a"]["bits"]), float(c["b"]["bits"])
        if {ba, bb} != {2.0, 4.0}:
            continue
        base = c.get("b_value") if ba == 2 else c.get("a_value")
        if not isinstance(base, (int, float)) or base <= 0:
            continue
        case = orient(c, ba == 2, where_label(c, ("bits",)), better="higher")
        case.adv, case.lo, case.hi = case.adv / base, case.lo / base, case.hi / base
        case.mde = None if case.mde is None else case.mde / base
        case.unit = "× over 1"
        cases.append(case)
    out.append(summarize("speed_tier", tier_claim, "2-bit speed-up over 4-bit minus 1 for the tier's models "
                         "(they fit in cache: not memory-bound)", cases, "agreement: 2-bit significantly faster")
               if cases else Finding(tier_claim, "No contrast compares 2-bit and 4-bit decode speed.", INSUFFICIENT,
                                     "speed_tier"))
    return out


def _method_cases(s, keys):
    cs = s.contrasts()
    if cs is None:
        return None
    pairs = [(c, c["a"].get("method") == "paretoq") for c in cs
             if varies(c, "method", keys) and "paretoq" in (c["a"].get("method"), c["b"].get("method"))
             and not c["metric"].startswith("acc")]
    return cell_cases(pairs, "method", keys)


def ternary(s, ctx=None):
    claim = ("ParetoQ's ternary QAT beats RTN, a min-max-statistics QAT (LLM-QAT-like) and a ternary model "
             "trained from scratch (BitNet b1.58-like) at every model size.")
    cases = _method_cases(s, ("model",))
    if cases is None:
        return legacy(_points_ternary(s), ["ternary"])
    return [summarize("ternary", claim, "Per model, ParetoQ against its closest rival, loss advantage", cases,
                      "agreement: better than every rival, significantly")
            if cases else Finding(claim, "No contrast compares ParetoQ with a rival method.", INSUFFICIENT, "ternary")]


def baselines(s, ctx=None):
    claim = ("At 2, 3 and 4 bits ParetoQ beats PTQ (RTN, GPTQ) and min-max QAT, with the largest margin at "
             "the lowest bit width.")
    cases = _method_cases(s, ("model", "bits"))
    if cases is None:
        return legacy(_points_baselines(s), ["baselines"])
    return [summarize("baselines", claim, "Per (model, bits), ParetoQ against its closest rival, loss advantage "
                      "(the verdict tests 'beats'; read the margins per bit width from the list)", cases,
                      "agreement: better than every rival, significantly")
            if cases else Finding(claim, "No contrast compares ParetoQ with a baseline.", INSUFFICIENT, "baselines")]


def kernels(s, ctx=None):
    """GEMV timings carry no interval (one median per shape); the shape/thread settings serve as
    replicates: a t interval of the mean log speed-up over them. Decode rounds give a second test."""
    found = _points_kernels(s)
    f = found[0]
    f.key = "kernels"
    import tab_kernels as K
    best = {}
    for i in range(len(s.rows)):
        t, bpw = K.num(s, i, "median_us"), K.num(s, i, "bits_per_weight")
        if t is None or bpw is None or (K.num(s, i, "batch") or 1) != 1 or K.text(s, i, "residency") != "streamed":
            continue
        width = 2 if abs(bpw - 2) < 0.1 else 4 if abs(bpw - 4) < 0.1 else None
        if width is None:
            continue
        k = (int(K.num(s, i, "rows")), int(K.num(s, i, "cols")), K.num(s, i, "threads"))
        best.setdefault(k, {})
        best[k][width] = min(best[k].get(width, math.inf), t)
    logs = [math.log(v[4] / v[2]) for v in best.values() if 2 in v and 4 in v]
    cases = []
    if len(logs) >= 2:
        m, sd = statistics.mean(logs), statistics.stdev(logs)
        half = T975.get(len(logs) - 1, 1.96) * sd / math.sqrt(len(logs))
        cases.append(Case("streamed GEMV, %d shape/thread settings" % len(logs), math.exp(m) - 1,
                          math.exp(m - half) - 1, math.exp(m + half) - 1,
                          math.exp(2.8 * sd / math.sqrt(len(logs))) - 1, None, "× over 1",
                          "t interval over settings"))
    ratios = decode_ratios((ctx or {}).get("decode") or [])
    cases += decode_cases(ratios, "decode ")
    if not cases:
        return legacy(found, ["kernels"])
    g_ = summarize("kernels", f.claim, "4-bit over 2-bit time, minus 1 (GEMV: geometric mean with a t interval "
                   "over settings; decode: median of per-round ratios)", cases, "agreement: 2-bit significantly faster",
                   extra=" " + f.sentence)
    return [g_]


# Two-sided 97.5% t quantiles by degrees of freedom (beyond 30: 1.96 is close enough).
T975 = {1: 12.71, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
        12: 2.179, 15: 2.131, 20: 2.086, 25: 2.060, 30: 2.042}
for _df in range(11, 31):
    T975.setdefault(_df, T975[max(k for k in T975 if k <= _df)])


BY_SUITE = {"grids": grids, "budget": budget, "tokens": tokens, "transition": transition, "quantfn": quantfn,
            "pareto": pareto, "speed": speed, "ternary": ternary, "baselines": baselines, "kernels": kernels}


def seeds_needed(f):
    """Seeds this tier would need to detect the paper's effect where it is in our units: the mde shrinks
    with 1/sqrt(seeds) when the spread over seeds dominates. None when not computable."""
    num = PAPER.get(f.key, (None, None))[1]
    ms = [(c.mde, c.n_seeds) for c in f.cases if c.mde and c.n_seeds]
    if num is None or not ms:
        return None
    mde, n = max(ms)
    return max(n, math.ceil(n * (mde / num) ** 2))
