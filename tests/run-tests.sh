#!/usr/bin/env bash
# Runs every test: the Catch2 unit tests, then the end-to-end tests against the
# real binary (fixtures, HTTP, golden metrics, Prometheus, real node as root).
# Closing line: "tests: N passed, N failed, N skipped" over both.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
mkdir -p tests/artifacts

unit_out=$(mktemp)
"$BUILD/unit-tests" --reporter compact 2>&1 | tee "$unit_out"
unit_rc=${PIPESTATUS[0]}
# Catch2 closes with "Passed all N test cases ..." or "Failed X test cases, failed Y assertions."
unit_total=$("$BUILD/unit-tests" --list-test-names-only | grep -c .)
unit_failed=$(grep -oE '^Failed [0-9]+ test case' "$unit_out" | grep -oE '[0-9]+' || true)
unit_failed=${unit_failed:-0}
if ((unit_rc != 0 && unit_failed == 0)); then unit_failed=1; fi
rm -f "$unit_out"

e2e_out=$(mktemp)
python3 tests/e2e/run.py "$@" 2>&1 | tee "$e2e_out"
e2e_rc=${PIPESTATUS[0]}
read -r e2e_passed e2e_failed e2e_skipped < <(sed -nE 's/^e2e: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped$/\1 \2 \3/p' "$e2e_out")
rm -f "$e2e_out"
e2e_passed=${e2e_passed:-0} e2e_failed=${e2e_failed:-1} e2e_skipped=${e2e_skipped:-0}

passed=$((unit_total - unit_failed + e2e_passed))
failed=$((unit_failed + e2e_failed))
echo "tests: ${passed} passed, ${failed} failed, ${e2e_skipped} skipped"
((unit_rc == 0 && e2e_rc == 0))
