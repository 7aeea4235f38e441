#!/bin/sh
# Runs each libFuzzer target for SECONDS, starting from its seed corpus in
# tests/fuzz/corpus/<name>/ (read only; new inputs go to
# build/fuzz/corpus-<name>/), and prints how many executions it made.
# A crash fails the run and leaves the input in build/fuzz/.
# tests/fuzz/NAME.flags, if present, adds libFuzzer flags for one target.
# Usage: tests/fuzz/run.sh SECONDS TARGET...
set -u

seconds=$1
shift
cd "$(dirname "$0")/../.." || exit 1

passed=0
failed=0
for target in "$@"; do
    name=$(basename "$target" | sed 's/^fuzz-//')
    work="build/fuzz/corpus-$name"
    mkdir -p "$work"
    log="build/fuzz/$name.log"
    # tests/fuzz/NAME.flags: more libFuzzer flags for that target.
    flags=$(grep -v "^#" "tests/fuzz/$name.flags" 2>/dev/null)
    # shellcheck disable=SC2086
    "$target" -max_total_time="$seconds" -print_final_stats=1 $flags \
        -artifact_prefix="build/fuzz/$name-" -timeout=10 -rss_limit_mb=2048 \
        "$work" "tests/fuzz/corpus/$name" >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    if [ "$rc" -eq 0 ]; then
        echo "fuzz $name: ${execs:-?} executions in ${seconds}s, no crash"
        passed=$((passed + 1))
    else
        tail -n 40 "$log"
        echo "fuzz $name: FAILED after ${execs:-?} executions (log: $log)"
        failed=$((failed + 1))
    fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
