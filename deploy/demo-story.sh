#!/bin/sh
# The single-host demo (make demo): the whole appfw stack on this
# machine, privately, and a scripted story told in plain words.
#
# Open vSwitch (userspace datapath, its own run directory), appfw-secd
# (signatures of this machine's packages plus a demo feed, and
# deploy/demo/policy-v1.json), appfw-switchd, and libvirtd with appfw's
# hook; a file server in a network namespace on the bridge; two guests
# under libvirt (QEMU TCG, the test initramfs) running the agent and the
# scripts deploy/demo/alice.sh and bob.sh.  Everything is removed on
# exit and on Ctrl-C.  Process-wide changes: see deploy/lib-stack.sh.
set -u
cd "$(dirname "$0")/.." || exit 1
build=${BUILD:-build}
run=$(mktemp -d /tmp/appfw-demo.XXXXXX) || exit 1
chmod 755 "$run"
tag=$$
. tests/switchd/lib-ovs.sh
. tests/agent/lib-agent.sh
. deploy/lib-stack.sh
srv=afwd$tag-fs
t0=$(date +%s)

bold=$(printf '\033[1m')
plain=$(printf '\033[0m')
[ -t 1 ] || { bold=; plain=; }
say() { printf '\n%s%s%s\n' "$bold" "$*" "$plain"; }
tell() { printf '   %s\n' "$*"; }

