#!/bin/sh
# Guest B of tests/deploy/test-libvirt.sh (appfw.run=guest-hostile): a
# compromised guest.  It kills its agent and removes its hooks, floods its
# channel with garbage, claims to be guest A (appfw.victim=UUID,
# appfw.victim-name=NAME on the kernel command line), then keeps trying
# connections appfw never approved while the host restarts appfw-secd and
# appfw-switchd: Open vSwitch alone must refuse them all.
. /lib/appfw/guest-lib.sh
srv=10.66.0.2
arg() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" /proc/cmdline; }

check "B: the agent reaches appfw-switchd" agent_wait_up 1
kill -9 "$(cat /run/appfw-agent/appfw-agent.pid)"
appfw-agent -c /etc/appfw/agent.conf --uninstall >/dev/null 2>&1
dev=$(agent_port_dev)
check "B: the agent's port is $dev" test -c "$dev"

echo "APPFW-E2E FLOOD-START"
r=$(hostile garbage "$dev" 20)
echo "APPFW-E2E FLOOD-DONE $r"

r=$(hostile spoof "$dev" "$(arg appfw.victim)" "$(arg appfw.victim-name)" \
    /spoof/claims-to-be-a 8082)
check "B: a decide claiming to come from VM A is answered ($r)" \
    has "$r" '^verdict='

echo "APPFW-E2E LOOP-START"
r=$(connect_loop $srv 8080 25)
check "B: without its agent no unapproved connection passed, restarts included ($r)" \
    has "$r" 'ok=0 fail=[1-9][0-9]'
echo APPFW-CHECKS-DONE
