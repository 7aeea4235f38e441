#!/bin/sh
# The demo's story as a test: runs deploy/demo-story.sh (the whole stack
# on this machine, two guests under libvirt) and checks each step of its
# narration, and that it left nothing behind.  Process-wide changes: see
# deploy/lib-stack.sh (all undone).  Ends with "demo: N passed, N failed".
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib-check.sh
out=$(mktemp /tmp/appfw-demo-test.XXXXXX) || exit 1
trap 'rm -f "$out"' EXIT

start=$(date +%s)
BUILD=${1:-build} timeout 300 sh deploy/demo-story.sh >"$out" 2>&1
rc=$?
secs=$(( $(date +%s) - start ))
sed 's/^/    /' "$out"
check "the demo runs to its end (exit $rc, ${secs} s)" test "$rc" = 0
check "and takes less than 3 minutes" test "$secs" -lt 180
step() { sed -n "/^$1/,/^[0-9A-Z]/p" "$out"; }
check "1. the allowed download tool gets the file" \
    has "$(step 1)" '-> hello from the file server'
check "2. nc is refused inside the guest" \
    has "$(step 2)" '-> nc: .*Connection refused'
check "3. the p2p client is refused" has "$(step 3)" '-> fail ECONNREFUSED'
check "4. the console shows the decisions with their rules" sh -c "
    grep -q 'allow .*/usr/bin/fetch .*allow-download' '$out' &&
    grep -q 'deny .*/usr/bin/nc .*deny-netcat' '$out' &&
    grep -q 'deny .*uTorrent .*block-p2p' '$out'"
ms=$(sed -n 's/.*(allowed \([0-9]*\) ms after the change.*/\1/p' "$out")
check "5. the policy change applies within a second (${ms:-?} ms)" \
    test "${ms:-99999}" -lt 1000
check "6. with bob's agent gone, OVS resets its unapproved connect" \
    has "$(step 6)" '-> nc: .*Connection refused'
check "per-application statistics are shown, with the datapath's bytes" \
    grep -q '/usr/bin/fetch  *2  *0  *[0-9]*  *[1-9][0-9]* ' "$out"
check "nothing is left behind (namespaces, processes, libvirtd, hook, OVS link)" sh -c "
    [ -z \"\$(ip netns list | grep afw)\" ] && ! pgrep -x libvirtd >/dev/null &&
    ! pgrep -f 'netns-tcp.py serve 900[0] 6881' >/dev/null &&
    ! pgrep -f 'http.serve[r] 8080' >/dev/null &&
    ! pgrep -f 'appfw-dem[o].*decisions tail' >/dev/null &&
    ! ls /etc/libvirt/hooks/qemu.d/appfw-* >/dev/null 2>&1 &&
    [ ! -e /var/run/openvswitch/db.sock ]"

echo "demo: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
