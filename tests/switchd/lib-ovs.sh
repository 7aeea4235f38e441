# A private Open vSwitch for tests and benchmarks (RECIPES.md): every file
# under one directory, the userspace datapath, stopped by pid files.
# Source it, then: ovs_init DIR; ovs_start_vswitchd; ... ovs_stop.
# Callers define die().

ovs_init() {
    ovs=$1
    mkdir -p "$ovs"
    export OVS_RUNDIR=$ovs OVS_LOGDIR=$ovs OVS_DBDIR=$ovs OVS_SYSCONFDIR=$ovs
    ovsdb-tool create "$ovs/conf.db" \
        /usr/share/openvswitch/vswitch.ovsschema || die "ovsdb-tool"
    ovsdb-server --remote="punix:$ovs/db.sock" --pidfile="$ovs/ovsdb.pid" \
        --detach --log-file="$ovs/ovsdb.log" "$ovs/conf.db" \
        2>>"$ovs/ovsdb.stderr" || die "ovsdb-server"
    vsctl --no-wait init || die "ovs-vsctl init"
}

vsctl() { ovs-vsctl --db="unix:$ovs/db.sock" "$@"; }
ofctl() { ovs-ofctl -O OpenFlow15 "$@"; }

ovs_start_vswitchd() {
    ovs-vswitchd "unix:$ovs/db.sock" --pidfile="$ovs/vswitchd.pid" \
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

# A network namespace as a test VM: namespace $1, host-side veth $2
# (added to bridge $6 with external_ids:vm-id=$7), guest-side veth $3 with
# MAC $4 and address $5 (CIDR).  Checksum offload is turned off in the
# guest: conntrack in the userspace datapath drops partial checksums.
ns_vm() {
    ip netns add "$1" || die "netns $1"
    ip link add "$2" type veth peer name "$3" || die "veth $2"
    ip link set "$3" netns "$1"
    ip netns exec "$1" ip link set "$3" address "$4"
    ip netns exec "$1" ip addr add "$5" dev "$3"
    ip netns exec "$1" ip link set "$3" up
    ip netns exec "$1" ip link set lo up
    ip netns exec "$1" ethtool -K "$3" tx off >/dev/null
    ip link set "$2" up
    vsctl add-port "$6" "$2" -- set interface "$2" \
        "external_ids:vm-id=$7" "external_ids:attached-mac=$4" ||
        die "add-port $2"
}
