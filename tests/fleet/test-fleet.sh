#!/bin/sh
# A fleet on one machine: one appfw-secd over TLS and three hypervisors,
# each a network namespace with its own ovsdb-server and ovs-vswitchd
# (userspace datapath), its own appfw-switchd (registered with its own
# token and certificate) and one namespace VM; the hypervisors' uplinks
# meet on a fabric (a Linux bridge in a namespace of its own).  guest-sim
# plays each VM's agent.  Checks: decisions from every hypervisor; traffic
# between VMs on different hypervisors allowed and refused by policy; a
# hypervisor cannot speak for another's VM; a policy change revokes on
# every hypervisor; one switchd's restart leaves the others undisturbed;
# a secd restart and every switchd reconverging.
# Everything lives in a private run directory and namespaces this test
# makes; all of it is removed at exit, also on failure.
# Ends with "fleet: N passed, N failed".
# Usage: tests/fleet/test-fleet.sh BUILD-DIR
set -u
build=${1:-build}
switchd="$build/ovs-plugin/appfw-switchd"
secd="$build/security-vm/appfw-secd"
ctl="$build/security-vm/appfwctl"
load="$build/tests/secd/secd-load"
guest="$build/tests/switchd/guest-sim"
py="python3 $(cd "$(dirname "$0")/../switchd" && pwd)/netns-tcp.py"
HVS="1 2 3"
. "$(dirname "$0")/../switchd/lib-ovs.sh"
. "$(dirname "$0")/../lib-tls.sh"
run=$(mktemp -d /tmp/appfw-fleet-test.XXXXXX) || exit 1
tag=$$
fab=afwf$tag-fab
port=$((20000 + $$ % 20000))
url="tls+tcp://127.0.0.1:$port"

. "$(dirname "$0")/../lib-check.sh"

