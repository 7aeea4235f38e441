#!/bin/sh
# Integration test of appfw-secd over real nng sockets, driven by appfwctl
# and tests/secd/secd-load: decisions, the console, bad input, policy
# versions, flow acks from a stand-in appfw-switchd, a flooding VM,
# a clean shutdown that keeps the audit log, and kill -9 right after
# answered decisions, with durable-decisions (no audit row lost) and
# without (the rows since the last flush lost).  Everything lives in a
# private run directory; daemons are stopped by their pid files.
# Ends with "secd: N passed, N failed".
# Usage: tests/secd/test-secd.sh BUILD-DIR
set -u
build=${1:-build}
secd="$build/security-vm/appfw-secd"
ctl="$build/security-vm/appfwctl"
load="$build/tests/secd/secd-load"
appid="$build/appid/appid"
run=$(mktemp -d /tmp/appfw-secd-test.XXXXXX) || exit 1
passed=0
failed=0
fake_pid=""

stop_secd() {
    if [ -f "$run/appfw-secd.pid" ]; then
        pid=$(cat "$run/appfw-secd.pid")
        kill "$pid" 2>/dev/null
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
    fi
}
cleanup() {
    stop_secd
    [ -n "$fake_pid" ] && kill "$fake_pid" 2>/dev/null
    rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

start_secd() {
    "$secd" --rundir "$run" --db "$run/secd.db" --appid-db "$run/appid.db" \
        --log-file "$run/secd.log" "$@" &
    for _ in $(seq 50); do
        [ -S "$run/secd-console.sock" ] && "$ctl" --rundir "$run" health \
            >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "FAIL: appfw-secd did not start"; cat "$run/secd.log"
    exit 1
}

ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL $1"; sed 's/^/    /' "$run/out" | head -20; }
expect() {  # expect NAME PATTERN COMMAND...
    name=$1 pat=$2
    shift 2
    "$@" >"$run/out" 2>&1
    if grep -q -- "$pat" "$run/out"; then ok; else bad "$name: no \"$pat\""; fi
}
expect_rc() {  # expect_rc NAME RC COMMAND...
    name=$1 want=$2
    shift 2
    "$@" >"$run/out" 2>&1
    rc=$?
    if [ "$rc" -eq "$want" ]; then ok; else bad "$name: exit $rc, not $want"; fi
}

VM1=22222222-0000-4000-8000-000000000001
CURL=cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc
NC=dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd
TX=eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee
cat >"$run/feed.json" <<EOF
{"format": "appfw-appid-feed", "version": 1, "source": "test",
 "added": [
  {"sha256": "$CURL", "name": "curl", "path": "/usr/bin/curl", "product": "curl",
   "category": "downloader", "trust": "trusted", "threat": "low"},
  {"sha256": "$NC", "name": "nc.openbsd", "path": "/bin/nc.openbsd",
   "product": "netcat-openbsd", "category": "network-tool", "trust": "trusted", "threat": "high"},
  {"sha256": "$TX", "name": "transmission-cli", "path": "/usr/bin/transmission-cli",
   "product": "transmission-cli", "category": "p2p", "trust": "trusted", "threat": "high"}]}
EOF
"$appid" --db "$run/appid.db" import-feed "$run/feed.json" >/dev/null || exit 1
cat >"$run/p1.json" <<EOF
{"vm_groups": [{"name": "lab"}],
 "vms": [{"uuid": "$VM1", "name": "vm1", "group": "lab"}],
 "rules": [
  {"id": "allow-web", "match": {"remote_port": [80, 443]}, "action": "allow"},
  {"id": "deny-nc", "priority": 10, "match": {"category": ["network-tool"]}, "action": "deny", "notify": true},
  {"id": "deny-p2p", "vm_group": "lab", "match": {"category": ["p2p"]}, "action": "deny"}]}
EOF

# A per-VM rate well below what even a sanitizer build serves, so the
# flooding check below does not depend on the machine's speed.
start_secd --vm-rate 500 --vm-burst 1000
url="ipc://$run/secd-decide.sock"

# With no policy yet, everything is denied.
expect no-policy "allow=0 deny=1" "$load" decide "$url" "$VM1" 1 1 /usr/bin/curl $CURL 80

expect_rc apply 0 "$ctl" --rundir "$run" policy apply "$run/p1.json" --comment one
expect allow-curl "allow=20 deny=0" "$load" decide "$url" "$VM1" 20 4 /usr/bin/curl $CURL 80
expect verdict-fields '"rule":"allow-web"' "$load" decide "$url" "$VM1" 1 1 /usr/bin/curl $CURL 80
expect verdict-app '"category":"downloader"' "$load" decide "$url" "$VM1" 1 1 /usr/bin/curl $CURL 80
expect deny-nc "allow=0 deny=5" "$load" decide "$url" "$VM1" 5 2 /bin/nc.openbsd $NC 80
expect deny-p2p-over-allow '"rule":"deny-p2p"' "$load" decide "$url" "$VM1" 1 1 /usr/bin/transmission-cli $TX 80
expect unknown-app '"rule":"default:unknown-app"' "$load" decide "$url" "$VM1" 1 1 /home/u/mystery - 8080

# The console.
expect list-deny "deny-nc" "$ctl" --rundir "$run" decisions list --verdict deny
expect list-vm "vm-22222222" "$ctl" --rundir "$run" decisions list --vm "$VM1" --limit 3
expect stats-top "curl" "$ctl" --rundir "$run" stats top --by app
expect stats-json '"key":"curl","connections":23,"denials":1' "$ctl" --rundir "$run" --json stats top --by app --limit 1
expect vm-list "$VM1" "$ctl" --rundir "$run" vm list
expect_rc vm-show-missing 1 "$ctl" --rundir "$run" vm show no-such-vm
expect appid-lookup "network-tool" "$ctl" --rundir "$run" appid lookup --sha256 $NC
expect health "decisions        " "$ctl" --rundir "$run" health

# Traffic statistics from the hypervisor add to the application's totals:
# here an agent's reports of connections into the VM, the traffic whose
# application and user only the guest can name (a report of an outbound
# one counts nowhere: the datapath's counters have it, test-quota.sh).
expect stats-ack '"type":"ack","ok":true' "$load" raw "$url" \
    "{\"type\":\"stats\",\"interval\":30,\"vm\":{\"uuid\":\"$VM1\",\"name\":\"vm-22222222\"},\"flows\":[{\"protocol\":\"tcp\",\"direction\":\"inbound\",\"local\":{\"address\":\"10.77.0.1\",\"port\":40000},\"remote\":{\"address\":\"10.77.0.2\",\"port\":80},\"sha256\":\"$CURL\",\"bytes_in\":5000,\"bytes_out\":300,\"packets_in\":5,\"packets_out\":4}]}"
expect stats-bytes '"key":"curl","connections":23,"denials":1,"bytes_in":5000,"bytes_out":300' \
    "$ctl" --rundir "$run" --json stats top --by app --limit 1
# The stats name uid 1000 only; the VM's decides said uid 1000 is alice.
"$load" raw "$url" \
    "{\"type\":\"stats\",\"interval\":30,\"vm\":{\"uuid\":\"$VM1\",\"name\":\"vm-22222222\"},\"flows\":[{\"protocol\":\"tcp\",\"direction\":\"inbound\",\"local\":{\"address\":\"10.77.0.1\",\"port\":40001},\"remote\":{\"address\":\"10.77.0.2\",\"port\":80},\"sha256\":\"$CURL\",\"uid\":1000,\"bytes_in\":7000,\"bytes_out\":70}]}" >/dev/null
expect stats-by-user '"key":"alice".*"bytes_in":7000,"bytes_out":70' \
    "$ctl" --rundir "$run" --json stats top --by user --order bytes --limit 1

# Bad input: answered with an error, the daemon keeps serving.
expect bad-json '"code":"bad_message"' "$load" raw "$url" '{"type":'
expect unknown-type 'unknown type' "$load" raw "$url" '{"type":"launch"}'
expect bad-field 'decide.remote.port: 70000 out of range' "$load" raw "$url" \
    "{\"type\":\"decide\",\"id\":1,\"event\":\"connect\",\"protocol\":\"tcp\",\"direction\":\"outbound\",\"local\":{\"address\":\"10.0.0.1\",\"port\":1},\"remote\":{\"address\":\"10.0.0.2\",\"port\":70000},\"app\":{\"path\":\"/x\"},\"process\":{\"pid\":1},\"user\":{\"uid\":0}}"
expect no-vm '"code":"unknown_vm"' "$load" raw "$url" \
    "{\"type\":\"decide\",\"id\":1,\"event\":\"connect\",\"protocol\":\"tcp\",\"direction\":\"outbound\",\"local\":{\"address\":\"10.0.0.1\",\"port\":1},\"remote\":{\"address\":\"10.0.0.2\",\"port\":80},\"app\":{\"path\":\"/x\"},\"process\":{\"pid\":1},\"user\":{\"uid\":0}}"
big=$(head -c 70000 /dev/zero | tr '\0' ' ')
expect oversize 'exceeds the maximum' "$load" raw "$url" "{\"type\":\"heartbeat\",\"seq\":1,\"pad\":\"$big\"}"
expect still-serving "allow=3" "$load" decide "$url" "$VM1" 3 3 /usr/bin/curl $CURL 443

# A database locked by another process: decisions go on, without errors
# or stalls, and the audit rows are written once the lock goes.
n443() {
    "$ctl" --rundir "$run" --json decisions list --limit 100000 |
        grep -o '"remote":"10.77.0.2:443"' | wc -l
}
before443=$(n443)
"$load" lock-db "$run/secd.db" 3 >"$run/lock.log" 2>&1 &
lock_pid=$!
sleep 0.5
expect locked-db-decides "allow=10 deny=0 error=0" "$load" decide "$url" "$VM1" 10 2 /usr/bin/curl $CURL 443
p99=$(sed -n 's/.*p99_us=\([0-9]*\).*/\1/p' "$run/out")
if [ "${p99:-999999}" -lt 1000000 ]; then ok; else bad "locked database stalled decisions (p99 ${p99}us)"; fi
wait $lock_pid
grep -q locked "$run/lock.log" && ok || { cp "$run/lock.log" "$run/out"; bad "the database was never locked"; }
sleep 1.5
after443=$(n443)
if [ "$after443" -eq $((before443 + 10)) ]; then ok; else
    echo "port-443 rows before=$before443 after=$after443" >"$run/out"
    bad "audit rows lost while the database was locked"; fi
grep -q "flush failed" "$run/secd.log" && ok || { cp "$run/secd.log" "$run/out"; bad "no flush failure was logged while locked"; }

# Policy versions: a change applies to the next decision; diff; rollback.
sed '/allow-web/d' "$run/p1.json" >"$run/p2.json"
expect_rc apply-v2 0 "$ctl" --rundir "$run" policy apply "$run/p2.json" --comment "no web"
expect v2-denies '"rule":"default:no-match"' "$load" decide "$url" "$VM1" 1 1 /usr/bin/curl $CURL 80
expect diff "- rule allow-web" "$ctl" --rundir "$run" policy diff
expect history "no web" "$ctl" --rundir "$run" policy history
echo '{"rules": [{"id": "x", "action": "maybe"}]}' >"$run/bad.json"
expect_rc invalid-refused 1 "$ctl" --rundir "$run" policy apply "$run/bad.json"
expect invalid-message 'policy.rules\[0\].action: "maybe" is not one of allow, deny' \
    "$ctl" --rundir "$run" policy validate "$run/bad.json"
expect_rc rollback 0 "$ctl" --rundir "$run" policy rollback 1 --comment "web back"
expect rolled-back '"rule":"allow-web"' "$load" decide "$url" "$VM1" 1 1 /usr/bin/curl $CURL 80

# The event stream shows decisions live.
"$ctl" --rundir "$run" decisions tail --count 2 --seconds 10 >"$run/tail" 2>&1 &
tail_pid=$!
sleep 0.5
"$load" decide "$url" "$VM1" 2 1 /bin/nc.openbsd $NC 80 >/dev/null
wait $tail_pid
if [ "$(grep -c deny-nc "$run/tail")" -eq 2 ]; then ok; else
    cp "$run/tail" "$run/out"; bad "tail: did not show both live decisions"; fi

# A flooding VM is rate limited; the victim gets no errors.
"$load" flood "$url" 2 >"$run/flood" 2>&1
rc=$?
cat "$run/flood"
if [ $rc -eq 0 ] && grep -q "victim flooded:.*errors=0" "$run/flood"; then ok; else
    cp "$run/flood" "$run/out"; bad "flood: the victim was hurt"; fi
expect flood-limited "rate_limited\|overloaded" "$load" decide "$url" \
    ffffffff-0000-4000-8000-00000000f10d 9000 64 /usr/bin/flooder - 80

# A clean shutdown flushes the audit log: the count survives a restart.
"$ctl" --rundir "$run" --json decisions list --limit 100000 >"$run/before"
before=$(grep -o '"verdict"' "$run/before" | wc -l)
stop_secd
expect_rc unreachable 3 "$ctl" --rundir "$run" --timeout 500 health

# An allow carries the flow appfw-switchd installs before passing it on
# (docs/protocol.md, "verdict"); a deny carries none.  secd dials no one.
start_secd
"$ctl" --rundir "$run" --json decisions list --limit 100000 >"$run/after"
after=$(grep -o '"verdict"' "$run/after" | wc -l)
if [ "$before" -gt 0 ] && [ "$before" -eq "$after" ]; then ok; else
    echo "audit before=$before after=$after" >"$run/out"; bad "audit lost at shutdown"; fi
expect verdict-flow "allow=5 deny=0 error=0 .*flows=5" "$load" decide "$url" "$VM1" 5 5 /usr/bin/curl $CURL 80
expect verdict-flow-fields '"flow":{"granularity":"[a-z]*","protocol":"tcp","local":{"address":"10.77.0.1","port":40000},"remote":{"address":"10.77.0.2","port":80},"app_id":[1-9][0-9]*,"uid":1000,"ttl":[1-9][0-9]*}' \
    "$load" decide "$url" "$VM1" 1 1 /usr/bin/curl $CURL 80
expect deny-needs-no-flow "deny=1 .*flows=0" "$load" decide "$url" "$VM1" 1 1 /bin/nc.openbsd $NC 80
# appfw-switchd asks again when the switch refused the flow: a deny, not
# cached, audited with the reason.
expect flow-refused 'allow=0 deny=1 .*flows=0' env SECD_LOAD_FLOW_REFUSED="table 30 is full" \
    "$load" decide "$url" "$VM1" 1 1 /usr/bin/curl $CURL 80
expect flow-refused-not-cached '"ttl":0' env SECD_LOAD_FLOW_REFUSED=full \
    "$load" decide "$url" "$VM1" 1 1 /usr/bin/curl $CURL 80
sleep 1.2
expect flow-refused-audited "allowed by policy, but the switch refused its flow: table 30 is full" \
    "$ctl" --rundir "$run" --json decisions list --limit 10
stop_secd
grep -q 'msg="stopped"' "$run/secd.log" && ok || { cp "$run/secd.log" "$run/out"; bad "no clean stop in the log"; }

# --- A crash (kill -9) right after the verdicts.  With durable-decisions
# every answered decision's audit row is in the store; without, the rows
# since the last flush are lost (docs/operations.md, "Durability"): a long
# flush-ms here makes that all of them.
rows() { sqlite3 "$run/secd.db" "SELECT count(*) FROM audit"; }
kill9_secd() {
    pid=$(cat "$run/appfw-secd.pid")
    kill -9 "$pid"
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
}
crash_after_decides() {  # OPTIONS...: rows before, answered, rows after
    r0=$(rows)
    start_secd --flush-ms 60000 "$@"
    a=$("$load" decide "$url" "$VM1" 50 8 /usr/bin/curl $CURL 80 | head -1)
    b=$("$load" decide "$url" "$VM1" 10 2 /bin/nc.openbsd $NC 80 | head -1)
    kill9_secd
    echo "$r0 $(echo "$a $b" | grep -o 'allow=[0-9]* deny=[0-9]*' |
                tr -dc '0-9 \n' | awk '{ n += $1 + $2 } END { print n }') $(rows)"
}
set -- $(crash_after_decides --durable-decisions 1)
echo "durable-decisions=1: rows before $1, answered $2, rows after kill -9 $3" |
    tee "$run/out"
