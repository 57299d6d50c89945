#!/usr/bin/env bash
# report.html in headless Chromium (Debian's chromium, offline): built from the fixtures, it loads with no
# console message or script error, every figure loads (naturalWidth > 0, reported by the page's own status
# element after the load event), and a screenshot is not blank. A missing figure must be caught.
# The fixtures (tests/fixtures/plots/results) are invented numbers for tests only.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PY=${PYTHON:-/usr/bin/python3}
FIX=$ROOT/tests/fixtures/plots/results
. "$(dirname "$0")/lib.sh"
CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
[ -n "$CHROMIUM" ] || fail "chromium is not installed (run make deps)"
$PY -c 'import matplotlib' 2>/dev/null || fail "python3-matplotlib is not installed (run make deps)"

$PY "$ROOT/plots/make_all.py" --results "$FIX" --out "$tmp/r" 2>/dev/null || fail "make_all.py failed"
$PY "$ROOT/plots/report.py" --results "$FIX" --out "$tmp/r" 2>/dev/null || fail "report.py failed"
[ -s "$tmp/r/report.html" ] || fail "report.html not written"

browse() {  # browse URL-FILE OUT-PREFIX [extra flags]: DOM after load in OUT.dom, browser log in OUT.log
    local page=$1 out=$2; shift 2
    timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --no-first-run --disable-extensions \
        --disable-background-networking --disable-sync --user-data-dir="$tmp/profile" \
        --enable-logging=stderr --v=0 --virtual-time-budget=10000 "$@" "file://$page" >"$out.dom" 2>"$out.log"
}
browse "$tmp/r/report.html" "$tmp/a" --dump-dom || fail "chromium failed: $(tail -3 "$tmp/a.log")"
status=$(grep -o '<p id="pq-status"[^>]*>' "$tmp/a.dom")
[ -n "$status" ] || fail "the page's status element is missing from the DOM"
n=$(grep -o '<img ' "$tmp/r/report.html" | wc -l)
[ "$n" -ge 10 ] || fail "report.html shows $n figures, expected 10"
echo "$status" | grep -q "data-images=\"$n/$n\"" || fail "not every figure loaded: $status"
echo "$status" | grep -q "data-error" && fail "script error on the page: $status"
grep -q ":CONSOLE" "$tmp/a.log" && fail "console messages: $(grep ':CONSOLE' "$tmp/a.log" | head -3)"
for v in agrees insufficient; do grep -q "class=\"badge $v\"" "$tmp/a.dom" || fail "no '$v' verdict badge"; done
grep -q '<table>' "$tmp/a.dom" || fail "no table in the page"
grep -q 'id="run-' "$tmp/a.dom" || fail "run ids not listed"

# A screenshot that is not blank: many distinct grey levels, not one flat colour.
browse "$tmp/r/report.html" "$tmp/s" --screenshot="$tmp/shot.png" --window-size=1200,1800 --hide-scrollbars \
    || fail "chromium screenshot failed: $(tail -3 "$tmp/s.log")"
$PY - "$tmp/shot.png" <<'PY' || fail "screenshot is blank"
import sys
import matplotlib.image as im
a = im.imread(sys.argv[1])
grey = a[..., :3].mean(axis=2)
assert grey.shape[0] >= 1000 and grey.shape[1] >= 1000, grey.shape
levels = len(set((grey * 255).astype(int).ravel().tolist()))
dark = float((grey < 0.5).mean())
print("screenshot %dx%d: %d grey levels, %.1f%% dark pixels" % (grey.shape[1], grey.shape[0], levels, 100 * dark))
sys.exit(0 if levels > 20 and 0.002 < dark < 0.9 else 1)
PY

# The check itself must catch a figure that does not load.
rm "$tmp/r/figures/fig2_budget.png"
browse "$tmp/r/report.html" "$tmp/b" --dump-dom || fail "chromium failed on the broken page"
grep -q "data-images=\"$((n - 1))/$n\"" "$tmp/b.dom" || fail "a missing figure went unnoticed"
echo "report_html: ok"
