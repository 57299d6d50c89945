"""findings — does each of our measurements agree with the paper's finding? Computed, not written.

One function per suite takes a loaded pqplot.Suite and returns a list of Finding: the paper's claim
(fixed text, from DESIGN.md §1), one sentence built from our numbers, and a verdict:
"agrees", "partly", "disagrees" or "insufficient data". The rules behind each verdict are stated
in the sentence itself so a reader can check them against the figure.
"""
import math
import statistics

import pqplot as P

AGREES, PARTLY, DISAGREES, INSUFFICIENT = "agrees", "partly", "disagrees", "insufficient data"


class Finding:
    def __init__(self, claim, sentence, verdict):
        self.claim, self.sentence, self.verdict = claim, sentence, verdict


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

def grids(s):
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

def budget(s):
    claim = ("With a fixed total token budget, spending ~90% on full-precision pretraining and ~10% on QAT "
             "fine-tuning is best; QAT from scratch (0%) and PTQ (100%) are both worse.")
    n = len(s.rows)
    key = "val_loss" if any(s.num(i, "val_loss") is not None for i in range(n)) else "acc_avg"
    better = min if key == "val_loss" else max
    bests, near, extreme = [], 0, 0
    for model in s.models():
        for b in sorted({s.bits(i) for i in range(n) if s.text(i, "model") == model}):
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

def tokens(s):
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

def transition(s):
    claim = ("Learning transition: QAT at ≤2 bits rewrites the weights (relative L1 change ~0.4 in the paper), "
             "at 3-4 bits it only compensates (~0.1); the jump lies between 2 and 3 bits.")
    n = len(s.rows)
    sentences, verdicts = [], []
    for model in s.models():
        med = {}
        for b in sorted({s.bits(i) for i in range(n) if s.text(i, "model") == model}):
            vals = [s.num(i, "rel_l1") for i in range(n) if s.text(i, "model") == model and s.bits(i) == b
                    and s.num(i, "rel_l1") is not None]
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
LEARNED = {"sign", "seq", "lsq", "paretoq"}
STATISTIC = {"minmax", "clip", "absmean", "rtn", "int8"}


def quantfn(s):
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


def pareto(s):
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

def speed(s):
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


def ternary(s):
    f, _unused = _method_wins(s, ["model"], "ParetoQ's ternary QAT beats RTN, a min-max-statistics QAT (LLM-QAT-like) "
                        "and a ternary model trained from scratch (BitNet b1.58-like) at every model size.")
    return [f]


def baselines(s):
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

def kernels(s):
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


BY_SUITE = {"grids": grids, "budget": budget, "tokens": tokens, "transition": transition, "quantfn": quantfn,
            "pareto": pareto, "speed": speed, "ternary": ternary, "baselines": baselines, "kernels": kernels}