if [ "$2" -eq 60 ] && [ "$3" -eq $(($1 + 60)) ]; then ok; else
    bad "durable-decisions: answered decisions' audit rows lost in a crash"; fi
start_secd
expect durable-after-restart "allow=1" "$load" decide "$url" "$VM1" 1 1 /usr/bin/curl $CURL 80
n=$("$ctl" --rundir "$run" --json decisions list --limit 100000 | grep -o '"verdict"' | wc -l)
echo "rows $n, expected $(($3 + 1))" >"$run/out"
if [ "$n" -eq $(($3 + 1)) ]; then ok; else bad "durable rows not listed after the restart"; fi
stop_secd
set -- $(crash_after_decides)
echo "durable-decisions=0: rows before $1, answered $2, rows after kill -9 $3" |
    tee "$run/out"
if [ "$2" -eq 60 ] && [ "$3" -eq "$1" ]; then ok; else
    bad "without durable-decisions: not the documented loss"; fi

# With durable-decisions, a database locked past the busy timeout fails
# the decisions (no verdict, no flow without its row); their rows come
# later.
start_secd --durable-decisions 1
r0=$(rows)
"$load" lock-db "$run/secd.db" 2 >"$run/lock.log" 2>&1 &
lock_pid=$!
sleep 0.5
expect durable-locked "allow=0 deny=0 error=3 errors=unavailable" \
    "$load" decide "$url" "$VM1" 3 1 /usr/bin/curl $CURL 80
