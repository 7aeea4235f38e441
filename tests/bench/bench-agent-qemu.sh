#!/bin/sh
# Benchmark: appfw-agent inside a QEMU (TCG, 2 vCPUs) guest, over the real
# virtio-serial channel (issue #6's goals):
#   - connect() with a cached verdict against the same guest without the
#     agent: p50 <= 1.10x, p99 <= 1.25x;
#   - the time an uncached verdict adds against a bare request/response
#     over the same kind of channel (a second virtio-serial port to a
#     second host-sim): <= 1.5x;
#   - a burst of connects at once: all connected, all decided by the
#     agent, no queue drops.
# The guest runs tests/bench/guest-bench.sh, five rounds of each, one
# after the other; the guest has one network namespace, so the paired
# method of bench-agent.sh does not apply.  TCG makes every absolute
# number large, so only ratios of the median round mean anything.
set -u
build=${BUILD:-build}
hostsim="$build/tests/agent/host-sim"
cb="$build/tests/agent/connbench"
. "$(dirname "$0")/../agent/lib-agent.sh"
run=$(mktemp -d /tmp/appfw-bench-qemu.XXXXXX) || exit 1
ns=afwbq$$
cleanup() {
    stop_pid "${qemu_pid:-}"
    stop_pid "${host_pid:-}"
    stop_pid "${rr_pid:-}"
    for p in ${srv_pids:-}; do
        stop_pid "$p"
    done
    ip netns del "$ns" 2>/dev/null
    rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
die() {
    echo "bench-agent-qemu: $*" >&2
    tail -30 "$run/console.log" >&2
    exit 1
}
kernel=$(deploy/guest-image.sh "$run/guest.cpio.gz" build/static/appfw-agent \
         tests/bench/guest-bench.sh build/static/connbench | tail -1) ||
    die "guest image"
ip netns add "$ns" && ip -n "$ns" link set lo up || die netns
# Room for the burst's SYNs at the servers (QEMU's user network connects
# to them over the namespace's loopback).
ip netns exec "$ns" sysctl -qw net.core.somaxconn=65535 \
    net.ipv4.tcp_max_syn_backlog=65535
# 8080: cached; 8081 and 8082 (the burst): asked every time.
srv_pids=
for port in 8080 8081 8082; do
    ip netns exec "$ns" "$cb" serve "$port" &
    srv_pids="$srv_pids $!"
done
"$hostsim" "$run/host.sock" "$run/host.log" --ttl 3600 \
    --no-cache-port 8081 --no-cache-port 8082 2>/dev/null &
host_pid=$!
"$hostsim" "$run/rr.sock" "$run/rr.log" 2>/dev/null &
rr_pid=$!
sleep 0.3
boot_guest "$ns" "$kernel" "$run/guest.cpio.gz" "$run/host.sock" \
    guest-bench "$run/console.log" 2 "$run/rr.sock"
echo "== agent in a QEMU guest (TCG, 2 vCPUs)"
for _ in $(seq 9000); do
    grep -q "APPFW-BENCH-DONE\|APPFW-BENCH-ERROR" "$run/console.log" && break
    kill -0 "$qemu_pid" 2>/dev/null || break
    sleep 0.1
done
grep -q "APPFW-BENCH-DONE" "$run/console.log" || die "the guest did not finish"
tr -d '\r' <"$run/console.log" | sed -n 's/.*APPFW-BENCH //p' | tee "$run/out"
num() { echo "$1" | sed -n "s/.*$2=\([0-9.]*\).*/\1/p"; }
# Per round: cached p50 and p99 ratios, then the uncached verdict's added
# time over the bare request/response (p50).
grep '^round' "$run/out" | while read -r line; do
    a=${line#*: agent }
    a=${a%%;*}
    u=${line#*uncached }
    u=${u%%;*}
    r=${line#*; rr }
    r=${r%%;*}
    b=${line##*no agent }
    awk -v a="$(num "$a" p50_us)" -v b="$(num "$b" p50_us)" \
        -v c="$(num "$a" p99_us)" -v d="$(num "$b" p99_us)" \
        -v u="$(num "$u" p50_us)" -v r="$(num "$r" p50_us)" \
        'BEGIN { printf "%.3f %.3f %.3f\n", a / b, c / d, (u - b) / r }'
done >"$run/ratios"
[ "$(wc -l <"$run/ratios")" = 5 ] || die "expected five rounds"
sort -n -k1 "$run/ratios" | awk 'NR == 3 { printf "RATIO QEMU guest: cached connect vs no agent (median round)  p50 %.2fx", $1 }'
sort -n -k2 "$run/ratios" | awk 'NR == 3 { printf "  p99 %.2fx  goal: p50 <= 1.10x, p99 <= 1.25x\n", $2 }'
sort -n -k3 "$run/ratios" | awk 'NR == 3 { printf "RATIO QEMU guest: time an uncached verdict adds vs bare request/response (median round)  p50 %.2fx  goal: <= 1.5x\n", $3 }'
b=$(grep '^burst' "$run/out")
total=$(( $(num "$b" ok) + $(num "$b" fail) + $(num "$b" unfinished) ))
drops=$(echo "$b" | sed -n \
    's/.*after queue_dropped=\([0-9]*\) user_dropped=\([0-9]*\).*/\1\/\2/p')
echo "RESULT QEMU guest burst of $total: connected $(num "$b" ok)," \
     "failed $(num "$b" fail), decided by the agent $(num "$b" decided)," \
     "kernel queue drops $drops  goal: all connected, all decided, no drops"
