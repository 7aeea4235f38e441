# The whole appfw stack on one host, privately, for the demo
# (deploy/demo-story.sh) and the end-to-end tests (tests/deploy/): a
# private Open vSwitch (userspace datapath), appfw-secd, appfw-switchd,
# and libvirtd with appfw's hook.  Sourced; the caller sets:
#
#   build   the build directory (build)
#   run     a scratch directory of its own (removed by the caller)
#   tag     a unique suffix for names (bridges, namespaces, domains)
#
# and calls stack_cleanup on exit.  Uses tests/switchd/lib-ovs.sh (retry,
# appfw_converged) and tests/agent/lib-agent.sh (stop_pid).
#
# appfw-secd runs on the host by default (stack_secd).  stack_secvm runs
# it in the security VM instead, on a management network in the network
# namespace $stack_mgmt_ns, where appfw-switchd and appfwctl then run too
# (they reach Open vSwitch, libvirt's hook and each other through UNIX
# sockets, which namespaces do not separate).
#
# Process-wide changes (undone by stack_cleanup where possible): the
# libvirt-qemu user and group are created if missing; settings are added
# to /etc/libvirt/qemu.conf (restored); a hook script goes into
# /etc/libvirt/hooks/qemu.d/ (removed); /var/run/openvswitch/db.sock is
# linked to the private OVS if absent (removed); virtlogd and libvirtd are
# started (stopped).  A libvirtd already running is an error: it would
# not see the hook.

stack_br=afwsb$tag
stack_uri=qemu:///system
stack_hookfile=/etc/libvirt/hooks/qemu.d/appfw-$tag
stack_dbsock=/var/run/openvswitch/db.sock
stack_domains=""

stack_mgmt_ns=""
stack_ctl_args=""           # appfwctl's endpoint options; default --rundir
stack_switchd_args=""       # appfw-switchd's, after the defaults

stack_appctl() { ovs-appctl -t "$run/appfw-switchd.ctl" "$@"; }
# Runs a command in the management namespace, if there is one.
stack_mgmt() {
    if [ -n "$stack_mgmt_ns" ]; then
        ip netns exec "$stack_mgmt_ns" "$@"
    else
        "$@"
    fi
}
stack_ctl() {
    # shellcheck disable=SC2086  # options, without spaces
    stack_mgmt "$build/security-vm/appfwctl" ${stack_ctl_args:---rundir $run} \
        "$@"
}
stack_virsh() { virsh -q -c $stack_uri "$@"; }
# Whether appfw-secd, appfw-switchd or libvirtd answers.
stack_secd_up() { stack_ctl health >/dev/null 2>&1; }
stack_switchd_up() {
    stack_appctl appfw/connection-status >/dev/null 2>&1
}
stack_libvirtd_up() { stack_virsh version >/dev/null 2>&1; }

# Open vSwitch and the integration bridge.
stack_ovs() {
    ovs_init "$run/ovs"
    ovs_start_vswitchd
    vsctl add-br "$stack_br" -- set bridge "$stack_br" datapath_type=netdev
}

# appfw-secd with the signature database $1 and the policy file $2.
stack_secd() {
    stack_appid_db=$1
    stack_secd_start && stack_ctl policy apply "$2" >/dev/null
}

# The security VM: boots image $1 (deploy/secvm-image.sh, built for
# 10.67.0.2 with appfw-switchd's flow endpoint on 10.67.0.1) with kernel
# $2 under QEMU (TCG), its network a tap in the new namespace
# $stack_mgmt_ns (10.67.0.1/24), its console in $run/secvm.console.  Waits
# (3 minutes at most) until appfwctl ($stack_ctl_args) reaches it.
stack_secvm() {
    ip netns add "$stack_mgmt_ns" || return 1
    ip -n "$stack_mgmt_ns" link set lo up
    ip netns exec "$stack_mgmt_ns" qemu-system-x86_64 -accel tcg -m 512 \
        -no-reboot -display none -monitor none -daemonize \
        -pidfile "$run/secvm.pid" -serial "file:$run/secvm.console" \
        -kernel "$2" -initrd "$1" -append "console=ttyS0 quiet panic=-1 \
appfw.run=secd appfw.agent=off appfw.ip=10.67.0.2/24 appfw.gw=none" \
        -netdev "tap,id=n0,ifname=afwm$tag,script=no,downscript=no" \
        -device virtio-net-pci,netdev=n0 || return 1
    ip -n "$stack_mgmt_ns" addr add 10.67.0.1/24 dev "afwm$tag" &&
        ip -n "$stack_mgmt_ns" link set "afwm$tag" up || return 1
    retry 900 0.2 stack_secd_up
}

# (Re)starts appfw-secd; its store keeps the active policy.
stack_secd_start() {
    "$build/security-vm/appfw-secd" --rundir "$run" --db "$run/secd.db" \
        --appid-db "$stack_appid_db" --log-file "$run/secd.log" \
        2>>"$run/secd.stderr" &
    retry 50 0.1 stack_secd_up
}

# Restarts appfw-secd, or appfw-switchd, as an operator would.
stack_restart_secd() {
    stop_pidfile "$run/appfw-secd.pid"
    stack_secd_start
}
stack_restart_switchd() {
    stop_pidfile "$run/appfw-switchd.pid"
    stack_switchd
}

