#!/bin/sh
# The end-to-end variant with appfw-secd in its own VM: the security VM
# image (deploy/secvm-image.sh) boots under QEMU (TCG) on a management
# network (a tap in a namespace made here, 10.67.0.0/24); appfw-switchd
# reaches it over nng tls+tcp:// with certificates made here, and it
# reaches switchd's flow endpoint the same way.  A libvirt domain with the
# agent (tests/deploy/guest-basic.sh) then has its allowed connection pass
# Open vSwitch and its denied one refused, and the security VM's audit
# log (read with appfwctl over TLS) has both.
#
# Process-wide changes: see deploy/lib-stack.sh.  Needs root.  Ends with
# "secvm: N passed, N failed".
set -u
build=${1:-build}
py="python3 $(cd "$(dirname "$0")/../switchd" && pwd)/netns-tcp.py"
. "$(dirname "$0")/../lib-check.sh"
. "$(dirname "$0")/../lib-tls.sh"
. "$(dirname "$0")/../switchd/lib-ovs.sh"
. "$(dirname "$0")/../agent/lib-agent.sh"
run=$(mktemp -d /tmp/appfw-secvm-test.XXXXXX) || exit 1
chmod 755 "$run"
tag=$$
. "$(dirname "$0")/../../deploy/lib-stack.sh"
ns=afwv$tag-srv
dom=appfw-test-$tag
stack_mgmt_ns=afwv$tag-mgmt

cleanup() {
    stack_cleanup
    stop_pid "${srv_pid:-}"
    ip netns del "$ns" 2>/dev/null
    rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
suite=secvm
die_logs="$run/*.log $run/*.stderr $run/*.console"

# Certificates: the security VM, this hypervisor, an administrator.  Peers
# are dialed by address and checked by DNS name (docs/operations.md).
{ tls_ca "$run" ca "appfw test CA" &&
  tls_issue "$run" secvm secvm ca "DNS:secvm.mgmt" &&
  tls_issue "$run" hv hypervisor ca "DNS:hv1.mgmt" &&
  tls_issue "$run" admin admin ca "DNS:admin"; } || die "certificates"
tls="--tls-ca $run/ca.pem"
# The remote administrator's first token: the bootstrap token.
token=$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')
stack_ctl_args="--url tls+tcp://10.67.0.2:7101 --tls-cert $run/admin.pem $tls --tls-server-name secvm.mgmt --token $token"
stack_switchd_args="--decide-url tls+tcp://10.67.0.2:7100 --tls-cert $run/hv.pem $tls --tls-server-name secvm.mgmt"

kernel=$(deploy/secvm-image.sh "$run/secvm.cpio.gz" --build "$build" \
         --tls-cert "$run/secvm.pem" --tls-ca "$run/ca.pem" \
         --bootstrap-token-sha256 "$(printf %s "$token" | sha256sum | cut -c1-64)" \
         2>"$run/secvm-image.log" | tail -1) ||
    die "security VM image"
check "the security VM image holds appfw-secd and its libraries" \
    sh -c "zcat '$run/secvm.cpio.gz' | cpio -t --quiet 2>/dev/null | grep -q 'usr/sbin/appfw-secd' &&
           zcat '$run/secvm.cpio.gz' | cpio -t --quiet 2>/dev/null | grep -q 'libnng'"

stack_ovs || die "Open vSwitch"
stack_ns_vm "$ns" 10.66.0.2/24 52:54:00:66:00:02
ip netns exec "$ns" $py serve 8080 9090 &
srv_pid=$!
t0=$(date +%s)
stack_secvm "$run/secvm.cpio.gz" "$kernel" || die "the security VM did not answer"
check "the security VM answers appfwctl over TLS ($(( $(date +%s) - t0 )) s to boot)" \
    stack_ctl health
check "a console client without a certificate is refused" \
    sh -c "! ip netns exec $stack_mgmt_ns '$build/security-vm/appfwctl' --url tcp://10.67.0.2:7101 --timeout 2000 health >/dev/null 2>&1"
check "a console client with a certificate but without a token is refused" \
    has "$(ip netns exec $stack_mgmt_ns "$build/security-vm/appfwctl" --url tls+tcp://10.67.0.2:7101 --tls-cert "$run/admin.pem" $tls --tls-server-name secvm.mgmt health 2>&1)" \
    "must carry an account's token"
echo '{"rules":[{"id":"allow-web","action":"allow","match":{"remote_port":[8080]}}]}' \
    >"$run/policy.json"
check "a policy is applied to it" stack_ctl policy apply "$run/policy.json"
stack_switchd || die "appfw-switchd"
stack_libvirtd || die "libvirtd"

gkernel=$(deploy/guest-image.sh "$run/guest.cpio.gz" build/static/appfw-agent \
          tests/deploy/guest-basic.sh | tail -1) || die "guest image"
stack_define "$dom" "$gkernel" "$run/guest.cpio.gz" \
    "appfw.run=guest-basic appfw.ip=10.66.0.1/24 appfw.gw=none" \
    52:54:00:66:00:01 >"$run/vmctl.out" 2>&1 || die "define"
stack_virsh start "$dom" >"$run/start.out" 2>&1 ||
    die "start: $(cat "$run/start.out")"
stack_wait_console "$dom" APPFW-CHECKS-DONE || die "the guest did not finish"
tr -d '\r' <"$run/$dom.console" |
    sed -n 's/.*APPFW-CHECK \(PASS\|FAIL\) \(.*\)/\1 \2/p' >"$run/checks"
while read -r result name; do
    check "guest: $name" test "$result" = PASS
done <"$run/checks"

dl() { stack_ctl decisions list --vm "$dom" --limit 100 "$@" 2>&1; }
check "the security VM allowed busybox's connect by rule allow-web" \
    has "$(dl --verdict allow)" "allow .*/bin/busybox .*10.66.0.2:8080 .*allow-web"
check "and denied the other" \
    has "$(dl --verdict deny)" "deny .*/bin/busybox .*10.66.0.2:9090"
check "switchd reached secd over TLS on the management network" \
    sh -c "ip netns exec $stack_mgmt_ns ss -tn | grep -q '10.67.0.1:[0-9]* *10.67.0.2:7100'"

echo "secvm: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
