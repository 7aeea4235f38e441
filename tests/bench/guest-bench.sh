#!/bin/sh
# Runs inside appfw's test guest (booted by tests/bench/bench-agent-qemu.sh
# with appfw.run=guest-bench): connect() latency to the host (10.0.2.2
# port 8080, QEMU's user network) with the agent deciding from its kernel
# cache, against the same connects with the agent stopped and its hooks
# and chains removed.  Rounds alternate; prints one line per round and
# "APPFW-BENCH-DONE".
N=${N:-300}
. /lib/appfw/guest-lib.sh
ups=1
agent_wait_up 1 || { echo "APPFW-BENCH-ERROR the agent did not start"; exit 1; }
for round in 1 2 3 4 5; do
    /scripts/connbench connect 10.0.2.2 8080 5 >/dev/null  # cache it
    a=$(/scripts/connbench connect 10.0.2.2 8080 "$N")
    kill "$(cat /run/appfw-agent/appfw-agent.pid)"
    sleep 0.5
    /usr/sbin/appfw-agent -c /etc/appfw/agent.conf --uninstall >/dev/null
    b=$(/scripts/connbench connect 10.0.2.2 8080 "$N")
    echo "APPFW-BENCH round $round: agent $a; no agent $b"
    /usr/sbin/appfw-agent -c /etc/appfw/agent.conf &
    ups=$((ups + 1))
    agent_wait_up "$ups" || { echo "APPFW-BENCH-ERROR restart"; exit 1; }
done
echo APPFW-BENCH-DONE
