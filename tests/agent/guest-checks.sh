#!/bin/sh
# Runs inside appfw's test guest (booted by tests/agent/test-agent-qemu.sh
# with appfw.run=guest-checks): the agent's checks from within a real
# guest kernel.  Prints "APPFW-CHECK PASS|FAIL NAME" lines, then
# "APPFW-CHECKS-DONE".  The host (QEMU's user network, 10.0.2.2) serves
# TCP 8080 and 8081; its channel peer denies 9090.
. /lib/appfw/guest-lib.sh

check "the agent starts and reaches the host over virtio-serial" agent_wait_up 1
r=$(echo hi | nc -w 5 10.0.2.2 8080 2>&1)
check "an allowed connect passes ($r)" has "$r" '^ok:hi'
r=$(echo hi | nc -w 5 10.0.2.2 9090 2>&1)
check "a denied connect is refused at once ($r)" has "$r" 'refused'
r=$(echo hi | nc -w 5 10.0.2.2 9090 2>&1)
check "a cached denial fails in the kernel ($r)" has "$r" 'not permitted'
r=$(echo hi | nc -w 5 10.0.2.2 8080 2>&1)
check "a cached allow passes ($r)" has "$r" '^ok:hi'

# A DNS query to the host: busybox connects its UDP socket, so the hooks
# record no flow and the agent finds the socket through sock_diag (the
# inet_diag modules).  The statistics pass after it (stats-interval = 5)
# finds the socket gone, also through sock_diag, and reports the flow
# closed; the host checks for that flow_close.
timeout 2 nslookup appfw.example 10.0.2.2 >/dev/null 2>&1
sleep 6
check "sock_diag works: the query was decided, not refused for want of its socket" \
    sh -c "! grep -E 'no socket for|sock_diag' /run/appfw-agent.log"

# The agent killed: the kernel refuses what it would have to ask about.
kill -9 "$(cat /run/appfw-agent/appfw-agent.pid)"
sleep 6
r=$(echo hi | nc -w 5 10.0.2.2 8081 2>&1)
check "agent killed: a new connection is refused in the kernel ($r)" \
    has "$r" 'not permitted'
/usr/sbin/appfw-agent -c /etc/appfw/agent.conf &
check "the agent comes back" agent_wait_up 2
r=$(echo hi | nc -w 5 10.0.2.2 8081 2>&1)
check "and connections pass again ($r)" has "$r" '^ok:hi'

# SCTP and DCCP from an unprivileged user (alice): no socket event the
# agent can name, so fail mode closed refuses them.  QEMU's user network
# forwards neither, so what counts is that the agent refused them.
r=$(protoconnect sctp 1000 10.0.2.2 9300 2>&1)
check "an unprivileged SCTP connect does not get through ($r)" has "$r" '^fail'
check "the agent refused it" \
    grep -q 'protocol 132 has no socket event.*fail mode closed rejects' \
    /run/appfw-agent.log
r=$(protoconnect dccp 1000 10.0.2.2 9301 2>&1)
check "an unprivileged DCCP connect does not get through ($r)" has "$r" '^fail'
check "the agent refused it" \
    grep -q 'protocol 33 has no socket event.*fail mode closed rejects' \
    /run/appfw-agent.log
echo APPFW-CHECKS-DONE
