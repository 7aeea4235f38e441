#!/bin/sh
# Runs each benchmark program from the repository root.  Benchmarks print
# percentiles and ratios against a baseline measured in the same run; they
# never fail on timing (the machines are shared), only on errors.
# Usage: tests/bench/run.sh PROGRAM...
set -u
cd "$(dirname "$0")/../.." || exit 1
passed=0
failed=0
for prog in "$@"; do
    if "$prog"; then
        passed=$((passed + 1))
    else
        echo "bench: $prog failed"
        failed=$((failed + 1))
    fi
    echo
done
echo "bench: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
