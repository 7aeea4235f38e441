#!/bin/sh
# Benchmark: a policy change revokes at once, across hypervisors.
#
# One appfw-secd and three hypervisors, each a network namespace with its
# own ovsdb-server, ovs-vswitchd (userspace datapath) and appfw-switchd,
# and two namespace VMs on its bridge: a client and a server.  Each
# hypervisor holds REVOKE_BENCH_FLOWS / 3 approved flows (exact, decided
# by secd through switchd for guest-sim's decides), plus one service flow
# for the client's connections to the server's port 9090.  Each round:
# every client connects to 9090 every 5 ms (all pass), a policy without
# 9090 is applied, and on each hypervisor the time from `appfwctl policy
# apply` returning to the first refused new connection is measured; then
# the first policy is applied again and 9090 approved again.  Every apply
# rechecks every approved flow of every hypervisor.
# Baseline, same run: a policy apply alone (appfwctl's round trip, which
# the measurement starts after), and a connection refused outright (no
# flow ever approved): the time the client needs to see a refusal.
# Goal (issue 20): p99 at most 1 s with 3 hypervisors and 10,000 flows.
set -u
build=${BUILD:-build}
switchd="$build/ovs-plugin/appfw-switchd"
secd="$build/security-vm/appfw-secd"
ctl="$build/security-vm/appfwctl"
guest="$build/tests/switchd/guest-sim"
py="python3 $(cd "$(dirname "$0")/../switchd" && pwd)/netns-tcp.py"
FLOWS=${REVOKE_BENCH_FLOWS:-10000}
ROUNDS=${REVOKE_BENCH_ROUNDS:-20}
HVS="1 2 3"
. "$(dirname "$0")/../switchd/lib-ovs.sh"
run=$(mktemp -d /tmp/appfw-bench-revoke.XXXXXX) || exit 1
tag=$$
cleanup() {
    trap '' INT TERM            # A second signal must not cut it short.
    for i in $HVS; do
        stop_pidfile "$run/hv$i/appfw-switchd.pid"
    done
    stop_pidfile "$run/appfw-secd.pid"
    for pid in ${srv_pids:-}; do
        kill "$pid" 2>/dev/null
    done
    for i in $HVS; do
        [ -d "$run/hv$i/ovs" ] || continue
        ovs_use "$run/hv$i/ovs" "afwr$tag-h$i"
        ovs_stop
        ip netns del "afwr$tag-c$i" 2>/dev/null
        ip netns del "afwr$tag-s$i" 2>/dev/null
    done
    rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
die() {
    echo "bench-revoke: $*" >&2
    for f in "$run"/*.log "$run"/hv*/*.log; do
        [ -f "$f" ] && tail -n 5 "$f" >&2
    done
    exit 1
}
now_ns() { date +%s%N; }
client_vm() { echo "44444444-0000-4000-8000-00000000c00$1"; }
server_vm() { echo "44444444-0000-4000-8000-00000000d00$1"; }
appctl() {  # HV COMMAND [ARG...]
    hv=$1
    shift
    ovs-appctl -t "$run/hv$hv/appfw-switchd.ctl" "$@"
}
field() {  # HV NAME: a number from appfw/connection-status
    appctl "$1" appfw/connection-status |
        sed -n "s/.* $2=\([0-9]*\).*/\1/p" | head -1
}
guest_on() {  # HV GUEST-SIM-ARGS...: guest-sim as hypervisor HV's client
    g=$1
    shift
    guest_sim "$run/hv$g/appfw-switchd.ctl" "$(client_vm "$g")" "$run" "$@"
}

# --- secd and the policies.
"$secd" --rundir "$run" --db "$run/secd.db" --log-file "$run/secd.log" \
    --log-level warn --vm-rate 100000 --vm-burst 100000 &
for _ in $(seq 50); do
    "$ctl" --rundir "$run" health >/dev/null 2>&1 && break
    sleep 0.1
done
"$ctl" --rundir "$run" health >/dev/null 2>&1 || die "appfw-secd did not start"
cat >"$run/with.json" <<'EOF'
{"default_granularity": "exact",
 "rules": [{"id": "fill", "action": "allow", "match": {"remote_port": [8080]}},
           {"id": "svc", "action": "allow", "granularity": "service",
            "match": {"remote_port": [9090]}}]}
EOF
cat >"$run/without.json" <<'EOF'
{"default_granularity": "exact",
 "rules": [{"id": "fill", "action": "allow", "match": {"remote_port": [8080]}}]}
EOF
"$ctl" --rundir "$run" policy apply "$run/with.json" >/dev/null ||
    die "policy apply"

# --- Three hypervisors.
for i in $HVS; do
    mkdir -p "$run/hv$i"
    ovs_init "$run/hv$i/ovs" "afwr$tag-h$i"
    ovs_start_vswitchd
    vsctl add-br afwrbr$i -- set bridge afwrbr$i datapath_type=netdev ||
        die "add-br"
    ns_vm "afwr$tag-c$i" "afwr${tag}c$i" "afwr${tag}C$i" 52:54:00:90:0$i:01 \
        10.90.$i.1/24 afwrbr$i "$(client_vm $i)"
    ns_vm "afwr$tag-s$i" "afwr${tag}s$i" "afwr${tag}S$i" 52:54:00:90:0$i:02 \
        10.90.$i.2/24 afwrbr$i "$(server_vm $i)"
    ip netns exec "afwr$tag-s$i" $py serve 8080 9090 >/dev/null 2>&1 &
    srv_pids="${srv_pids:-} $!"    # (deleting a namespace kills nothing)
    "$switchd" --rundir "$run/hv$i" --ovs-rundir "$ovs" --bridge afwrbr$i \
        --hypervisor-name "hv$i" --log-file "$run/hv$i/switchd.log" \
        --log-level warn --vm-max-flows 100000 --vm-rate 100000 \
        --vm-burst 100000 --decide-url "ipc://$run/secd-decide.sock" \
        2>>"$run/hv$i/switchd.stderr" &
done
for i in $HVS; do
    ok=0
    for _ in $(seq 100); do
        if appfw_converged "$run/hv$i/appfw-switchd.ctl" 2>/dev/null &&
           appctl $i appfw/vms | grep -q "ofport=[1-9]"; then
            ok=1
            break
        fi
        sleep 0.1
    done
    [ $ok = 1 ] || die "appfw-switchd of hv$i did not start"
done

# --- The approved flows: FLOWS / 3 exact ones on each hypervisor.
per=$((FLOWS / 3))
t0=$(now_ns)
pids=
for i in $HVS; do
    guest_on $i bench "$per" >"$run/fill$i.out" &
    pids="$pids $!"
done
wait $pids
for i in $HVS; do
    grep -q 'errors=0' "$run/fill$i.out" || die "fill hv$i: $(cat "$run/fill$i.out")"
done
# guest-sim's decides use 20,000 source ports: at most that many flows.
total=0
for i in $HVS; do
    total=$((total + $(appctl $i appfw/vms | sed -n 's/.*allows=\([0-9]*\).*/\1/p' | head -1)))
done
echo "approved flows: $total on 3 hypervisors in $(( ($(now_ns) - t0) / 1000000 )) ms"

approve_9090() {
    pids=
    for i in $HVS; do
        guest_on $i decide 1 tcp 10.90.$i.1 39999 10.90.$i.2 9090 \
            >"$run/d$i.out" &
        pids="$pids $!"
    done
    wait $pids
    for i in $HVS; do
        grep -q '"verdict":"allow"' "$run/d$i.out" ||
            die "9090 on hv$i: $(cat "$run/d$i.out")"
    done
}

# --- Baselines: an apply alone, and a refusal without any flow.
: >"$run/apply.ns"
for _ in $(seq 5); do
    a=$(now_ns)
    "$ctl" --rundir "$run" policy apply "$run/with.json" >/dev/null ||
        die "policy apply"
    echo $(( $(now_ns) - a )) >>"$run/apply.ns"
done
: >"$run/base.ns"
for _ in $(seq 5); do
    for i in $HVS; do
        a=$(now_ns)
        ip netns exec "afwr$tag-c$i" $py connect 10.90.$i.2 9091 >/dev/null
        echo $(( $(now_ns) - a )) >>"$run/base.ns"
    done
done

# --- The rounds.
: >"$run/revoke.ms"
for round in $(seq "$ROUNDS"); do
    approve_9090
    pids=
    for i in $HVS; do
        ip netns exec "afwr$tag-c$i" $py until-refused 10.90.$i.2 9090 10 \
            >"$run/u$i.out" &
        pids="$pids $!"
    done
    sleep 0.3
    "$ctl" --rundir "$run" policy apply "$run/without.json" >/dev/null ||
        die "policy apply"
    t=$(now_ns)
    wait $pids
    for i in $HVS; do
        at=$(sed -n 's/^refused_at=\([0-9.]*\) .*/\1/p' "$run/u$i.out")
        [ -n "$at" ] || die "round $round hv$i: $(cat "$run/u$i.out")"
        grep -q ' ok=[1-9]' "$run/u$i.out" ||
            die "round $round hv$i: no connection passed before the change"
        awk -v a="$at" -v t="$t" 'BEGIN { printf "%.1f\n", a * 1000 - t / 1e6 }' \
            >>"$run/revoke.ms"
    done
    "$ctl" --rundir "$run" policy apply "$run/with.json" >/dev/null ||
        die "policy apply"
done

pct() {  # FILE P SCALE
    sort -n "$1" | awk -v p="$2" -v s="$3" '{ v[NR] = $1 } END {
        i = int(NR * p / 100 + 0.999); if (i < 1) i = 1; if (i > NR) i = NR
        printf "%.1f", v[i] / s }'
}
revoked=0 rechecks=0
for i in $HVS; do
    revoked=$((revoked + $(field $i revoked)))
    rechecks=$((rechecks + $(field $i rechecks)))
done
echo "rounds: $ROUNDS x 3 hypervisors; rechecks sent: $rechecks; flows revoked: $revoked"
echo "baseline: policy apply p50 $(pct "$run/apply.ns" 50 1e6) ms;" \
     "a refused connection (no flow) p50 $(pct "$run/base.ns" 50 1e6) ms" \
     "p99 $(pct "$run/base.ns" 99 1e6) ms (python start included)"
echo "apply returned -> first refused new connection: p50 $(pct "$run/revoke.ms" 50 1) ms" \
     "p99 $(pct "$run/revoke.ms" 99 1) ms max $(pct "$run/revoke.ms" 100 1) ms"
awk -v r="$(pct "$run/revoke.ms" 99 1)" -v a="$(pct "$run/apply.ns" 50 1e6)" 'BEGIN {
    printf "RATIO revocation p99 vs policy apply p50  %.2fx  (%.0f ms; goal: p99 <= 1000 ms with %s flows)\n",
        r / a, r, "'"$total"'" }'