wait $lock_pid
expect durable-unlocked "allow=2 deny=0 error=0 .*flows=2" \
    "$load" decide "$url" "$VM1" 2 1 /usr/bin/curl $CURL 80
if [ "$(rows)" -eq $((r0 + 5)) ]; then ok; else
    echo "rows before $r0, after $(rows)" >"$run/out"
    bad "durable-decisions: the locked decisions' rows were not written later"; fi
grep -q "audit commit failed" "$run/secd.log" && ok || { cp "$run/secd.log" "$run/out"; bad "no commit failure logged"; }
stop_secd

# --- Hypervisors (docs/operations.md, "Hypervisors"): with none
# registered, names as stamped; once any is, a registered name with its
# token, and only for the VMs it hosts.
start_secd
HVVM=33333333-0000-4000-8000-0000000000a1
hvmsg() {  # TYPE HYPERVISOR TOKEN VM: a message as that hypervisor stamps it
    vm="\"vm\":{\"uuid\":\"${4:-}\",\"name\":\"vm-hv\",\"hypervisor\":\"$2\"$( [ -n "$3" ] && printf ',"token":"%s"' "$3")}"
    case $1 in
    decide) "$load" raw "$url" "{\"type\":\"decide\",\"id\":7,\"event\":\"connect\",\"protocol\":\"tcp\",\"direction\":\"outbound\",\"local\":{\"address\":\"10.77.0.1\",\"port\":40000},\"remote\":{\"address\":\"10.77.0.2\",\"port\":80},\"app\":{\"path\":\"/usr/bin/curl\",\"sha256\":\"$CURL\"},\"process\":{\"pid\":4242},\"user\":{\"uid\":1000,\"name\":\"alice\"},$vm}" ;;
    release) "$load" raw "$url" "{\"type\":\"vm_release\",$vm}" ;;
    recheck) "$load" raw "$url" "{\"type\":\"recheck\",\"id\":5,\"hypervisor\":\"$5\"$( [ -n "$6" ] && printf ',"token":"%s"' "$6"),\"revision\":1,\"decides\":[{\"type\":\"decide\",\"id\":7,\"event\":\"connect\",\"protocol\":\"tcp\",\"direction\":\"outbound\",\"local\":{\"address\":\"10.77.0.1\",\"port\":40000},\"remote\":{\"address\":\"10.77.0.2\",\"port\":80},\"app\":{\"path\":\"/usr/bin/curl\",\"sha256\":\"$CURL\"},\"process\":{\"pid\":4242},\"user\":{\"uid\":1000,\"name\":\"alice\"},$vm}]}" ;;
    poll) "$load" raw "$url" "{\"type\":\"poll\",\"id\":3,\"hypervisor\":\"$2\"$( [ -n "$3" ] && printf ',"token":"%s"' "$3"),\"flows\":12,\"software\":\"appfw-switchd test\"}" ;;
    esac
}
expect hv-unregistered '"type":"verdict"' hvmsg decide hv1 "" $HVVM
expect hv-control-chars '"code":"forbidden".*not a hypervisor name' \
    hvmsg decide 'hv\u001b[2J' "" $HVVM
