#!/bin/sh
# Benchmark: traffic through appfw's OVS pipeline against a plain NORMAL
# bridge, in the same ovs-vswitchd (userspace datapath), rounds alternating:
#   - established-flow throughput (iperf3, one TCP stream, 3 s);
#   - new TCP connections per second (request/response, connection each).
# Two namespace VM pairs: one on a bridge appfw-switchd programs (its
# connections approved by a real appfw-secd at service granularity), one on
# a bridge whose only flow is NORMAL.
# Goals (issue #5): throughput >= 0.9x NORMAL; connections/s >= 0.5x.
set -u
build=${BUILD:-build}
switchd="$build/ovs-plugin/appfw-switchd"
secd="$build/security-vm/appfw-secd"
ctl="$build/security-vm/appfwctl"
guest="$build/tests/switchd/guest-sim"
here=$(cd "$(dirname "$0")" && pwd)
py="python3 $here/../switchd/netns-tcp.py"
. "$here/../switchd/lib-ovs.sh"
run=$(mktemp -d /tmp/appfw-bench-pipeline.XXXXXX) || exit 1
t=$$
bra=afwpa$t
brn=afwpn$t
cleanup() {
    stop_pidfile "$run/appfw-switchd.pid"
    stop_pidfile "$run/appfw-secd.pid"
    for p in $pids; do kill "$p" 2>/dev/null; done
    ovs_stop
    for i in 1 2 3 4; do
        ip netns del "afwp$t-$i" 2>/dev/null
    done
    rm -rf "$run"
}
pids=""
trap cleanup EXIT
trap 'exit 1' INT TERM
die() {
    echo "bench-pipeline: $*" >&2
    exit 1
}
appctl() { ovs-appctl -t "$run/appfw-switchd.ctl" "$@"; }

ovs_init "$run/ovs" "afwp$t-hv"
ovs_start_vswitchd
vsctl add-br "$bra" -- set bridge "$bra" datapath_type=netdev \
    -- add-br "$brn" -- set bridge "$brn" datapath_type=netdev || die "add-br"
ofctl add-flow "$brn" "priority=0,actions=NORMAL" || die "add-flow"
# VMs 1 and 2 on the appfw bridge (10.79.0.0/24), 3 and 4 on the NORMAL
# one (10.79.1.0/24).
for i in 1 2 3 4; do
    ns=afwp$t-$i
    net=$(( (i - 1) / 2 ))
    host=$(( (i - 1) % 2 + 1 ))
    br=$bra
    [ $net = 1 ] && br=$brn
    ns_vm "$ns" "afwp$t-v$i" "afwp$t-e$i" "52:54:00:79:0$net:0$host" \
        "10.79.$net.$host/24" "$br" "33333333-0000-4000-8000-00000000c00$i"
done
for i in 2 4; do
    ip netns exec "afwp$t-$i" iperf3 -s -D -p 5201 \
        --pidfile "$run/iperf-$i.pid" >/dev/null 2>&1 || die "iperf3 -s"
    UDP_LOG=/dev/null ip netns exec "afwp$t-$i" $py serve 8080 &
    pids="$pids $!"
done
sleep 0.3
for i in 2 4; do pids="$pids $(cat "$run/iperf-$i.pid")"; done

"$secd" --rundir "$run" --db "$run/secd.db" --appid-db "$run/appid.db" \
    --log-file "$run/secd.log" &
for _ in $(seq 50); do
    "$ctl" --rundir "$run" health >/dev/null 2>&1 && break
    sleep 0.1
done
echo '{"rules":[{"id":"allow-bench","action":"allow","granularity":"service","match":{"remote_port":[5201,8080]}}]}' \
    >"$run/policy.json"
"$ctl" --rundir "$run" policy apply "$run/policy.json" >/dev/null ||
    die "policy apply"
"$switchd" --rundir "$run" --ovs-rundir "$run/ovs" --bridge "$bra" \
    --log-file "$run/switchd.log" --log-level warn \
    --decide-url "ipc://$run/secd-decide.sock" 2>"$run/switchd.stderr" &
for _ in $(seq 50); do
    appctl appfw/connection-status >/dev/null 2>&1 && break
    sleep 0.1
done
# Approve VM 1's connections to VM 2's two services, as its agent would.
n=0
for port in 5201 8080; do
    n=$((n + 1))
    "$guest" "$run/chan-$n" decide $n tcp 10.79.0.1 40000 10.79.0.2 $port \
        >"$run/guest.out" 2>&1 &
    gp=$!
    sleep 0.2
    appctl appfw/vm-register 33333333-0000-4000-8000-00000000c001 \
        "$run/chan-$n" >/dev/null
    wait $gp
    grep -q '"verdict":"allow"' "$run/guest.out" ||
        die "not approved: $(cat "$run/guest.out")"
done

gbps() {
    ip netns exec "$1" iperf3 -c "$2" -p 5201 -t 3 -J 2>/dev/null |
        python3 -c 'import json,sys; d=json.load(sys.stdin); print("%.3f" % (d["end"]["sum_received"]["bits_per_second"] / 1e9))'
}
echo "== pipeline: established TCP throughput and new connections/s"
: >"$run/ratios"
for round in 1 2 3; do
    a=$(gbps "afwp$t-1" 10.79.0.2)
    b=$(gbps "afwp$t-3" 10.79.1.2)
    ca=$(ip netns exec "afwp$t-1" $py rate 10.79.0.2 8080 3)
    cb=$(ip netns exec "afwp$t-3" $py rate 10.79.1.2 8080 3)
    echo "round $round: appfw ${a} Gbit/s, $ca; NORMAL ${b} Gbit/s, $cb"
    ra=$(echo "$ca" | sed 's/conns_per_s=\([0-9]*\).*/\1/')
    rb=$(echo "$cb" | sed 's/conns_per_s=\([0-9]*\).*/\1/')
    [ -n "$a" ] && [ -n "$b" ] || die "iperf3 failed"
    awk -v a="$a" -v b="$b" -v c="$ra" -v d="$rb" \
        'BEGIN { printf "%.2f %.2f\n", a / b, c / d }' >>"$run/ratios"
done
sort -n -k1 "$run/ratios" | awk 'NR == 2 { printf "RATIO throughput appfw vs NORMAL (median)  %.2fx  goal: >= 0.9x\n", $1 }'
sort -n -k2 "$run/ratios" | awk 'NR == 2 { printf "RATIO new connections/s appfw vs NORMAL (median)  %.2fx  goal: >= 0.5x\n", $2 }'
