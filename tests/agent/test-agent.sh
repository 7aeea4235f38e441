#!/bin/sh
# Integration test of appfw-agent on the development machine, with the
# real kernel hooks and the real netfilter queue.
#
# A network namespace plays the guest (the agent runs there, its clients
# in a test cgroup), another the rest of the network (servers), joined by
# a veth pair.  host-sim plays the host's side of the agent's channel over
# a UNIX socket: it denies ports 9090, 7071, 5354 and the program "nc",
# allows the rest, and logs every message the agent sends.
#
# Covers: allowed and denied TCP connects (IPv4 and IPv6) by a Python
# client, a static busybox and a raw-syscall program; cached denials
# refused in the kernel without a SYN; UDP; inbound accept (also bound to
# a device, on a link-local address, on a port shared by a SO_REUSEPORT
# group); the identity in decide; denials in syslog and on the user's
# terminal; the naming service's report (addresses, logins) and a host's
# notice; flow_open, flow_close and stats; fail modes closed, cached and
# open; the agent killed (the kernel refuses until it returns); and
# --uninstall.  Needs root.  Ends with "agent: N passed, N failed".
set -u
build=${1:-build}
# APPFW_AGENT: another build of the agent (make check uses the static one).
agent=${APPFW_AGENT:-$build/guest-agent/appfw-agent}
hostsim="$build/tests/agent/host-sim"
raw="$build/tests/agent/rawconnect"
py="python3 $(cd "$(dirname "$0")/../switchd" && pwd)/netns-tcp.py"
run=$(mktemp -d /tmp/appfw-agent-test.XXXXXX) || exit 1
tag=$$
gns=afwg$tag
sns=afws$tag

. "$(dirname "$0")/../lib-check.sh"

# cgroup v2 mounted again under the run directory: "ip netns exec"
# mounts a sysfs of its own, which hides /sys/fs/cgroup.
cgroot="$run/cgroup2"
cg="$cgroot/appfw-test-agent-$tag"

. "$(dirname "$0")/lib-agent.sh"

