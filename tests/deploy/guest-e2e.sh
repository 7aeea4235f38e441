#!/bin/sh
# Guest A of tests/deploy/test-libvirt.sh (appfw.run=guest-e2e), with its
# agent: connects through Open vSwitch to the test's server at 10.66.0.2,
# where the policy allows 8080 (cached), 8081 and the gates 7070-7079
# (never cached: every connect is decided), and nothing else.  The host
# paces it with gates (guest-lib.sh).  Prints "APPFW-CHECK PASS|FAIL NAME"
# and "APPFW-E2E ..." lines, then "APPFW-CHECKS-DONE".
. /lib/appfw/guest-lib.sh
srv=10.66.0.2

check "the agent reaches appfw-switchd over virtio-serial" agent_wait_up 1
r=$(echo hi | nc -w 5 $srv 8080 2>&1)
check "the policy's allowed connect passes through OVS ($r)" has "$r" '^ok:hi'
r=$(echo hi | nc -w 5 $srv 9090 2>&1)
check "a connect the policy denies is refused in the guest ($r)" \
    has "$r" 'refused'

# Decisions through the whole path (agent, switchd, secd, flow install),
# alone and while guest B floods its own channel with garbage.
connbench connect $srv 8081 1 >/dev/null   # The agent hashes it once.
r=$(connbench connect $srv 8081 30)
echo "APPFW-E2E decisions-alone $r"
gate $srv 7071
r=$(connbench connect $srv 8081 30)
echo "APPFW-E2E decisions-flood $r"
check "every decision came in time while another VM flooded its channel ($r)" \
    has "$r" 'ok=30 fail=0'

# While the host restarts appfw-secd and then appfw-switchd: the approved
# connection keeps passing.
gate $srv 7072
echo "APPFW-E2E LOOP-START"
r=$(connect_loop $srv 8080 25)
check "an approved connection kept passing through the restarts ($r)" \
    has "$r" 'ok=[1-9][0-9]* fail=0'
# Then decisions come again (the agent's channel reconnects first).
for _ in $(seq 30); do
    r=$(connbench connect $srv 8081 1)
    has "$r" 'ok=1' && break
    sleep 1
done
check "after the restarts new connections are decided and pass ($r)" \
    has "$r" 'ok=1'
echo APPFW-CHECKS-DONE
