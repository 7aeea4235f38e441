#!/bin/sh
# Runs inside appfw's test guest (booted by tests/bench/bench-agent-qemu.sh
# with appfw.run=guest-bench).  Each round measures, one after the other:
#   - connect() to the host (10.0.2.2 port 8080, QEMU's user network) with
#     the agent deciding from its kernel cache;
#   - connect() to port 8081, whose verdicts the host gives with TTL 0, so
#     that every one is asked over the channel;
#   - the bare request/response over a second virtio-serial port
#     (org.appfw.bench.0), to a second host-sim;
#   - connect() to port 8080 with the agent stopped and its hooks and
#     chains removed.
# Then a burst of connects at once to port 8082 (TTL 0 too), with the
# kernel queue's counters before and after.  Prints one line per round,
# one for the burst, and "APPFW-BENCH-DONE".
N=${N:-300}
NU=${NU:-100}
B=${B:-10000}
. /lib/appfw/guest-lib.sh
ups=1
agent_wait_up 1 || { echo "APPFW-BENCH-ERROR the agent did not start"; exit 1; }
rrdev=$(agent_port_dev org.appfw.bench.0) ||
    { echo "APPFW-BENCH-ERROR no org.appfw.bench.0 port"; exit 1; }
cb=/scripts/connbench
for round in 1 2 3 4 5; do
    $cb connect 10.0.2.2 8080 5 >/dev/null  # cache it
    a=$($cb connect 10.0.2.2 8080 "$N")
    u=$($cb connect 10.0.2.2 8081 "$NU")
    r=$($cb rr "$rrdev" "$NU")
    kill "$(cat /run/appfw-agent/appfw-agent.pid)"
    sleep 0.5
    /usr/sbin/appfw-agent -c /etc/appfw/agent.conf --uninstall >/dev/null
    b=$($cb connect 10.0.2.2 8080 "$N")
    echo "APPFW-BENCH round $round: agent $a; uncached $u; rr $r; no agent $b"
    /usr/sbin/appfw-agent -c /etc/appfw/agent.conf &
    ups=$((ups + 1))
    agent_wait_up "$ups" || { echo "APPFW-BENCH-ERROR restart"; exit 1; }
done
qstat() {
    awk '{ print "queue_dropped=" $6 " user_dropped=" $7 }' \
        /proc/net/netfilter/nfnetlink_queue
}
# The packets the agent has decided, from its status line.
decided() {
    kill -USR1 "$(cat /run/appfw-agent/appfw-agent.pid)"
    sleep 1
    grep 'status ' /run/appfw-agent.log | tail -1 |
        sed 's/.* packets=\([0-9]*\).*/\1/'
}
p0=$(decided)
q0=$(qstat)
r=$($cb burst 10.0.2.2 8082 "$B")
sleep 2
p1=$(decided)
echo "APPFW-BENCH burst: $r decided=$((p1 - p0)); queue before $q0;" \
     "after $(qstat)"
# What the agent warned about, if anything (a refused connect says why).
grep -E 'level=(warn|error)' /run/appfw-agent.log | tail -5 |
    sed 's/^/APPFW-BENCH agent: /'
echo APPFW-BENCH-DONE
