#!/bin/sh
# End-to-end through libvirt: two QEMU (TCG) domains under libvirtd, on a
# private Open vSwitch bridge with appfw-switchd and appfw-secd, put under
# appfw by appfw-vmctl and registered by appfw-libvirt-hook, with a
# namespace VM as the server (10.66.0.2).
#
#   A (tests/deploy/guest-e2e.sh) runs the agent: the allowed connection
#     passes Open vSwitch, the denied one is refused in the guest; its
#     decisions are timed alone and while B floods its channel.
#   B (tests/deploy/guest-hostile.sh) is compromised: agent killed, hooks
#     removed; it floods its channel with garbage, claims to be A, then
#     tries unapproved connections while appfw-secd and appfw-switchd
#     restart, as A's approved connection runs.
#
# The host paces the guests by opening "gates" (ports the server starts
# listening on) and reads their checks from the consoles.  Destroying a
# domain unregisters it and its flows go.
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
dom_a=appfw-test-$tag-a
dom_b=appfw-test-$tag-b
gate_pids=""

cleanup() {
    stack_cleanup
    for p in ${srv_pid:-} $gate_pids; do stop_pid "$p"; done
    ip netns del "$ns" 2>/dev/null
    rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
suite=libvirt
die_logs="$run/*.log $run/*.stderr $run/*.console"
# Opens gate $1: the server starts listening on that port.
open_gate() {
    ip netns exec "$ns" $py serve "$1" &
    gate_pids="$gate_pids $!"
}
# The console of domain $1, without carriage returns.
console() { tr -d '\r' <"$run/$1.console"; }
# Waits for console line $2 of domain $1, or dies.
wait_console() {
    stack_wait_console "$1" "$2" || die "$1 did not reach \"$2\""
}
# The checks a guest printed, as checks here.
guest_checks() {
    console "$1" | sed -n 's/.*APPFW-CHECK \(PASS\|FAIL\) \(.*\)/\1 \2/p' \
        >"$run/$1.checks"
    while read -r result name; do
        check "guest $2: $name" test "$result" = PASS
    done <"$run/$1.checks"
}
e2e() { console "$1" | sed -n "s/.*APPFW-E2E $2 //p" | head -1; }
p99() { echo "$1" | sed -n 's/.*p99_us=\([0-9]*\).*/\1/p'; }
p50() { echo "$1" | sed -n 's/.*p50_us=\([0-9]*\).*/\1/p'; }

stack_ovs || die "Open vSwitch"
stack_ns_vm "$ns" 10.66.0.2/24 52:54:00:66:00:02
ip netns exec "$ns" $py serve 8080 8081 9090 &
srv_pid=$!
cat >"$run/policy.json" <<'EOF'
{"rules": [
  {"id": "allow-web", "action": "allow", "match": {"remote_port": [8080]}},
  {"id": "allow-fresh", "action": "allow", "ttl": 0,
   "match": {"remote_port": [8081, 7070, 7071, 7072, 7073]}}
]}
EOF
stack_secd "$run/appid.db" "$run/policy.json" || die "appfw-secd"
stack_switchd || die "appfw-switchd"
stack_libvirtd || die "libvirtd"

kernel=$(deploy/guest-image.sh "$run/guest.cpio.gz" build/static/appfw-agent \
         tests/deploy/guest-e2e.sh tests/deploy/guest-hostile.sh \
         /usr/bin/connbench=build/static/connbench \
         /usr/bin/hostile=build/static/hostile | tail -1) ||
    die "guest image"
stack_define "$dom_a" "$kernel" "$run/guest.cpio.gz" \
    "appfw.run=guest-e2e appfw.ip=10.66.0.1/24 appfw.gw=none" \
    52:54:00:66:00:01 >"$run/vmctl.out" 2>&1
check "appfw-vmctl puts the domain under appfw ($(head -1 "$run/vmctl.out"))" \
    grep -q "added channel" "$run/vmctl.out"
uuid_a=$(stack_virsh domuuid "$dom_a")
stack_define "$dom_b" "$kernel" "$run/guest.cpio.gz" \
    "appfw.run=guest-hostile appfw.ip=10.66.0.3/24 appfw.gw=none appfw.victim=$uuid_a appfw.victim-name=$dom_a" \
    52:54:00:66:00:03 >>"$run/vmctl.out" 2>&1 || die "define $dom_b"
uuid_b=$(stack_virsh domuuid "$dom_b")

stack_virsh start "$dom_a" >"$run/start.out" 2>&1 ||
    die "start: $(cat "$run/start.out")"
for _ in $(seq 100); do
    stack_appctl appfw/vms 2>/dev/null | grep -q "$uuid_a" && break
    sleep 0.1
done
check "the hook registered the domain with appfw-switchd" \
    sh -c "ovs-appctl -t '$run/appfw-switchd.ctl' appfw/vms | grep -q '$uuid_a'"
check "libvirt put its port on the bridge with the VM's identity" \
    sh -c "ovs-vsctl --db=unix:$ovs/db.sock --bare --columns=external_ids \
           find interface external_ids:vm-id=$uuid_a | grep -q attached-mac"

# A decides alone first; then B starts and floods, and A decides again.
wait_console "$dom_a" "APPFW-E2E decisions-alone"
stack_virsh start "$dom_b" >"$run/start.out" 2>&1 ||
    die "start $dom_b: $(cat "$run/start.out")"
wait_console "$dom_b" "APPFW-E2E FLOOD-START"
open_gate 7071
wait_console "$dom_a" "APPFW-E2E decisions-flood"
alone=$(e2e "$dom_a" decisions-alone)
flood=$(e2e "$dom_a" decisions-flood)
echo "A's decisions through the whole path, p50/p99 us: alone $(p50 "$alone")/$(p99 "$alone"), while B floods $(p50 "$flood")/$(p99 "$flood")"

# B is done flooding and spoofing: restarts under traffic.
wait_console "$dom_b" "APPFW-E2E LOOP-START"
check "switchd closed B's channel at its garbage and counted it" \
    sh -c "ovs-appctl -t '$run/appfw-switchd.ctl' appfw/vms | grep '^$uuid_b' | grep -q 'framing_errors=[1-9]'"
open_gate 7072
wait_console "$dom_a" "APPFW-E2E LOOP-START"
sleep 3
stack_restart_secd || die "appfw-secd did not restart"
sleep 3
stack_restart_switchd || die "appfw-switchd did not restart"
check "switchd converges after its restart under traffic" stack_converged
check "and knows both VMs' channels again" \
    sh -c "test \$(ovs-appctl -t '$run/appfw-switchd.ctl' appfw/vms | grep -c 'channel=/') = 2"

wait_console "$dom_b" APPFW-CHECKS-DONE
wait_console "$dom_a" APPFW-CHECKS-DONE
guest_checks "$dom_a" A
guest_checks "$dom_b" B

dl() { stack_ctl decisions list --limit 1000 "$@" 2>&1; }
check "appfw-secd allowed busybox's connect by rule allow-web, for the domain by name" \
    has "$(dl --vm "$dom_a" --app busybox --verdict allow)" \
    "allow .*/bin/busybox .*10.66.0.2:8080 .*allow-web"
check "and denied the other" \
    has "$(dl --vm "$dom_a" --app busybox --verdict deny)" \
    "deny .*/bin/busybox .*10.66.0.2:9090"
check "B's claim to be A was recorded as B's" \
    has "$(dl --vm "$dom_b" --app /spoof/)" "deny .*/spoof/claims-to"
check "and nothing as A's" \
    sh -c "! echo '$(dl --vm "$dom_a" --app /spoof/)' | grep -q /spoof/"

desired() {
    stack_appctl appfw/connection-status |
        sed -n 's/.* desired=\([0-9]*\).*/\1/p'
}
before=$(desired)
stack_virsh destroy "$dom_a" >/dev/null 2>&1
for _ in $(seq 50); do
    stack_appctl appfw/vms | grep -q "$uuid_a" || break
    sleep 0.1
done
check "destroying a domain unregisters it" \
    sh -c "! ovs-appctl -t '$run/appfw-switchd.ctl' appfw/vms | grep -q '$uuid_a'"
check "and its flows go ($before desired flows before, $(desired) after)" \
    test "$(desired)" -lt "$before"

echo "libvirt: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
