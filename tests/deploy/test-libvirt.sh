#!/bin/sh
# End-to-end through libvirt: a QEMU (TCG) domain under libvirtd, on a
# private Open vSwitch bridge with appfw-switchd and appfw-secd, put
# under appfw by appfw-vmctl and registered by appfw-libvirt-hook; the
# guest (deploy/guest-image.sh, tests/deploy/guest-e2e.sh) runs the agent
# and connects to a namespace VM on the same bridge: the allowed
# connection passes Open vSwitch, the denied one is refused in the guest,
# and secd records both.  Destroying the domain unregisters it and its
# flows go.
#
# Process-wide changes: see deploy/lib-stack.sh (libvirt's configuration,
# a hook script, the OVS database link, libvirtd); all undone at the end.
# Needs root.  Ends with "libvirt: N passed, N failed".
set -u
build=${1:-build}
py="python3 $(cd "$(dirname "$0")/../switchd" && pwd)/netns-tcp.py"
. "$(dirname "$0")/../lib-check.sh"
. "$(dirname "$0")/../switchd/lib-ovs.sh"
. "$(dirname "$0")/../agent/lib-agent.sh"
run=$(mktemp -d /tmp/appfw-libvirt-test.XXXXXX) || exit 1
chmod 755 "$run"
tag=$$
. "$(dirname "$0")/../../deploy/lib-stack.sh"
ns=afwl$tag-srv
dom=appfw-test-$tag

cleanup() {
    stack_cleanup
    stop_pid "${srv_pid:-}"
    ip netns del "$ns" 2>/dev/null
    rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
die() {
    echo "test-libvirt: $*" >&2
    for f in "$run"/*.log "$run"/*.stderr; do
        [ -f "$f" ] && { echo "--- $f"; tail -20 "$f"; } >&2
    done
    failed=$((failed + 1))
    echo "libvirt: $passed passed, $failed failed"
    exit 1
}

stack_ovs || die "Open vSwitch"
stack_ns_vm "$ns" 10.66.0.2/24 52:54:00:66:00:02
ip netns exec "$ns" $py serve 8080 9090 &
srv_pid=$!
echo '{"rules":[{"id":"allow-web","action":"allow","match":{"remote_port":[8080]}}]}' \
    >"$run/policy.json"
stack_secd "$run/appid.db" "$run/policy.json" || die "appfw-secd"
stack_switchd || die "appfw-switchd"
stack_libvirtd || die "libvirtd"

kernel=$(deploy/guest-image.sh "$run/guest.cpio.gz" build/static/appfw-agent \
         tests/deploy/guest-e2e.sh | tail -1) || die "guest image"
stack_define "$dom" "$kernel" "$run/guest.cpio.gz" \
    "appfw.run=guest-e2e appfw.ip=10.66.0.1/24 appfw.gw=none" \
    52:54:00:66:00:01 >"$run/vmctl.out" 2>&1
check "appfw-vmctl puts the domain under appfw ($(head -1 "$run/vmctl.out"))" \
    grep -q "added channel" "$run/vmctl.out"
uuid=$(stack_virsh domuuid "$dom")
stack_virsh start "$dom" >"$run/start.out" 2>&1 ||
    die "start: $(cat "$run/start.out")"

for _ in $(seq 100); do
    stack_appctl appfw/vms 2>/dev/null | grep -q "$uuid" && break
    sleep 0.1
done
check "the hook registered the domain with appfw-switchd" \
    sh -c "ovs-appctl -t '$run/appfw-switchd.ctl' appfw/vms | grep -q '$uuid'"
check "libvirt put its port on the bridge with the VM's identity" \
    sh -c "ovs-vsctl --db=unix:$ovs/db.sock --bare --columns=external_ids \
           find interface external_ids:vm-id=$uuid | grep -q attached-mac"
stack_wait_console "$dom" APPFW-CHECKS-DONE || die "the guest did not finish"
tr -d '\r' <"$run/$dom.console" |
    sed -n 's/^APPFW-CHECK \(PASS\|FAIL\) \(.*\)/\1 \2/p' >"$run/checks"
while read -r result name; do
    check "guest: $name" test "$result" = PASS
done <"$run/checks"
stack_ctl decisions list --limit 20 >"$run/decisions.out" 2>&1
stack_ctl decisions list --vm "$dom" --limit 20 >"$run/by-name.out" 2>&1
check "appfw-secd allowed busybox's connect by rule allow-web, for the domain by name" \
    grep -q "allow .*/bin/busybox .*10.66.0.2:8080 .*allow-web" "$run/by-name.out"
check "and denied the other" \
    grep -q "deny .*/bin/busybox .*10.66.0.2:9090" "$run/decisions.out"

desired() {
    stack_appctl appfw/connection-status |
        sed -n 's/.* desired=\([0-9]*\).*/\1/p'
}
before=$(desired)
stack_virsh destroy "$dom" >/dev/null 2>&1
for _ in $(seq 50); do
    stack_appctl appfw/vms | grep -q "$uuid" || break
    sleep 0.1
done
check "destroying the domain unregisters it" \
    sh -c "! ovs-appctl -t '$run/appfw-switchd.ctl' appfw/vms | grep -q '$uuid'"
check "and its flows go ($before desired flows before, $(desired) after)" \
    test "$(desired)" -lt "$before"

echo "libvirt: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
