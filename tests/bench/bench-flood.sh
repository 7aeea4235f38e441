#!/bin/sh
# Benchmark: one guest floods, another decides, through the whole host
# path (guest channel -> appfw-switchd -> appfw-secd -> switchd -> guest)
# with a private Open vSwitch (userspace datapath) and the daemons'
# default limits.
#
# For FLOOD_SECONDS (default 60) the flooding VM sends 2,000 stats
# messages a second of 250 flows each (random hashes and destinations)
# and decides of random application paths at its rate limit (2,000 a
# second, switchd's and secd's default vm-rate).  Measured:
# the other VM's decide latency (one at a time, 5 ms apart) alone and
# during the flood, as ratios; appfw-secd's resident memory before,
# during (the largest) and after; the store's growth on disk.
# Goal (issue #19): the victim's p99 at most 1.5x its unflooded p99, and
# secd's memory and the store bounded.
set -u
build=${BUILD:-build}
secs=${FLOOD_SECONDS:-60}
switchd="$build/ovs-plugin/appfw-switchd"
secd="$build/security-vm/appfw-secd"
ctl="$build/security-vm/appfwctl"
guest="$build/tests/switchd/guest-sim"
. "$(dirname "$0")/../switchd/lib-ovs.sh"
run=$(mktemp -d /tmp/appfw-bench-flood.XXXXXX) || exit 1
tag=$$
br=afwfl$tag
victim=44444444-0000-4000-8000-0000000000a1
flooder=44444444-0000-4000-8000-0000000000f1
cleanup() {
    [ -n "${flood_pid:-}" ] && kill "$flood_pid" 2>/dev/null
    [ -n "${rss_pid:-}" ] && kill "$rss_pid" 2>/dev/null
    stop_pidfile "$run/appfw-switchd.pid"
    stop_pidfile "$run/appfw-secd.pid"
    ovs_stop
    ip link del "afwga$tag" 2>/dev/null
    ip link del "afwgb$tag" 2>/dev/null
    rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
die() {
    echo "bench-flood: $*" >&2
    exit 1
}
appctl() { ovs-appctl -t "$run/appfw-switchd.ctl" "$@"; }
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
store_kb() { du -k -c "$run"/secd.db* | tail -1 | cut -f1; }
p() { echo "$1" | sed -n "s/.*$2=\([0-9]*\).*/\1/p"; }

ovs_init "$run/ovs" "afwfl$tag-hv"
ovs_start_vswitchd
vsctl add-br "$br" -- set bridge "$br" datapath_type=netdev || die "add-br"
for v in a b; do
    ip link add "afwf$v$tag" type veth peer name "afwg$v$tag" || die "veth"
    ovs_link_up "afwf$v$tag"
done
vsctl add-port "$br" "afwfa$tag" -- set interface "afwfa$tag" \
    external_ids:vm-id=$victim external_ids:attached-mac=52:54:00:44:00:a1 \
    -- add-port "$br" "afwfb$tag" -- set interface "afwfb$tag" \
    external_ids:vm-id=$flooder external_ids:attached-mac=52:54:00:44:00:f1 ||
    die "add-port"

printf '{"format":"appfw-appid-feed","version":1,"source":"bench","added":[{"name":"curl","path":"/usr/bin/curl","product":"curl","category":"downloader","trust":"trusted","threat":"low","sha256":"cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"}]}' \
    >"$run/feed.json"
"$build/appid/appid" --db "$run/appid.db" import-feed "$run/feed.json" \
    >/dev/null || die "appid import"
"$secd" --rundir "$run" --db "$run/secd.db" --appid-db "$run/appid.db" \
    --log-file "$run/secd.log" --log-level warn &
for _ in $(seq 50); do
    "$ctl" --rundir "$run" health >/dev/null 2>&1 && break
    sleep 0.1
done
echo '{"rules":[{"id":"allow-web","action":"allow","match":{"remote_port":[8080]}}]}' \
    >"$run/policy.json"
"$ctl" --rundir "$run" policy apply "$run/policy.json" >/dev/null ||
    die "policy apply"
"$switchd" --rundir "$run" --ovs-rundir "$ovs" --bridge "$br" \
    --log-file "$run/switchd.log" --log-level warn \
    --decide-url "ipc://$run/secd-decide.sock" 2>"$run/switchd.stderr" &
for _ in $(seq 100); do
    [ "$(appctl appfw/vms 2>/dev/null | grep -c 'ofport=[1-9]')" = 2 ] &&
        appfw_converged "$run/appfw-switchd.ctl" && break
    sleep 0.1
done
appfw_converged "$run/appfw-switchd.ctl" || die "switchd did not start"
secd_pid=$(cat "$run/appfw-secd.pid")

# guest-sim ARGS... on a fresh channel of VM $1, in the background.
chan_seq=0
guest_start() {
    vm=$1
    shift
    chan_seq=$((chan_seq + 1))
    path="$run/chan-$chan_seq"
    "$guest" "$path" "$@" >"$run/guest-$chan_seq.out" 2>&1 &
    gpid=$!
    for _ in $(seq 50); do
        [ -S "$path" ] && break
        sleep 0.05
    done
    appctl appfw/vm-register "$vm" "$path" >/dev/null
}
# (Its output goes to a file: a $(...) would run it in a subshell, and
# the channel numbers would repeat.)
victim_run() {
    guest_start $victim bench "$1" 5000
    wait "$gpid"
    cp "$run/guest-$chan_seq.out" "$run/victim.out"
}

echo "== flood: a victim VM's decisions alone, then while another floods"
victim_run 200                             # warm-up
rss0=$(rss_kb "$secd_pid")
store0=$(store_kb)
victim_run 2000
alone=$(cat "$run/victim.out")
echo "victim alone:   $alone"

(while :; do rss_kb "$secd_pid"; sleep 1; done) >"$run/rss" &
rss_pid=$!
guest_start $flooder flood "$secs" 2000 250 2000
flood_pid=$gpid
flood_out="$run/guest-$chan_seq.out"
sleep 1
# As many decides as fit in the flood, 5 ms apart (each takes ~0.5 ms).
victim_run $(( (secs - 3) * 180 ))
flooded=$(cat "$run/victim.out")
wait "$flood_pid"
flood_pid=
echo "victim flooded: $flooded"
echo "flooder: $(cat "$flood_out")"
kill "$rss_pid"
rss_pid=
sleep 2                         # the last write
rss_max=$(sort -n "$run/rss" | tail -1)
rss1=$(rss_kb "$secd_pid")
store1=$(store_kb)
appctl appfw/vms | grep "^$flooder" | tr ' ' '\n' |
    grep -E '^(frames|dropped_unread|refused)=' | tr '\n' ' '
echo
"$ctl" --rundir "$run" health | grep -E 'queue|dropped|folded' | tr '\n' ' '
echo
echo "secd RSS: ${rss0} kB before, ${rss_max} kB at most during, ${rss1} kB after"
echo "store on disk: ${store0} kB before, ${store1} kB after ($(( (store1 - store0) / secs )) kB/s)"
echo "$alone" | grep -q 'errors=0' || die "victim decides failed alone"
echo "$flooded" | grep -q 'errors=0' || die "victim decides failed in the flood"
awk -v a="$(p "$alone" p50_us)" -v b="$(p "$flooded" p50_us)" \
    -v c="$(p "$alone" p99_us)" -v d="$(p "$flooded" p99_us)" 'BEGIN {
    printf "RATIO victim flooded/alone  p50 %.2fx  p99 %.2fx  goal: p99 <= 1.5x\n",
        b / a, d / c }'
