#!/bin/sh
# Integration test of the appid tool on this machine's real dpkg database:
# import, lookups of real binaries and of a modified copy, feed round trip,
# bad input and exit codes.  Ends with "appid-cli: N passed, N failed".
# Usage: tests/appid/test-cli.sh BUILD-DIR
set -u
build=${1:-build}
appid="$build/appid/appid"
# Not under /tmp: the curated pattern "/tmp/*" would classify the copies.
work=$(mktemp -d /run/appfw-appid-test.XXXXXX) || exit 1
trap 'rm -rf "$work"' EXIT
trap 'exit 1' INT TERM
db="$work/a.db"
passed=0
failed=0

check() {   # check NAME EXPECTED-EXIT COMMAND... ; output in $work/out
    name=$1 want=$2
    shift 2
    "$@" >"$work/out" 2>&1
    rc=$?
    if [ "$rc" -eq "$want" ]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL $name: exit $rc, expected $want"
        sed 's/^/    /' "$work/out" | head -20
    fi
}

expect() {  # expect NAME PATTERN: the last output matches PATTERN
    if grep -q -- "$2" "$work/out"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL $1: output lacks \"$2\""
        sed 's/^/    /' "$work/out" | head -20
    fi
}

check help 0 "$appid" --help
expect help "import-dpkg"
check usage 2 "$appid" frobnicate
expect usage 'unknown command "frobnicate"'
check no-db 3 "$appid" --db "$work/none.db" stats
expect no-db "no such database"

check import 0 "$appid" --db "$db" import-dpkg
expect import "files/s"
expect import "trusted (checksum verified)"
cat "$work/out"
if grep -q "$(printf '\r')" "$work/out"; then
    failed=$((failed + 1)); echo "FAIL progress: drawn without a terminal"
else
    passed=$((passed + 1))
fi

check lookup-dpkg 0 "$appid" --db "$db" --json lookup --file /usr/bin/dpkg
expect lookup-dpkg '"match":"exact"'
expect lookup-dpkg '"product":"dpkg"'
expect lookup-dpkg '"trust":"trusted"'

check lookup-sh 0 "$appid" --db "$db" lookup --file /bin/sh
expect lookup-sh "category     interpreter"

cp /usr/bin/dpkg "$work/dpkg"
printf 'tampered' >>"$work/dpkg"
check modified-copy 0 "$appid" --db "$db" --json lookup --file "$work/dpkg"
expect modified-copy '"match":"name"'
expect modified-copy '"trust":"unknown"'
expect modified-copy "is no known build"
check modified-as-installed 0 "$appid" --db "$db" --json lookup \
    --file "$work/dpkg" --path /usr/bin/dpkg
expect modified-as-installed '"trust":"untrusted"'
expect modified-as-installed 'modified: /usr/bin/dpkg is dpkg'

check bad-hash 3 "$appid" --db "$db" lookup --sha256 xyz
expect bad-hash "is not a SHA-256 hash"
check unknown-hash 1 "$appid" --db "$db" lookup --sha256 \
    0000000000000000000000000000000000000000000000000000000000000000
expect unknown-hash "match        unknown"
check unreadable-file 3 "$appid" --db "$db" lookup --file "$work/nope"

hash=$(sha256sum /usr/bin/dpkg | cut -d' ' -f1)
check show 0 "$appid" --db "$db" show "$hash"
expect show "product      dpkg"
check show-missing 1 "$appid" --db "$db" show \
    1111111111111111111111111111111111111111111111111111111111111111

check stats 0 "$appid" --db "$db" --json stats
expect stats '"signatures":'
expect stats '"interpreter":'
cp "$work/out" "$work/stats-before"

printf '{"format":"appfw-appid-feed","version":' >"$work/bad.json"
check bad-feed 3 "$appid" --db "$db" import-feed "$work/bad.json"
expect bad-feed "truncated JSON (nothing was written)"
printf '{"format":"appfw-appid-feed","version":3,"source":"x","bogus":1}' \
    >"$work/bad2.json"
check wrong-schema 3 "$appid" --db "$db" import-feed "$work/bad2.json"
expect wrong-schema "feed.bogus: unknown field"
check stats-after 0 "$appid" --db "$db" --json stats
if cmp -s "$work/out" "$work/stats-before"; then
    passed=$((passed + 1))
else
    failed=$((failed + 1)); echo "FAIL: a refused feed changed the database"
fi

check export 0 "$appid" --db "$db" export --output "$work/feed.json"
check import-exported 0 "$appid" --db "$work/b.db" import-feed \
    "$work/feed.json"
check re-export 0 "$appid" --db "$work/b.db" export --output "$work/feed2.json"
if cmp -s "$work/feed.json" "$work/feed2.json"; then
    passed=$((passed + 1))
else
    failed=$((failed + 1)); echo "FAIL: export round trip differs"
fi
check old-feed 3 "$appid" --db "$work/b.db" import-feed "$work/feed.json"
expect old-feed "is not newer than the database"

printf 'this is not a database, it is a text file of some length\n' \
    >"$work/text.db"
check not-sqlite 4 "$appid" --db "$work/text.db" stats
expect not-sqlite "not an SQLite database"

# On a terminal the import draws a progress bar with rate and ETA.
if command -v script >/dev/null; then
    check progress-tty 0 script -qec \
        "$appid --db $work/c.db import-dpkg" /dev/null
    expect progress-tty "ETA"
else
    failed=$((failed + 1)); echo "FAIL: script(1) is missing (bsdutils)"
fi

echo "appid-cli: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
