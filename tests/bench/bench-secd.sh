#!/bin/sh
# Benchmark: a decide to a real appfw-secd over nng ipc://, end to end
# (one in flight), against a bare UNIX-socket request/response of the same
# message measured in the same run; throughput with many in flight; and a
# victim VM's latency while another VM floods.
# Goal (issue #4): decide p99 <= 5x the bare UNIX socket p99.
set -u
build=${BUILD:-build}
load="$build/tests/secd/secd-load"
run=$(mktemp -d /tmp/appfw-bench-secd.XXXXXX) || exit 1
cleanup() {
    [ -f "$run/appfw-secd.pid" ] && kill "$(cat "$run/appfw-secd.pid")" 2>/dev/null
    [ -f "$run/durable/appfw-secd.pid" ] &&
        kill "$(cat "$run/durable/appfw-secd.pid")" 2>/dev/null
    sleep 0.3
    rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

SHA=cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc
printf '{"format":"appfw-appid-feed","version":1,"source":"bench","added":[{"sha256":"%s","name":"curl","path":"/usr/bin/curl","product":"curl","category":"downloader","trust":"trusted","threat":"low"}]}' "$SHA" >"$run/feed.json"
"$build/appid/appid" --db "$run/appid.db" import-feed "$run/feed.json" >/dev/null || exit 1
"$build/security-vm/appfw-secd" --rundir "$run" --db "$run/secd.db" \
    --appid-db "$run/appid.db" --log-file "$run/secd.log" \
    --vm-rate 10000000 --vm-burst 10000000 --vm-queue 4096 &
for _ in $(seq 50); do
    "$build/security-vm/appfwctl" --rundir "$run" health >/dev/null 2>&1 && break
    sleep 0.1
done
echo '{"rules":[{"id":"allow-web","action":"allow","match":{"remote_port":[80]}}]}' >"$run/p.json"
"$build/security-vm/appfwctl" --rundir "$run" policy apply "$run/p.json" >/dev/null || exit 1

url="ipc://$run/secd-decide.sock"
vm=33333333-0000-4000-8000-000000000001
echo "== secd: decide over nng ipc:// against a bare UNIX socket"
"$load" decide "$url" $vm 2000 1 /usr/bin/curl $SHA 80 >/dev/null   # warm up
# Five rounds, each a decide run, a bare-socket run and an nng echo run
# back to back, so that noise from other tenants of this machine hits all
# alike; the reported ratios are the medians of the five rounds' ratios.
# The nng echo (rpc.c on both ends, a server that only echoes) is the floor
# any decide over nng pays; decide / nng echo is secd's own cost.
: >"$run/ratios"
for round in 1 2 3 4 5; do
    decide=$("$load" decide "$url" $vm 4000 1 /usr/bin/curl $SHA 80 | head -1)
    unix=$("$load" unix-echo "$run/echo.sock" 4000)
    nng=$("$load" nng-echo "ipc://$run/nng-echo.sock" 4000)
    d50=$(echo "$decide" | sed 's/.*p50_us=\([0-9]*\).*/\1/')
    d99=$(echo "$decide" | sed 's/.*p99_us=\([0-9]*\).*/\1/')
    u50=$(echo "$unix" | sed 's/.*p50_us=\([0-9.]*\).*/\1/')
    u99=$(echo "$unix" | sed 's/.*p99_us=\([0-9.]*\).*/\1/')
    n50=$(echo "$nng" | sed 's/.*p50_us=\([0-9.]*\).*/\1/')
    n99=$(echo "$nng" | sed 's/.*p99_us=\([0-9.]*\).*/\1/')
    echo "round $round: decide p50 ${d50}us p99 ${d99}us;" \
         "bare UNIX socket p50 ${u50}us p99 ${u99}us;" \
         "nng echo p50 ${n50}us p99 ${n99}us"
    awk -v a="$d50" -v b="$u50" -v c="$d99" -v d="$u99" \
        -v e="$n50" -v f="$n99" \
        'BEGIN { printf "%.2f %.2f %.2f %.2f %.2f %.2f\n", a / b, c / d,
                 e / b, f / d, a / e, c / f }' >>"$run/ratios"
done
median() {
    sort -n -k"$1" "$run/ratios" | awk -v k="$1" 'NR == 3 { print $k }'
}
echo "RATIO decide vs bare UNIX socket (median)   p50 $(median 1)x  p99 $(median 2)x  goal: p99 <= 5x"
echo "RATIO nng echo vs bare UNIX socket (median) p50 $(median 3)x  p99 $(median 4)x  (the transport's floor)"
echo "RATIO decide vs nng echo (median)           p50 $(median 5)x  p99 $(median 6)x  (secd's own cost)"
many=$("$load" decide "$url" $vm 50000 64 /usr/bin/curl $SHA 80 | head -1)
echo "decide, 64 in flight:  $many"