cleanup() {
    # KEEP_LOGS=DIR keeps the logs for a look after the run.
    [ -n "${KEEP_LOGS:-}" ] && mkdir -p "$KEEP_LOGS" &&
        cp "$run"/*.log "$run"/*.stderr "$KEEP_LOGS" 2>/dev/null
    [ -f "$run/appfw-agent.pid" ] && stop_pid "$(cat "$run/appfw-agent.pid")"
    stop_pid "${host_pid:-}"
    if [ -d "$cg" ]; then
        for p in $(cat "$cg/cgroup.procs" 2>/dev/null); do
            kill -9 "$p" 2>/dev/null
        done
        sleep 0.1
    fi
    stop_pid "${srv_pid:-}"
    stop_pid "${syslog_pid:-}"
    stop_pid "${tty_pid:-}"
    stop_pid "${gsrv:-}"
    stop_pid "${lsrv:-}"
    stop_pid "${srv2:-}"
    if [ -d "$run/bpffs" ]; then
        ip netns exec "$gns" "$agent" --uninstall $common_opts \
            >/dev/null 2>&1
        umount "$run/bpffs" 2>/dev/null
    fi
    rmdir "$cg" 2>/dev/null
    umount "$cgroot" 2>/dev/null
    ip netns del "$gns" 2>/dev/null
    ip netns del "$sns" 2>/dev/null
    rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

suite=agent
die_logs="$run/*.log $run/*.stderr"

# Runs a command in the guest namespace, inside the test cgroup.
in_guest() {
    ip netns exec "$gns" sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' \
        "$cg" "$@"
}
# Runs a command in the other namespace.
in_net() {
    ip netns exec "$sns" "$@"
}

# --- The two namespaces, the cgroup and a private bpffs.
ip netns add "$gns" && ip netns add "$sns" || die "ip netns add"
ip link add "afwa$tag" netns "$gns" type veth peer name "afwb$tag" \
    netns "$sns" || die "veth"
ip -n "$gns" link set lo up
ip -n "$sns" link set lo up
ip -n "$gns" addr add 10.88.0.1/24 dev "afwa$tag"
ip -n "$sns" addr add 10.88.0.2/24 dev "afwb$tag"
ip -n "$gns" -6 addr add fd88::1/64 dev "afwa$tag" nodad
ip -n "$sns" -6 addr add fd88::2/64 dev "afwb$tag" nodad
ip -n "$gns" link set "afwa$tag" up
ip -n "$sns" link set "afwb$tag" up
mkdir "$cgroot" && mount -t cgroup2 none "$cgroot" || die "cgroup2 mount"
mkdir "$cg" || die "cgroup $cg"
mkdir "$run/bpffs" && mount -t bpf bpf "$run/bpffs" || die "bpffs"
mkdir "$run/state"

# Servers on the other side (a SYN counter first: a refused connect that
# the kernel decides from the cache sends none).
in_net iptables-legacy -A INPUT -p tcp --dport 9090 --syn || \
    die "iptables in the server namespace"
UDP_LOG="$run/udp.log" ip netns exec "$sns" $py serve 8080 9090 udp:5353 \
    udp:5354 &
srv_pid=$!
: >"$run/udp.log"
sleep 0.5
syn_count() {
    in_net iptables-legacy -L INPUT -v -x -n | awk '/dpt:9090/ { print $1 }'
}

# --- The host's side and the agent.
# The host's notice carries an escape sequence (clear the screen), which
# must reach the user's terminal and syslog escaped.
esc=$(printf '\033')
start_host() {
    "$hostsim" "$run/host.sock" "$run/host.log" --deny-port 9090 \
        --deny-port 7071 --deny-port 5354 --deny-name nc --ttl 300 \
        --notify --notice "root:quota test notice ${esc}[2J" \
        --transcript "$run/host-transcript.log" "$@" \
        2>>"$run/host.stderr" &
    host_pid=$!
    for _ in $(seq 50); do
        [ -S "$run/host.sock" ] && return 0
        sleep 0.05
    done
    die "host-sim did not start"
}
stop_host() {
    stop_pid "$host_pid"
    host_pid=
}
# The guest's syslog and a logged-in root, for denial notices.
sink="python3 $(cd "$(dirname "$0")" && pwd)/notify-sink.py"
$sink syslog "$run/log.sock" "$run/syslog.txt" &
syslog_pid=$!
$sink tty "$run/utmp" root "$run/tty.txt" &
tty_pid=$!
for _ in $(seq 50); do
    [ -S "$run/log.sock" ] && [ -s "$run/utmp" ] && break
    sleep 0.05
done
common_opts="--cgroup $cg --pin-dir $run/bpffs/appfw --state-dir $run/state \
--rundir $run --queue 4243 --iptables iptables-legacy \
--ip6tables ip6tables-legacy"
start_agent() {
    ups=$(grep -c "channel up" "$run/agent.log" 2>/dev/null)
    ip netns exec "$gns" "$agent" $common_opts --channel "$run/host.sock" \
        --log-file "$run/agent.log" --log-level dbg --dead-after-ms 1000 \
        --stats-interval 1 --verdict-timeout-ms 1000 --heartbeat-s 1 \
        --syslog-socket "$run/log.sock" --utmp "$run/utmp" \
        "$@" 2>>"$run/agent.stderr" &
    for _ in $(seq 100); do
        [ "$(grep -c "channel up" "$run/agent.log" 2>/dev/null)" \
          -gt "${ups:-0}" ] && return 0
        sleep 0.05
    done
    die "appfw-agent did not start"
}
agent_pid() { cat "$run/appfw-agent.pid"; }
status() {
    kill -USR1 "$(agent_pid)"
    sleep 0.2
    grep 'status ' "$run/agent.log" | tail -1
}
field() { status | sed -n "s/.* $1=\([0-9]*\).*/\1/p"; }

start_host
start_agent
check "the agent installed its chains in the guest" \
    sh -c "ip netns exec $gns iptables-legacy -S OUTPUT | grep -q APPFW-OUT &&
           ip netns exec $gns ip6tables-legacy -S INPUT | grep -q APPFW-IN"
check "its hooks are pinned" test -e "$run/bpffs/appfw/link_afw_connect4"

connect() { in_guest $py connect "$@"; }
check_connect() {
    r=$(connect "$2" "$3")
    check "$1 ($r)" has "$r" "$4"
}

# --- TCP, IPv4 and IPv6.
check_connect "an allowed TCP connect passes" 10.88.0.2 8080 '^ok'
check_connect "a denied TCP connect is refused at once" 10.88.0.2 9090 \
    '^fail ConnectionRefusedError 0\.[0-4]'
check_connect "allowed over IPv6" fd88::2 8080 '^ok'
syn0=$(syn_count)
check_connect "a cached denial fails in the kernel with EPERM" \
    10.88.0.2 9090 '^fail PermissionError 0\.0'
check "and sends no SYN" test "$(syn_count)" = "$syn0"
check "the kernel counted the cached denial" \
    test "$(field kernel_cached_deny)" -ge 1
check "the denial went to the guest's syslog with app, user and rule" \
    grep -q 'appfw-agent\[[0-9]*\]: appfw: denied connect tcp .*:9090 app=.*python3.* user=root rule=deny-port-9090' "$run/syslog.txt"
check "the logged-in user was told on their terminal" \
    grep -q 'connection refused by the firewall: connect tcp .*9090' "$run/tty.txt"

# --- The naming service's report, and a notice from the host.
for _ in $(seq 40); do
    grep -q '"type":"naming"' "$run/host.log" && break
    sleep 0.1
done
naming=$(grep '"type":"naming"' "$run/host.log" | tail -1)
check "naming: the guest's address and root's login on its terminal" \
    sh -c "echo '$naming' | grep -q '\"addresses\":\[[^]]*\"10.88.0.1\"' &&
           echo '$naming' | grep -q '\"user\":\"root\",\"tty\":\"pts/[0-9]*\"'"
check "a notice from the host reaches the user's terminal and syslog" \
    sh -c "grep -q 'appfw: quota test notice' '$run/tty.txt' &&
           grep -q 'notice for root: quota test notice' '$run/syslog.txt'"
check "with its escape sequence escaped" \
    sh -c "grep -qF 'appfw: quota test notice \\x1b[2J' '$run/tty.txt' &&
           grep -qF 'root: quota test notice \\x1b[2J' '$run/syslog.txt' &&
           ! grep -q '$esc' '$run/tty.txt' '$run/syslog.txt'"
# A new address is reported at once (within the naming interval).
ip -n "$gns" addr add 10.88.0.77/24 dev "$(ip -n "$gns" -o link show |
    awk -F': ' '$2 !~ /^lo/ { sub(/@.*/, "", $2); print $2; exit }')"
