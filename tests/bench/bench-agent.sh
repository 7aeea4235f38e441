#!/bin/sh
# Benchmark: appfw-agent in a network namespace on this machine, each
# measurement against a baseline in the same run (issue #6's goals):
#   - connect() with a cached verdict (decided in the kernel), against the
#     same connect() from a twin namespace without the agent: median
#     <= 1.10x and p99 <= 1.25x;
#   - connect() with an uncached verdict (asked over the channel): the
#     time it adds, against a bare request/response over the same kind of
#     channel (connbench rr to host-sim): <= 1.5x;
#   - a burst of 10,000 connects at once: none bypassed (each SYN reached
#     the agent), no queue drops (the kernel's nfnetlink_queue counters).
# First, what waking a process on the other vCPU costs here, which the
# uncached path pays and the bare request/response does not; then the
# uncached measurement again with the host stand-ins on a vCPU of their
# own, as a host outside the guest (split()); last, all of it again with
# the guest's halt polling on, where this machine's kernel has it off.
# Each comparison runs in one connbench process that takes turns, one
# connect (or request) at a time, between the sides it compares, so that
# both see the same moments of this shared machine; the percentiles are
# over all the samples.  A control with no agent on either side shows
# how much of a ratio is the method's own noise.
set -u
build=${BUILD:-build}
agent="$build/guest-agent/appfw-agent"
hostsim="$build/tests/agent/host-sim"
cb="$build/tests/agent/connbench"
N=${AGENT_BENCH_CONNECTS:-10000}
run=$(mktemp -d /tmp/appfw-bench-agent.XXXXXX) || exit 1
tag=$$
g1=afwbg$tag
g2=afwbh$tag
sv=afwbs$tag
cgroot="$run/cgroup2"
cg="$cgroot/appfw-bench-agent-$tag"
cgb="$cgroot/appfw-bench-noagent-$tag"

