"""QAT tokens needed: fine-tuning from the FP checkpoint vs training from scratch."""
import pqplot as P

SUITE = "tokens"
ARTIFACT = "Fig. 3"

METRICS = [("val_loss", "validation loss (nats/token)"), ("acc_avg", "avg. zero-shot accuracy (%)")]
STYLE = {"finetune": ("-", "o", "fine-tune from FP"), "scratch": ("--", "s", "QAT from scratch")}


def render(s, figdir, tabdir):
    models = s.models()
    scale = P.acc_scale([s.num(i, "acc_avg") for i in range(len(s.rows))])
    fig, axes = P.subplots(len(models) * 2, 2, height_per_row=2.6)
    for m_idx, model in enumerate(models):
        for k, (key, label) in enumerate(METRICS):
            ax = axes[2 * m_idx + k]
            plotted, xs = False, []
            for b in s.bit_widths():
                for init in sorted({s.text(i, "init") for i in range(len(s.rows))}):
                    ls, mk, _ = STYLE.get(init, (":", "^", init))
                    pts = []
                    for i in range(len(s.rows)):
                        if s.text(i, "model") != model or s.bits(i) != b or s.text(i, "init") != init:
                            continue
                        t, v = s.num(i, "qat_tokens"), s.num(i, key)
                        if v is None or t is None:
                            continue
                        v *= scale if key == "acc_avg" else 1
                        if t > 0:
                            pts.append((t, v))
                        else:
                            # 0 QAT tokens (the FP checkpoint quantized, untrained) has no place on a
                            # log axis: a dotted level line shows it instead.
                            ax.axhline(v, color=P.bit_color(b), ls=":", lw=1.0, alpha=0.8)
                    if not pts:
                        continue
                    pts.sort()
                    xs += [p[0] for p in pts]
                    ax.plot([p[0] for p in pts], [p[1] for p in pts], ls=ls, marker=mk, color=P.bit_color(b),
                            mfc="white" if init == "scratch" else P.bit_color(b))
                    plotted = True
            P.maybe_log(ax, xs, force=True, label=P.human)
            ax.set_xlabel("QAT training tokens (log scale)")
            ax.set_ylabel(label)
            ax.set_title("%s — %s" % (model, "loss" if key == "val_loss" else "accuracy"))
            if not plotted:
                P.no_data(ax)
    # One legend for colours (bit widths) and one for line styles (initialisation).
    from matplotlib.lines import Line2D
    handles = P.bit_handles(s.bit_widths())
    handles += [Line2D([], [], color="black", ls=ls, marker=mk, mfc="white" if k == "scratch" else "black", label=lab)
                for k, (ls, mk, lab) in STYLE.items()]
    return P.save_figure(fig, s, "Fig. 3: QAT token sweep, fine-tuned from the FP checkpoint vs from scratch "
                         "(dotted: 0 QAT tokens, i.e. the FP checkpoint quantized without training)", figdir, "fig3_tokens", legend=handles)


if __name__ == "__main__":
    P.main_one(__import__(__name__))