for _ in $(seq 40); do
    grep '"type":"naming"' "$run/host.log" | tail -1 | grep -q 10.88.0.77 &&
        break
    sleep 0.1
done
check "an address change is reported" sh -c \
    "grep '\"type\":\"naming\"' '$run/host.log' | tail -1 | grep -q 10.88.0.77"

# --- The decide carries the process's identity.
pybin=$(python3 -c 'import os; print(os.readlink("/proc/self/exe"))')
pysha=$(sha256sum "$pybin" | cut -d' ' -f1)
decide=$(grep '"type":"decide"' "$run/host.log" | grep '"port":8080' | head -1)
check "decide: event, protocol, direction, endpoints" sh -c "echo '$decide' |
    grep -q '\"event\":\"connect\"' && echo '$decide' | grep -q '\"protocol\":\"tcp\"' &&
    echo '$decide' | grep -q '\"direction\":\"outbound\"' &&
    echo '$decide' | grep -q '\"remote\":{\"address\":\"10.88.0.2\",\"port\":8080}'"
check "decide: the executable's path and SHA-256" sh -c "echo '$decide' |
    grep -q '\"path\":\"$pybin\"' && echo '$decide' | grep -q '$pysha'"
check "decide: user, process and command line" sh -c "echo '$decide' |
    grep -q '\"uid\":0' && echo '$decide' | grep -q '\"name\":\"root\"' &&
    echo '$decide' | grep -q 'netns-tcp.py connect 10.88.0.2 8080'"

# --- A static busybox and a raw-syscall client.
bb=$(command -v busybox)
bbsha=$(sha256sum "$(readlink -f "$bb")" | cut -d' ' -f1)
r=$(echo hi | in_guest "$bb" timeout 3 "$bb" nc 10.88.0.2 8080 2>&1)
check "static busybox nc connects where allowed ($r)" has "$r" '^ok:hi'

check "and is identified by its own hash" grep -q "$bbsha" "$run/host.log"
r=$(echo hi | in_guest "$bb" timeout 3 "$bb" nc 10.88.0.2 9090 2>&1)
check "busybox nc is refused where denied ($r)" has "$r" 'refused'
# Another binary (verdicts are cached by SHA-256), named nc.
cp "$raw" "$run/nc" && printf 'x' >>"$run/nc"
r=$(in_guest "$run/nc" 10.88.0.2 8080)
check "a raw-syscall client named nc is denied by name ($r)" \
    has "$r" '^fail ECONNREFUSED'
r=$(in_guest "$raw" fd88::2 9090)
check "a raw-syscall IPv6 connect to a denied port is refused ($r)" \
    has "$r" '^fail ECONNREFUSED'
r=$(in_guest "$raw" 10.88.0.2 8080)
check "a raw-syscall connect to an allowed port passes ($r)" \
    test "$r" = ok

