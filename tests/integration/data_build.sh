#!/usr/bin/env bash
# pq data build/stats/check-leaks on a small corpus made from /usr/share/common-licenses:
# a full build, the cache (second run does nothing), rebuild on change, corrupt and
# malformed inputs, the leak check, and nothing half-written left behind.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
D=$tmp/data
C=$D/corpus
mkdir -p "$C"

# one document per license file; four licenses are held out
json_doc() { # id file -> {"id":..,"text":..}
    awk -v id="$1" 'BEGIN { ORS = "" }
        { gsub(/\\/, "\\\\"); gsub(/"/, "\\\""); gsub(/\t/, " "); gsub(/\r/, ""); gsub(/[\001-\037]/, " "); t = t (NR > 1 ? "\\n" : "") $0 }
        END { print "{\"id\":\"" id "\",\"text\":\"" t "\"}\n" }' "$2"
}
for f in /usr/share/common-licenses/*; do
    [ -L "$f" ] && continue
    name=$(basename "$f")
    case $name in
        Apache-2.0|Artistic|CC0-1.0|MPL-2.0) json_doc "lic:$name" "$f" >> "$C/licenses.heldout.jsonl" ;;
        *) json_doc "lic:$name" "$f" >> "$C/licenses.train.jsonl" ;;
    esac
done
# a second source, so the mixture has something to mix
json_doc "bsd:1" /usr/share/common-licenses/BSD > "$C/bsd.train.jsonl"
# synsets: words of the held-out licenses, glosses from their lines, roots as hypernyms
awk 'BEGIN { srand(1) }
    { for (i = 1; i <= NF; i++) { w = tolower($i); gsub(/[^a-z]/, "", w); if (length(w) > 3 && !(w in seen)) { seen[w] = 1; words[n++] = w } } }
    length($0) > 30 { g = $0; gsub(/\\/, "", g); gsub(/"/, "", g); gsub(/^ +| +$/, "", g); gloss[m++] = tolower(g) }
    END { for (i = 0; i < n && i < 400; i++)
            printf "{\"id\":\"n:%08d\",\"pos\":\"n\",\"lemmas\":[\"%s\"],\"gloss\":\"%s\",\"examples\":[],\"hypernyms\":[%s],\"heldout\":%s}\n",
                   i, words[i], gloss[(i * 7) % m], i < 30 ? "" : sprintf("\"n:%08d\"", i % 30), i < 30 ? "false" : "true" }' \
    /usr/share/common-licenses/Apache-2.0 /usr/share/common-licenses/MPL-2.0 > "$C/wordnet_synsets.jsonl"

B="--data-dir $D --vocab 700 --skip-corpus --quiet"
$PQ data build $B 2> "$tmp/log1" || { cat "$tmp/log1"; fail "first build"; }
for f in tokenizer-700.bpe tokenizer-700.json shards-700/train_000.bin shards-700/val.bin shards-700/manifest.json \
         tasks/manifest.json tasks/wordnet_def.jsonl tasks/wordnet_hypernym.jsonl tasks/cloze.jsonl \
         tasks/next_sentence.jsonl tasks/sentence_order.jsonl tasks/heldout_ppl.jsonl; do
    [ -s "$D/$f" ] || fail "missing $f"
done
grep -q '^pq-bpe 1$' "$D/tokenizer-700.bpe" || fail "tokenizer header"
grep -q "tasks .*built" "$tmp/log1" || fail "tasks not reported built"

# cached: nothing to do the second time; litter of a killed build (its pid is gone) is removed
true & dead=$!; wait $dead
mkdir -p "$D/shards-700.tmp.$dead" && touch "$D/tokenizer-700.bpe.tmp.$dead"
$PQ data build $B 2> "$tmp/log2" || fail "second build"
[ ! -e "$D/shards-700.tmp.$dead" ] && [ ! -e "$D/tokenizer-700.bpe.tmp.$dead" ] || fail "stale temporaries left"
grep -q "nothing to do" "$tmp/log2" || { cat "$tmp/log2"; fail "second build was not a no-op"; }
$PQ data stats --data-dir "$D" --vocab 700 > "$tmp/stats" || fail "stats"
grep -q "train_000.bin .* valid" "$tmp/stats" || fail "stats does not validate shards"
grep -q "leak check" "$tmp/stats" || fail "stats has no leak check line"

# a changed held-out file rebuilds shards and tasks, not the tokenizer
echo '{"id":"extra:1","text":"A new held-out document appears. It has two sentences and some words."}' >> "$C/bsd.heldout.jsonl"
$PQ data build $B 2> "$tmp/log3" || fail "rebuild"
grep -q "tokenizer ok" "$tmp/log3" || { cat "$tmp/log3"; fail "tokenizer was rebuilt"; }
grep -q "shards    built" "$tmp/log3" || fail "shards not rebuilt"

# a truncated shard: stats fails naming it, build repairs it
head -c 1000 "$D/shards-700/train_000.bin" > "$tmp/x" && cp "$tmp/x" "$D/shards-700/train_000.bin"
if $PQ data stats --data-dir "$D" --vocab 700 > "$tmp/stats2"; then fail "stats accepted a truncated shard"; fi
grep -q "train_000.bin: truncated" "$tmp/stats2" || { cat "$tmp/stats2"; fail "no truncation message"; }
$PQ data build $B 2> "$tmp/log4" || fail "repair build"
grep -q "shards    built" "$tmp/log4" || fail "shards not repaired"

# the leak check: a copied training sentence fails with file:line
cp "$D/tasks/cloze.jsonl" "$tmp/mine.jsonl"
$PQ data check-leaks --data-dir "$D" --vocab 700 "$tmp/mine.jsonl" > /dev/null || fail "clean task file reported leaking"
printf '%s\n' '{"context":"Redistribution and use in source and binary forms, with or without modification, are","choices":["permitted","forbidden"],"gold":0}' >> "$tmp/mine.jsonl"
n=$(wc -l < "$tmp/mine.jsonl")
if $PQ data check-leaks --data-dir "$D" --vocab 700 "$tmp/mine.jsonl" 2> "$tmp/leak"; then fail "leak not detected"; fi
grep -q "mine.jsonl:$n: 13-word window" "$tmp/leak" || { cat "$tmp/leak"; fail "leak message"; }

# a malformed corpus line: exit 1 naming file:line, nothing half-written left
echo '{"id": "bad", "text": ' >> "$C/bsd.train.jsonl"
n=$(wc -l < "$C/bsd.train.jsonl")
if $PQ data build $B 2> "$tmp/log5"; then fail "malformed corpus accepted"; fi
grep -q "bsd.train.jsonl:$n:" "$tmp/log5" || { cat "$tmp/log5"; fail "malformed line not named"; }
if find "$D" -name '*.tmp.*' | grep -q .; then fail "temporary files left behind"; fi
[ -s "$D/shards-700/train_000.bin" ] || fail "previous shards lost"

# usage errors exit 2
set +e
$PQ data build --vocab abc > /dev/null 2>&1; [ $? -eq 2 ] || fail "bad --vocab should exit 2"
$PQ data frobnicate > /dev/null 2>&1; [ $? -eq 2 ] || fail "unknown subcommand should exit 2"
$PQ data build --bogus > /dev/null 2>&1; [ $? -eq 2 ] || fail "unknown flag should exit 2"
set -e
echo "data_build: ok"
