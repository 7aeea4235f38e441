#!/bin/sh
# End-to-end through libvirt: a QEMU (TCG) domain under libvirtd, on a
# private Open vSwitch bridge with appfw-switchd and appfw-secd, put
# under appfw by appfw-vmctl and registered by appfw-libvirt-hook; the
# guest (deploy/guest-image.sh, tests/deploy/guest-e2e.sh) runs the agent
# and connects to a namespace VM on the same bridge: the allowed
# connection passes Open vSwitch, the denied one is refused in the guest,
# and secd records both.  Destroying the domain unregisters it and its
# flows go.
#
# Process-wide changes (this test says so and undoes what it can): it
# creates the libvirt-qemu user and group if missing, adds settings to
# /etc/libvirt/qemu.conf (restored at the end), installs a hook script in
# /etc/libvirt/hooks/qemu.d/ (removed), symlinks
# /var/run/openvswitch/db.sock to its private OVS (removed), and starts
# virtlogd and libvirtd (stopped again; a libvirtd already running makes
# the test fail, since it would not see the hook).  Needs root.
# Ends with "libvirt: N passed, N failed".
set -u
build=${1:-build}
switchd="$build/ovs-plugin/appfw-switchd"
secd="$build/security-vm/appfw-secd"
ctl="$build/security-vm/appfwctl"
vmctl="$build/deploy/appfw-vmctl"
hook="$(cd "$(dirname "$build/x")" && pwd)/deploy/appfw-libvirt-hook"
py="python3 $(cd "$(dirname "$0")/../switchd" && pwd)/netns-tcp.py"
. "$(dirname "$0")/../lib-check.sh"
. "$(dirname "$0")/../switchd/lib-ovs.sh"
. "$(dirname "$0")/../agent/lib-agent.sh"
run=$(mktemp -d /tmp/appfw-libvirt-test.XXXXXX) || exit 1
chmod 755 "$run"
tag=$$
br=afwlb$tag
ns=afwl$tag
dom=appfw-test-$tag
hookfile=/etc/libvirt/hooks/qemu.d/appfw-test-$tag
dbsock=/var/run/openvswitch/db.sock
uri=qemu:///system

