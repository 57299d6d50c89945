#!/usr/bin/env bash
# pq's GGUF run by llama.cpp itself (issue 19): node-llama-cpp 3.22.1's prebuilt linux-x64
# llama.cpp (CPU) loads the exports of a dim-256 imported LLaMA (hf_llama.py, every row's max
# |w| = 0.5, so PTQ scales are fp16 numbers) as F32, TQ2_0, TQ1_0, Q2_K (lsq_wide and SEQ
# 2-bit), Q4_0 and Q8_0, and its logits over a 40-token sequence are compared with pq's
# forward of the same checkpoint (pq import logits). F32 must agree to 5e-3 of the largest
# logit (llama.cpp keeps K/V in fp16); the block types to 0.25 and the same argmax at 34 of 40
# positions (llama.cpp multiplies them with activations quantized to 8 bits, Q8_K/Q8_0: the
# weights themselves are bit-exact, which gguf_export.sh checks); logits of another model miss
# both bounds by far (measured: 0.95-1.75, argmax 0-4 of 40). The tokenizer metadata: llama.cpp
# detokenizes every token of a pq-bpe vocab to its bytes and tokenizes a text as pq's BPE does;
# greedy decoding of the F32 file picks the tokens pq generate picks. QAT models trained with
# --scale-fp16 (SEQ ternary, SEQ 2-bit, LSQ 4-bit on a model whose scales are not fp16) export as
# TQ2_0, Q2_K and Q4_0 and pass the same logit bounds, and the sequence's mean NLL under
# llama.cpp is pq's within 0.025 nats (measured: at most 0.012; the logit bounds are what tells
# models apart: random models' NLLs are all near log 300).
# The model's own tokenizer (recorded by pq import hf, exported by default): llama.cpp tokenizes
# 500 corpus lines exactly as pq for LLaMA-3, GPT-2, SmolLM and LLaMA-2-style tokenizer.json files
# and a LLaMA-2-like SentencePiece tokenizer.model, with the same BOS (a Metaspace tokenizer.json: the
# lines that do not start with a space).
# Needs node >= 20 and npm; the package (85 MB) is installed once into $PQ_NODE_LLAMA_CPP
# (default ~/.cache/paretoq/node-llama-cpp-3.22.1, about 20 s); without them the test SKIPs.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
HF="$PY $(dirname "$0")/hf_llama.py"
NLC=${PQ_NODE_LLAMA_CPP:-${XDG_CACHE_HOME:-$HOME/.cache}/paretoq/node-llama-cpp-3.22.1}
skip() { echo "  SKIP: $*"; echo "gguf_llama_cpp: ok (skipped)"; exit 0; }
export PQ_PROGRESS=0

[ "$(uname -sm)" = "Linux x86_64" ] || skip "node-llama-cpp's prebuilt binaries here are for Linux x86_64"
command -v node >/dev/null && command -v npm >/dev/null || skip "node/npm not installed"
[ "$(node -p 'process.versions.node.split(".")[0]')" -ge 20 ] || skip "node $(node --version) < 20 (node-llama-cpp 3 needs 20)"
if [ ! -f "$NLC/node_modules/@node-llama-cpp/linux-x64/package.json" ]; then
    # Into a fresh directory, renamed into place when complete (a killed install leaves nothing
    # half-written there). Only the CPU binaries: --omit=optional skips the CUDA/Vulkan builds.
    mkdir -p "$(dirname "$NLC")"
    new=$(mktemp -d "$NLC.new.XXXXXX")
    (cd "$new" && echo '{"private":true}' >package.json &&
        NODE_LLAMA_CPP_SKIP_DOWNLOAD=true timeout 300 npm install --silent --no-audit --no-fund --omit=optional \
            node-llama-cpp@3.22.1 @node-llama-cpp/linux-x64@3.22.1 >/dev/null 2>&1) ||
        { rm -rf "$new"; skip "npm could not install node-llama-cpp 3.22.1 (offline?)"; }
    mv -T "$new" "$NLC" 2>/dev/null || rm -rf "$new" # another run may have finished first