die() {
    echo "bench-agent: $*" >&2
    for f in "$run"/*.log "$run"/*.stderr; do
        [ -f "$f" ] && { echo "--- $f"; tail -20 "$f"; } >&2
    done
    exit 1
}
. "$(dirname "$0")/../agent/lib-agent.sh"
opts="--cgroup $cg --pin-dir $run/bpffs/appfw --state-dir $run/state \
--rundir $run --queue 4244 --iptables iptables-legacy \
--ip6tables ip6tables-legacy ${AGENT_BENCH_AGENT_OPTS:-}"
haltpoll=/sys/module/haltpoll/parameters/guest_halt_poll_ns
haltpoll_was=
cleanup() {
    [ -n "$haltpoll_was" ] && echo "$haltpoll_was" >"$haltpoll"
    [ -n "${KEEP_LOGS:-}" ] && mkdir -p "$KEEP_LOGS" &&
        cp "$run"/*.log "$run"/*.stderr "$KEEP_LOGS" 2>/dev/null
    [ -f "$run/appfw-agent.pid" ] && stop_pid "$(cat "$run/appfw-agent.pid")"
    stop_pid "${host_pid:-}"
    stop_pid "${rr_pid:-}"
    stop_pid "${srv_pid:-}"
    stop_pid "${srv2_pid:-}"
    if [ -d "$run/bpffs" ]; then
        ip netns exec "$g1" "$agent" --uninstall $opts >/dev/null 2>&1
        umount "$run/bpffs" 2>/dev/null
    fi
    rmdir "$cg" "$cgb" 2>/dev/null
    umount "$cgroot" 2>/dev/null
    for ns in "$g1" "$g2" "$sv"; do
        ip netns del "$ns" 2>/dev/null
    done
    rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# --- Two guests (one with the agent), one server namespace.
for ns in "$g1" "$g2" "$sv"; do
    ip netns add "$ns" || die "ip netns add"
    ip -n "$ns" link set lo up
done
ip link add "afwx$tag" netns "$g1" type veth peer name "afwy$tag" \
    netns "$sv" || die veth
ip link add "afwz$tag" netns "$g2" type veth peer name "afwq$tag" \
    netns "$sv" || die veth
ip -n "$g1" addr add 10.88.0.1/24 dev "afwx$tag"
ip -n "$sv" addr add 10.88.0.2/24 dev "afwy$tag"
ip -n "$g2" addr add 10.89.0.1/24 dev "afwz$tag"
ip -n "$sv" addr add 10.89.0.2/24 dev "afwq$tag"
for pair in "$g1 afwx$tag" "$sv afwy$tag" "$g2 afwz$tag" "$sv afwq$tag"; do
    set -- $pair
    ip -n "$1" link set "$2" up
done
mkdir "$cgroot" && mount -t cgroup2 none "$cgroot" || die "cgroup2 mount"
mkdir "$cg" "$cgb" || die "cgroup"
mkdir "$run/bpffs" "$run/state" && mount -t bpf bpf "$run/bpffs" ||
    die "bpffs"
# Room for a burst of SYNs at the server.
ip netns exec "$sv" sysctl -qw net.core.somaxconn=65535 \
    net.ipv4.tcp_max_syn_backlog=65535
ip netns exec "$sv" "$cb" serve 8080 &
srv_pid=$!
# The burst's own server port: the rounds before leave thousands of
# TIME_WAIT connections to 8080 that new connects would collide with.
ip netns exec "$sv" "$cb" serve 8090 &
srv2_pid=$!
sleep 0.3

# Prefixes that pin the host stand-ins and the guest's processes to
# CPUs ("taskset -c N"): empty (anywhere) except in split() below.
host_pin=
guest_pin=
start_host() {
    $host_pin "$hostsim" "$1" "$2" --ttl "$3" 2>>"$run/host.stderr" &
}
ups() { grep -c "channel up" "$run/agent.log" 2>/dev/null || true; }
start_agent() {
    ups=$(ups)
    $guest_pin ip netns exec "$g1" "$agent" $opts \
        --channel "$run/host.sock" \
        --log-file "$run/agent.log" --log-level warn,agent:info,main:info \
        2>>"$run/agent.stderr" &
    for _ in $(seq 100); do
        n=$(ups)
        [ "${n:-0}" -gt "${ups:-0}" ] && return 0
        sleep 0.05
    done
    die "appfw-agent did not start"
}
stop_agent() {
    stop_pid "$(cat "$run/appfw-agent.pid")"
}
# connbench in the agent's guest, inside the enforced cgroup.
in_g1() {
    ip netns exec "$g1" sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' \
        "$cg" "$@"
}
num() { echo "$1" | sed -n "s/.*$2=\([0-9.]*\).*/\1/p"; }
# The line of connbench's output that starts with $2, without it.
field() { echo "$1" | sed -n "s/^$2 //p"; }
# connbench pair: connects to $1 from the agent's guest (in the enforced
# cgroup) and from the other guest (in a cgroup of its own), in turns.
pair() {
    dst=$1
    shift
    $guest_pin "$cb" pair "$g1" "$cg" "$dst" "$g2" "$cgb" 10.89.0.2 8080 "$@"
}
# Prints "$1  p50 X.XXx  p99 Y.YYx  $3" from connbench's "p50=X p99=Y" $2.
ratio() {
    printf "%s  p50 %.2fx  p99 %.2fx  %s\n" "$1" "$(num "$2" p50)" \
        "$(num "$2" p99)" "$3"
}

# What waking a process costs here: a round trip to a process asleep on
# this vCPU and to one asleep on the other.  The uncached path wakes
# processes on other vCPUs where the bare request/response does not
# (docs/agent.md, "Performance").
wake() {
    echo "== this machine$1: a round trip to a sleeping process on the" \
         "same vCPU vs the other vCPU (5000 of each, in turns)"
    out=$("$cb" wake 5000 2>&1) || { echo "not measured: $out"; return; }
    echo "same vCPU:  $(field "$out" same)"
    echo "other vCPU: $(field "$out" other)"
    ratio "RESULT waking a process on the other vCPU$1 vs the same vCPU" \
        "$(field "$out" ratio)" "(not a goal: what the ratios below pay)"
}

# Cached verdicts: decided in the kernel.  $1: a label for the RATIO line.
cached() {
    start_host "$run/host.sock" "$run/host.log" 3600
    host_pid=$!
    sleep 0.2
    start_agent
    in_g1 "$cb" connect 10.88.0.2 8080 10 >/dev/null   # the first one asks
    echo "== agent$1: connect() with a cached verdict vs no agent ($N pairs)"
    out=$(pair 10.88.0.2 "$N")
    echo "agent:    $(field "$out" a)"
    echo "no agent: $(field "$out" b)"
    [ "$(num "$(field "$out" a)" fail)" = 0 ] &&
        [ "$(num "$(field "$out" b)" fail)" = 0 ] || die "connects failed"
    # The method's own noise: the same measurement with no agent on
    # either side (both sides the second guest).
    ctl=$("$cb" pair "$g2" "$cgb" 10.89.0.2 "$g2" "$cgb" 10.89.0.2 8080 "$N")
    echo "control, no agent on both sides: $(field "$ctl" a);" \
         "$(field "$ctl" b); $(field "$ctl" ratio)"
    ratio "RATIO cached connect vs no agent$1" "$(field "$out" ratio)" \
        "goal: p50 <= 1.10x, p99 <= 1.25x"
    kill -USR1 "$(cat "$run/appfw-agent.pid")"
    sleep 0.3
    # This agent's status (the log has the earlier runs' too).
    grep 'status ' "$run/agent.log" | tail -1 |
        grep -q 'kernel_cached_allow=[1-9]' ||
        die "the connects were not decided in the kernel"
    stop_agent
    stop_pid "$host_pid"
}

# Uncached verdicts: every connect asks over the channel; then, with $2
# set, a burst.
uncached() {
    start_host "$run/host.sock" "$run/host.log" 0
    host_pid=$!
    start_host "$run/rr.sock" "$run/rr.log" 0
    rr_pid=$!
    sleep 0.2
    start_agent
    M=$((N / 2))
    echo
    echo "== agent$1: connect() with an uncached verdict vs no agent vs" \
         "bare request/response ($M of each, in turns)"
    out=$(pair 10.88.0.2 "$M" "$run/rr.sock")
    echo "agent:    $(field "$out" a)"
    echo "no agent: $(field "$out" b)"
    echo "bare request/response: $(field "$out" rr)"
    [ "$(num "$(field "$out" a)" fail)" = 0 ] || die "uncached connects failed"
    ratio "RATIO time an uncached verdict adds vs bare request/response$1" \
        "$(field "$out" added)" "goal: <= 1.5x"
    [ -n "${2:-}" ] && burst
    stop_agent
    stop_pid "$host_pid"
    stop_pid "$rr_pid"
}

# A burst of 10,000 connects at once.
burst() {
    B=${AGENT_BENCH_BURST:-10000}
    echo
    echo "== agent: a burst of $B connects at once (uncached)"
    kill -USR1 "$(cat "$run/appfw-agent.pid")"
    sleep 0.3
    p0=$(grep 'status ' "$run/agent.log" | tail -1 |
         sed 's/.* packets=\([0-9]*\).*/\1/')
    q0=$(qstat)
    r=$(in_g1 "$cb" burst 10.88.0.2 8090 "$B")
    sleep 0.5
    kill -USR1 "$(cat "$run/appfw-agent.pid")"
    sleep 0.3
    st=$(grep 'status ' "$run/agent.log" | tail -1)
    p1=$(echo "$st" | sed 's/.* packets=\([0-9]*\).*/\1/')
    q1=$(qstat)
    echo "burst: $r; packets the agent decided: $((p1 - p0)); queue before" \
         "($q0) after ($q1); agent $(echo "$st" | grep -o 'queue_errors=[0-9]*')"
    echo "RESULT burst of $B: connected $(num "$r" ok), failed $(num "$r" fail)," \
         "decided by the agent $((p1 - p0)), kernel queue drops" \
         "$(num "$q1" queue_dropped)/$(num "$q1" user_dropped)  goal: all" \
         "connected, all decided, no drops"
}
qstat() {
    ip netns exec "$g1" cat /proc/net/netfilter/nfnetlink_queue |
        awk '$1 == 4244 { print "queue_dropped=" $6 " user_dropped=" $7 }'
}

# Uncached verdicts with the channel's far end on a CPU of its own.  In
# deployment the host answers from the hypervisor's CPUs, so a request
# over the channel always leaves the guest's vCPU; here the host
# stand-ins share this machine's two vCPUs with the guest, and the bare
# request/response above can run wholly on one vCPU while the agent's
# question (three processes) cannot.  This runs the host stand-ins on the
# last vCPU and the guest's side (agent, clients, servers) on the first,
# as a one-vCPU guest with its host elsewhere.
# $1: a label for the RATIO line.
split() {
    last=$(($(nproc) - 1))
    [ "$last" -ge 1 ] || { echo "split: one CPU only, not measured"; return; }
    host_pin="taskset -c $last"
    guest_pin="taskset -c 0"
    taskset -pc 0 "$srv_pid" >/dev/null
    echo
    echo "== host stand-ins on vCPU $last, the guest's side on vCPU 0"
    uncached " (host on its own vCPU$1)"
    taskset -pc "0-$last" "$srv_pid" >/dev/null
    host_pin=
    guest_pin=
}

# AGENT_BENCH_ROUNDS picks rounds by name, for work on one of them
# (default: all): wake cached uncached split haltpoll.  (And
# AGENT_BENCH_AGENT_OPTS, in 'opts' above, adds options to the agent's
# command line, e.g. --poll-us 0.)
rounds=${AGENT_BENCH_ROUNDS:-wake cached uncached split haltpoll}
round() { case " $rounds " in *" $1 "*) return 0 ;; esac; return 1; }

round wake && wake ""
round cached && cached ""
round uncached && uncached "" burst
round split && split ""

# The same with the guest's halt polling on, where this machine has it
# off (haltpoll.guest_halt_poll_ns=0 on its kernel command line): an idle
# vCPU then polls for 200 us, cpuidle-haltpoll's default, before it
# halts, and a wakeup no longer waits for the hypervisor to run a halted
# vCPU again.  The setting is restored on exit.
if round haltpoll && [ -w "$haltpoll" ] && [ "$(cat "$haltpoll")" = 0 ]; then
    echo
    echo "== again with guest halt polling at 200 us (this machine: 0)"
    haltpoll_was=0
    echo 200000 >"$haltpoll" || die "$haltpoll"
    wake " (halt polling)"
    cached " (halt polling)"
    uncached " (halt polling)"
    split ", halt polling"
    echo 0 >"$haltpoll"
    haltpoll_was=
fi
