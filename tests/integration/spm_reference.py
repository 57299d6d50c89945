#!/usr/bin/env python3
"""Reference SentencePiece encodings for tests/integration/tokenizers.sh (Debian's
python3-sentencepiece, libsentencepiece 0.1.97).

    spm_reference.py CORPUS_DIR OUT_DIR

Takes 150 lines per source (cut at 300 characters) of the corpus's *.train.jsonl to
train on and 80 per source of its *.heldout.jsonl to test on (or, for a directory
holding lines.txt instead, the first and second half of those lines), trains four
small models (vocab 1000) — BPE and unigram with byte_fallback and the default
nmt_nfkc normalizer (its precompiled charsmap), a LLaMA-2-like BPE (identity
normalizer, no whitespace removal, a user-defined piece) and a unigram without
byte_fallback (unknown characters) — and writes OUT_DIR/test.txt and, per model,
NAME.model and NAME.ref: the ids of each test line."""
import json, os, sys
import sentencepiece as spm


def lines(d, suffix, per, cut=300):
    out = []
    for f in sorted(x for x in os.listdir(d) if x.endswith(suffix)):
        got = 0
        for doc in open(os.path.join(d, f), encoding="utf-8"):
            for l in json.loads(doc)["text"].split("\n"):
                if l.strip() and got < per:
                    out.append(l[:cut])
                    got += 1
            if got >= per:
                break
    return out


src, out = sys.argv[1], sys.argv[2]
if os.path.exists(os.path.join(src, "lines.txt")):
    all_lines = open(os.path.join(src, "lines.txt"), encoding="utf-8").read().split("\n")[:-1]
    train, test = all_lines[: len(all_lines) // 2], all_lines[len(all_lines) // 2:]
else:
    train, test = lines(src, ".train.jsonl", 150), lines(src, ".heldout.jsonl", 80)
open(os.path.join(out, "train.txt"), "w", encoding="utf-8").write("".join(l + "\n" for l in train))
open(os.path.join(out, "test.txt"), "w", encoding="utf-8").write("".join(l + "\n" for l in test))
models = {
    "bpe": dict(model_type="bpe", byte_fallback=True),
    "unigram": dict(model_type="unigram", byte_fallback=True),
    "llama2": dict(model_type="bpe", byte_fallback=True, normalization_rule_name="identity",
                   remove_extra_whitespaces=False, user_defined_symbols=["<tab>"]),
    "unigram_unk": dict(model_type="unigram", byte_fallback=False, character_coverage=0.995),
}
for name, kw in models.items():
    prefix = os.path.join(out, name)
    spm.SentencePieceTrainer.train(input=os.path.join(out, "train.txt"), model_prefix=prefix, vocab_size=1000,
                                   num_threads=1, minloglevel=2, **kw)
    sp = spm.SentencePieceProcessor(model_file=prefix + ".model")
    with open(prefix + ".ref", "w") as f:
        for l in test:
            f.write(" ".join(map(str, sp.encode(l))) + "\n")
print(f"{len(train)} training lines, {len(test)} test lines")
