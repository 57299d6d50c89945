#!/usr/bin/env bash
# pq eval end to end on real checkpoints: a tiny model pretrained on the
# synthetic stream, its 2-bit PTQ copy, a byte-level tokenizer and task files in
# every form (multiple choice, WinoGrande, perplexity). Checks the results file,
# bitwise-repeatable scores, and that bad input fails with one clear line.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
export PQ_PROGRESS=0

# vocab 258 = the 256 byte tokens + BOS + EOS of a BPE with no merges.
cat > "$tmp/cfg.json" <<'JSON'
{"model": {"dim": 32, "n_layers": 2, "n_heads": 2, "n_kv_heads": 1, "ffn_dim": 64, "vocab": 258, "ctx": 32},
 "train": {"batch": 4, "lr": 3e-3, "warmup": 2, "seed": 5, "tokens": 8192,
           "eval_interval": 0, "eval_tokens": 1024, "ckpt_interval": 0}}
JSON
"$PQ" pretrain --config "$tmp/cfg.json" --data synthetic:20000 --out "$tmp/fp" 2>/dev/null
"$PQ" ptq --from "$tmp/fp/model.ckpt" --method rtn --bits 2 --out "$tmp/q2" 2>/dev/null
mkdir -p "$tmp/data/tasks"
printf 'pq-bpe 1\nvocab 258\nbos 256\neos 257\nmerges 0\n' > "$tmp/data/tokenizer.bpe"
cat > "$tmp/data/tasks/choice.jsonl" <<'JSON'
{"context": "Question: what do cats chase? Answer:", "choices": ["mice", "the moon", "nothing at all"], "gold": 0}
{"context": "The opposite of hot is", "choices": ["cold", "warm"], "gold": 0}
{"context": "One, two, three,", "choices": ["four", "seven", "ten", "a hundred"], "gold": 0}
JSON
cat > "$tmp/data/tasks/wino.jsonl" <<'JSON'
{"contexts": ["The trophy did not fit in the suitcase because the trophy", "The trophy did not fit in the suitcase because the suitcase"], "continuation": "was too big.", "gold": 0}
JSON
python3 - "$tmp/data/tasks/heldout.jsonl" <<'PY'
import json, sys
docs = ["It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife. " * 3,
        "Call me Ishmael.", "caf\u00e9 \u00fcber  na\u00efve\n\ttabs"]
open(sys.argv[1], "w").write("".join(json.dumps({"text": d}) + "\n" for d in docs))
PY

for m in fp q2; do
    "$PQ" eval --model "$tmp/$m/model.ckpt" --tasks all --data-dir "$tmp/data" --out "$tmp/$m.json" \
        --samples "$tmp/$m.samples.jsonl"
done
"$PQ" eval --model "$tmp/fp/model.ckpt" --tasks "choice,$tmp/data/tasks/wino.jsonl,heldout" --data-dir "$tmp/data" \
    --out "$tmp/fp2.json"
python3 - "$tmp" <<'PY' || fail "results"
import json, math, sys
d = sys.argv[1]
fp, q2, again = (json.load(open(f"{d}/{n}.json")) for n in ("fp", "q2", "fp2"))
assert fp["conventions"]["bos_before_context"] is True
assert fp["model"]["quant"] is None and q2["model"]["quant"]["bits"] in (2, "2")
for r in (fp, q2):
    t = r["tasks"]
    assert set(t) == {"choice", "heldout", "wino"}, t.keys()
    assert t["choice"]["items"] == 3 and t["wino"]["items"] == 1
    for k in ("acc", "acc_norm"):
        assert 0 <= t["choice"][k] <= 1 and t["choice"][k + "_stderr"] is not None
    assert t["wino"]["acc_stderr"] is None                     # one item: no standard error
    h = t["heldout"]
    assert h["documents"] == 3 and h["bytes"] == sum(len(x.encode()) for x in
        ["It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife. " * 3,
         "Call me Ishmael.", "caf\u00e9 \u00fcber  na\u00efve\n\ttabs"])
    assert h["tokens"] == h["bytes"]                            # byte-level tokenizer
    assert h["windows"] > 3                                     # the long document spans several windows
    assert math.isclose(h["bits_per_byte"], -h["loglik"] / h["bytes"] / math.log(2), rel_tol=1e-12)
    assert r["perplexity"]["bits_per_byte"] == h["bits_per_byte"]
    assert "task:choice" in r["manifest"]["inputs"] and "model" in r["manifest"]["inputs"]
# bitwise repeatable, whatever the task order and spelling
for k in ("choice", "wino", "heldout"):
    a, b = dict(fp["tasks"][k]), dict(again["tasks"][k])
    for x in (a, b): x.pop("seconds"); x.pop("path")
    assert a == b, (k, a, b)
# quantization changed the scores
assert fp["tasks"]["heldout"]["loglik"] != q2["tasks"]["heldout"]["loglik"]
lines = open(f"{d}/fp.samples.jsonl").read().splitlines()
assert len(lines) == 4 and all(len(json.loads(l)["loglik"]) in (2, 3, 4) for l in lines)
PY

# bad input: one line naming the problem, non-zero exit, no results file
set +e
"$PQ" eval --model "$tmp/fp/model.ckpt" --tasks choice,hellaswag --data-dir "$tmp/data" --out "$tmp/x.json" 2>"$tmp/err"; rc=$?
[ $rc = 2 ] && grep -q "unknown task 'hellaswag'" "$tmp/err" && grep -q "choice, heldout, wino" "$tmp/err" \
    || fail "unknown task: rc=$rc $(cat "$tmp/err")"
printf '{"context": "a", "choices": ["b", "c"], "gold": 0}\n{"context": "a", "choices": ["b"], "gold": 0}\n' \
    > "$tmp/bad.jsonl"
"$PQ" eval --model "$tmp/fp/model.ckpt" --tasks "$tmp/bad.jsonl" --data-dir "$tmp/data" --out "$tmp/x.json" 2>"$tmp/err"; rc=$?
[ $rc = 1 ] && grep -q "bad.jsonl:2" "$tmp/err" || fail "malformed item: rc=$rc $(cat "$tmp/err")"
printf 'pq-bpe 1\nvocab 259\nbos 256\neos 257\nmerges 1\n32 116\n' > "$tmp/other.bpe"
"$PQ" eval --model "$tmp/fp/model.ckpt" --tasks choice --data-dir "$tmp/data" --tokenizer "$tmp/other.bpe" \
    --out "$tmp/x.json" 2>"$tmp/err"; rc=$?
[ $rc = 1 ] && grep -q "does not match tokenizer" "$tmp/err" || fail "vocab mismatch: rc=$rc $(cat "$tmp/err")"
head -c 100 "$tmp/fp/model.ckpt" > "$tmp/trunc.ckpt"
"$PQ" eval --model "$tmp/trunc.ckpt" --tasks choice --data-dir "$tmp/data" --out "$tmp/x.json" 2>"$tmp/err"; rc=$?
[ $rc = 1 ] && grep -q "trunc.ckpt" "$tmp/err" || fail "truncated checkpoint: rc=$rc $(cat "$tmp/err")"
"$PQ" eval --model "$tmp/fp/model.ckpt" --tasks choice --out "$tmp/x.json" --bogus 2>/dev/null; rc=$?
[ $rc = 2 ] || fail "unknown flag: rc=$rc"
[ ! -e "$tmp/x.json" ] || fail "a failed run left a results file"
set -e
echo "eval_cli: ok"
