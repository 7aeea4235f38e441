#!/bin/sh
# The single-host end-to-end demo (make demo): checks that everything it
# needs is built, then runs deploy/demo-story.sh.
set -eu
cd "$(dirname "$0")/.."
build=${BUILD:-build}
missing=""
for p in security-vm/appfw-secd security-vm/appfwctl ovs-plugin/appfw-switchd \
         deploy/appfw-vmctl deploy/appfw-libvirt-hook appid/appid \
         tests/agent/fetch tests/agent/rawconnect; do
    [ -x "$build/$p" ] || missing="$missing $build/$p"
done
[ -x build/static/appfw-agent ] || missing="$missing build/static/appfw-agent"
if [ -n "$missing" ]; then
    echo "make demo: not built:$missing (run make demo, which builds first)" >&2
    exit 1
fi
exec deploy/demo-story.sh
