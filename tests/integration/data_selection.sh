#!/usr/bin/env bash
# `pq data build --sources NAME`: a source selection, $PQ_DATASETS/corpus-NAME.json, built in
# place of corpus.json (issue 16). The repository commits no selection; a user or CI writes one
# to build a subset of the sources. This test writes one in a temporary recipe folder.
#
# Always: the flag's usage errors; a missing selection, a malformed one and one naming a recipe
# that does not exist each fail naming the file. Then the selection `head` = the default's first
# four sources (kjv, web, austen, wordnet: 14.5 MB of .debs, taken from ${PQ_WORK:-work}/data/debs
# where present, else downloaded from Debian's archive) is built with a 2k tokenizer: its
# manifest names the selection, only its sources are written, and each source's train/held-out
# documents, words and bytes equal the default build's in datasets/stats.json (duplicate removal
# only looks back, so a prefix of corpus.json decodes as in the whole build). Under a minute
# (42 s here with the default comparison, on a busy 2-core machine).
# With PQ_DATA_DEFAULT=<a data dir holding a default build> (only read): that build is up to
# date for this pq at 8k (and 4k if built), and the selection's four train/held-out files are
# byte-identical to it.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/../.."
HEAD="kjv web austen wordnet"

set +e
$PQ data build --data-dir "$tmp/d" --sources ../x > /dev/null 2>&1; [ $? -eq 2 ] || fail "--sources ../x should exit 2"
$PQ data build --data-dir "$tmp/d" --sources head --skip-corpus > /dev/null 2>&1; [ $? -eq 2 ] || fail "--sources with --skip-corpus should exit 2"
$PQ data stats --data-dir "$tmp/d" --sources head > /dev/null 2>&1; [ $? -eq 2 ] || fail "stats --sources should exit 2"
set -e

# a recipe folder of our own: the four recipes, a bad selection and the one to build
R=$tmp/datasets
mkdir -p "$R"
cp datasets/corpus.json "$R/"
for s in $HEAD; do cp datasets/$s.json "$R/"; done
echo '{"format": 1, "sources": ["kjv", "a/b"]}' > "$R/corpus-bad.json"
echo '{"format": 1, "sources": ["kjv", "nosuch"]}' > "$R/corpus-missing.json"
python3 -c 'import json, sys; print(json.dumps({"format": 1, "sources": sys.argv[1:]}))' $HEAD > "$R/corpus-head.json"
expect_error() { # selection, text the one-line error must contain
    set +e
    PQ_DATASETS=$R $PQ data build --data-dir "$tmp/d" --sources "$1" --quiet 2> "$tmp/err"; local rc=$?
    set -e
    [ $rc -eq 1 ] || fail "selection '$1' should exit 1, got $rc"
    grep -q "$2" "$tmp/err" || { cat "$tmp/err"; fail "selection '$1': the error does not name $2"; }
}
expect_error nosuch "corpus-nosuch.json"
expect_error bad "corpus-bad.json"
expect_error missing "nosuch.json"

D=$tmp/d
mkdir -p "$D/debs"
debs=$(python3 - "$R" $HEAD <<'EOF'
import json, sys
for s in sys.argv[2:]:
    for p in json.load(open("%s/%s.json" % (sys.argv[1], s)))["packages"]:
        print("%s_%s_%s.deb" % (p["package"], p["version"].replace(":", "%3a"), p["arch"]))
EOF
)
for f in $debs; do
    [ -f "${PQ_WORK:-work}/data/debs/$f" ] && cp "${PQ_WORK:-work}/data/debs/$f" "$D/debs/"
done
PQ_DATASETS=$R $PQ data build --data-dir "$D" --sources head --vocab 2048 2> "$tmp/log" || { tail -5 "$tmp/log"; fail "head build"; }
PQ_DATASETS=$R $PQ data build --data-dir "$D" --sources head --vocab 2048 2> "$tmp/log2" || fail "second head build"
grep -q "nothing to do" "$tmp/log2" || { cat "$tmp/log2"; fail "a second build of the selection was not a no-op"; }
for f in "$D"/corpus/*.train.jsonl; do
    s=$(basename "$f" .train.jsonl)
    case " $HEAD " in *" $s "*) ;; *) fail "$s.train.jsonl written, outside the selection" ;; esac
done
python3 - "$D/corpus/manifest.json" datasets/stats.json $HEAD <<'EOF' || fail "head build vs datasets/stats.json"
import json, sys
m, st = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
head = sys.argv[3:]
assert m["manifest"]["config"].get("selection") == "head", "the manifest does not name its selection"
assert m["order"] == head, "order %s, expected %s" % (m["order"], head)
assert m["build_key"] != st["corpus_build_key"], "the selection has the default's build key"
for s in head:
    for part in ("train", "heldout"):
        got = {k: m["sources"][s][part][k] for k in ("documents", "words", "bytes")}
        want = st["sources"][s][part]
        assert got == want, "%s %s: %s, datasets/stats.json has %s" % (s, part, got, want)
print("head: %d sources, %d train words" % (len(head), m["totals"]["train"]["words"]))
EOF
$PQ data stats --data-dir "$D" --vocab 2048 > "$tmp/stats" || { cat "$tmp/stats"; fail "stats of the head build"; }
grep -q "train_000.bin .* valid" "$tmp/stats" || fail "head shards not valid"

if [ -z "${PQ_DATA_DEFAULT:-}" ]; then
    echo "data_selection: ok (set PQ_DATA_DEFAULT to compare with a default build)"
    exit 0
fi
B=$tmp/default
mkdir -p "$B"
for f in corpus tasks shards shards-4096 tokenizer.bpe tokenizer.json tokenizer-4096.bpe tokenizer-4096.json; do
    [ -e "$PQ_DATA_DEFAULT/$f" ] && cp -a "$PQ_DATA_DEFAULT/$f" "$B/"
done
PQ_DATASETS=datasets $PQ data build --data-dir "$B" 2> "$tmp/log8" || { cat "$tmp/log8"; fail "default build"; }
grep -q "nothing to do" "$tmp/log8" || { cat "$tmp/log8"; fail "the default build (8k) is not up to date with datasets/"; }
if [ -e "$B/shards-4096" ]; then
    PQ_DATASETS=datasets $PQ data build --data-dir "$B" --vocab 4096 2> "$tmp/log4" || { cat "$tmp/log4"; fail "default build 4k"; }
    grep -q "nothing to do" "$tmp/log4" || { cat "$tmp/log4"; fail "the default build (4k) is not up to date"; }
fi
python3 - "$B/corpus/manifest.json" "$D/corpus/manifest.json" <<'EOF' || fail "head build vs default build"
import json, sys
d, h = (json.load(open(p)) for p in sys.argv[1:3])
assert "selection" not in d["manifest"]["config"], "the default manifest names a selection"
assert d["order"][:len(h["order"])] == h["order"], "the head selection is not a prefix of the default"
for s in h["order"]:
    for part in ("train", "heldout"):
        assert d["sources"][s][part]["sha256"] == h["sources"][s][part]["sha256"], \
            "%s.%s.jsonl differs between the default and the head build" % (s, part)
EOF
echo "data_selection: ok"
