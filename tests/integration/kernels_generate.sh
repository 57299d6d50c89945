#!/usr/bin/env bash
# pq generate and pq bench decode on a tiny trained model, full precision and
# PTQ-quantized (packed 2-bit and ternary): deterministic greedy output, the
# sampled output is a pure function of the seed, and bad input fails clearly.
# Synthetic tokens: no corpus needed.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
export PQ_PROGRESS=0

cat > "$tmp/cfg.json" <<'JSON'
{"model": {"dim": 64, "n_layers": 2, "n_heads": 2, "n_kv_heads": 1, "ffn_dim": 128, "vocab": 258, "ctx": 32},
 "train": {"batch": 8, "lr": 3e-3, "warmup": 5, "seed": 3, "tokens": 20480,
           "eval_interval": 0, "eval_tokens": 1024, "ckpt_interval": 0}}
JSON
"$PQ" pretrain --config "$tmp/cfg.json" --data synthetic:20000 --out "$tmp/fp" 2>/dev/null
"$PQ" ptq --from "$tmp/fp/model.ckpt" --method rtn --bits 2 --out "$tmp/q2" 2>/dev/null
"$PQ" ptq --from "$tmp/fp/model.ckpt" --method rtn --bits 1.58 --out "$tmp/q158" 2>/dev/null
"$PQ" qat --from "$tmp/fp/model.ckpt" --data synthetic:20000 --bits 4 --quantizer paretoq --tokens 5120 \
    --eval-interval 0 --ckpt-interval 0 --out "$tmp/qat4" 2>/dev/null

for m in fp/model.ckpt q2/model.ckpt q158/model.ckpt qat4/model.ckpt; do
    a=$("$PQ" generate --model "$tmp/$m" --tokens 256,5,6,7 --max-tokens 12 --temperature 0 2>"$tmp/err")
    b=$("$PQ" generate --model "$tmp/$m" --tokens 256,5,6,7 --max-tokens 12 --temperature 0 2>/dev/null)
    [ "$a" = "$b" ] || fail "$m: greedy decoding is not deterministic"
    n=$(tr ',' '\n' <<<"$a" | wc -l)
    [ "$n" -ge 5 ] && [ "$n" -le 16 ] || fail "$m: expected the 4 prompt ids and up to 12 more, got '$a'"
    grep -q "tokens/s" "$tmp/err" || fail "$m: no speed line on stderr"
    s1=$("$PQ" generate --model "$tmp/$m" --tokens 256,5 --max-tokens 10 --seed 9 2>/dev/null)
    s2=$("$PQ" generate --model "$tmp/$m" --tokens 256,5 --max-tokens 10 --seed 9 2>/dev/null)
    [ "$s1" = "$s2" ] || fail "$m: sampling with one seed differs between runs"
done
grep -q "b2 weights" <("$PQ" generate --model "$tmp/q2/model.ckpt" --tokens 256 --max-tokens 1 2>&1 >/dev/null) ||
    fail "2-bit checkpoint did not decode with packed b2 weights"
grep -q "b4 weights" <("$PQ" generate --model "$tmp/qat4/model.ckpt" --tokens 256 --max-tokens 1 2>&1 >/dev/null) ||
    fail "4-bit QAT checkpoint did not decode with packed b4 weights"
grep -q "t1.6 weights" <("$PQ" generate --model "$tmp/q158/model.ckpt" --tokens 256 --max-tokens 1 --ternary-1.6 2>&1 >/dev/null) ||
    fail "--ternary-1.6 did not pack at 1.6 bits"
"$PQ" generate --model "$tmp/q2/model.ckpt" --tokens 256,1 --max-tokens 3 --act f32 --head-b8 >/dev/null 2>&1 ||
    fail "--act f32 --head-b8 failed"

# text in, text out through a (byte-level, merge-free) tokenizer of the model's vocab
printf 'pq-bpe 1\nvocab 258\nbos 256\neos 257\nmerges 0\n' > "$tmp/tok.bpe"
t1=$("$PQ" generate --model "$tmp/q2/model.ckpt" --prompt "Hello there" --tokenizer "$tmp/tok.bpe" --max-tokens 8 --temperature 0 2>/dev/null)
t2=$("$PQ" generate --model "$tmp/q2/model.ckpt" --prompt "Hello there" --tokenizer "$tmp/tok.bpe" --max-tokens 8 --temperature 0 2>/dev/null)
[ "$t1" = "$t2" ] || fail "text generation is not deterministic"
[[ "$t1" == "Hello there"* ]] || fail "the output does not start with the prompt: '$t1'"

"$PQ" bench decode --model "$tmp/q2/model.ckpt" --out "$tmp/dec" 2>/dev/null
python3 - "$tmp/dec/results.json" <<'PY' || fail "bench decode results"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["tokens_per_s"] > 0 and r["decode"]["format"] == "b2", r
assert r["manifest"]["inputs"]["model"]["sha256"]
assert len(r["decode"]["rounds_ms_per_token"]) == 5 and r["decode"]["head"] == "b8", r["decode"]
assert isinstance(r["machine"]["quiet"], bool) and ("warnings" in r) == (not r["machine"]["quiet"])
PY
# the int8 head is the default with int8 activations; --head-f32 and --act f32 keep the fp32 head
"$PQ" generate --model "$tmp/q2/model.ckpt" --tokens 256,1 --max-tokens 2 2>&1 >/dev/null | grep -q "int8 head" ||
    fail "the default head with --act q8 is not int8"
"$PQ" generate --model "$tmp/q2/model.ckpt" --tokens 256,1 --max-tokens 2 --head-f32 2>&1 >/dev/null | grep -q "fp32 head" ||
    fail "--head-f32 did not give the fp32 head"
"$PQ" generate --model "$tmp/q2/model.ckpt" --tokens 256,1 --max-tokens 2 --act f32 2>&1 >/dev/null | grep -q "fp32 head" ||
    fail "--act f32 did not keep the fp32 head"

set +e
"$PQ" generate --tokens 1 2>"$tmp/err"; rc=$?
[ $rc = 2 ] && grep -q -- "--model" "$tmp/err" || fail "missing --model: rc=$rc"
"$PQ" generate --model "$tmp/q2/model.ckpt" --tokens 1,x 2>/dev/null; rc=$?
[ $rc = 2 ] || fail "bad --tokens: rc=$rc"
"$PQ" generate --model "$tmp/nowhere.ckpt" --tokens 1 2>"$tmp/err"; rc=$?
[ $rc = 1 ] && grep -q "nowhere.ckpt" "$tmp/err" || fail "missing checkpoint: rc=$rc"
head -c 1000 "$tmp/q2/model.ckpt" > "$tmp/trunc.ckpt"
"$PQ" generate --model "$tmp/trunc.ckpt" --tokens 1 2>"$tmp/err"; rc=$?
[ $rc = 1 ] && grep -q "trunc.ckpt" "$tmp/err" && [ "$(wc -l <"$tmp/err")" = 1 ] || fail "truncated checkpoint: rc=$rc"
"$PQ" generate --model "$tmp/q2/model.ckpt" --tokens 999 2>"$tmp/err"; rc=$?
[ $rc = 1 ] && grep -q "vocabulary" "$tmp/err" || fail "token outside the vocabulary: rc=$rc"
"$PQ" generate --model "$tmp/q2/model.ckpt" --prompt "hello" --tokenizer "$tmp/none.bpe" 2>"$tmp/err"; rc=$?
[ $rc = 1 ] || fail "missing tokenizer: rc=$rc"
set -e
echo "kernels_generate: ok"
