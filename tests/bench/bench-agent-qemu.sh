#!/bin/sh
# Benchmark: appfw-agent inside a QEMU (TCG, 2 vCPUs) guest, cached connect()
# latency with the agent against the same guest without it (issue #6's
# goal: p50 <= 1.10x, p99 <= 1.25x).  The guest runs
# tests/bench/guest-bench.sh; TCG makes every absolute number large, so
# only the ratio of the median round means anything.
set -u
build=${BUILD:-build}
hostsim="$build/tests/agent/host-sim"
py="python3 $(cd "$(dirname "$0")/../switchd" && pwd)/netns-tcp.py"
. "$(dirname "$0")/../agent/lib-agent.sh"
run=$(mktemp -d /tmp/appfw-bench-qemu.XXXXXX) || exit 1
ns=afwbq$$
cleanup() {
    stop_pid "${qemu_pid:-}"
    stop_pid "${host_pid:-}"
    stop_pid "${srv_pid:-}"
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
ip netns exec "$ns" $py serve 8080 &
srv_pid=$!
"$hostsim" "$run/host.sock" "$run/host.log" --ttl 3600 2>/dev/null &
host_pid=$!
sleep 0.3
boot_guest "$ns" "$kernel" "$run/guest.cpio.gz" "$run/host.sock" \
    guest-bench "$run/console.log" 2
echo "== agent in a QEMU guest: cached connect() vs no agent"
for _ in $(seq 6000); do
    grep -q "APPFW-BENCH-DONE\|APPFW-BENCH-ERROR" "$run/console.log" && break
    kill -0 "$qemu_pid" 2>/dev/null || break
    sleep 0.1
done
grep -q "APPFW-BENCH-DONE" "$run/console.log" || die "the guest did not finish"
tr -d '\r' <"$run/console.log" | sed -n 's/^APPFW-BENCH //p' | tee "$run/rounds"
num() { echo "$1" | sed -n "s/.*$2=\([0-9.]*\).*/\1/p"; }
while read -r line; do
    a=${line#*agent }
    a=${a%%;*}
    b=${line##*no agent }
    awk -v a="$(num "$a" p50_us)" -v b="$(num "$b" p50_us)" \
        -v c="$(num "$a" p99_us)" -v d="$(num "$b" p99_us)" \
        'BEGIN { printf "%.3f %.3f\n", a / b, c / d }'
done <"$run/rounds" >"$run/ratios"
sort -n -k1 "$run/ratios" | awk 'NR == 3 { printf "RATIO QEMU guest: cached connect vs no agent (median round)  p50 %.2fx", $1 }'
sort -n -k2 "$run/ratios" | awk 'NR == 3 { printf "  p99 %.2fx  goal: p50 <= 1.10x, p99 <= 1.25x\n", $2 }'
