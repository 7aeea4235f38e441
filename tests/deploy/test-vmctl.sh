#!/bin/sh
# Tests of appfw-vmctl through the libvirt API, on libvirt's test driver
# (test:///FILE: an in-process hypervisor whose domains come from FILE,
# fresh for each connection).  Ends with "vmctl: N passed, N failed".
set -u
build=${1:-build}
vmctl="$build/deploy/appfw-vmctl"
data="$(cd "$(dirname "$0")/../data/libvirt" && pwd)"
. "$(dirname "$0")/../lib-check.sh"
plain="test://$data/node-plain.xml"
attached="test://$data/node-attached.xml"
out=$(mktemp /tmp/appfw-vmctl-test.XXXXXX) || exit 1
trap 'rm -f "$out"' EXIT

# v URI ARGS...: runs appfw-vmctl; sets rc, output in $out.
v() {
    uri=$1
    shift
    "$vmctl" --connect "$uri" "$@" >"$out" 2>&1
    rc=$?
}

v "$plain" --dump attach web-1
check "attach adds the channel" \
    grep -q "added channel org.appfw.agent.0" "$out"
check "and the virtualport on the br-int interface only" \
    grep -q "1 of 1 interfaces on br-int got the Open vSwitch virtualport" "$out"
check "the new definition has them" sh -c "
    grep -q \"<target type='virtio' name='org.appfw.agent.0'/>\" '$out' &&
    [ \$(grep -c \"<virtualport type='openvswitch'>\" '$out') = 1 ]"
check "and succeeds" test "$rc" = 0

v "$plain" --dump --channel-dir /run/appfw/channels attach web-1
check "--channel-dir names the socket after the UUID" grep -q \
    "path='/run/appfw/channels/6d1f0c52-9a4e-4b1c-8c3e-123456789012.sock'" \
    "$out"

v "$plain" --dump --bridge br-mgmt attach web-1
check "--bridge picks the integration bridge" \
    grep -q "1 of 1 interfaces on br-mgmt" "$out"

v "$attached" attach web-1
check "attaching an attached domain changes nothing" sh -c "
    grep -q 'already there' '$out' && grep -q 'nothing changed' '$out' &&
    [ $rc = 0 ]"
v "$attached" --dump detach web-1
check "detach removes the channel" sh -c "
    grep -q 'removed channel' '$out' &&
    ! grep -q \"name='org.appfw.agent.0'\" '$out' &&
    grep -q \"<virtualport type='openvswitch'\" '$out'"
v "$plain" detach web-1
check "detaching a plain domain changes nothing" \
    grep -q "no appfw channel to remove (nothing changed)" "$out"

v "$plain" show web-1
check "show: a plain domain is not under appfw" \
    grep -q "web-1: not under appfw" "$out"
v "$attached" show 6d1f0c52-9a4e-4b1c-8c3e-123456789012
check "show, by UUID: an attached domain is under appfw" \
    grep -q "under appfw" "$out"
# Port security: --address goes into the domain's metadata for the hook.
v "$plain" --dump --address 10.0.0.5 --address fd00::5/64 attach web-1
check "--address puts the addresses, by the interface's MAC, in the metadata" \
    grep -q '<appfw:interface mac="52:54:00:11:22:33" addresses="10.0.0.5 fd00::5/64"/>' "$out"
v "$plain" --address 10.0.0.5 --address 52:54:00:aa:bb:cc=fd00::9 --dump attach web-1
check "MAC=ADDR names the interface" \
    grep -q 'mac="52:54:00:aa:bb:cc" addresses="fd00::9"' "$out"
v "$plain" --address 10.0.0.300 attach web-1
check "a bad --address is refused and nothing is defined" sh -c "
    [ $rc = 1 ] && grep -q 'not an IPv4 or IPv6 address' '$out'"
v "$plain" attach no-bridge
check "a domain without an interface on the bridge is warned about" \
    grep -q "no interface on bridge br-int" "$out"
v "$plain" attach nosuch
check "an unknown domain is an error" sh -c "
    [ $rc = 1 ] && grep -q 'no domain nosuch' '$out'"
"$vmctl" attach >/dev/null 2>&1
check "a missing domain name is a usage error" test $? = 2
"$vmctl" --channel-dir rel attach web-1 >/dev/null 2>&1
check "a relative --channel-dir is refused" test $? = 2
check "--help" sh -c "'$vmctl' --help | grep -q 'attach|detach|show'"

echo "vmctl: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
