#!/bin/sh
# Builds libopenvswitch.a (static, no shared objects) from the source tarball
# that Debian's openvswitch-source package installs, into DEST (an ignored
# directory, .deps/ovs by default). A stamp records the source package
# version and this script's checksum; when both match, nothing is done.
#
# Result: DEST/openvswitch/lib/.libs/libopenvswitch.a, headers under
# DEST/openvswitch{,/include,/lib}, link flags in DEST/openvswitch/lib/
# libopenvswitch.pc (Libs.private).
set -eu

dest=${1:?usage: build-ovs.sh DEST}
tarball=/usr/src/openvswitch/openvswitch.tar.gz
stamp="$dest/stamp"

if [ ! -r "$tarball" ]; then
    echo "build-ovs: $tarball not found (install openvswitch-source)" >&2
    exit 1
fi

version=$(dpkg-query -W -f='${Version}' openvswitch-source)
want="openvswitch-source=$version script=$(sha256sum "$0" | cut -c1-16)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "build-ovs: libopenvswitch.a up to date ($version)"
    exit 0
fi

echo "build-ovs: building libopenvswitch.a from openvswitch-source $version"
start=$(date +%s)
rm -rf "$dest"
mkdir -p "$dest"
tar xzf "$tarball" -C "$dest"
cd "$dest/openvswitch"
log="$dest/build.log"
jobs=$(nproc 2>/dev/null || echo 2)
if ! { ./configure --enable-static --disable-shared &&
       make -j"$jobs" ofproto/ipfix-entities.def include/odp-netlink.h \
           include/odp-netlink-macros.h lib/vswitch-idl.h lib/vswitch-idl.c \
           lib/ovsdb-server-idl.h lib/ovsdb-server-idl.c &&
       make -j"$jobs" lib/libopenvswitch.la lib/libopenvswitch.pc; } \
       >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    echo "build-ovs: failed; full log in $log" >&2
    exit 1
fi
echo "$want" >"$stamp"
echo "build-ovs: done in $(( $(date +%s) - start ))s"
