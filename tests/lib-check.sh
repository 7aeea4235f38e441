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
