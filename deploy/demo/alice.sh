#!/bin/sh
# The demo's first guest (deploy/demo-story.sh): a download, a network
# tool, a p2p client, then a policy change.  Each step prints an
# "APPFW-DEMO ..." line on the console for the host to narrate.
. /lib/appfw/guest-lib.sh
# The programs by path: /bin/nc is busybox's own applet.
demo_start
r=$(/usr/bin/fetch http://10.66.0.100:8080/hello.txt 2>&1)
step "download $r"
r=$(echo hi | /usr/bin/nc -w 3 10.66.0.100 9000 2>&1)
step "netcat $r"
r=$(/usr/bin/utorrent 10.66.0.100 6881 2>&1)
step "p2p $r"
step "WAIT-POLICY"
start=$(cut -d' ' -f1 /proc/uptime)
for _ in $(seq 100); do
    r=$(echo hi | /usr/bin/nc -w 2 10.66.0.100 9000 2>&1)
    has "$r" '^ok:hi' && break
    sleep 0.1
done
end=$(cut -d' ' -f1 /proc/uptime)
step "netcat-after-change $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%d", (b - a) * 1000 }') $r"
step "DONE"