# --- UDP.
in_guest $py udp 10.88.0.2 5353 allowed >/dev/null
in_guest $py udp 10.88.0.2 5354 denied >/dev/null
in_guest $py udp fd88::2 5353 allowed6 >/dev/null
sleep 0.5
check "an allowed UDP datagram arrives" grep -q '^5353 allowed$' "$run/udp.log"
check "over IPv6 too" grep -q '^5353 allowed6$' "$run/udp.log"
check "a denied one does not" sh -c "! grep -q denied '$run/udp.log'"
sleep 1.5
check "a UDP flow's close is reported with what it carried" \
    sh -c "grep '\"type\":\"flow_close\"' '$run/host.log' |
           grep '\"protocol\":\"udp\"' | grep '\"port\":5353' |
           grep -q '\"packets_out\":1'"

# --- Inbound: listen and accept.
UDP_LOG=/dev/null ip netns exec "$gns" sh -c \
    'echo $$ >"$0/cgroup.procs" && exec "$@"' "$cg" $py serve 7070 7071 &
gsrv=$!
sleep 0.5
r=$(in_net $py connect 10.88.0.1 7070)
check "an allowed inbound connection is accepted ($r)" has "$r" '^ok'
r=$(in_net $py connect 10.88.0.1 7071)
check "a denied one is reset ($r)" \
    has "$r" '^fail ConnectionRefusedError 0\.[0-4]'
check "the host was asked about the accept" \
    grep -q '"event":"accept".*"port":7070' "$run/host.log"
check "and about the listen" grep -q '"event":"listen"' "$run/host.log"
kill "$gsrv" 2>/dev/null
# Sockets sock_diag finds only with the packet's interface: bound to a
# device, or to a scoped IPv6 link-local address.  Each is decided (the
# host is asked), never let through for want of a socket.
guest_serve() {
    ip netns exec "$gns" sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' \
        "$cg" env UDP_LOG=/dev/null "$@" $py serve 7071 7072 &
    gsrv=$!
    sleep 0.5
}
guest_serve BIND_DEVICE="afwa$tag"
r=$(in_net $py connect 10.88.0.1 7072)
check "bound to a device: an allowed inbound connection is accepted ($r)" \
    has "$r" '^ok'
check "and the host was asked about it" \
    grep -q '"event":"accept".*"port":7072' "$run/host.log"
r=$(in_net $py connect 10.88.0.1 7071)
check "bound to a device: a denied one is reset ($r)" \
    has "$r" '^fail ConnectionRefusedError'
kill "$gsrv" 2>/dev/null
wait "$gsrv" 2>/dev/null
ip -n "$gns" -6 addr add fe80::88:1/64 dev "afwa$tag" nodad
ip -n "$sns" -6 addr add fe80::88:2/64 dev "afwb$tag" nodad
guest_serve BIND_ADDR="fe80::88:1%afwa$tag"
r=$(in_net $py connect "fe80::88:1%afwb$tag" 7071)
check "on a scoped link-local address: a denied connection is reset ($r)" \
    has "$r" '^fail ConnectionRefusedError'
r=$(in_net $py connect "fe80::88:1%afwb$tag" 7072)
check "and an allowed one is accepted, the host asked ($r)" \
    sh -c "echo '$r' | grep -q '^ok' &&
           grep -q '\"event\":\"accept\".*\"address\":\"fe80::88:1\".*\"port\":7072' '$run/host.log'"
kill "$gsrv" 2>/dev/null
# A port shared by a SO_REUSEPORT group (docs/agent.md, "Shared ports"):
# the kernel picks the socket that takes a connection when the SYN is
# reinjected, and a reuseport BPF program picks as its owner likes, not as
# the agent's lookup did.  Python (allowed) and a copy of it named nc
# (denied) share port 7073, and the group's program hands every
# connection to nc: none may reach it.  Then two processes of one program
# share port 7074, which is decided as usual.
share_serve() {
    ip netns exec "$gns" sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' \
        "$cg" env UDP_LOG=/dev/null REUSEPORT=1 "$@" &
    shared="${shared:-} $!"
    sleep 0.5
}
cp "$(readlink -f /usr/bin/python3)" "$run/nc"
share_serve SERVE_TAG=python $py serve 7073
share_serve SERVE_TAG=nc REUSEPORT_PICK=1 "$run/nc" ${py#python3 } serve 7073
took= refused=0
for i in 1 2 3 4 5 6 7 8; do
    r=$(in_net $py connect 10.88.0.1 7073)
    case $r in
    *by=nc*) took="$took $i" ;;
    "fail ConnectionRefusedError"*) refused=$((refused + 1)) ;;
    esac
done
check "a port shared with another program: no connection reaches the one \
the group's BPF program picks (taken:${took:- none})" test -z "$took"
check "each is refused by the fail mode ($refused of 8)" test "$refused" = 8
check "and the agent says why" \
    grep -q "a shared port has sockets of another application" "$run/agent.log"