expect hv-poll-control-chars '"code":"forbidden".*not a hypervisor name' \
    hvmsg poll 'hv\u0007'
"$ctl" --rundir "$run" hypervisor add hv1 >"$run/tok1" 2>&1
"$ctl" --rundir "$run" hypervisor add hv2 >"$run/tok2" 2>&1
tok1=$(cat "$run/tok1") tok2=$(cat "$run/tok2")
echo "$tok1 $tok2" >"$run/out"
if echo "$tok1" | grep -qx '[0-9a-f]\{64\}' && echo "$tok2" | grep -qx '[0-9a-f]\{64\}' &&
   [ "$tok1" != "$tok2" ]; then ok; else bad "hypervisor add: no token printed"; fi
expect hv-bad-name 'is not 1 to 64 letters' "$ctl" --rundir "$run" hypervisor add 'hv 3'
expect hv-no-token '"code":"forbidden".*no valid hypervisor token' hvmsg decide hv1 "" $HVVM
expect hv-wrong-token '"code":"forbidden".*wrong hypervisor token' hvmsg decide hv1 "$tok2" $HVVM
expect hv-unknown '"code":"forbidden".*unknown hypervisor' hvmsg decide hv3 "$tok1" $HVVM
expect hv-own '"type":"verdict"' hvmsg decide hv1 "$tok1" $HVVM
expect hv-other-vm '"code":"forbidden".*hosted by another hypervisor' hvmsg decide hv2 "$tok2" $HVVM
expect hv-release-other '"code":"forbidden".*hosted by another hypervisor' hvmsg release hv2 "$tok2" $HVVM
expect hv-still-held '"code":"forbidden".*hosted by another hypervisor' hvmsg decide hv2 "$tok2" $HVVM
expect hv-release '"type":"ack"' hvmsg release hv1 "$tok1" $HVVM
expect hv-moved '"type":"verdict"' hvmsg decide hv2 "$tok2" $HVVM
# A recheck (docs/protocol.md): a hypervisor's own VM's allow stands; a
# decide of another hypervisor's VM, or stamped with another hypervisor's
# name, is revoked; a recheck must come with the hypervisor's token.
expect hv-recheck-own '"type":"ack".*"revoked":\[\]' \
    hvmsg recheck hv2 "$tok2" $HVVM hv2 "$tok2"