fi
ln -s "$NLC/node_modules" "$tmp/node_modules"

# logits.mjs IDS NAME...: for each NAME.gguf, llama.cpp's logits after each token as float32
# [T, vocab] in NAME.llama, every token's bytes (detokenized alone) in hex in NAME.llama.vocab,
# the tokens of $TEXT in NAME.llama.text and 20 greedy tokens after IDS' first 6 in
# NAME.llama.greedy. One process for all (node starts in seconds); one thread (llama.cpp's
# threads wait for each other by spinning, which on a busy 2-core machine costs seconds a token).
cat >"$tmp/logits.mjs" <<'JS'
import { getLlama } from "node-llama-cpp";
import { writeFileSync } from "node:fs";
const [ids, ...names] = process.argv.slice(2);
const llama = await getLlama({ gpu: false, build: "never", logLevel: "error" });
const tokens = ids.split(",").map(Number);
for (const name of names) {
  const model = await llama.loadModel({ modelPath: name + ".gguf" });
  const ctx = await model.createContext({ contextSize: 64, batchSize: 64, threads: 1 });
  const res = await ctx.getSequence().controlledEvaluate(tokens.map(t => [t, { generateNext: { logits: true } }]));
  const vocab = Number(model.fileInfo.metadata.llama.vocab_size);
  const a = new Float32Array(tokens.length * vocab).fill(NaN);
  res.forEach((r, i) => { for (const [t, l] of r.next.logits) a[i * vocab + t] = l; });
  writeFileSync(name + ".llama", Buffer.from(a.buffer));
  const hex = [];
  for (let t = 0; t < vocab; t++) hex.push(Buffer.from(model.detokenize([t], false)).toString("hex"));
  writeFileSync(name + ".llama.vocab", hex.join("\n") + "\n");
  writeFileSync(name + ".llama.text", model.tokenize(process.env.TEXT, false).join(",") + "\n");
  // greedy decoding: 20 tokens after the first 6 of IDS (the largest logit, as pq's temperature 0)
  await ctx.dispose();
  const seq2 = (await model.createContext({ contextSize: 64, threads: 1 })).getSequence(), greedy = [];
  const argmax = r => { let b = -1, v = -Infinity; for (const [t, l] of r.next.logits) if (l > v) { v = l; b = t; } return b; };
  let step = await seq2.controlledEvaluate(tokens.slice(0, 6).map((t, i) => i < 5 ? t : [t, { generateNext: { logits: true } }]));
  for (let k = 0; k < 20; k++) {
    greedy.push(argmax(step[step.length - 1]));
    step = await seq2.controlledEvaluate([[greedy[k], { generateNext: { logits: true } }]]);
  }
  writeFileSync(name + ".llama.greedy", greedy.join(",") + "\n");
  await seq2.context.dispose(); await model.dispose();
}
JS
cat >"$tmp/compare.py" <<'PY'
import os, sys, numpy as np
llama, pq, tol, min_argmax = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
nll_tol = float(sys.argv[5]) if len(sys.argv) > 5 else None  # on the mean NLL of the 39 next tokens, nats
a = np.fromfile(llama, "<f4").reshape(40, -1).astype(np.float64)
b = np.fromfile(pq, "<f4").reshape(40, -1).astype(np.float64)
assert not np.isnan(a).any(), "llama.cpp returned no logit for some token"
rel, agree = np.abs(a - b).max() / np.abs(b).max(), int((a.argmax(1) == b.argmax(1)).sum())
msg = "max |llama.cpp - pq| / max |pq| = %.2e, same argmax at %d of 40" % (rel, agree)
ok = rel <= tol and agree >= min_argmax
if nll_tol is not None:  # the perplexity of the sequence itself: -log p(ids[t+1] | ids[..t])
    ids = np.array([int(x) for x in os.environ["IDS"].split(",")])
    def nll(z):
        z = z[:-1] - z[:-1].max(1, keepdims=True)
        return float(np.mean(np.log(np.exp(z).sum(1)) - z[np.arange(39), ids[1:]]))
    na, nb = nll(a), nll(b)
    msg += ", NLL %.5f vs %.5f nats (ppl %.3f vs %.3f)" % (na, nb, np.exp(na), np.exp(nb))
    ok = ok and abs(na - nb) <= nll_tol