share_serve SERVE_TAG=one $py serve 7074
share_serve SERVE_TAG=two REUSEPORT_PICK=1 $py serve 7074
ok=0
for i in 1 2 3 4; do
    r=$(in_net $py connect 10.88.0.1 7074)
    case $r in ok*by=two*) ok=$((ok + 1)) ;; esac
done
check "a port shared by one program's processes is decided as usual \
($ok of 4)" test "$ok" = 4
kill $shared 2>/dev/null
# A new inbound IPv6 UDP flow whose first datagram comes in fragments
# (3000 bytes over a 1500-byte link): nothing reassembles it before the
# queue, which gets the first fragment; the agent reads its ports through
# the fragment header and decides.
UDP_LOG="$run/udp-in.log" ip netns exec "$gns" sh -c \
    'echo $$ >"$0/cgroup.procs" && exec "$@"' "$cg" $py serve udp:5400 &
gsrv=$!
sleep 0.5
big=$(head -c 3000 /dev/zero | tr '\0' x)
in_net $py udp fd88::1 5400 "$big" >/dev/null
sleep 0.5
check "a fragmented first inbound IPv6 datagram is decided and arrives" \
    sh -c "grep -q '^5400 x\{3000\}$' '$run/udp-in.log' &&
           grep -q '\"event\":\"accept\",\"protocol\":\"udp\".*\"port\":5400' '$run/host.log'"
kill "$gsrv" 2>/dev/null

# --- Protocols other than TCP and UDP (docs/agent.md, "Other protocols"):
# ICMP echo from an unprivileged ping socket is decided as that socket's
# send; UDP-Lite and raw sockets have no socket event the agent can name,
# and fail mode closed refuses them, outbound and inbound.  Kernel ICMP
# (errors, neighbour discovery, echo replies) keeps working.
# The system's Python: one under root's home is not the user's to run.
pyexe=$(readlink -f /usr/bin/python3)
pyfile="$(cd "$(dirname "$0")" && pwd)/proto.py"
proto="$pyexe $pyfile"
nobody="setpriv --reuid=65534 --regid=65534 --clear-groups"
for ns in "$gns" "$sns"; do
    ip netns exec "$ns" sysctl -qw net.ipv4.ping_group_range="0 2147483647"
done
pdir="$run/proto"
chmod 711 "$run" && mkdir -m 755 "$pdir" && cp "$pyexe" "$pdir/nc" ||
    die "a python named nc"
r=$(in_guest $nobody $proto ping 10.88.0.2)
check "an unprivileged ping is answered where allowed ($r)" has "$r" '^ok'
check "and was decided as an icmp send of its program" grep -q \
    '"event":"send","protocol":"icmp","direction":"outbound".*"remote":{"address":"10.88.0.2","port":0}.*"user":{"uid":65534' \
    "$run/host.log"
ip -n "$gns" neigh flush all
r=$(in_guest $nobody $proto ping fd88::2)
check "over IPv6 too, neighbour discovery passing ($r)" has "$r" '^ok'
check "decided as well" grep -q \
    '"protocol":"icmp","direction":"outbound".*"address":"fd88::2","port":0' \
    "$run/host.log"
# Another user: verdicts are cached by hash and user, and this copy's
# hash is the allowed Python's.
r=$(in_guest setpriv --reuid=65533 --regid=65533 --clear-groups \
    "$pdir/nc" "$pyfile" ping 10.88.0.2 2>/dev/null)
check "a denied ping gets no answer ($r)" sh -c "! echo '$r' | grep -q '^ok'"
r=$(in_net $proto ping 10.88.0.1)
check "the guest's kernel still answers pings ($r)" has "$r" '^ok'
r=$(in_net $proto ping fd88::1)
check "over IPv6 too ($r)" has "$r" '^ok'

# One datagram each way, the other side listening: none may arrive.
proto_none() {         # DESCRIPTION SERVER-NS-CMD CLIENT-NS-CMD KIND HOST P
    out="$pdir/serve.out"
    $2 $proto serve "$4" "$6" 2 >"$out" 2>&1 &
    spid=$!
    for _ in $(seq 40); do
        grep -q ready "$out" && break
        sleep 0.05
    done
    $3 $proto send "$4" "$5" "$6" >/dev/null 2>&1
    wait "$spid"
    check "$1 ($(tail -1 "$out"))" grep -q '^none' "$out"
}
proto_none "UDP-Lite from an unprivileged user is refused" in_net \
    "in_guest $nobody" udplite 10.88.0.2 5400
proto_none "inbound UDP-Lite to an unprivileged user is refused" \
    "in_guest $nobody" in_net udplite 10.88.0.1 5401
proto_none "UDP-Lite over IPv6 is refused" in_net "in_guest $nobody" \
    udplite fd88::2 5402
