#!/bin/sh
# Tests of appfw-libvirt-hook (deploy/libvirt/hook.c) with libvirt's
# calling convention and a stand-in ovs-appctl that records its
# arguments.  Ends with "libvirt-hook: N passed, N failed".
set -u
build=${1:-build}
hook="$build/deploy/appfw-libvirt-hook"
data="$(dirname "$0")/../data/libvirt"
run=$(mktemp -d /tmp/appfw-hook-test.XXXXXX) || exit 1
trap 'rm -rf "$run"' EXIT
. "$(dirname "$0")/../lib-check.sh"

# The stand-in: appends its arguments to calls.log; exits with the status
# in $run/status (0 if absent).
cat >"$run/appctl" <<EOS
#!/bin/sh
echo "\$*" >>"$run/calls.log"
exit \$(cat "$run/status" 2>/dev/null || echo 0)
EOS
chmod +x "$run/appctl"
printf 'switchd-ctl = /run/test/appfw-switchd.ctl\nappctl = %s\n' \
    "$run/appctl" >"$run/hook.conf"
export APPFW_HOOK_CONFIG="$run/hook.conf"

# hook XML-FILE OP: runs the hook as libvirt does; sets rc and calls.
hook() {
    : >"$run/calls.log"
    "$hook" "$(basename "$1" .xml)" "$2" begin - <"$1" 2>"$run/stderr"
    rc=$?
    calls=$(cat "$run/calls.log")
}
vm=6d1f0c52-9a4e-4b1c-8c3e-123456789012

hook "$data/appfw-vm.xml" start
check "start registers the VM with its appfw channel and name ($calls)" test \
    "$calls" = "-t /run/test/appfw-switchd.ctl appfw/vm-register $vm /run/appfw/channels/web-1.sock web-1"
check "and succeeds" test "$rc" = 0
hook "$data/appfw-vm.xml" reconnect
check "reconnect (libvirtd restarted) registers again" \
    sh -c "echo '$calls' | grep -q 'vm-register $vm'"
sed 's|<devices>|<metadata><appfw:vm xmlns:appfw="urn:x-appfw:libvirt:1"><appfw:interface mac="52:54:00:11:22:33" addresses="10.0.0.5 fd00::5"/></appfw:vm></metadata><devices>|' \
    "$data/appfw-vm.xml" >"$run/web-1.xml"
hook "$run/web-1.xml" start
check "start also hands appfw-vmctl's addresses to switchd ($calls)" \
    sh -c "echo '$calls' | tail -1 | grep -qx -- '-t /run/test/appfw-switchd.ctl appfw/vm-addresses $vm 52:54:00:11:22:33 10.0.0.5 fd00::5'"
hook "$data/appfw-vm.xml" stopped
check "stopped unregisters it" test \
    "$calls" = "-t /run/test/appfw-switchd.ctl appfw/vm-unregister $vm"
hook "$data/appfw-vm.xml" release
check "release unregisters it too" \
    sh -c "echo '$calls' | grep -q 'vm-unregister $vm'"
for op in prepare started migrate restore attach; do
    hook "$data/appfw-vm.xml" $op
    check "$op does nothing" sh -c "[ -z '$calls' ] && [ $rc = 0 ]"
done
hook "$data/plain-vm.xml" start
check "a domain without the appfw channel is left alone" \
    sh -c "[ -z '$calls' ] && [ $rc = 0 ]"

echo 1 >"$run/status"
hook "$data/appfw-vm.xml" start
check "switchd refusing: the start is refused (fail closed)" test "$rc" = 1
check "and the reason is on stderr" \
    grep -q 'appfw/vm-register failed.*fail-open' "$run/stderr"
hook "$data/appfw-vm.xml" stopped
check "a failed unregister does not fail the stop" test "$rc" = 0
printf 'fail-open = 1\n' >>"$run/hook.conf"
hook "$data/appfw-vm.xml" start
check "with fail-open = 1 the domain starts anyway" test "$rc" = 0
rm -f "$run/status"
printf 'switchd-ctl = /run/test/appfw-switchd.ctl\nappctl = %s\n' \
    "$run/appctl" >"$run/hook.conf"

printf '<domain><name>x</name>' >"$run/bad.xml"
hook "$run/bad.xml" start
check "XML that does not parse refuses the start" test "$rc" = 1
hook "$data/relative-path.xml" start
check "a relative channel path is refused" \
    sh -c "[ $rc = 1 ] && grep -q 'not absolute' '$run/stderr' && [ -z '$calls' ]"
"$hook" >/dev/null 2>&1
check "without arguments: usage error" test $? = 2
check "--help" sh -c "'$hook' --help | grep -q 'org.appfw.agent.0'"
printf 'bogus = 1\n' >"$run/hook.conf"
hook "$data/appfw-vm.xml" start
check "a bad configuration file is reported" \
    sh -c "[ $rc = 1 ] && grep -q bogus '$run/stderr'"

echo "libvirt-hook: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
