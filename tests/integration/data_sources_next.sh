#!/usr/bin/env bash
# The opt-in source selection of issue 16 (`pq data build --sources next`,
# datasets/corpus-next.json) next to the default build (datasets/corpus.json).
#
# Always (offline): the flag's usage errors, and a missing selection naming its file.
# With PQ_DATA_DEFAULT=<a data dir holding a default build> (corpus/, tokenizer*, shards*,
# tasks/; only read, copied to a temporary folder): this pq finds that build up to date,
# step by step, at 8k and at 4k if built, i.e. the default corpus, tokenizer and shards
# keep their keys.
# With also PQ_DATA_NEXT=<a data dir for the next build> (downloads ~1 GB of .debs
# there unless present, then ~2 minutes on 2 cores): the next selection builds, its
# manifest names the selection, and every default source's train/held-out file in it
# is byte-identical to the default build's (the new sources only come after them).
set -euo pipefail
PQ=${PQ:-./pq}
cd "$(dirname "$0")/../.."
T=$(mktemp -d /tmp/pq-sources-next-XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

set +e
$PQ data build --data-dir "$T/d" --sources ../x > /dev/null 2>&1; [ $? -eq 2 ] || fail "--sources ../x should exit 2"
$PQ data build --data-dir "$T/d" --sources next --skip-corpus > /dev/null 2>&1; [ $? -eq 2 ] || fail "--sources with --skip-corpus should exit 2"
$PQ data stats --data-dir "$T/d" --sources next > /dev/null 2>&1; [ $? -eq 2 ] || fail "stats --sources should exit 2"
PQ_DATASETS=datasets $PQ data build --data-dir "$T/d" --sources nosuch --quiet 2> "$T/err"; rc=$?
set -e
[ $rc -eq 1 ] || fail "a missing selection should exit 1, got $rc"
grep -q "datasets/corpus-nosuch.json" "$T/err" || { cat "$T/err"; fail "the missing selection's file is not named"; }

if [ -z "${PQ_DATA_DEFAULT:-}" ]; then
    echo "data_sources_next: ok (usage only; set PQ_DATA_DEFAULT and PQ_DATA_NEXT for the builds)"
    exit 0
fi
D=$T/default
mkdir -p "$D"
for f in corpus tasks shards shards-4096 tokenizer.bpe tokenizer.json tokenizer-4096.bpe tokenizer-4096.json; do
    [ -e "$PQ_DATA_DEFAULT/$f" ] && cp -a "$PQ_DATA_DEFAULT/$f" "$D/"
done
PQ_DATASETS=datasets $PQ data build --data-dir "$D" 2> "$T/log8" || { cat "$T/log8"; fail "default build"; }
grep -q "nothing to do" "$T/log8" || { cat "$T/log8"; fail "the default build (8k) is not up to date: its key moved"; }
if [ -e "$D/shards-4096" ]; then
    PQ_DATASETS=datasets $PQ data build --data-dir "$D" --vocab 4096 2> "$T/log4" || { cat "$T/log4"; fail "default build 4k"; }
    grep -q "nothing to do" "$T/log4" || { cat "$T/log4"; fail "the default build (4k) is not up to date"; }
fi
[ -n "${PQ_DATA_NEXT:-}" ] || { echo "data_sources_next: ok (default unchanged; set PQ_DATA_NEXT for the next build)"; exit 0; }

N=$PQ_DATA_NEXT
PQ_DATASETS=datasets $PQ data build --data-dir "$N" --sources next 2> "$T/logn" || { tail -5 "$T/logn"; fail "next build"; }
python3 - "$D/corpus/manifest.json" "$N/corpus/manifest.json" <<'EOF' || fail "next build vs default build"
import json, sys
d, n = (json.load(open(p)) for p in sys.argv[1:3])
assert n["manifest"]["config"].get("selection") == "next", "the next manifest does not name its selection"
assert "selection" not in d["manifest"]["config"], "the default manifest names a selection"
assert n["order"][:len(d["order"])] == d["order"], "the next selection does not start with the default sources"
assert len(n["order"]) > len(d["order"]), "the next selection adds no source"
for s in d["order"]:
    for part in ("train", "heldout"):
        a, b = d["sources"][s][part]["sha256"], n["sources"][s][part]["sha256"]
        assert a == b, "%s.%s.jsonl differs between the default and the next build" % (s, part)
print("next: %d sources, %d train words (default %d)" % (len(n["order"]), n["totals"]["train"]["words"], d["totals"]["train"]["words"]))
EOF
$PQ data stats --data-dir "$N" > "$T/stats" || { cat "$T/stats"; fail "stats of the next build"; }
grep -q "train_000.bin .* valid" "$T/stats" || fail "next shards not valid"
echo "data_sources_next: ok"