proto_none "a raw socket's datagram (protocol 253) is refused" in_net \
    in_guest raw 10.88.0.2 253
proto_none "inbound raw IP (protocol 253) is refused" in_guest in_net raw \
    10.88.0.1 253
check "the refusals are logged with their protocol" grep -q \
    'protocol 136 has no socket event .*fail mode closed rejects' \
    "$run/agent.log"

# --- flow_open on cached allows, flow_close and stats.
connect 10.88.0.2 8080 >/dev/null
check "a connect on a cached allow is decided in the kernel" \
    test "$(field kernel_cached_allow)" -ge 1
sleep 1.5
check "and still reported to the host (flow_open), with its application" \
    sh -c "grep '\"type\":\"flow_open\".*\"port\":8080' '$run/host.log' |
           grep -q '\"sha256\":'"
check "closed connections are reported with their bytes (flow_close)" \
    sh -c "grep '\"type\":\"flow_close\"' '$run/host.log' |
           grep -q '\"bytes_out\":[1-9]'"
in_guest $py loop 10.88.0.2 8080 0 >/dev/null
UDP_LOG=/dev/null ip netns exec "$sns" $py serve 6060 &
lsrv=$!
sleep 0.3
in_guest python3 -c "
import socket, time
s = socket.create_connection(('10.88.0.2', 6060))
s.sendall(b'x' * 5000)
time.sleep(2.5)
" &
sleep 2.2
check "open connections are reported in stats with their bytes" \
    sh -c "grep '\"type\":\"stats\"' '$run/host.log' | grep '\"port\":6060' |
           grep -q '\"bytes_out\":[1-9]'"
wait $!
kill "$lsrv" 2>/dev/null

# --- Identity is the process's at the moment of the event (issue 19).
# An unprivileged user's programs (uid 65534).  One that connects and then
# executes an allowed program is judged as itself (as last seen, or as an
# unknown application), and neither program's later connects inherit the
# other's verdict.  A file rewritten in place (same size, modification
# time set back) and a new file that got a deleted one's inode number
# inherit no verdict cached for the old one.  host-sim denies here also
# the hash of "$idir/bad" and applications it is not told.
idir="$run/ident"
chmod 711 "$run"
mkdir "$idir" && chmod 1777 "$idir"
as_user() {
    in_guest setpriv --reuid=65534 --regid=65534 --clear-groups "$@"
}
# A copy of $1 at $2, one byte longer ($3), for a hash of its own.
variant() { cp "$1" "$2" && printf '%s' "$3" >>"$2" && chmod 755 "$2"; }
cx="$build/tests/agent/connexec"
variant "$cx" "$idir/connexec" "" && variant "$cx" "$idir/nc" x &&
    variant "$cx" "$idir/newbie" y && variant "$raw" "$idir/bad" b &&
    variant "$raw" "$idir/tool" a && variant "$raw" "$idir/tool2" c ||
    die "test programs in $idir"
