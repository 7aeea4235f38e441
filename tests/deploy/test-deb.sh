#!/bin/sh
# Tests of the agent's Debian package (deploy/agent-deb.sh): its fields,
# its files, its conffile and maintainer scripts, and that what it
# carries runs.  Ends with "deb: N passed, N failed".
set -u
cd "$(dirname "$0")/../.." || exit 1
work=$(mktemp -d /tmp/appfw-deb-test.XXXXXX) || exit 1
trap 'rm -rf "$work"' EXIT
. tests/lib-check.sh

deb=$(deploy/agent-deb.sh build/static/appfw-agent "$work" 0.1 2>"$work/err")
check "the package builds ($deb)" test -f "$deb"
info=$(dpkg-deb --info "$deb")
check "Package: appfw-agent, Version: 0.1, Architecture: amd64" sh -c "
    echo '$info' | grep -q 'Package: appfw-agent' &&
    echo '$info' | grep -q 'Version: 0.1' &&
    echo '$info' | grep -q 'Architecture: amd64'"
check "it depends on iptables" has "$info" 'Depends: iptables'
contents=$(dpkg-deb --contents "$deb")
for f in ./usr/sbin/appfw-agent ./lib/systemd/system/appfw-agent.service \
         ./etc/appfw/agent.conf ./usr/share/doc/appfw-agent/agent.md; do
    check "it carries $f" has "$contents" " $f\$"
done
check "files are owned by root" sh -c "! echo '$contents' | awk '{ print \$2 }' | grep -v '^root/root\$' | grep -q ."
dpkg-deb --control "$deb" "$work/control"
check "agent.conf is a conffile" grep -qx /etc/appfw/agent.conf \
    "$work/control/conffiles"
check "postinst and prerm are valid shell" \
    sh -c "sh -n '$work/control/postinst' && sh -n '$work/control/prerm'"
check "prerm lifts the hooks on removal" \
    grep -q -- '--uninstall' "$work/control/prerm"
dpkg-deb -x "$deb" "$work/root"
check "the packaged agent runs and reads its configuration" \
    sh -c "'$work/root/usr/sbin/appfw-agent' -c '$work/root/etc/appfw/agent.conf' -n >/dev/null"
check "the unit starts /usr/sbin/appfw-agent with /etc/appfw/agent.conf" \
    grep -q '^ExecStart=/usr/sbin/appfw-agent -c /etc/appfw/agent.conf$' \
    "$work/root/lib/systemd/system/appfw-agent.service"

echo "deb: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