print(msg)
sys.exit(0 if ok else 1)
PY

# a tiny pq tokenizer: 42 merges of letter pairs (ids 258..299), the model's vocab of 300
{ printf 'pq-bpe 1\nvocab 300\nbos 256\neos 257\nmerges 42\n'
  for i in $(seq 0 41); do echo "$((97 + i % 26)) $((98 + i % 24))"; done; } >"$tmp/tok.bpe"
$HF make "$tmp/hf" --pow2-rows --dim 256 --ffn 384 --tokens 1
"$PQ" import hf "$tmp/hf" --out "$tmp/m.ckpt" >/dev/null
export IDS=256,$($PY -c "import random; r = random.Random(3); print(','.join(str(r.choice([i for i in range(300) if i not in (256, 257)])) for _ in range(39)))")
export TEXT="abcd the cab bad jklm nopq"

export_as() { # name, checkpoint, expected type on attn_q, [export args]
    local name=$1 ck=$2 want=$3
    shift 3
    "$PQ" export --format gguf --from "$ck" --out "$tmp/$name.gguf" --tokenizer "$tmp/tok.bpe" "$@" >"$tmp/rep" ||
        fail "$name: export"
    grep -q "blk.0.attn_q.weight *$want" "$tmp/rep" || fail "$name: attn_q is not $want"
    "$PQ" import logits "$ck" --tokens "$ids" --out "$tmp/$name.pq"
}
ids=$IDS
check() { # name, type, tolerance, min argmax agreement, [NLL tolerance]
    r=$($PY "$tmp/compare.py" "$tmp/$1.llama" "$tmp/$1.pq" "$3" "$4" ${5:-}) || fail "$1 ($2): $r"
    echo "  $2 ($1): $r"
}
export_as fp "$tmp/m.ckpt" F32
for q in "lsq_wide 1.58" "lsq_wide 2" "seq 2" "lsq_wide 4" "lsq_wide 8"; do
    set -- $q
    "$PQ" ptq --from "$tmp/m.ckpt" --method rtn --quantizer "$1" --bits "$2" --out "$tmp/$1-$2" >/dev/null 2>&1 || fail "ptq $q"
done
export_as tq2 "$tmp/lsq_wide-1.58/model.ckpt" TQ2_0
export_as tq1 "$tmp/lsq_wide-1.58/model.ckpt" TQ1_0 --ternary TQ1_0
export_as q2k "$tmp/lsq_wide-2/model.ckpt" Q2_K
export_as seq2 "$tmp/seq-2/model.ckpt" Q2_K
export_as q4 "$tmp/lsq_wide-4/model.ckpt" Q4_0
export_as q8 "$tmp/lsq_wide-8/model.ckpt" Q8_0
# QAT models trained with --scale-fp16 on a model whose scales are not powers of two: the
# trained model itself in the compact types (SEQ ternary, SEQ 2-bit, LSQ 4-bit: the paper's
# choices at 1.58, 2 and 4 bits), and its perplexity on the sequence as pq computes it.
$HF make "$tmp/hfq" --dim 256 --ffn 384 --tokens 1 --seed 11
"$PQ" import hf "$tmp/hfq" --out "$tmp/q.ckpt" >/dev/null
for q in "seq 1.58" "seq 2" "lsq 4"; do
    set -- $q
    "$PQ" qat --from "$tmp/q.ckpt" --data synthetic:20000 --bits "$2" --quantizer "$1" --tokens 2048 --batch 4 --seq-len 32 \
        --lr 1e-3 --eval-interval 0 --eval-tokens 256 --ckpt-interval 0 --scale-fp16 --out "$tmp/qat-$1-$2" >/dev/null 2>&1 ||
        fail "qat --scale-fp16 $q"
