#!/bin/sh
# The single-host end-to-end demo (make demo).
#
# It needs every component: appfw-secd (security-vm/), appfw-switchd
# (ovs-plugin/), appfw-agent (guest-agent/) and the guest image and libvirt
# wiring (deploy/).  Until they exist this script says what is missing and
# fails; it never pretends to run a demo.
set -eu
cd "$(dirname "$0")/.."

missing=""
[ -x build/security-vm/appfw-secd ] ||
    missing="$missing\n  - appfw-secd, the decision service (security-vm/)"
[ -x build/ovs-plugin/appfw-switchd ] ||
    missing="$missing\n  - appfw-switchd, the OVS flow programmer (ovs-plugin/)"
[ -x build/guest-agent/appfw-agent ] ||
    missing="$missing\n  - appfw-agent, the in-guest interceptor (guest-agent/)"
[ -x deploy/demo-story.sh ] ||
    missing="$missing\n  - the guest image, libvirt hook and scripted story (deploy/)"

if [ -n "$missing" ]; then
    printf 'make demo: the end-to-end demo cannot run yet; missing:%b\n' \
        "$missing" >&2
    printf 'What exists today: appid, appfw-secd and appfw-switchd, tested\n' >&2
    printf 'end to end against a private OVS with namespace VMs, and\n' >&2
    printf 'appfw-agent, tested with its kernel hooks in namespaces, by\n' >&2
    printf '"make check" (tests/switchd/test-switchd.sh,\n' >&2
    printf 'tests/agent/test-agent.sh).\n' >&2
    exit 1
fi

exec deploy/demo-story.sh