expect hv-recheck-other-vm '"type":"ack".*"revoked":\[0\]' \
    hvmsg recheck hv1 "$tok1" $HVVM hv1 "$tok1"
expect hv-recheck-other-stamp '"type":"ack".*"revoked":\[0\]' \
    hvmsg recheck hv2 "$tok2" $HVVM hv1 "$tok1"
expect hv-recheck-bad-token '"code":"forbidden".*wrong hypervisor token' \
    hvmsg recheck hv2 "$tok2" $HVVM hv2 "$tok1"
# A flow the policy no longer allows is revoked and audited as such, but
# it is not a new connection, nor a denied one, in the statistics.
vm_counts() {
    "$ctl" --rundir "$run" --json stats top --by vm --limit 100 |
        grep -o '"key":"vm-hv","connections":[0-9]*,"denials":[0-9]*'
}
c0=$(vm_counts)
"$ctl" --rundir "$run" policy apply "$run/p2.json" >/dev/null
expect hv-recheck-revoked '"type":"ack".*"revoked":\[0\]' \
    hvmsg recheck hv2 "$tok2" $HVVM hv2 "$tok2"
expect hv-revoked-audited '"reason":"revoked (decisions revision' \
    "$ctl" --rundir "$run" --json decisions list --limit 1
c1=$(vm_counts)
echo "before: $c0 after: $c1" >"$run/out"
if [ -n "$c0" ] && [ "$c0" = "$c1" ]; then ok; else
    bad "a revoked flow counted as a connection or a denial"; fi
