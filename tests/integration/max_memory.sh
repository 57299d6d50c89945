#!/usr/bin/env bash
# --max-memory SIZE (cli/mem_plan.h): pretrain, qat, ptq, eval and generate plan their peak
# from the config before allocating; over the limit they stop at once with one line naming
# what they need and what was allowed (exit 1, nothing written); a malformed SIZE is a
# usage error (exit 2); within the limit the planned peak is within 0.75x-1.5x of the
# measured one (getrusage ru_maxrss via /usr/bin/time) on a 3.4M-parameter model.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
export PQ_PROGRESS=0

cat > "$tmp/cfg.json" <<'JSON'
{"model": {"dim": 256, "n_layers": 4, "n_heads": 8, "n_kv_heads": 2, "ffn_dim": 704, "vocab": 4096, "ctx": 64},
 "train": {"batch": 2, "tokens": 256, "warmup": 1, "eval_interval": 0, "eval_tokens": 64, "ckpt_interval": 0}}
JSON

# over the limit: one line, exit 1, before anything is written
set +e
"$PQ" pretrain --config "$tmp/cfg.json" --data synthetic:20000 --out "$tmp/fp" --max-memory 20M 2> "$tmp/err"
rc=$?
set -e
[ $rc = 1 ] && [ "$(wc -l < "$tmp/err")" = 1 ] && grep -q 'pq pretrain: needs about .* more than --max-memory 20M allows' "$tmp/err" \
    || fail "pretrain over the limit: rc=$rc $(cat "$tmp/err")"
[ ! -e "$tmp/fp/state.ckpt" ] || fail "pretrain over the limit wrote a state"

# malformed sizes are usage errors
for bad in 8X -1G abc ""; do
    set +e
    "$PQ" eval --model x.ckpt --tasks cloze --out "$tmp/e.json" --max-memory "$bad" 2> "$tmp/err"
    rc=$?
    set -e
    [ $rc = 2 ] && grep -q -- '--max-memory' "$tmp/err" || fail "--max-memory '$bad': rc=$rc $(cat "$tmp/err")"
done

# within the limit: the plan is printed, and it is close to the measured peak
planned_ok() { # name: compares the "planned peak" line of $tmp/err with /usr/bin/time's $tmp/rss
    local planned measured
    planned=$(grep -o 'planned peak [0-9.]* MiB' "$tmp/err" | awk '{print $3}')
    measured=$(awk '{print $1 / 1024}' "$tmp/rss")
    [ -n "$planned" ] || fail "$1: no plan printed: $(cat "$tmp/err")"
    # under the sanitizers (make test-asan) the resident set is theirs, not the program's
    [ "${PQ_SANITIZED:-0}" = 1 ] && { echo "$1: planned $planned MiB (not compared under the sanitizers)"; return; }
    awk -v p="$planned" -v m="$measured" 'BEGIN { exit !(p >= 0.75 * m && p <= 1.5 * m) }' \
        || fail "$1: planned $planned MiB, measured $measured MiB (outside 0.75x-1.5x)"
    echo "$1: planned $planned MiB, measured $measured MiB"
}
/usr/bin/time -f %M -o "$tmp/rss" "$PQ" pretrain --config "$tmp/cfg.json" --data synthetic:20000 --out "$tmp/fp" --max-memory 4G 2> "$tmp/err"
planned_ok pretrain
/usr/bin/time -f %M -o "$tmp/rss" "$PQ" qat --from "$tmp/fp/model.ckpt" --bits 2 --quantizer paretoq --tokens 128 \
    --data synthetic:20000 --out "$tmp/qat" --max-memory 4G 2> "$tmp/err"
planned_ok qat
/usr/bin/time -f %M -o "$tmp/rss" "$PQ" ptq --from "$tmp/fp/model.ckpt" --method rtn --bits 2 --out "$tmp/rtn" --max-memory 4G 2> "$tmp/err"
planned_ok ptq
/usr/bin/time -f %M -o "$tmp/rss" "$PQ" generate --model "$tmp/qat/model.ckpt" --tokens 1,2,3 --max-tokens 4 --max-memory 4G \
    > /dev/null 2> "$tmp/err"
planned_ok generate

# qat and generate over the limit: one line each, exit 1
set +e
"$PQ" qat --from "$tmp/fp/model.ckpt" --bits 2 --quantizer paretoq --tokens 128 --data synthetic:20000 --out "$tmp/q2" \
    --max-memory 30M 2> "$tmp/err"
rc=$?
set -e
[ $rc = 1 ] && [ "$(wc -l < "$tmp/err")" = 1 ] && grep -q 'pq qat: needs about' "$tmp/err" || fail "qat over the limit: rc=$rc $(cat "$tmp/err")"
set +e
"$PQ" generate --model "$tmp/qat/model.ckpt" --tokens 1,2 --max-memory 1M > /dev/null 2> "$tmp/err"
rc=$?
set -e
[ $rc = 1 ] && [ "$(wc -l < "$tmp/err")" = 1 ] && grep -q 'pq generate: needs about' "$tmp/err" || fail "generate over the limit: rc=$rc"
echo "max_memory: ok"