echo
echo "== secd: one VM flooding (64 in flight), another deciding"
"$build/security-vm/appfwctl" --rundir "$run" health >/dev/null
kill "$(cat "$run/appfw-secd.pid")"; sleep 0.5
"$build/security-vm/appfw-secd" --rundir "$run" --db "$run/secd.db" \
    --appid-db "$run/appid.db" --log-file "$run/secd.log" &
sleep 0.5
"$load" flood "$url" 3

echo
echo "== secd: durable-decisions=1 (each pass's audit rows committed with"
echo "   synchronous=FULL before its verdicts) against the default, both running"
kill "$(cat "$run/appfw-secd.pid")"; sleep 0.5
mkdir -p "$run/durable"
cp "$run/secd.db" "$run/durable/secd.db"      # the same policy and history
for dir in "$run" "$run/durable"; do
    durable=$([ "$dir" = "$run" ] && echo 0 || echo 1)
    "$build/security-vm/appfw-secd" --rundir "$dir" --db "$dir/secd.db" \
        --appid-db "$run/appid.db" --log-file "$dir/secd.log" \
        --vm-rate 10000000 --vm-burst 10000000 --vm-queue 4096 \
        --durable-decisions "$durable" &
    for _ in $(seq 50); do
        "$build/security-vm/appfwctl" --rundir "$dir" health >/dev/null 2>&1 && break
        sleep 0.1
    done
done
plain="ipc://$run/secd-decide.sock"
durable="ipc://$run/durable/secd-decide.sock"
field() { echo "$1" | sed "s/.*$2=\([0-9.]*\).*/\1/"; }
"$load" decide "$plain" $vm 500 1 /usr/bin/curl $SHA 80 >/dev/null
"$load" decide "$durable" $vm 500 1 /usr/bin/curl $SHA 80 >/dev/null
# Five rounds, each one run of each kind back to back, one decide in
# flight and then 64; the ratios are the medians of the rounds' ratios.
: >"$run/dratios"
for round in 1 2 3 4 5; do
    p1=$("$load" decide "$plain" $vm 1000 1 /usr/bin/curl $SHA 80 | head -1)
    d1=$("$load" decide "$durable" $vm 1000 1 /usr/bin/curl $SHA 80 | head -1)
    p64=$("$load" decide "$plain" $vm 10000 64 /usr/bin/curl $SHA 80 | head -1)
    d64=$("$load" decide "$durable" $vm 10000 64 /usr/bin/curl $SHA 80 | head -1)
    for r in "$p1" "$d1" "$p64" "$d64"; do
        case "$r" in *error=0*) ;; *) echo "bench-secd: errors: $r"; exit 1 ;; esac
    done
    echo "round $round: 1 in flight p50/p99 default $(field "$p1" p50_us)/$(field "$p1" p99_us)us" \
         "durable $(field "$d1" p50_us)/$(field "$d1" p99_us)us;" \
         "64 in flight default $(field "$p64" rate)/s p50/p99 $(field "$p64" p50_us)/$(field "$p64" p99_us)us" \
         "durable $(field "$d64" rate)/s p50/p99 $(field "$d64" p50_us)/$(field "$d64" p99_us)us"
    awk -v a="$(field "$d1" p50_us)" -v b="$(field "$p1" p50_us)" \
        -v c="$(field "$d1" p99_us)" -v d="$(field "$p1" p99_us)" \
        -v e="$(field "$d64" rate)" -v f="$(field "$p64" rate)" \
        -v g="$(field "$d64" p50_us)" -v h="$(field "$p64" p50_us)" \
        -v i="$(field "$d64" p99_us)" -v j="$(field "$p64" p99_us)" \
        'BEGIN { printf "%.2f %.2f %.2f %.2f %.2f\n", a / b, c / d, e / f,
                 g / h, i / j }' >>"$run/dratios"
done
dmedian() {
    sort -n -k"$1" "$run/dratios" | awk -v k="$1" 'NR == 3 { print $k }'
}
echo "RATIO durable vs default, 1 in flight (median)   p50 $(dmedian 1)x  p99 $(dmedian 2)x"
echo "RATIO durable vs default, 64 in flight (median)  rate $(dmedian 3)x  p50 $(dmedian 4)x  p99 $(dmedian 5)x"