done
export_as qtq2 "$tmp/qat-seq-1.58/model.ckpt" TQ2_0
export_as qq2k "$tmp/qat-seq-2/model.ckpt" Q2_K
export_as qq4 "$tmp/qat-lsq-4/model.ckpt" Q4_0
(cd "$tmp" && timeout 300 node logits.mjs "$ids" fp tq2 tq1 q2k seq2 q4 q8 qtq2 qq2k qq4) >"$tmp/err" 2>&1 ||
    fail "llama.cpp could not run the files: $(tail -3 "$tmp/err")"
check fp F32 5e-3 40
# the vocab: byte tokens as GPT-2's alphabet, merges as concatenations, BOS/EOS as control (empty);
# bytes >= 0x80 alone are not UTF-8 and come back from node as U+FFFD
$PY - "$tmp/tok.bpe" "$tmp/fp.llama.vocab" <<'PY' || fail "llama.cpp's vocab differs from pq's tokens"
import sys
lines = open(sys.argv[1]).read().split("\n")[5:47]
tok = [bytes([i]) for i in range(256)] + [b"", b""]
for l in lines:
    a, b = map(int, l.split()); tok.append(tok[a] + tok[b])
got = [bytes.fromhex(h) for h in open(sys.argv[2]).read().split("\n")[:300]]
def utf8(b):  # node-llama-cpp returns a JS string: a lone byte >= 0x80 comes back as U+FFFD
    try: return b.decode("utf-8").encode()
    except UnicodeDecodeError: return "\ufffd".encode()
bad = [i for i in range(300) if got[i] != utf8(tok[i])]
sys.exit("tokens %s differ" % bad[:5] if bad else 0)
PY
# the text through pq's rule (GPT-2 chunks " word", then merges by rank) and through llama.cpp
want=$($PY - "$tmp/tok.bpe" <<'PY'
import sys, os
m = [tuple(map(int, l.split())) for l in open(sys.argv[1]).read().split("\n")[5:47]]
rank = {p: 258 + i for i, p in enumerate(m)}
out = []
for w, word in enumerate(os.environ["TEXT"].split(" ")):
    s = list((" " if w else "").encode() + word.encode())
    while True:
        pairs = [(rank[p], i) for i, p in enumerate(zip(s, s[1:])) if p in rank]
        if not pairs: break
        r, i = min(pairs); s[i:i + 2] = [r]
    out += s
print(",".join(map(str, out)))
PY
)
[ "$(cat "$tmp/fp.llama.text")" = "$want" ] || fail "llama.cpp tokenizes '$TEXT' as $(cat "$tmp/fp.llama.text"), pq's BPE as $want"
# greedy decoding as pq generate's, with fp32 activations (on block types the two quantize
# activations differently, so near-ties of this random model may go either way)
prompt=$(echo "$ids" | cut -d, -f1-6)
pqg=$("$PQ" generate --model "$tmp/m.ckpt" --tokens "$prompt" --max-tokens 20 --temperature 0 --act f32 2>/dev/null | tail -1)
llg=$(sed 's/,257,.*//; s/,257$//' "$tmp/fp.llama.greedy") # pq generate stops at EOS (257), llama.cpp goes on
[ "$prompt,$llg" = "$pqg" ] || fail "greedy: llama.cpp $(cat "$tmp/fp.llama.greedy"), pq generate $pqg"
echo "  greedy: llama.cpp and pq generate pick the same $(echo "$llg" | tr , '\n' | wc -l) tokens (then EOS or 20)"
echo "  tokenizer: 300 tokens detokenize to pq's bytes; '$TEXT' -> $want in both"

