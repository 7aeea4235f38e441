#!/bin/sh
# Builds the Debian package of the guest agent, for ordinary Debian
# guests (dpkg-deb, no build dependencies beyond dpkg):
#
#   deploy/agent-deb.sh AGENT OUTDIR [VERSION]
#
# AGENT is the static appfw-agent (build/static/appfw-agent).  The package
# installs it as /usr/sbin/appfw-agent with its systemd unit, a default
# /etc/appfw/agent.conf (a conffile: upgrades keep local edits), the man
# page if built, and docs/agent.md; it enables and starts the unit when
# systemd runs, and on removal stops it and lifts the hooks
# (appfw-agent --uninstall).  Prints the package's path.
set -eu
agent=$1
outdir=$2
version=${3:-0.1}
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
root=$(mktemp -d)
chmod 755 "$root"
trap 'rm -rf "$root"' EXIT

install -d "$root/DEBIAN" "$root/usr/sbin" "$root/lib/systemd/system" \
    "$root/etc/appfw" "$root/usr/share/doc/appfw-agent"
install -m 755 "$agent" "$root/usr/sbin/appfw-agent"
sed -e 's|@SBINDIR@|/usr/sbin|g' -e 's|@SYSCONFDIR@|/etc|g' \
    -e 's|@DOCDIR@|/usr/share/doc/appfw-agent|g' \
    "$here/appfw-agent.service" >"$root/lib/systemd/system/appfw-agent.service"
install -m 644 "$here/agent.conf" "$root/etc/appfw/agent.conf"
install -m 644 "$top/docs/agent.md" "$root/usr/share/doc/appfw-agent/"
if [ -f "$top/build/man/appfw-agent.8" ]; then
    install -d "$root/usr/share/man/man8"
    gzip -9n <"$top/build/man/appfw-agent.8" \
        >"$root/usr/share/man/man8/appfw-agent.8.gz"
fi

cat >"$root/DEBIAN/control" <<EOC
Package: appfw-agent
Version: $version
Architecture: amd64
Maintainer: appfw developers <appfw@localhost>
Depends: iptables
Section: net
Priority: optional
Description: appfw guest agent (application-aware VM firewall)
 Holds each new TCP/UDP connection of every process in the guest until
 the appfw security VM decides, using eBPF cgroup hooks and a netfilter
 queue, and reports connection statistics over virtio-serial.
EOC
echo /etc/appfw/agent.conf >"$root/DEBIAN/conffiles"
cat >"$root/DEBIAN/postinst" <<'EOC'
#!/bin/sh
set -e
if [ "$1" = configure ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    systemctl enable --now appfw-agent.service
fi
EOC
cat >"$root/DEBIAN/prerm" <<'EOC'
#!/bin/sh
set -e
if [ "$1" = remove ]; then
    if [ -d /run/systemd/system ]; then
        systemctl disable --now appfw-agent.service || true
    fi
    # Without the agent the kernel would refuse new connections.
    /usr/sbin/appfw-agent -c /etc/appfw/agent.conf --uninstall || true
fi
EOC
chmod 755 "$root/DEBIAN/postinst" "$root/DEBIAN/prerm"
mkdir -p "$outdir"
out="$outdir/appfw-agent_${version}_amd64.deb"
dpkg-deb --root-owner-group --build "$root" "$out" >/dev/null
echo "$out"
