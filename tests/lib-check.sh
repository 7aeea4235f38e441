# The check helper of the integration tests (sourced).  Each test ends
# with: echo "SUITE: $passed passed, $failed failed".
passed=0
failed=0

# check NAME COMMAND...: runs COMMAND; counts and prints PASS or FAIL.
check() {
    name=$1
    shift
    if "$@"; then
        passed=$((passed + 1))
        echo "PASS $name"
    else
        failed=$((failed + 1))
        echo "FAIL $name"
    fi
}

# has TEXT REGEX: whether TEXT matches REGEX (grep -E).
has() {
    printf '%s\n' "$1" | grep -Eq -e "$2"
}

# die MESSAGE: the test cannot go on.  Prints MESSAGE, then the last lines
# of each file matching the globs in $die_logs (set by the test), counts
# a failure and ends with the summary of suite $suite.
die() {
    echo "$suite: $*" >&2
    for f in $die_logs; do
        [ -f "$f" ] && { echo "--- $f"; tail -30 "$f"; } >&2
    done
    failed=$((failed + 1))
    echo "$suite: $passed passed, $failed failed"
    exit 1
}