check tq2 TQ2_0 0.25 34
check tq1 TQ1_0 0.25 34
cmp -s "$tmp/tq1.llama" "$tmp/tq2.llama" || fail "TQ1_0 and TQ2_0 of the same weights give different logits"
check q2k Q2_K 0.25 34
check seq2 "Q2_K SEQ" 0.25 34
check q4 Q4_0 0.25 34
check q8 Q8_0 0.25 34
check qtq2 "QAT SEQ 1.58 --scale-fp16, TQ2_0" 0.25 34 0.025
check qq2k "QAT SEQ 2 --scale-fp16, Q2_K" 0.25 34 0.025
check qq4 "QAT LSQ 4 --scale-fp16, Q4_0" 0.25 34 0.025
# a negative control: llama.cpp's Q2_K logits are far from another model's
! $PY "$tmp/compare.py" "$tmp/q2k.llama" "$tmp/q4.pq" 0.25 34 >/dev/null || fail "the comparison does not tell models apart"
# The model's own tokenizer in the GGUF: pq import hf records a Hugging Face directory's
# tokenizer and pq export --format gguf writes it by default. llama.cpp must tokenize 500
# corpus lines exactly as pq tokenize does (pq's encoders equal tokenizers.js and
# libsentencepiece: tokenizers.sh) and start sequences with the same BOS: LLaMA-3-style
# (llama-bpe), GPT-2-style (gpt-2) and SmolLM-style (smollm) tokenizer.json files, and a
# LLaMA-2-like SentencePiece BPE tokenizer.model trained by python3-sentencepiece.
fix=$(dirname "$0")/../fixtures/tokenizers
zstd -q -dc "$fix/lines.txt.zst" | sed -n 28,527p >"$tmp/lines500.txt"
cat >"$tmp/tok.mjs" <<'JS'
import { getLlama } from "node-llama-cpp";
import { readFileSync } from "node:fs";
const [path, linesPath] = process.argv.slice(2);
const llama = await getLlama({ gpu: false, build: "never", logLevel: "error" });
const model = await llama.loadModel({ modelPath: path });
const lines = readFileSync(linesPath, "utf8").split("\n"); lines.pop();
console.log(`bos ${model.tokens.bos ?? -1}`);
for (const l of lines) console.log(model.tokenize(l, false).join(" "));
JS
own_tokenizer() { # name, tokenizer file (copied into the directory under its own name), vocab, [lines]
    mkdir -p "$tmp/own-$1"
    $HF make "$tmp/own-$1" --dtype f32 --vocab "$3" --tokens 1,2,3
    cp "$2" "$tmp/own-$1/$(case $2 in *.json) echo tokenizer.json ;; *) echo tokenizer.model ;; esac)"
    "$PQ" import hf "$tmp/own-$1" --out "$tmp/own-$1.ckpt" | grep -q recorded || fail "$1: pq import hf recorded no tokenizer"
    "$PQ" export --format gguf --from "$tmp/own-$1.ckpt" --out "$tmp/own-$1.gguf" >"$tmp/own-$1.rep" || fail "$1: export"
    local tok bos
    tok=$(sed -n 's/^  tokenizer \([^ ]*\) (BOS.*/\1/p' "$tmp/own-$1.rep")
    bos=$(sed -n 's/^  tokenizer .*(BOS \(-*[0-9]*\),.*/\1/p' "$tmp/own-$1.rep")
    [ -n "$tok" ] || fail "$1: the export wrote no tokenizer: $(cat "$tmp/own-$1.rep")"
    node "$tmp/tok.mjs" "$tmp/own-$1.gguf" "$tmp/lines500.txt" >"$tmp/own-$1.llama" 2>"$tmp/own-$1.err" ||
        fail "$1: llama.cpp: $(tail -3 "$tmp/own-$1.err")"
    "$PQ" tokenize --tokenizer "$tok" --in "$tmp/lines500.txt" >"$tmp/own-$1.pq"
    [ "$(head -1 "$tmp/own-$1.llama")" = "bos $bos" ] || fail "$1: llama.cpp's $(head -1 "$tmp/own-$1.llama"), pq's $bos"
    local same want=${4:-500}
    same=$(tail -n +2 "$tmp/own-$1.llama" | paste -d'|' - "$tmp/own-$1.pq" "$tmp/lines500.txt" |
        awk -F'|' -v all="${4:-all}" '$1 == $2 && (all == "all" || substr($3, 1, 1) != " ")' | wc -l)
    [ "$same" = "$want" ] || fail "$1: llama.cpp tokenizes $same of $want lines as pq"
    echo "  own tokenizer $1: llama.cpp tokenizes $same/500 corpus lines as pq, BOS $bos"
}
vocab_of() { $PY -c 'import json,sys; t=json.load(open(sys.argv[1])); print(1 + max(list(t["model"]["vocab"].values()) + [a["id"] for a in t["added_tokens"]]))' "$1"; }
for n in llama3 gpt2 smollm; do
    zstd -q -dc "$fix/$n.tokenizer.json.zst" >"$tmp/$n.json"
