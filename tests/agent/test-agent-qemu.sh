#!/bin/sh
# appfw-agent inside a real guest: QEMU (TCG) boots the Debian kernel with
# appfw's test initramfs (deploy/guest-image.sh), the static agent finds
# its virtio-serial port by name and talks to host-sim on the host, and
# tests/agent/guest-checks.sh runs the checks inside the guest.  QEMU's
# user network runs in a network namespace of the test's own, so the
# guest's 10.0.2.2 is that namespace's loopback, where the servers are.
# Needs root.  Ends with "agent-qemu: N passed, N failed".
set -u
build=${1:-build}
static=${APPFW_STATIC_AGENT:-build/static/appfw-agent}
hostsim="$build/tests/agent/host-sim"
py="python3 $(cd "$(dirname "$0")/../switchd" && pwd)/netns-tcp.py"
. "$(dirname "$0")/lib-agent.sh"
run=$(mktemp -d /tmp/appfw-agent-qemu.XXXXXX) || exit 1
ns=afwq$$

. "$(dirname "$0")/../lib-check.sh"
cleanup() {
    stop_pid "${qemu_pid:-}"
    stop_pid "${host_pid:-}"
    stop_pid "${srv_pid:-}"
    ip netns del "$ns" 2>/dev/null
    rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
suite=agent-qemu
die_logs="$run/console.log $run/*.stderr"

kernel=$(deploy/guest-image.sh "$run/guest.cpio.gz" "$static" \
         tests/agent/guest-checks.sh \
         "/usr/bin/protoconnect=$build/tests/agent/protoconnect" |
         tail -1) || die "guest image"

ip netns add "$ns" && ip -n "$ns" link set lo up || die "netns"
ip netns exec "$ns" $py serve 8080 8081 9090 &
srv_pid=$!
"$hostsim" "$run/host.sock" "$run/host.log" --deny-port 9090 --ttl 300 \
    2>"$run/host.stderr" &
host_pid=$!
for _ in $(seq 50); do
    [ -S "$run/host.sock" ] && break
    sleep 0.05
done

boot_guest "$ns" "$kernel" "$run/guest.cpio.gz" "$run/host.sock" \
    guest-checks "$run/console.log" 1
for _ in $(seq 1800); do
    grep -q "APPFW-CHECKS-DONE" "$run/console.log" 2>/dev/null && break
    kill -0 "$qemu_pid" 2>/dev/null || break
    sleep 0.1
done
grep -q "APPFW-CHECKS-DONE" "$run/console.log" ||
    die "the guest did not finish its checks"

# The guest's own verdicts on itself.
tr -d '\r' <"$run/console.log" | sed -n 's/.*APPFW-CHECK \(PASS\|FAIL\) \(.*\)/\1 \2/p' \
    >"$run/checks"
while read -r result name; do
    check "guest: $name" test "$result" = PASS
done <"$run/checks"
check "the guest ran its checks" test -s "$run/checks"

# What reached the host.
bbsha=$(sha256sum /bin/busybox | cut -d' ' -f1)
decide=$(grep '"type":"decide"' "$run/host.log" | grep '"port":8080' | head -1)
check "decide from the guest names busybox and its hash" \
    sh -c "echo '$decide' | grep -q '\"path\":\"/bin/busybox\"' &&
           echo '$decide' | grep -q '$bbsha'"
check "with the guest's user and domain" \
    sh -c "echo '$decide' | grep -q '\"name\":\"root\"' &&
           echo '$decide' | grep -q '\"domain\":\"guest.example\"'"
check "the agent said hello as an agent" \
    grep -q '"type":"hello".*"role":"agent"' "$run/host.log"
check "the guest reported the closed UDP flow of its DNS query" \
    grep -q '"type":"flow_close".*"protocol":"udp".*"port":53' \
    "$run/host.log"

echo "agent-qemu: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
