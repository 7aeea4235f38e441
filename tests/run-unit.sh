#!/bin/sh
# Runs cmocka test programs from the repository root and sums up their
# results: each program prints cmocka's own summary, and the last line is
#     <suite>: N passed, N failed
# Usage: tests/run-unit.sh SUITE-NAME PROGRAM...
set -u

suite=$1
shift
cd "$(dirname "$0")/.." || exit 1

passed=0
failed=0
for prog in "$@"; do
    out=$(mktemp)
    "$prog" >"$out" 2>&1
    rc=$?
    cat "$out"
    p=$(sed -n 's/.*\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -1)
    f=$(sed -n 's/.*\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -1)
    rm -f "$out"
    passed=$((passed + ${p:-0}))
    if [ "$rc" -ne 0 ] && [ "${f:-0}" -eq 0 ]; then
        # Crashed or was killed before cmocka could count.
        echo "$prog: exited with status $rc"
        f=1
    fi
    failed=$((failed + ${f:-0}))
done

echo "$suite: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