cleanup() {
    # APPFW_DEMO_KEEP=DIR keeps the logs and the guests' consoles.
    [ -n "${APPFW_DEMO_KEEP:-}" ] && mkdir -p "$APPFW_DEMO_KEEP" &&
        cp "$run"/*.log "$run"/*.console "$APPFW_DEMO_KEEP" 2>/dev/null
    stop_pid "${tail_pid:-}"
    stack_cleanup
    stop_pid "${srv_pid:-}"
    stop_pid "${srv2_pid:-}"
    ip netns del "$srv" 2>/dev/null
    rm -rf "$run"
}
trap cleanup EXIT
trap 'echo; echo "demo: interrupted, cleaning up"; exit 130' INT TERM
die() {
    echo "demo: $*" >&2
    for f in "$run"/*.log "$run"/*.stderr "$run"/*.console; do
        [ -f "$f" ] && { echo "--- $f"; tail -15 "$f"; } >&2
    done
    exit 1
}
# The guest's next "APPFW-DEMO" line (after those already read).
seen_alice=0
seen_bob=0
next() {
    eval "n=\$seen_$1"
    for _ in $(seq 1800); do
        line=$(tr -d '\r' <"$run/$1.console" 2>/dev/null |
               sed -n 's/.*APPFW-DEMO //p' | sed -n "$((n + 1))p")
        if [ -n "$line" ]; then
            eval "seen_$1=$((n + 1))"
            return 0
        fi
        sleep 0.1
    done
    die "$1 did not go on"
}

say "appfw demo: an application-aware firewall for VMs, on this one machine"
tell "Starting Open vSwitch (userspace datapath) with a private bridge $stack_br..."
stack_ovs || die "Open vSwitch did not start"
stack_ns_vm "$srv" 10.66.0.100/24 52:54:00:66:00:64
mkdir -p "$run/www" && echo "hello from the file server" >"$run/www/hello.txt"
ip netns exec "$srv" python3 -m http.server 8080 --directory "$run/www" \
    >/dev/null 2>&1 &
srv_pid=$!
ip netns exec "$srv" python3 tests/switchd/netns-tcp.py serve 9000 6881 \
    >/dev/null 2>&1 &
srv2_pid=$!
tell "A file server (10.66.0.100) sits on the bridge: HTTP on 8080, a plain service on 9000 and 6881."

tell "Building the signature database from this machine's $(dpkg-query -f '.\n' -W | wc -l) packages..."
"$build/appid/appid" --db "$run/appid.db" -q import-dpkg >/dev/null ||
    die "appid import-dpkg"
"$build/appid/appid" --db "$run/appid.db" -q import-feed deploy/demo/feed.json \
    >/dev/null || die "appid import-feed"
tell "...plus a feed that says programs named utorrent* are p2p clients."
stack_secd "$run/appid.db" deploy/demo/policy-v1.json ||
    die "appfw-secd did not take the policy"
tell "appfw-secd runs with the policy: the download tool fetch may use port 8080; nc is denied;"
tell "the p2p category is blocked."
stack_switchd || die "appfw-switchd did not start"
stack_libvirtd || die "libvirtd did not start"
tell "appfw-switchd programs the bridge; libvirtd runs with appfw's hook."

say "Two guests boot under libvirt, each with the appfw agent"
# nc as a program of its own (a copy of busybox made distinct: the
# signature database knows busybox itself, and would name it so).
{ cat /bin/busybox; printf nc; } >"$run/nc"
kernel=$(deploy/guest-image.sh "$run/guest.cpio.gz" build/static/appfw-agent \
         deploy/demo/alice.sh deploy/demo/bob.sh \
         /usr/bin/fetch="$build/tests/agent/fetch" /usr/bin/nc="$run/nc" \
         /usr/bin/utorrent="$build/tests/agent/rawconnect" | tail -1) ||
    die "guest image"
stack_define alice "$kernel" "$run/guest.cpio.gz" \
    "appfw.run=alice appfw.ip=10.66.0.1/24 appfw.gw=none" \
    52:54:00:66:00:01 >/dev/null 2>&1 || die "define alice"
stack_define bob "$kernel" "$run/guest.cpio.gz" \
    "appfw.run=bob appfw.ip=10.66.0.2/24 appfw.gw=none" \
    52:54:00:66:00:02 >/dev/null 2>&1 || die "define bob"
tell "appfw-vmctl gave both domains the agent's channel and the Open vSwitch port."
stack_virsh start alice >/dev/null || die "start alice"
# The binary itself, not the stack_ctl function, so that $! is its pid.
"$build/security-vm/appfwctl" --rundir "$run" decisions tail \
    >"$run/tail.log" 2>&1 &
tail_pid=$!
next alice
tell "alice is up; the hook registered it with appfw-switchd; its agent is connected."

say "1. An allowed download tool connects"
next alice
tell "alice runs: fetch http://10.66.0.100:8080/hello.txt"
tell "-> ${line#download }"
say "2. A denied network tool is refused inside the guest"
next alice
tell "alice runs: nc 10.66.0.100 9000"
tell "-> ${line#netcat }"
say "3. A category rule blocks a p2p client"
next alice
tell "alice runs a program named utorrent (appid: uTorrent, category p2p)"
tell "-> ${line#p2p }"

say "4. The console shows the decisions live"
sed 's/^/   /' "$run/tail.log"

say "5. A policy change applies within a second"
next alice
tell "alice keeps trying nc to port 9000; the admin applies policy v2 (allow it)."
stack_ctl policy apply deploy/demo/policy-v2.json --comment "allow nc to 9000" \
    >/dev/null || die "policy apply"
next alice
ms=${line#netcat-after-change }
ms=${ms%% *}
tell "-> ${line#netcat-after-change $ms } (allowed ${ms} ms after the change was applied)"
next alice

say "6. With the agent killed, Open vSwitch still blocks unapproved flows"
stack_virsh start bob >/dev/null || die "start bob"
next bob
next bob
tell "bob runs fetch as alice did -> ${line#download }"
next bob
tell "bob's agent is killed and its kernel hooks removed (a compromised guest)."
next bob
tell "bob runs: nc 10.66.0.100 9000 (never approved for bob)"
tell "-> ${line#netcat-without-agent }  (reset by Open vSwitch, outside the guest)"

say "Per-application statistics (appfwctl stats top --by app)"
sleep 2.5   # the datapath's counters of the last connections
stack_ctl stats top --by app --limit 5 2>&1 | sed 's/^/   /'
say "Recent decisions (appfwctl decisions list)"
stack_ctl decisions list --limit 8 2>&1 | sed 's/^/   /'

say "Done in $(( $(date +%s) - t0 )) s; cleaning up."