"$ctl" --rundir "$run" policy apply "$run/p1.json" >/dev/null
expect hv-poll '"type":"ack"' hvmsg poll hv2 "$tok2"
expect hv-poll-bad '"code":"forbidden"' hvmsg poll hv2 "$tok1"
expect hv-list 'hv2 *token *connected *1 *12 *appfw-switchd test' "$ctl" --rundir "$run" hypervisor list
expect hv-show "vm $HVVM" "$ctl" --rundir "$run" hypervisor show hv2
expect hv-vm-list "$HVVM *vm-hv *hv2" "$ctl" --rundir "$run" vm list
if sqlite3 "$run/secd.db" "SELECT * FROM hypervisor" | grep -q "$tok1"; then
    bad "a hypervisor's token is stored in the clear"; else ok; fi
stop_secd
start_secd
expect hv-after-restart '"type":"verdict"' hvmsg decide hv1 "$tok1" 33333333-0000-4000-8000-0000000000a2
expect hv-remove 'hypervisor removed' "$ctl" --rundir "$run" hypervisor remove hv2
expect hv-removed '"code":"forbidden".*unknown hypervisor' hvmsg decide hv2 "$tok2" $HVVM
expect hv-remove-unknown 'no hypervisor "hv2"' "$ctl" --rundir "$run" hypervisor remove hv2
"$ctl" --rundir "$run" hypervisor remove hv1 >/dev/null
expect hv-none-left '"type":"verdict"' hvmsg decide hv9 "" $HVVM
stop_secd

# --- VMs that fall silent are forgotten (vm-idle-s), and come back.
start_secd --vm-idle-s 1
url="ipc://$run/secd-decide.sock"
for v in 1 2 3; do
    "$load" decide "$url" 22222222-0000-4000-8000-00000000010$v 1 1 \
        /usr/bin/curl $CURL 80 >/dev/null
done
vms() { "$ctl" --rundir "$run" --json health | sed -n 's/.*"vms": *\([0-9]*\).*/\1/p'; }
echo "vms known: $(vms)" >"$run/out"
[ "$(vms)" -ge 3 ] && ok || bad "three VMs known after their decisions"
for _ in $(seq 40); do [ "$(vms)" = 0 ] && break; sleep 0.1; done
echo "vms known after 4 s: $(vms)" >"$run/out"
[ "$(vms)" = 0 ] && ok || bad "silent VMs forgotten after vm-idle-s"
expect idle-vm-back "allow=1" "$load" decide "$url" \
    22222222-0000-4000-8000-000000000101 1 1 /usr/bin/curl $CURL 80
stop_secd

echo "secd: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
