#!/usr/bin/env bash
# The models' own tokenizers (issue 19): pq tokenize against reference encoders.
#   tokenizer.json: golden ids of HF tokenizers.js (tests/fixtures/tokenizers, made by
#     make_golden.py) for a GPT-2, a LLaMA-3 and a SmolLM-style byte-level BPE on ~2,000
#     corpus lines and edge cases, and for the two SentencePiece-style forms (LLaMA-2:
#     Prepend+Replace normalizer; Metaspace pre-tokenizer; byte fallback) on the same
#     lines plus added tokens inside text (spm_edge.txt); no npm needed here.
#   SentencePiece: four models trained now by Debian's python3-sentencepiece on a slice
#     of the corpus (BPE, unigram, LLaMA-2-like, unigram with unknowns), compared with its
#     own ids on ~2,000 held-out lines: identical.
#   Errors: one line naming the file and what is wrong, exit 1.
set -euo pipefail
PQ=${PQ:-./pq}
PY=/usr/bin/python3 # Debian's, with python3-sentencepiece
here=$(cd "$(dirname "$0")" && pwd)
fix=$here/../fixtures/tokenizers
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

for f in "$fix"/*.zst; do zstd -q -d "$f" -o "$tmp/$(basename "${f%.zst}")"; done
cat "$tmp/lines.txt" "$tmp/spm_edge.txt" >"$tmp/lines_spm.txt"
for name in gpt2 llama3 smollm llama2 metaspace; do
    lines=$tmp/lines.txt
    case $name in llama2 | metaspace) lines=$tmp/lines_spm.txt ;; esac
    "$PQ" tokenize --tokenizer "$tmp/$name.tokenizer.json" --in "$lines" >"$tmp/$name.pq" || fail "$name: pq tokenize"
    # tokenizers.js splits Digits on ASCII \d; Hugging Face's Rust tokenizers (and pq) on
    # char::is_numeric, so for the SmolLM-style Digits the numerals line differs by design.
    skip=$([ $name = smollm ] && echo "other numerals" || echo "")
    $PY - "$tmp/$name.pq" "$tmp/$name.golden" "$lines" "$skip" <<'PYEOF' || fail "$name: ids differ from tokenizers.js"
import hashlib, sys
pq, golden, lines, skip = sys.argv[1:5]
pq = open(pq).read().split("\n")[:-1]
golden = open(golden).read().split("\n")[:-1]
lines = open(lines, encoding="utf-8").read().split("\n")[:-1]
assert len(pq) == len(golden) == len(lines), (len(pq), len(golden), len(lines))
bad = [i for i, (a, g) in enumerate(zip(pq, golden))
       if f"{len(a.split())} {hashlib.sha256(a.encode()).hexdigest()[:16]}" != g and not (skip and lines[i].startswith(skip))]
for i in bad[:5]:
    print(f"  line {i + 1} {lines[i][:60]!r}: pq {len(pq[i].split())} tokens, reference {golden[i].split()[0]}", file=sys.stderr)
print(f"  {sys.argv[1].split('/')[-1]}: {len(pq) - len(bad)}/{len(pq)} lines identical")
sys.exit(1 if bad else 0)
PYEOF
done

# BOS: the LLaMA-3 template's <|begin_of_text|>, unless config.json beside it says otherwise.
bos=$(echo hi | "$PQ" tokenize --tokenizer "$tmp/llama3.tokenizer.json" --bos | cut -d' ' -f1)
want=$($PY -c 'import json,sys; print([a["id"] for a in json.load(open(sys.argv[1]))["added_tokens"] if a["content"] == "<|begin_of_text|>"][0])' "$tmp/llama3.tokenizer.json")
[ "$bos" = "$want" ] || fail "llama3 BOS $bos, want $want"
mkdir "$tmp/hf" && cp "$tmp/llama3.tokenizer.json" "$tmp/hf/tokenizer.json" && echo '{"bos_token_id": 7}' >"$tmp/hf/config.json"
[ "$(echo hi | "$PQ" tokenize --tokenizer "$tmp/hf/tokenizer.json" --bos | cut -d' ' -f1)" = 7 ] || fail "config.json bos_token_id not used"

if $PY -c 'import sentencepiece' 2>/dev/null; then
    corpus=${PQ_WORK:-work}/data/corpus
    [ -d "$corpus" ] || corpus=$tmp # the fixture's corpus lines when the data is not built
    mkdir "$tmp/spm"
    $PY "$here/spm_reference.py" "$corpus" "$tmp/spm" | sed 's/^/  sentencepiece: /'
    for m in bpe unigram llama2 unigram_unk; do
        "$PQ" tokenize --tokenizer "$tmp/spm/$m.model" --in "$tmp/spm/test.txt" >"$tmp/spm/$m.pq" || fail "$m: pq tokenize"
        if ! cmp -s "$tmp/spm/$m.pq" "$tmp/spm/$m.ref"; then
            diff "$tmp/spm/$m.pq" "$tmp/spm/$m.ref" | head -6 >&2
            fail "sentencepiece $m: ids differ"
        fi
        echo "  sentencepiece $m: $(wc -l <"$tmp/spm/$m.ref") lines identical"
    done
else
    echo "  SKIP sentencepiece: python3-sentencepiece is not installed (make deps installs it)"
fi

# Errors: one line, naming the file.
expect_error() { # file, pattern
    local out rc=0
    out=$("$PQ" tokenize --tokenizer "$1" </dev/null 2>&1) || rc=$?
    [ $rc = 1 ] || fail "$1: exit $rc, want 1 ($out)"
    [ "$(printf '%s\n' "$out" | wc -l)" = 1 ] || fail "$1: more than one line: $out"
    case "$out" in *"$1"*"$2"*) ;; *) fail "$1: '$out' does not say '$2'" ;; esac
}
echo '{"model": {"type": "BPE", "vocab": {}, "merges": []}' >"$tmp/trunc.json"
expect_error "$tmp/trunc.json" "end of file"
sed 's/"Regex": "(?i:/"Regex": "(?x:/' "$tmp/llama3.tokenizer.json" >"$tmp/regex.json"
expect_error "$tmp/regex.json" "Split pattern"
sed 's/"type": "BPE"/"type": "WordPiece"/' "$tmp/gpt2.tokenizer.json" >"$tmp/wordpiece.json"
expect_error "$tmp/wordpiece.json" "WordPiece is not supported"
sed 's/"normalizer": null/"normalizer": {"type": "NFC"}/' "$tmp/gpt2.tokenizer.json" >"$tmp/nfc.json"
expect_error "$tmp/nfc.json" "normalizer NFC"
# SentencePiece-style files: what pq does not implement is refused by name.
sed 's/"split": false}, "decoder"/"split": true}, "decoder"/' "$tmp/metaspace.tokenizer.json" >"$tmp/split.json"
grep -q '"split": true' "$tmp/split.json" || fail "the Metaspace fixture changed: split.json is not split true"
expect_error "$tmp/split.json" 'Metaspace: only "split": false'
sed 's/{"type": "Replace", "pattern": {"String": " "}/{"type": "Replace", "pattern": {"Regex": " +"}/' \
    "$tmp/llama2.tokenizer.json" >"$tmp/regex_replace.json"
expect_error "$tmp/regex_replace.json" "normalizer Replace: only a non-empty String pattern"
sed 's/"normalized": false/"normalized": true/' "$tmp/llama2.tokenizer.json" >"$tmp/normalized.json"
expect_error "$tmp/normalized.json" "is normalized, with a normalizer"
sed 's/{"type": "Fuse"}/{"type": "WordPiece"}/' "$tmp/llama2.tokenizer.json" >"$tmp/decoder.json"
expect_error "$tmp/decoder.json" "decoder WordPiece is not supported"
sed 's/"unk_token": "<unk>"/"unk_token": "<nope>"/' "$tmp/llama2.tokenizer.json" >"$tmp/unk.json"
expect_error "$tmp/unk.json" "model.unk_token is not a token"
if [ -f "$tmp/spm/bpe.model" ]; then
    head -c 3000 "$tmp/spm/bpe.model" >"$tmp/trunc.model"
    expect_error "$tmp/trunc.model" "truncated"
fi
printf 'not a tokenizer\n' >"$tmp/junk.bin"
expect_error "$tmp/junk.bin" "not a SentencePiece model"
# End to end, with a vocab past uint16: a LLaMA-3-style tokenizer whose <|begin_of_text|> is
# id 69999 inside a Hugging Face directory of vocab 70000; pq import hf records it, pq eval
# uses it unprompted, and the document's NLL equals the numpy reference forward's over the
# ids pq tokenize gives (BOS first).
$PY - "$tmp/llama3.tokenizer.json" "$tmp/big.json" <<'PYEOF'
import json, sys
t = json.load(open(sys.argv[1]))
for a in t["added_tokens"]:
    if a["content"] == "<|begin_of_text|>": a["id"] = 69999
t["post_processor"]["processors"][1]["special_tokens"]["<|begin_of_text|>"]["ids"] = [69999]
json.dump(t, open(sys.argv[2], "w"))
PYEOF
text="It's a truth universally acknowledged, that 12345 tokens need a tokenizer."
ids=$(printf '%s\n' "$text" | "$PQ" tokenize --tokenizer "$tmp/big.json" --bos)
[ "${ids%% *}" = 69999 ] || fail "big vocab: BOS ${ids%% *}, want 69999"
$PY "$here/hf_llama.py" make "$tmp/big" --dtype f32 --vocab 70000 --tokens "${ids// /,}"
cp "$tmp/big.json" "$tmp/big/tokenizer.json"
"$PQ" import hf "$tmp/big" --out "$tmp/big.ckpt" | grep -q "tokenizer $tmp/big/tokenizer.json recorded" ||
    fail "pq import hf did not record the tokenizer"
$PY -c 'import json,sys; print(json.dumps({"text": sys.argv[1]}))' "$text" >"$tmp/doc.jsonl"
"$PQ" eval --model "$tmp/big.ckpt" --tasks "$tmp/doc.jsonl" --out "$tmp/big.eval.json" --units "$tmp/big.units.json" \
    --data-dir "$tmp/nodata" >/dev/null || fail "pq eval with the recorded tokenizer"
$PY - "$tmp/big.units.json" "$tmp/big/ref_logits.f64" "$ids" "$tmp/big.eval.json" <<'PYEOF' || fail "big vocab: NLL differs"
import json, sys
import numpy as np
units, ref, ids, res = sys.argv[1], sys.argv[2], list(map(int, sys.argv[3].split())), json.load(open(sys.argv[4]))
nll = json.load(open(units))["tasks"]["doc"]["nll"][0]
logits = np.fromfile(ref, "<f8").reshape(len(ids), -1)
lse = np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(1)) + logits.max(1)
want = float(sum(lse[t] - logits[t, ids[t + 1]] for t in range(len(ids) - 1)))
tok = res["tokenizer"]
assert tok["kind"] == "tokenizer.json" and tok["bos"] == 69999 and tok["vocab"] == 70000, tok
print(f"  vocab 70000, BOS 69999: pq eval NLL {nll:.6f}, numpy reference {want:.6f} over {len(ids) - 1} tokens")
sys.exit(0 if abs(nll - want) <= 1e-4 * abs(want) else 1)
PYEOF
# pq generate with the recorded tokenizer: the prompt encodes to the same ids (BOS 69999
# first, so no uint16 anywhere), and its greedy next token is the reference's argmax.
next=$("$PQ" generate --model "$tmp/big.ckpt" --tokens "${ids// /,}" --max-tokens 1 --temperature 0 2>/dev/null)
want=$($PY -c 'import numpy as np,sys; print(int(np.fromfile(sys.argv[1], "<f8").reshape(int(sys.argv[2]), -1)[-1].argmax()))' \
    "$tmp/big/ref_logits.f64" "$(wc -w <<<"$ids")")
[ "${next##*,}" = "$want" ] || fail "pq generate: next token ${next##*,}, reference $want"
"$PQ" generate --model "$tmp/big.ckpt" --prompt "$text" --max-tokens 3 --temperature 0 >"$tmp/gen.out" 2>"$tmp/gen.err" ||
    fail "pq generate --prompt with the recorded tokenizer: $(cat "$tmp/gen.err")"
grep -q "^$text" "$tmp/gen.out" && grep -q "$(wc -w <<<"$ids") prompt tokens" "$tmp/gen.err" || fail "pq generate --prompt: $(cat "$tmp/gen.err")"
echo "  pq generate: the recorded tokenizer's $(wc -w <<<"$ids") prompt ids, next token $want as the reference"
# A LLaMA-2-style directory with only a tokenizer.json (Prepend/Replace normalizer, byte
# fallback): pq import hf records it, BOS <s> from its template; pq generate encodes the
# prompt to pq tokenize's ids and prints the reference's next token as its text ("▁" as a
# space, <0xXX> as its byte).
text2="Héllo, wörld: 42 naïve tokens 😀"
ids2=$(printf '%s\n' "$text2" | "$PQ" tokenize --tokenizer "$tmp/llama2.tokenizer.json" --bos)
[ "${ids2%% *}" = 1 ] || fail "llama2 tokenizer.json: BOS ${ids2%% *}, want <s> = 1"
$PY "$here/hf_llama.py" make "$tmp/l2" --dtype f32 --vocab 2000 --tokens "${ids2// /,}"
cp "$tmp/llama2.tokenizer.json" "$tmp/l2/tokenizer.json"
"$PQ" import hf "$tmp/l2" --out "$tmp/l2.ckpt" | grep -q "tokenizer $tmp/l2/tokenizer.json recorded" ||
    fail "pq import hf did not record the LLaMA-2-style tokenizer.json"
"$PQ" generate --model "$tmp/l2.ckpt" --prompt "$text2" --max-tokens 1 --temperature 0 >"$tmp/l2.out" 2>"$tmp/l2.err" ||
    fail "pq generate with a LLaMA-2-style tokenizer.json: $(cat "$tmp/l2.err")"
grep -q "$(wc -w <<<"$ids2") prompt tokens" "$tmp/l2.err" || fail "pq generate --prompt: $(cat "$tmp/l2.err")"
$PY - "$tmp/l2/ref_logits.f64" "$(wc -w <<<"$ids2")" "$tmp/llama2.tokenizer.json" "$tmp/l2.out" "$text2" <<'PYEOF' ||
import json, re, sys
import numpy as np
ref, n, tok, out, text = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
want = int(np.fromfile(ref, "<f8").reshape(n, -1)[-1].argmax())
piece = {i: p for p, i in json.load(open(tok))["model"]["vocab"].items()}[want]
m = re.fullmatch(r"<0x([0-9A-F]{2})>", piece)
want_bytes = text.encode() + (bytes([int(m.group(1), 16)]) if m else piece.replace("\u2581", " ").encode()) + b"\n"
got = open(out, "rb").read()
print(f"  LLaMA-2-style tokenizer.json: pq generate's next token {want} {piece!r} printed as {got[len(text.encode()):-1]!r}")
sys.exit(0 if got == want_bytes else 1)
PYEOF
    fail "pq generate: the printed next token is not the reference's ($(cat "$tmp/l2.out"))"
# QAT keeps an imported model's tokenizer: pq eval of the QAT checkpoint finds it unprompted
# (GPT-2 style, BOS = config.json's bos_token_id).
V=$($PY -c 'import json,sys; t=json.load(open(sys.argv[1])); print(1 + max(list(t["model"]["vocab"].values()) + [a["id"] for a in t["added_tokens"]]))' "$tmp/gpt2.tokenizer.json")
$PY "$here/hf_llama.py" make "$tmp/small" --dtype f32 --vocab "$V" --tokens 1,2,3
cp "$tmp/gpt2.tokenizer.json" "$tmp/small/tokenizer.json"
$PY -c 'import json,sys; p=sys.argv[1]; c=json.load(open(p)); c["bos_token_id"]=int(sys.argv[2]); json.dump(c,open(p,"w"))' "$tmp/small/config.json" $((V - 1))
"$PQ" import hf "$tmp/small" --out "$tmp/small.ckpt" >/dev/null
"$PQ" qat --from "$tmp/small.ckpt" --data synthetic:20000 --bits 2 --quantizer paretoq --tokens 1024 --batch 4 --seq-len 32 \
    --lr 1e-3 --eval-interval 0 --eval-tokens 256 --ckpt-interval 0 --out "$tmp/smallq" >/dev/null 2>"$tmp/err" ||
    fail "qat on an imported model with a tokenizer: $(tail -1 "$tmp/err")"
"$PQ" eval --model "$tmp/smallq/model.ckpt" --tasks "$tmp/doc.jsonl" --out "$tmp/smallq.eval.json" --data-dir "$tmp/nodata" \
    >/dev/null 2>"$tmp/err" || fail "pq eval of the QAT checkpoint: $(cat "$tmp/err")"
$PY -c 'import json,sys; t=json.load(open(sys.argv[1]))["tokenizer"]; assert t["kind"] == "tokenizer.json" and t["bos"] == int(sys.argv[2]), t' \
    "$tmp/smallq.eval.json" $((V - 1)) || fail "the QAT checkpoint lost its tokenizer"
echo "  QAT of an imported model: pq eval still uses its tokenizer.json (BOS $((V - 1)))"
# pq export --format safetensors takes the tokenizer along: the QAT checkpoint's directory holds
# the same tokenizer.json and config.json's BOS, and pq import hf of it records both again; a
# recorded tokenizer that changed since import is refused by either export.
"$PQ" export --format safetensors --from "$tmp/smallq/model.ckpt" --out "$tmp/smallq-hf" >/dev/null ||
    fail "export safetensors of a QAT model with a tokenizer"
cmp -s "$tmp/smallq-hf/tokenizer.json" "$tmp/small/tokenizer.json" || fail "the exported directory's tokenizer.json differs"
"$PQ" import hf "$tmp/smallq-hf" --out "$tmp/again.ckpt" | grep -q "tokenizer $tmp/smallq-hf/tokenizer.json recorded" ||
    fail "pq import hf of the exported directory did not record its tokenizer"
"$PQ" eval --model "$tmp/again.ckpt" --tasks "$tmp/doc.jsonl" --out "$tmp/again.eval.json" --data-dir "$tmp/nodata" >/dev/null 2>"$tmp/err" ||
    fail "pq eval of the re-imported model: $(cat "$tmp/err")"
$PY -c 'import json,sys; t=json.load(open(sys.argv[1]))["tokenizer"]; assert t["kind"] == "tokenizer.json" and t["bos"] == int(sys.argv[2]), t' \
    "$tmp/again.eval.json" $((V - 1)) || fail "the re-imported model lost its tokenizer's BOS"
echo ' ' >>"$tmp/small/tokenizer.json"
for f in safetensors gguf; do
    out=$("$PQ" export --format $f --from "$tmp/smallq/model.ckpt" --out "$tmp/changed.$f" 2>&1) && fail "$f: exported with a changed tokenizer"
    case "$out" in *"trained with tokenizer"*"$tmp/small/tokenizer.json"*) ;; *) fail "$f: $out" ;; esac
done
echo "  export safetensors: the tokenizer and its BOS $((V - 1)) go along and import again; a changed one is refused"
echo "tokenizers: OK"