# Waits (10 s at most) until switchd has every desired flow on the switch.
stack_converged() {
    retry 100 0.1 appfw_converged "$run/appfw-switchd.ctl"
}

stack_switchd() {
    # Per-application counters every 2 s, so that a short story shows them.
    # shellcheck disable=SC2086  # $stack_switchd_args: options
    stack_mgmt "$build/ovs-plugin/appfw-switchd" --rundir "$run" \
        --ovs-rundir "$ovs" --bridge "$stack_br" --log-file "$run/switchd.log" \
        --stats-interval 2 --decide-url "ipc://$run/secd-decide.sock" \
        $stack_switchd_args 2>>"$run/switchd.stderr" &
    retry 50 0.1 stack_switchd_up
}

# libvirtd and virtlogd, with appfw's hook pointed at this switchd.
stack_libvirtd() {
    if pgrep -x libvirtd >/dev/null; then
        echo "a libvirtd is already running (it would not see appfw's hook)" >&2
        return 1
    fi
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
    if [ ! -e "$stack_dbsock" ]; then
        ln -s "$ovs/db.sock" "$stack_dbsock" && stack_linked_db=1
    fi
    hook="$(cd "$build" && pwd)/deploy/appfw-libvirt-hook"
    printf 'switchd-ctl = %s\n' "$run/appfw-switchd.ctl" >"$run/hook.conf"
    printf '#!/bin/sh\nAPPFW_HOOK_CONFIG=%s exec %s "$@"\n' \
        "$run/hook.conf" "$hook" >"$stack_hookfile"
    chmod 755 "$stack_hookfile"
    virtlogd -p "$run/virtlogd.pid" >/dev/null 2>&1 &
    stack_virtlogd_pid=$!
    libvirtd -p "$run/libvirtd.pid" >"$run/libvirtd.log" 2>&1 &
    stack_libvirtd_pid=$!
    retry 100 0.1 stack_libvirtd_up
}

# A namespace "VM" on the bridge: name $1, address $2 (CIDR), MAC $3.
stack_ns_vm() {
    ns_vm "$1" "afv$tag${1##*-}" "afe$tag${1##*-}" "$3" "$2" "$stack_br" \
        "$(cat /proc/sys/kernel/random/uuid)"
}

# Defines domain $1 (a plain one, as an admin would have it) booting the
# test guest: kernel $2, initramfs $3, kernel arguments $4, MAC $5; its
# console goes to $run/$1.console.  Then puts it under appfw with
# appfw-vmctl.
stack_define() {
    cat >"$run/$1.xml" <<EOX
<domain type='qemu'>
  <name>$1</name>
  <memory unit='MiB'>384</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$2</kernel>
    <initrd>$3</initrd>
    <cmdline>console=ttyS0 quiet panic=-1 $4</cmdline>
  </os>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <interface type='bridge'>
      <source bridge='$stack_br'/>
      <mac address='$5'/>
      <model type='virtio'/>
      <!-- The userspace datapath needs full checksums (docs/deploy.md). -->
      <driver name='qemu'>
        <host csum='off' tso4='off' tso6='off' ecn='off' ufo='off'/>
        <guest csum='off' tso4='off' tso6='off' ecn='off' ufo='off'/>
      </driver>
    </interface>
    <serial type='file'>
      <source path='$run/$1.console'/>
      <target port='0'/>
    </serial>
  </devices>
</domain>
EOX
    stack_virsh define "$run/$1.xml" >/dev/null &&
        stack_domains="$stack_domains $1" &&
        "$build/deploy/appfw-vmctl" --connect $stack_uri --bridge "$stack_br" \
            --channel-dir "$run" attach "$1"
}

# Waits (3 minutes at most) until the console of domain $1 has a line
# matching $2.
stack_wait_console() {
    for _ in $(seq 1800); do
        tr -d '\r' <"$run/$1.console" 2>/dev/null | grep -q "$2" && return 0
        sleep 0.1
    done
    return 1
}

stack_cleanup() {
    for d in $stack_domains; do
        stack_virsh destroy "$d" >/dev/null 2>&1
        stack_virsh undefine "$d" >/dev/null 2>&1
    done
    [ -n "${stack_libvirtd_pid:-}" ] && stop_pid "$stack_libvirtd_pid"
    [ -n "${stack_virtlogd_pid:-}" ] && stop_pid "$stack_virtlogd_pid"
    rm -f "$stack_hookfile"
    if [ -f "$run/qemu.conf.orig" ]; then
        cp "$run/qemu.conf.orig" /etc/libvirt/qemu.conf
    elif [ -f "$run/qemu.conf.none" ]; then
        rm -f /etc/libvirt/qemu.conf
    fi
    [ -n "${stack_linked_db:-}" ] && rm -f "$stack_dbsock"
    stop_pidfile "$run/appfw-switchd.pid"
    stop_pidfile "$run/appfw-secd.pid"
    stop_pidfile "$run/secvm.pid"
    [ -n "$stack_mgmt_ns" ] && ip netns del "$stack_mgmt_ns" 2>/dev/null
    ovs_stop
}