cleanup() {
    virsh -c $uri destroy "$dom" >/dev/null 2>&1
    virsh -c $uri undefine "$dom" >/dev/null 2>&1
    [ -n "${libvirtd_pid:-}" ] && stop_pid "$libvirtd_pid"
    [ -n "${virtlogd_pid:-}" ] && stop_pid "$virtlogd_pid"
    rm -f "$hookfile"
    if [ -f "$run/qemu.conf.orig" ]; then
        cp "$run/qemu.conf.orig" /etc/libvirt/qemu.conf
    elif [ -f "$run/qemu.conf.none" ]; then
        rm -f /etc/libvirt/qemu.conf
    fi
    [ -n "${linked_db:-}" ] && rm -f "$dbsock"
    stop_pidfile "$run/appfw-switchd.pid"
    stop_pidfile "$run/appfw-secd.pid"
    stop_pid "${srv_pid:-}"
    ovs_stop
    ip netns del "$ns" 2>/dev/null
    ip link del "afwlv$tag" 2>/dev/null
    rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
die() {
    echo "test-libvirt: $*" >&2
    for f in "$run"/*.log "$run"/*.stderr; do
        [ -f "$f" ] && { echo "--- $f"; tail -20 "$f"; } >&2
    done
    failed=$((failed + 1))
    echo "libvirt: $passed passed, $failed failed"
    exit 1
}
appctl() { ovs-appctl -t "$run/appfw-switchd.ctl" "$@"; }

# --- Open vSwitch, a namespace server on the bridge, secd and switchd.
ovs_init "$run/ovs"
ovs_start_vswitchd
vsctl add-br "$br" -- set bridge "$br" datapath_type=netdev || die "add-br"
ns_vm "$ns" "afwlv$tag" "afwle$tag" 52:54:00:66:00:02 10.66.0.2/24 "$br" \
    11111111-0000-4000-8000-0000000066a2
ip netns exec "$ns" $py serve 8080 9090 &
srv_pid=$!
"$secd" --rundir "$run" --db "$run/secd.db" --appid-db "$run/appid.db" \
    --log-file "$run/secd.log" --flow-url "ipc://$run/switchd-flow.sock" &
for _ in $(seq 50); do
    "$ctl" --rundir "$run" health >/dev/null 2>&1 && break
    sleep 0.1
done
echo '{"rules":[{"id":"allow-web","action":"allow","match":{"remote_port":[8080]}}]}' \
    >"$run/policy.json"
"$ctl" --rundir "$run" policy apply "$run/policy.json" >/dev/null ||
    die "policy apply"
"$switchd" --rundir "$run" --ovs-rundir "$ovs" --bridge "$br" \
    --log-file "$run/switchd.log" \
    --decide-url "ipc://$run/secd-decide.sock" 2>>"$run/switchd.stderr" &
for _ in $(seq 50); do
    appctl appfw/connection-status >/dev/null 2>&1 && break
    sleep 0.1
done

# --- libvirtd, with the hook, and OVS where libvirt looks for it.
pgrep -x libvirtd >/dev/null && die "a libvirtd is already running"
getent group libvirt-qemu >/dev/null || groupadd -r libvirt-qemu
id libvirt-qemu >/dev/null 2>&1 ||
    useradd -r -g libvirt-qemu -G kvm libvirt-qemu
mkdir -p /var/log/libvirt /var/run/libvirt /etc/libvirt/hooks/qemu.d \
    /var/run/openvswitch
if [ -f /etc/libvirt/qemu.conf ]; then
    cp /etc/libvirt/qemu.conf "$run/qemu.conf.orig"
else
    : >"$run/qemu.conf.none"
fi
printf 'user = "root"\ngroup = "root"\ndynamic_ownership = 0\nsecurity_driver = "none"\n' \
    >>/etc/libvirt/qemu.conf
if [ ! -e "$dbsock" ]; then
    ln -s "$ovs/db.sock" "$dbsock" && linked_db=1
fi
printf 'switchd-ctl = %s\n' "$run/appfw-switchd.ctl" >"$run/hook.conf"
printf '#!/bin/sh\nAPPFW_HOOK_CONFIG=%s exec %s "$@"\n' "$run/hook.conf" \
    "$hook" >"$hookfile"
chmod 755 "$hookfile"
virtlogd -p "$run/virtlogd.pid" >/dev/null 2>&1 &
virtlogd_pid=$!
libvirtd -p "$run/libvirtd.pid" >"$run/libvirtd.log" 2>&1 &
libvirtd_pid=$!
for _ in $(seq 100); do
    virsh -c $uri version >/dev/null 2>&1 && break
    sleep 0.1
done
virsh -c $uri version >/dev/null 2>&1 || die "libvirtd did not start"

# --- The domain: defined plain, put under appfw by appfw-vmctl.
kernel=$(deploy/guest-image.sh "$run/guest.cpio.gz" build/static/appfw-agent \
         tests/deploy/guest-e2e.sh | tail -1) || die "guest image"
cat >"$run/domain.xml" <<EOX
<domain type='qemu'>
  <name>$dom</name>
  <memory unit='MiB'>512</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$kernel</kernel>
    <initrd>$run/guest.cpio.gz</initrd>
    <cmdline>console=ttyS0 quiet panic=-1 appfw.run=guest-e2e appfw.ip=10.66.0.1/24 appfw.gw=none</cmdline>
  </os>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <interface type='bridge'>
      <source bridge='$br'/>
      <mac address='52:54:00:66:00:01'/>
      <model type='virtio'/>
      <!-- The userspace datapath needs full checksums (conntrack drops
           the partial ones of checksum offload). -->
      <driver name='qemu'>
        <host csum='off' tso4='off' tso6='off' ecn='off' ufo='off'/>
        <guest csum='off' tso4='off' tso6='off' ecn='off' ufo='off'/>
      </driver>
    </interface>
    <serial type='file'>
      <source path='$run/console.log'/>
      <target port='0'/>
    </serial>
  </devices>
</domain>
EOX
virsh -c $uri define "$run/domain.xml" >/dev/null || die "define"
"$vmctl" --connect $uri --bridge "$br" --channel-dir "$run" attach "$dom" \
    >"$run/vmctl.out" 2>&1
check "appfw-vmctl puts the domain under appfw ($(head -1 "$run/vmctl.out"))" \
    grep -q "added channel" "$run/vmctl.out"
uuid=$(virsh -c $uri domuuid "$dom")
virsh -c $uri start "$dom" >"$run/start.out" 2>&1 || die "start: $(cat "$run/start.out")"

for _ in $(seq 100); do
    appctl appfw/vms 2>/dev/null | grep -q "$uuid" && break
    sleep 0.1
done
check "the hook registered the domain with appfw-switchd" \
    sh -c "appctl() { ovs-appctl -t '$run/appfw-switchd.ctl' \"\$@\"; };
           appctl appfw/vms | grep -q '$uuid'"
check "libvirt put its port on the bridge with the VM's identity" \
    sh -c "ovs-vsctl --db=unix:$ovs/db.sock --bare --columns=external_ids \
           find interface external_ids:vm-id=$uuid | grep -q attached-mac"
for _ in $(seq 1800); do
    grep -q "APPFW-CHECKS-DONE" "$run/console.log" 2>/dev/null && break
    sleep 0.1
done
grep -q "APPFW-CHECKS-DONE" "$run/console.log" || die "the guest did not finish"
tr -d '\r' <"$run/console.log" |
    sed -n 's/^APPFW-CHECK \(PASS\|FAIL\) \(.*\)/\1 \2/p' >"$run/checks"
while read -r result name; do
    check "guest: $name" test "$result" = PASS
done <"$run/checks"
"$ctl" --rundir "$run" decisions list --limit 20 >"$run/decisions.out" 2>&1
check "appfw-secd allowed busybox's connect by rule allow-web" \
    grep -q "allow .*/bin/busybox .*10.66.0.2:8080 .*allow-web" "$run/decisions.out"
check "and denied the other" \
    grep -q "deny .*/bin/busybox .*10.66.0.2:9090" "$run/decisions.out"

desired() {
    appctl appfw/connection-status | sed -n 's/.* desired=\([0-9]*\).*/\1/p'
}
before=$(desired)
virsh -c $uri destroy "$dom" >/dev/null 2>&1
for _ in $(seq 50); do
    appctl appfw/vms | grep -q "$uuid" || break
    sleep 0.1
done
check "destroying the domain unregisters it" \
    sh -c "! ovs-appctl -t '$run/appfw-switchd.ctl' appfw/vms | grep -q '$uuid'"
check "and its flows go ($before desired flows before, $(desired) after)" \
    test "$(desired)" -lt "$before"

echo "libvirt: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
