# A private Open vSwitch for tests and benchmarks (RECIPES.md): every file
# under one directory, the userspace datapath, stopped by pid files.
# Source it, then: ovs_init DIR [NETNS]; ovs_start_vswitchd; ... ovs_stop.
# Callers define die().
#
# With NETNS (a hypervisor's namespace, made here), ovsdb-server and
# ovs-vswitchd run inside it, so their taps (each bridge and the datapath,
# "ovs-netdev") are that namespace's: several private switches can then
# run at once on one machine, which in the host's namespace they cannot
# (they would share "ovs-netdev").  Their sockets are files under DIR and
# work from anywhere.  Several instances in one script: ovs_use DIR
# [NETNS] makes one the current one for vsctl, ofctl and the rest.

# Makes the switch under $1 (in namespace $2, if any) the current one.
ovs_use() {
    ovs=$1
    ovs_ns=${2:-}
    export OVS_RUNDIR=$ovs OVS_LOGDIR=$ovs OVS_DBDIR=$ovs OVS_SYSCONFDIR=$ovs
}

# Runs a command in the current switch's namespace.
in_ovs_ns() {
    if [ -n "$ovs_ns" ]; then
        ip netns exec "$ovs_ns" "$@"
    else
        "$@"
    fi
}

ovs_init() {
    ovs_use "$1" "${2:-}"
    mkdir -p "$ovs"
    if [ -n "$ovs_ns" ]; then
        ip netns add "$ovs_ns" || die "netns $ovs_ns"
        echo "$ovs_ns" >"$ovs/netns"
        ip -n "$ovs_ns" link set lo up
    fi
    ovsdb-tool create "$ovs/conf.db" \
        /usr/share/openvswitch/vswitch.ovsschema || die "ovsdb-tool"
    in_ovs_ns ovsdb-server --remote="punix:$ovs/db.sock" \
        --pidfile="$ovs/ovsdb.pid" --detach --log-file="$ovs/ovsdb.log" \
        "$ovs/conf.db" 2>>"$ovs/ovsdb.stderr" || die "ovsdb-server"
    vsctl --no-wait init || die "ovs-vsctl init"
}

vsctl() { ovs-vsctl --db="unix:$ovs/db.sock" "$@"; }
ofctl() { ovs-ofctl -O OpenFlow15 "$@"; }

ovs_start_vswitchd() {
    in_ovs_ns ovs-vswitchd "unix:$ovs/db.sock" --pidfile="$ovs/vswitchd.pid" \
        --detach --log-file="$ovs/vswitchd.log" 2>>"$ovs/vswitchd.stderr" ||
        die "ovs-vswitchd"
}

# Stops the daemon whose pid is in file $1 (SIGTERM, then SIGKILL after 5 s).
stop_pidfile() {
    [ -f "$1" ] || return 0
    pid=$(cat "$1" 2>/dev/null) || return 0
    kill "$pid" 2>/dev/null
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null
}

# A userspace-datapath bridge is also a tap device of the host, and so is
# the datapath ("ovs-netdev"); they outlive a plain SIGTERM.  So: delete
# the bridges, then "exit --cleanup", which removes the datapath.
# With a namespace, deleting it (last) removes whatever taps are left.
ovs_stop() {
    [ -n "${ovs:-}" ] || return 0
    if [ -f "$ovs/vswitchd.pid" ]; then
        for b in $(vsctl list-br 2>/dev/null); do
            vsctl --timeout=5 del-br "$b" 2>/dev/null
        done
        pid=$(cat "$ovs/vswitchd.pid")
        ovs-appctl -t "$ovs/ovs-vswitchd.$pid.ctl" exit --cleanup \
            2>/dev/null
        stop_pidfile "$ovs/vswitchd.pid"
    fi
    stop_pidfile "$ovs/ovsdb.pid"
    if [ -f "$ovs/netns" ]; then
        ip netns del "$(cat "$ovs/netns")" 2>/dev/null
        rm -f "$ovs/netns"
    fi
}

# Number of appfw flows (cookie prefix 0xa9f0) on bridge $1.
appfw_switch_flows() {
    ofctl dump-flows "unix:$ovs/$1.mgmt" \
        cookie=0xa9f0000000000000/0xffff000000000000 | grep -c 'cookie=0xa9f0'
}

# Whether appfw-switchd (control socket $1) has every desired flow on the
# switch, with nothing pending or in flight.
appfw_converged() {
    ovs-appctl -t "$1" appfw/connection-status 2>/dev/null | head -1 |
        awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } }
             END { exit !(v["desired"] != "" && v["desired"] == v["installed"] &&
                          v["pending"] == 0 && v["in_flight"] == "no") }'
}

# Runs COMMAND... up to $1 times, $2 seconds apart, until it succeeds.
retry() {
    tries=$1
    pause=$2
    shift 2
    for _ in $(seq "$tries"); do
        "$@" && return 0
        sleep "$pause"
    done
    return 1
}

# A network namespace as a test VM: namespace $1, host-side veth $2 (in
# the current switch's namespace, added to bridge $6 with
# external_ids:vm-id=$7), guest-side veth $3 with MAC $4 and address $5
# (CIDR).  Checksum offload is turned off in the guest: conntrack in the
# userspace datapath drops partial checksums.
ns_vm() {
    ip netns add "$1" || die "netns $1"
    ip link add "$2" type veth peer name "$3" || die "veth $2"
    ip link set "$3" netns "$1"
    ip netns exec "$1" ip link set "$3" address "$4"
    ip netns exec "$1" ip addr add "$5" dev "$3"
    ip netns exec "$1" ip link set "$3" up
    ip netns exec "$1" ip link set lo up
    ip netns exec "$1" ethtool -K "$3" tx off >/dev/null
    ovs_link_up "$2"
    vsctl add-port "$6" "$2" -- set interface "$2" \
        "external_ids:vm-id=$7" "external_ids:attached-mac=$4" ||
        die "add-port $2"
}

# Moves link $1 of the host's namespace into the current switch's (if it
# has one) and sets it up there.
ovs_link_up() {
    if [ -n "$ovs_ns" ]; then
        ip link set "$1" netns "$ovs_ns" || die "link $1 to $ovs_ns"
    fi
    in_ovs_ns ip link set "$1" up
}

# Runs guest-sim ($guest) on a fresh channel path under directory $3,
# registered with the appfw-switchd whose control socket is $1 as VM $2's
# channel, with the rest of the arguments; prints its output and returns
# its status.  (A fresh path, so switchd connects at once; unique also in
# a command substitution's subshell, where a counter would not count.)
guest_sim() {
    gs_ctl=$1 gs_vm=$2 gs_dir=$3
    shift 3
    gs_path=$(mktemp -u "$gs_dir/chan-XXXXXX")
    "$guest" "$gs_path" "$@" >"$gs_path.out" 2>&1 &
    gs_pid=$!
    for _ in $(seq 50); do
        [ -S "$gs_path" ] && break
        sleep 0.05
    done
    ovs-appctl -t "$gs_ctl" appfw/vm-register "$gs_vm" "$gs_path" >/dev/null
    wait "$gs_pid"
    gs_rc=$?
    cat "$gs_path.out"
    rm -f "$gs_path.out"
    return $gs_rc
}