cleanup() {
    trap '' INT TERM
    for i in $HVS; do
        stop_pidfile "$run/hv$i/appfw-switchd.pid"
    done
    stop_pidfile "$run/appfw-secd.pid"
    [ -n "${loop_pid:-}" ] && kill "$loop_pid" 2>/dev/null
    for pid in ${srv_pids:-}; do
        kill "$pid" 2>/dev/null
    done
    for i in $HVS; do
        [ -d "$run/hv$i/ovs" ] || continue
        ovs_use "$run/hv$i/ovs" "afwf$tag-h$i"
        ovs_stop
        ip netns del "afwf$tag-v$i" 2>/dev/null
    done
    ip netns del "$fab" 2>/dev/null
    rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

suite=fleet
die_logs="$run/*.log $run/hv*/*.log $run/hv*/*.stderr"

vm_of() { echo "55555555-0000-4000-8000-00000000f00$1"; }
ip_of() { echo "10.92.0.$1"; }
sw_ctl() { echo "$run/hv$1/appfw-switchd.ctl"; }
st_field() {  # HV NAME: a number from the switchd's connection-status
    ovs-appctl -t "$(sw_ctl "$1")" appfw/connection-status |
        sed -n "s/.* $2=\([0-9]*\).*/\1/p" | head -1
}
guest_on() {  # HV GUEST-SIM-ARGS...: guest-sim as hypervisor HV's VM
    g=$1
    shift
    guest_sim "$(sw_ctl "$g")" "$(vm_of "$g")" "$run" "$@"
}
decide_to() {  # HV ID REMOTE-HV PORT: a decide by HV's VM
    guest_on "$1" decide "$2" tcp "$(ip_of "$1")" $((41000 + $2)) \
        "$(ip_of "$3")" "$4"
}
connect_from() {  # HV REMOTE-HV PORT
    ip netns exec "afwf$tag-v$1" $py connect "$(ip_of "$2")" "$3"
}
start_switchd() {  # HV
    i=$1
    "$switchd" --rundir "$run/hv$i" --ovs-rundir "$run/hv$i/ovs" \
        --bridge afwfbr$i --hypervisor-name "hv$i" \
        --hypervisor-token-file "$run/hv$i.token" \
        --tls-cert "$run/hv$i.pem" --tls-ca "$run/ca.pem" \
        --tls-server-name localhost --decide-url "$url" \
        --log-file "$run/hv$i/switchd.log" \
        2>>"$run/hv$i/switchd.stderr" &
}
switchd_up() {  # HV: converged, its VM's port known, polling secd
    appfw_converged "$(sw_ctl "$1")" 2>/dev/null &&
        ovs-appctl -t "$(sw_ctl "$1")" appfw/vms | grep -q "ofport=[1-9]" &&
        [ "$(st_field "$1" polls)" -ge 1 ] 2>/dev/null
}
start_secd() {
    "$secd" --rundir "$run" --db "$run/secd.db" --decide-url "$url" \
        --tls-cert "$run/server.pem" --tls-ca "$run/ca.pem" \
        --log-file "$run/secd.log" &
    retry 50 0.1 "$ctl" --rundir "$run" health >/dev/null 2>&1 ||
        die "appfw-secd did not start"
}

# --- Certificates, secd, the hypervisors' registrations.
{ tls_ca "$run" ca "appfw fleet CA" &&
  tls_issue "$run" server localhost ca "IP:127.0.0.1,DNS:localhost" &&
  for i in $HVS; do tls_issue "$run" hv$i "hypervisor-$i" ca "DNS:hv$i" ||
      exit 1; done; } || die "certificates"
start_secd
cat >"$run/web.json" <<'EOF'
{"rules": [{"id": "web", "action": "allow", "match": {"remote_port": [8080]}}]}
EOF
cat >"$run/none.json" <<'EOF'
{"rules": [{"id": "other", "action": "allow", "match": {"remote_port": [8443]}}]}
EOF
"$ctl" --rundir "$run" policy apply "$run/web.json" >/dev/null ||
    die "policy apply"
for i in $HVS; do
    "$ctl" --rundir "$run" hypervisor add hv$i >"$run/hv$i.token" ||
        die "hypervisor add hv$i"
done

# --- The fabric and three hypervisors, one VM each.
ip netns add "$fab" || die "netns $fab"
ip -n "$fab" link add fabric type bridge
ip -n "$fab" link set fabric up
for i in $HVS; do
    mkdir -p "$run/hv$i"
    ovs_init "$run/hv$i/ovs" "afwf$tag-h$i"
    ovs_start_vswitchd
    vsctl add-br afwfbr$i -- set bridge afwfbr$i datapath_type=netdev ||
        die "add-br"
    # The uplink: a port appfw does not manage.
    ip link add "afwf${tag}u$i" type veth peer name "afwf${tag}U$i" ||
        die "uplink veth"
    ip link set "afwf${tag}U$i" netns "$fab"
    ip -n "$fab" link set "afwf${tag}U$i" master fabric up
    ovs_link_up "afwf${tag}u$i"
    vsctl add-port afwfbr$i "afwf${tag}u$i" || die "add uplink"
    ns_vm "afwf$tag-v$i" "afwf${tag}v$i" "afwf${tag}V$i" 52:54:00:92:00:0$i \
        "$(ip_of $i)/24" afwfbr$i "$(vm_of $i)"
    ip netns exec "afwf$tag-v$i" $py serve 8080 9090 >/dev/null 2>&1 &
    srv_pids="${srv_pids:-} $!"    # (deleting a namespace kills nothing)
    start_switchd $i
done
for i in $HVS; do
    check "hypervisor hv$i is up, polling secd over TLS" \
        retry 150 0.1 switchd_up $i
done

# --- Decisions from every hypervisor; traffic between hypervisors.
for i in $HVS; do
    j=$((i % 3 + 1))
    out=$(decide_to $i $i $j 8080)
    check "hv$i's VM is decided ($out)" \
        sh -c "echo '$out' | grep -q '\"verdict\":\"allow\"'"
    r=$(connect_from $i $j 8080)
    check "hv$i's VM reaches hv$j's on an allowed port ($r)" \
        sh -c "echo '$r' | grep -q '^ok'"
    r=$(connect_from $i $j 9090)
    check "but not on a port the policy denies ($r)" \
        sh -c "echo '$r' | grep -q '^fail ConnectionRefusedError'"
done
"$ctl" --rundir "$run" vm list >"$run/vms.out"
check "appfwctl vm list shows each VM on its hypervisor" \
    sh -c "grep -q '$(vm_of 1).* hv1' '$run/vms.out' &&
           grep -q '$(vm_of 2).* hv2' '$run/vms.out' &&
           grep -q '$(vm_of 3).* hv3' '$run/vms.out'"
"$ctl" --rundir "$run" hypervisor list >"$run/hvs.out"
check "appfwctl hypervisor list shows all three connected" \
    sh -c "[ \$(grep -c 'hv[123] .*connected' '$run/hvs.out') = 3 ]"

# --- A hypervisor cannot speak for another's VM.
tok2=$(cat "$run/hv2.token")
forged="{\"type\":\"decide\",\"id\":7,\"event\":\"connect\",\"protocol\":\"tcp\",\"direction\":\"outbound\",\"local\":{\"address\":\"$(ip_of 1)\",\"port\":40000},\"remote\":{\"address\":\"$(ip_of 2)\",\"port\":8080},\"app\":{\"path\":\"/usr/bin/curl\"},\"process\":{\"pid\":1},\"user\":{\"uid\":0},\"vm\":{\"uuid\":\"$(vm_of 1)\",\"hypervisor\":\"hv2\",\"token\":\"$tok2\"}}"
out=$(APPFW_TLS_CERT="$run/hv2.pem" APPFW_TLS_CA="$run/ca.pem" \
      APPFW_TLS_SERVER_NAME=localhost "$load" raw "$url" "$forged" 2>&1)
check "hv2, with its own token, is refused for hv1's VM ($out)" \
    sh -c "echo '$out' | grep -q '\"code\":\"forbidden\".*hosted by another hypervisor'"

# --- A policy change revokes on every hypervisor.
for i in $HVS; do
    eval "revoked0_$i=\$(st_field $i revoked)"
done
"$ctl" --rundir "$run" policy apply "$run/none.json" >/dev/null ||
    die "policy apply"
all_revoked() {
    for i in $HVS; do
        eval "r0=\$revoked0_$i"
        [ "$(st_field $i revoked)" -gt "$r0" ] || return 1
    done
}
check "every hypervisor withdrew its revoked flow" retry 100 0.05 all_revoked
for i in $HVS; do
    j=$((i % 3 + 1))
    r=$(connect_from $i $j 8080)
    check "hv$i's VM is refused on the revoked port at once ($r)" \
        sh -c "echo '$r' | grep -q '^fail ConnectionRefusedError'"
done

# --- One switchd restarts: the others go on undisturbed.
"$ctl" --rundir "$run" policy apply "$run/web.json" >/dev/null ||
    die "policy apply"
for i in $HVS; do
    decide_to $i $((10 + i)) $((i % 3 + 1)) 8080 >/dev/null
done
ip netns exec "afwf$tag-v2" $py loop "$(ip_of 3)" 8080 3 >"$run/loop.out" &
loop_pid=$!
sleep 0.3
stop_pidfile "$run/hv1/appfw-switchd.pid"
start_switchd 1
wait "$loop_pid"
loop_pid=
check "hv2's traffic went on while hv1's switchd restarted ($(cat "$run/loop.out"))" \
    grep -q 'ok=[1-9][0-9]* fail=0' "$run/loop.out"
check "hv1's switchd is back" retry 150 0.1 switchd_up 1
out=$(decide_to 1 21 2 8080)
check "and its VM is decided again ($out)" \
    sh -c "echo '$out' | grep -q '\"verdict\":\"allow\"'"

# --- secd restarts: every switchd hears a new revision and rechecks.
for i in $HVS; do
    eval "rechecks0_$i=\$(st_field $i rechecks)"
done
stop_pidfile "$run/appfw-secd.pid"
check "secd (with TLS, nng's threads running) stops on SIGTERM, removing its pid file" \
    sh -c "test ! -e '$run/appfw-secd.pid' && grep -q 'module=main msg=.stopped' '$run/secd.log'"
r=$(connect_from 2 3 8080)
check "with secd down, approved traffic passes ($r)" \
    sh -c "echo '$r' | grep -q '^ok'"
start_secd
all_rechecked() {
    for i in $HVS; do
        eval "r0=\$rechecks0_$i"
        [ "$(st_field $i rechecks)" -gt "$r0" ] &&
            [ "$(st_field $i rechecks_waiting)" = 0 ] || return 1
    done
}
check "every switchd rechecked its flows with the restarted secd" \
    retry 100 0.1 all_rechecked
for i in $HVS; do
    j=$((i % 3 + 1))
    r=$(connect_from $i $j 8080)
    check "hv$i's approved traffic still passes ($r)" \
        sh -c "echo '$r' | grep -q '^ok'"
done
out=$(decide_to 3 31 1 8080)
check "and new decisions are made ($out)" \
    sh -c "echo '$out' | grep -q '\"verdict\":\"allow\"'"

# --- Clean stop.
for i in $HVS; do
    stop_pidfile "$run/hv$i/appfw-switchd.pid"
    check "hv$i's switchd stops on SIGTERM and removes its pid file" \
        test ! -e "$run/hv$i/appfw-switchd.pid"
done
check "no errors or crashes on stderr" \
    sh -c "! cat $run/hv*/switchd.stderr | grep -q ."

echo "fleet: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
