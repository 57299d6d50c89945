"""QAT tokens needed: fine-tuning from the FP checkpoint vs training from scratch."""
from matplotlib.lines import Line2D

import pqplot as P

SUITE = "tokens"
ARTIFACT = "Fig. 3"

STYLE = {"finetune": ("-", "o", "fine-tune from FP"), "scratch": ("--", "s", "QAT from scratch"),
         "fp_control": (":", "D", "FP control (no quant.)")}


def curves(s, model, init):
    """{bits: [(tokens, loss, ci)]} of one model and initialisation, tokens > 0; and {bits: loss} at 0."""
    out, zero = {}, {}
    for i in range(len(s.rows)):
        if s.text(i, "model") != model or s.text(i, "init") != init:
            continue
        t, v = s.num(i, "qat_tokens"), s.num(i, "val_loss")
        if t is None or v is None:
            continue
        if t > 0:
            out.setdefault(s.bits(i), []).append((t, v, s.ci(i, "val_loss")))
        else:
            zero[s.bits(i)] = v
    return {b: sorted(p) for b, p in out.items()}, zero


def render(s, figdir, tabdir):
    # The verdicts use validation loss, so the figure does too. Left: fine-tune and from scratch on one
    # axis (the gap between them); right: fine-tuning alone on its own scale, where the saturation of
    # 3-4-bit against ≤2-bit is visible (on the shared axis those curves lie flat under the scratch ones).
    models = s.models()
    # The control (init "fp_control": the fine-tune without quantization, at that bit width's LR) is a
    # reference on the shared axis, thin and grey-edged; the zoomed panel keeps to the sweep itself.
    inits = sorted({s.text(i, "init") for i in range(len(s.rows))}, key=lambda x: (x == "fp_control", x))
    fig, axes = P.subplots(len(models) * 2, 2, height_per_row=2.7)
    for m_idx, model in enumerate(models):
        for k, only in enumerate([None, "finetune"]):
            ax = axes[2 * m_idx + k]
            xs = []
            for init in inits:
                if only and init != only:
                    continue
                ls, mk, _ = STYLE.get(init, (":", "^", init))
                cur, zero = curves(s, model, init)
                for b, pts in sorted(cur.items()):
                    xs += [p[0] for p in pts]
                    P.errorbars(ax, [p[0] for p in pts], [p[1] for p in pts], [p[2] for p in pts], P.bit_color(b),
                                ls=ls, marker=mk, ms=2.5 if init == "fp_control" else 3.5,
                                lw=0.9 if init == "fp_control" else 1.5,
                                mfc="white" if init == "scratch" else P.bit_color(b))
                for b, v in zero.items():
                    # 0 QAT tokens (the FP checkpoint quantized, untrained) has no place on a log axis:
                    # a dotted level line shows it instead (fine-tune panel: only if it stays in view).
                    if not only:
                        ax.axhline(v, color=P.bit_color(b), ls=":", lw=1.0, alpha=0.8)
            if xs:
                P.maybe_log(ax, xs, force=True, label=P.human)
                ticks = sorted(set(xs))
                ax.set_xticks(ticks)  # every measured token count labelled, nothing else
                ax.set_xticklabels([P.human(t) for t in ticks])
                ax.minorticks_off()
                lo, hi = min(ticks), max(ticks)
                ax.set_xlim(lo / 1.4, hi * 1.4)
            else:
                P.no_data(ax)
            ax.set_xlabel("QAT training tokens (log scale)")
            ax.set_ylabel("validation loss (nats/token)")
            ax.set_title("%s — %s" % (model, "fine-tune vs from scratch" if not only else
                                      "fine-tune only (zoomed: saturation)"))
    handles = P.bit_handles(s.bit_widths())
    handles += [Line2D([], [], color="black", ls=ls, marker=mk, mfc="white" if k == "scratch" else "black", label=lab)
                for k, (ls, mk, lab) in STYLE.items()
                if k != "fp_control" or any(P.is_control(r) for r in s.rows)]
    return P.save_figure(fig, s, "Fig. 3: QAT token sweep, fine-tuned from the FP checkpoint vs from scratch "
                         "(dotted level lines: 0 QAT tokens, the FP checkpoint quantized untrained%s); %s" % (
                             "; dotted with ◆: the full-precision control, not part of the sweep"
                             if any(P.is_control(r) for r in s.rows) else "", P.INTERVAL_NOTE),
                         figdir, "fig3_tokens", legend=handles)


if __name__ == "__main__":
    P.main_one(__import__(__name__))