chown 65534:65534 "$idir"/*
badsha=$(sha256sum "$idir/bad" | cut -d' ' -f1)
ups=$(grep -c "channel up" "$run/agent.log")
stop_host
start_host --deny-sha256 "$badsha" --deny-unknown
for _ in $(seq 200); do
    [ "$(grep -c "channel up" "$run/agent.log")" -gt "$ups" ] && break
    sleep 0.05
done
# $1 starts a non-blocking connect to 10.88.0.2:8080 and executes the
# allowed connexec, which reports how it ended, then connects itself.  The
# agent is stopped meanwhile, so that it reads /proc only after the exec.
connect_exec() {
    kill -STOP "$(agent_pid)"
    as_user "$1" connect 10.88.0.2 8080 "$idir/connexec" wait 10.88.0.2 \
        8080 >"$idir/out" &
    for _ in $(seq 200); do
        for p in /proc/[0-9]*; do
            [ "$(readlink "$p/exe" 2>/dev/null)" = "$idir/connexec" ] &&
                break 2
        done
        sleep 0.01
    done
    kill -CONT "$(agent_pid)"
    wait $!
    cat "$idir/out"
}
r=$(as_user "$idir/nc" wait 10.88.0.2 9090)
check "identity: an unprivileged nc is refused ($(echo $r))" \
    has "$r" 'second fail (ECONNREFUSED|EPERM)'
r=$(connect_exec "$idir/nc")
check "a connect by nc that then executes an allowed program is judged as nc ($(echo $r))" \
    sh -c "echo '$r' | grep -q '^first fail ECONNREFUSED' &&
           grep '\"type\":\"decide\"' '$run/host.log' | grep '\"port\":8080' |
           grep -q '\"name\":\"nc\"'"
check "the program it executed connects as itself ($(echo $r))" \
    has "$r" 'second ok'
r=$(as_user "$idir/nc" wait 10.88.0.2 8080)
check "nc's next connect inherits no allow cached for the other ($(echo $r))" \
    has "$r" 'second fail (ECONNREFUSED|EPERM)'
r=$(connect_exec "$idir/newbie")
check "one the agent never saw is judged as an unknown application ($(echo $r))" \
    has "$r" '^first fail ECONNREFUSED'
check "its decide has no app, and the host takes it" \
    sh -c "! grep -q 'host_sim_error' '$run/host.log' &&
           grep '\"type\":\"decide\"' '$run/host.log' | grep '\"port\":8080' |
           grep -v '\"app\"' | grep -q '\"uid\":65534'"
r=$(as_user "$idir/tool" 10.88.0.2 8080)
check "a program of the user is allowed, and cached in the kernel ($r)" \
    has "$r" '^ok'
as_user sh -c 'touch -r "$1" "$1.t" && cat "$2" >"$1" && touch -r "$1.t" "$1"' \
    sh "$idir/tool" "$idir/bad"
r=$(as_user "$idir/tool" 10.88.0.2 8080)
check "rewritten in place, same size and mtime: no cached allow, its hash decides ($r)" \
    sh -c "echo '$r' | grep -q '^fail ECONNREFUSED' &&
           grep -q '$badsha' '$run/host.log'"
r=$(as_user "$idir/tool2" 10.88.0.2 8080)
check "another is allowed and cached ($r)" has "$r" '^ok'
ino=$(stat -c %i "$idir/tool2")
rm "$idir/tool2"
# A new file of the user's with the same inode number (ext4 hands a freed
# inode out again).
for n in $(seq 100); do
    as_user cp "$idir/bad" "$idir/r$n"
    [ "$(stat -c %i "$idir/r$n")" = "$ino" ] && break
done
if [ "$(stat -c %i "$idir/r$n")" = "$ino" ]; then
    r=$(as_user "$idir/r$n" 10.88.0.2 8080)
    check "a new file with a deleted one's inode inherits none of its verdicts ($r)" \
        has "$r" '^fail ECONNREFUSED'
else
    echo "SKIP inode $ino was not handed out again"
fi
rm -f "$idir"/r*
# The same binary by other paths shares no cached verdict: the security
# VM judges a copy away from its install path, or in /tmp, as unknown.
# host-sim denies the name nc.
variant "$raw" "$idir/okapp" k && mkdir -m 755 "$idir/bm" "$idir/cp" &&
    : >"$idir/bm/nc" && cp "$idir/okapp" "$idir/cp/nc" &&
    chown -R 65534:65534 "$idir/okapp" "$idir/cp" || die "copies in $idir"
r=$(as_user "$idir/okapp" 10.88.0.2 8080)
check "identity: a program is allowed and its verdict cached ($r)" \
    has "$r" '^ok'
if mount --bind "$idir/okapp" "$idir/bm/nc"; then
    r=$(as_user "$idir/bm/nc" 10.88.0.2 8080)
    umount "$idir/bm/nc"
    check "the same file bind-mounted as nc is judged by that path ($r)" \
        has "$r" '^fail ECONNREFUSED'
fi
r=$(as_user "$idir/cp/nc" 10.88.0.2 8080)
check "a copy of it named nc is judged by its own path ($r)" \
    has "$r" '^fail ECONNREFUSED'
# Offline (fail mode cached), the last policy_push allows "tool" by name,
# but not one under /tmp ($run is), which is judged as unknown: denied by
# the default.  The same program elsewhere (/run) is allowed.
cat >"$idir/push.json" <<'EOF2'
{"type": "policy_push", "version": 8, "default": "deny", "ttl": 0,
 "rules": [{"id": "allow-tool", "action": "allow", "name": "tool"}]}
EOF2
odir=/run/appfw-ident-$tag
mkdir -m 755 "$odir" && variant "$raw" "$odir/tool" o &&
    variant "$raw" "$idir/cp/tool" o || die "programs in $odir"
stop_pid "$(agent_pid)"
stop_host
start_host --policy-push "$idir/push.json"
start_agent --fail-mode cached
for _ in $(seq 50); do
    grep -q allow-tool "$run/state/policy.json" 2>/dev/null && break
    sleep 0.05
done
stop_host
sleep 0.3
r=$(as_user "$odir/tool" 10.88.0.2 8080)
check "offline, the policy_push allows tool by name ($r)" has "$r" '^ok'
r=$(as_user "$idir/cp/tool" 10.88.0.2 8080)
check "but not a tool under /tmp, judged as unknown ($r)" \
    has "$r" '^fail ECONNREFUSED'
rm -rf "$odir"
stop_pid "$(agent_pid)"
start_host
start_agent
# The new policy versions flushed the caches: what follows wants its
# allow cached again.
connect 10.88.0.2 8080 >/dev/null

# --- The host away: fail mode closed.
stop_host
sleep 0.3
check_connect "host away, fail closed: an uncached connect is refused" \
    10.88.0.2 8081 '^fail ConnectionRefusedError'
check_connect "a cached allow still passes" 10.88.0.2 8080 '^ok'

# --- Fail mode cached: the last policy_push decides.
cat >"$run/policy.json" <<'EOF'
{"type": "policy_push", "version": 7, "default": "deny", "ttl": 60,
 "rules": [{"id": "allow-8081", "action": "allow", "protocol": "tcp",
            "port_min": 8081, "port_max": 8081}]}
EOF
stop_pid "$(agent_pid)"
start_host --policy-push "$run/policy.json"
start_agent --fail-mode cached
for _ in $(seq 50); do
    [ -f "$run/state/policy.json" ] && break
    sleep 0.05
done
check "the agent keeps the policy_push it received" \
    grep -q allow-8081 "$run/state/policy.json"
stop_host
sleep 0.3
UDP_LOG=/dev/null ip netns exec "$sns" $py serve 8081 8082 &
srv2=$!
sleep 0.3
check_connect "host away, fail cached: a connect the policy allows passes" \
    10.88.0.2 8081 '^ok'
check_connect "and one it does not is refused" 10.88.0.2 8082 \
    '^fail ConnectionRefusedError'
kill "$srv2" 2>/dev/null

# --- Fail mode open: without the host, allowed (and logged).
stop_pid "$(agent_pid)"
start_host
start_agent --fail-mode open
stop_host
sleep 0.3
check_connect "host away, fail open: a connect the host would deny passes" \
    10.88.0.2 9090 '^ok'
check "and the fail-mode decision is logged" \
    grep -q 'fail mode open allows connect tcp .*9090' "$run/agent.log"

# --- The agent killed: the kernel refuses until it is back.
start_host
kill -9 "$(agent_pid)"
sleep 1.3
check_connect "agent killed: new connections are refused in the kernel" \
    10.88.0.2 8080 '^fail PermissionError'
rm -f "$run/appfw-agent.pid"
start_agent
check_connect "agent back: connections pass again" 10.88.0.2 8080 '^ok'

# --- What the host decides changed (policy_change): every cached verdict
# goes, the kernel's too, and the next connect is asked about again.
stop_pid "$(agent_pid)"
stop_host
start_host --change-deny-port 8080
start_agent
check_connect "before a policy change: 8080 passes" 10.88.0.2 8080 '^ok'
decides_8080() { grep '"type":"decide"' "$run/host.log" | grep -c '"port":8080'; }
n0=$(decides_8080)
check_connect "and again, from the cache" 10.88.0.2 8080 '^ok'
check "without a new decide" test "$(decides_8080)" = "$n0"
kill -USR1 "$host_pid"
for _ in $(seq 50); do
    [ "$(field policy_changes)" -ge 1 ] 2>/dev/null && break
    sleep 0.1
done
check "the agent took the policy_change" test "$(field policy_changes)" -ge 1
check_connect "after it, the connect is asked about again and refused" \
    10.88.0.2 8080 '^fail'
check "by a new decide" test "$(decides_8080)" -gt "$n0"

# --- Clean stop and --uninstall.
stop_pid "$(agent_pid)"
check "SIGTERM stops the agent and removes its pid file" \
    test ! -e "$run/appfw-agent.pid"
ip netns exec "$gns" "$agent" --uninstall $common_opts >/dev/null 2>&1
check "--uninstall removes the chains" \
    sh -c "! ip netns exec $gns iptables-legacy -S | grep -q APPFW"
check "and the hooks" test ! -e "$run/bpffs/appfw/link_afw_connect4"
check_connect "with no agent and no hooks, connections are not filtered" \
    10.88.0.2 9090 '^ok'
# The chains return a packet with the allow bit before they look for the
# reject bit, so the two marks must be different bits (after --uninstall:
# a start that went wrong would find nothing of the test's to replace).
out=$(ip netns exec "$gns" timeout 5 "$agent" $common_opts \
      --channel "$run/none.sock" --reject-mark 0x10000000 \
      --allow-mark 0x10000000 2>&1)
check "the same bit for both marks is refused at start ($out)" \
    sh -c "echo '$out' | grep -q 'must differ' &&
           ! ip netns exec $gns iptables-legacy -S | grep -q APPFW"
check "no errors or crashes on stderr" \
    sh -c "! grep -v '^$' '$run/agent.stderr' 2>/dev/null | grep -q ."

echo "agent: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
