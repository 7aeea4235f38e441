#!/bin/sh
# Benchmark: appfw-switchd programming a private Open vSwitch (userspace
# datapath), each measurement against a baseline in the same run:
#   - bulk: 100,000 flows from a stand-in appfw-secd in flow_install
#     batches of 256 (4 in flight) until the last ack, against
#     `ovs-ofctl --bundle add-flows` loading the same flows from a file
#     into another bridge, with each side's CPU time per flow;
#   - latency: one flow request at a time, request to ack (after the
#     barrier), against one flow-mod plus barrier over a plain OpenFlow
#     connection (ovs-plugin/tests/ofmod-bench);
#   - re-convergence: ovs-vswitchd restarted under 100,000 appfw flows,
#     until every flow is back (goal: under 5 s).
# Goals (issue #5): bulk >= 1x ovs-ofctl; latency p99 <= 2x the baseline.
set -u
build=${BUILD:-build}
switchd="$build/ovs-plugin/appfw-switchd"
load="$build/tests/secd/secd-load"
ofmod="$build/ovs-plugin/tests/ofmod-bench"
N=${SWITCHD_BENCH_FLOWS:-100000}
. "$(dirname "$0")/../switchd/lib-ovs.sh"
run=$(mktemp -d /tmp/appfw-bench-switchd.XXXXXX) || exit 1
br0=afwb0-$$
br1=afwb1-$$
vm=22222222-0000-4000-8000-00000000b001
cleanup() {
    stop_pidfile "$run/appfw-switchd.pid"
    ovs_stop
    ip link del "afwc$$" 2>/dev/null
    rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
die() {
    echo "bench-switchd: $*" >&2
    exit 1
}
appctl() { ovs-appctl -t "$run/appfw-switchd.ctl" "$@"; }
status() { appctl appfw/connection-status | head -1; }
field() { status | sed -n "s/.* $1=\([0-9]*\).*/\1/p"; }
converged() { appfw_converged "$run/appfw-switchd.ctl"; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
# CPU time (user + system, ms) a process has used so far.
cpu_ms() {
    awk -v hz="$(getconf CLK_TCK)" '{ printf "%d", ($14 + $15) * 1000 / hz }' \
        "/proc/$1/stat"
}

ovs_init "$run/ovs" "afwb$$-hv"
ovs_start_vswitchd
vsctl add-br "$br0" -- set bridge "$br0" datapath_type=netdev \
    -- add-br "$br1" -- set bridge "$br1" datapath_type=netdev || die "add-br"
ip link add "afwb$$" type veth peer name "afwc$$" || die "veth"
ovs_link_up "afwb$$"
vsctl add-port "$br0" "afwb$$" -- set interface "afwb$$" \
    external_ids:vm-id=$vm external_ids:attached-mac=52:54:00:99:00:01 ||
    die "add-port"
"$switchd" --rundir "$run" --ovs-rundir "$ovs" --bridge "$br0" \
    --log-file "$run/switchd.log" --log-level warn --vm-max-flows 1000000 \
    2>"$run/switchd.stderr" &
for _ in $(seq 100); do
    appctl appfw/vms 2>/dev/null | grep -q "ofport=[1-9]" && converged &&
        break
    sleep 0.1
done
converged || die "switchd did not start"
url="ipc://$run/switchd-flow.sock"

echo "== switchd: verdict to flow installed (one at a time)"
: >"$run/ratios"
for round in 1 2 3 4 5; do
    sw=$("$load" flow-install "$url" $vm 1000 1 | head -1)
    base=$("$ofmod" "unix:$ovs/$br1.mgmt" 0 1000)
    s50=$(echo "$sw" | sed 's/.*p50_us=\([0-9]*\).*/\1/')
    s99=$(echo "$sw" | sed 's/.*p99_us=\([0-9]*\).*/\1/')
    b50=$(echo "$base" | sed 's/.*p50_us=\([0-9]*\).*/\1/')
    b99=$(echo "$base" | sed 's/.*p99_us=\([0-9]*\).*/\1/')
    echo "round $round: switchd request->ack p50 ${s50}us p99 ${s99}us;" \
         "flow-mod+barrier p50 ${b50}us p99 ${b99}us"
    echo "$sw" | grep -q 'failed=0' || die "flow requests failed: $sw"
    awk -v a="$s50" -v b="$b50" -v c="$s99" -v d="$b99" \
        'BEGIN { printf "%.2f %.2f\n", a / b, c / d }' >>"$run/ratios"
done
sort -n -k1 "$run/ratios" | awk 'NR == 3 { printf "RATIO request->ack vs flow-mod+barrier (median)  p50 %.2fx", $1 }'
sort -n -k2 "$run/ratios" | awk 'NR == 3 { printf "  p99 %.2fx  goal: p99 <= 2x\n", $2 }'

echo
echo "== switchd: bulk installation of $N flows"
before=$(field desired)
sw_pid=$(cat "$run/appfw-switchd.pid")
vs_pid=$(cat "$ovs/vswitchd.pid")
sw_cpu0=$(cpu_ms "$sw_pid")
vs_cpu0=$(cpu_ms "$vs_pid")
bulk=$("$load" flow-install "$url" $vm $((N / 256)) 4 256 | head -1)
sw_cpu=$(( $(cpu_ms "$sw_pid") - sw_cpu0 ))
vs_cpu=$(( $(cpu_ms "$vs_pid") - vs_cpu0 ))
# From the first request to the last ack (every ack follows its barrier).
sw_ms=$(echo "$bulk" | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^rate=/) { split($i, r, "="); printf "%d", '"$((N / 256))"' / r[2] * 1000 } }')
echo "$bulk" | grep -q 'failed=0' || die "bulk flow requests failed: $bulk"
added=$(( $(field desired) - before ))
# The baseline loads the very flows switchd installed.
appctl appfw/flows | grep 'table=30, priority=200' >"$run/flows.txt"
nf=$(wc -l <"$run/flows.txt")
vs_cpu0=$(cpu_ms "$vs_pid")
t0=$(now_ms)
ovs-ofctl -O OpenFlow15 --bundle add-flows "$br1" "$run/flows.txt" &
of_pid=$!
# ovs-ofctl's own CPU time, read just before it exits.
of_cpu=0
while kill -0 "$of_pid" 2>/dev/null; do
    c=$(cpu_ms "$of_pid" 2>/dev/null) && of_cpu=$c
    sleep 0.01
done
wait "$of_pid" || die "ovs-ofctl add-flows"
of_ms=$(( $(now_ms) - t0 ))
vs_of_cpu=$(( $(cpu_ms "$vs_pid") - vs_cpu0 ))
echo "switchd: $added new flows from $((N / 256)) requests of 256 in ${sw_ms} ms ($bulk)"
echo "ovs-ofctl --bundle add-flows: $nf flows in ${of_ms} ms"
awk -v a="$added" -v sw="$sw_cpu" -v vs="$vs_cpu" -v n="$nf" -v of="$of_cpu" \
    -v vo="$vs_of_cpu" 'BEGIN {
    printf "CPU per flow: appfw-switchd %.1f us + ovs-vswitchd %.1f us;", sw * 1000 / a, vs * 1000 / a
    printf " ovs-ofctl %.1f us (at least: sampled) + ovs-vswitchd %.1f us\n", of * 1000 / n, vo * 1000 / n }'
awk -v a="$added" -v b="$sw_ms" -v c="$nf" -v d="$of_ms" 'BEGIN {
    printf "RATIO bulk rate switchd vs ovs-ofctl --bundle  %.2fx  (%.0f vs %.0f flows/s)  goal: >= 1x\n",
        (a / b) / (c / d), a / b * 1000, c / d * 1000 }'

echo
echo "== switchd: re-convergence after an ovs-vswitchd restart"
want=$(field desired)
stop_pidfile "$ovs/vswitchd.pid"
t0=$(now_ms)
ovs_start_vswitchd
ok=0
for _ in $(seq 600); do
    if converged && [ "$(appfw_switch_flows "$br0" 2>/dev/null)" = "$want" ]; then
        ok=1
        break
    fi
    sleep 0.05
done
ms=$(( $(now_ms) - t0 ))
[ $ok = 1 ] || die "did not re-converge within 30 s"
echo "RATIO re-convergence with $want appfw flows: ${ms} ms (vswitchd start included)  goal: < 5000 ms"
