#!/bin/sh
# The demo's second guest (deploy/demo-story.sh): its agent is killed and
# its hooks removed, as a compromised guest would; Open vSwitch still
# blocks what was never approved.
. /lib/appfw/guest-lib.sh
# The programs by path: /bin/nc is busybox's own applet.
demo_start
r=$(/usr/bin/fetch http://10.66.0.100:8080/hello.txt 2>&1)
step "download $r"
kill -9 "$(cat /run/appfw-agent/appfw-agent.pid)"
appfw-agent -c /etc/appfw/agent.conf --uninstall >/dev/null 2>&1
step "AGENT-GONE"
r=$(echo hi | /usr/bin/nc -w 3 10.66.0.100 9000 2>&1)
step "netcat-without-agent $r"
step "DONE"
