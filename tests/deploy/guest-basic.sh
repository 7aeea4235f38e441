#!/bin/sh
# Runs inside appfw's test guest (appfw.run=guest-basic, in
# tests/deploy/test-secvm.sh): connects through Open vSwitch to the
# test's server at 10.66.0.2, where the policy allows port 8080 and not
# 9090.  Prints "APPFW-CHECK PASS|FAIL NAME" lines, then
# "APPFW-CHECKS-DONE".
. /lib/appfw/guest-lib.sh

check "the agent reaches appfw-switchd over virtio-serial" agent_wait_up 1
r=$(echo hi | nc -w 5 10.66.0.2 8080 2>&1)
check "the policy's allowed connect passes through OVS ($r)" has "$r" '^ok:hi'
r=$(echo hi | nc -w 5 10.66.0.2 9090 2>&1)
check "a connect the policy denies is refused in the guest ($r)" \
    has "$r" 'refused'
echo APPFW-CHECKS-DONE