done
# SmolLM's own files have add_prefix_space false (the fixture's true has no llama.cpp equivalent)
$PY -c 'import json,sys; t=json.load(open(sys.argv[1])); [p.update(add_prefix_space=False) for p in t["pre_tokenizer"]["pretokenizers"] if p["type"] == "ByteLevel"]; json.dump(t, open(sys.argv[1], "w"))' "$tmp/smollm.json"
for n in llama3 gpt2 smollm; do own_tokenizer $n "$tmp/$n.json" "$(vocab_of "$tmp/$n.json")"; done
zstd -q -dc "$fix/smollm.tokenizer.json.zst" >"$tmp/prefix.json"
$HF make "$tmp/own-prefix" --dtype f32 --vocab "$(vocab_of "$tmp/prefix.json")" --tokens 1,2,3
"$PQ" import hf "$tmp/own-prefix" --out "$tmp/own-prefix.ckpt" >/dev/null
out=$("$PQ" export --format gguf --from "$tmp/own-prefix.ckpt" --out "$tmp/own-prefix.gguf" --tokenizer "$tmp/prefix.json" 2>&1) &&
    fail "a ByteLevel add_prefix_space tokenizer.json exported"
case "$out" in *"$tmp/prefix.json: its pre-tokenizer has no llama.cpp equivalent"*) ;; *) fail "prefix: $out" ;; esac
# SentencePiece-style tokenizer.json files (vocab 2,000): the original form exactly; the Metaspace
# form on every line that does not start with a space (it adds no "▁" before one, llama.cpp does:
# the export says so)
for n in llama2 metaspace; do zstd -q -dc "$fix/$n.tokenizer.json.zst" >"$tmp/$n.json"; done
own_tokenizer llama2 "$tmp/llama2.json" 2000
own_tokenizer metaspace "$tmp/metaspace.json" 2000 "$(grep -vc '^ ' "$tmp/lines500.txt")"
grep -q "note: Metaspace adds no" "$tmp/own-metaspace.rep" || fail "metaspace: the export does not say llama.cpp differs"
if $PY -c 'import sentencepiece' 2>/dev/null; then
    corpus=${PQ_WORK:-work}/data/corpus
    [ -d "$corpus" ] || { corpus=$tmp/spmsrc && mkdir "$corpus" && zstd -q -dc "$fix/lines.txt.zst" >"$corpus/lines.txt"; }
    mkdir "$tmp/spm"
    $PY "$(dirname "$0")/spm_reference.py" "$corpus" "$tmp/spm" >/dev/null
    own_tokenizer sentencepiece "$tmp/spm/llama2.model" 1000
    # nmt_nfkc normalizes text; llama.cpp's SentencePiece vocab does not: said at export
    $HF make "$tmp/own-nfkc" --dtype f32 --vocab 1000 --tokens 1,2,3
    cp "$tmp/spm/bpe.model" "$tmp/own-nfkc/tokenizer.model"
    "$PQ" import hf "$tmp/own-nfkc" --out "$tmp/own-nfkc.ckpt" >/dev/null
    "$PQ" export --format gguf --from "$tmp/own-nfkc.ckpt" --out "$tmp/own-nfkc.gguf" | grep -q "note: the SentencePiece model normalizes" ||
        fail "the export of an nmt_nfkc SentencePiece model does not say llama.cpp tokenizes otherwise"
else
    echo "  SKIP own tokenizer sentencepiece: python3-sentencepiece is not installed (make deps installs it)"
fi
echo "gguf_llama_cpp: ok"
