#!/bin/sh
# Quotas (docs/policy.md "Quotas", docs/operations.md): appfw-secd counts
# each subject's bytes per UTC day from the traffic statistics, records a
# violation the first time a quota is passed, denies the subject's new
# connections when the quota blocks, keeps the count across a restart,
# and applies quota changes at once.  A child's quota may not exceed its
# parent's; lowering a parent lowers the children above it.  Where the
# datapath (appfw-switchd) counts a VM's traffic, its counters, not the
# guest's reports, charge quotas: under-reporting escapes nothing, and
# nothing is charged twice.
# Ends with "quota: N passed, N failed".
# Usage: tests/secd/test-quota.sh BUILD-DIR
set -u
build=${1:-build}
secd="$build/security-vm/appfw-secd"
ctl="$build/security-vm/appfwctl"
load="$build/tests/secd/secd-load"
run=$(mktemp -d /tmp/appfw-quota-test.XXXXXX) || exit 1
. "$(dirname "$0")/../lib-check.sh"
suite=quota
die_logs="$run/secd.log"
vm=66666666-0000-4000-8000-000000000001
url="ipc://$run/secd-decide.sock"

stop_secd() {
    [ -f "$run/appfw-secd.pid" ] || return 0
    pid=$(cat "$run/appfw-secd.pid")
    kill "$pid" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
}
cleanup() {
    stop_secd
    [ -n "${fake_pid:-}" ] && kill "$fake_pid" 2>/dev/null
    rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
start_secd() {
    "$secd" --rundir "$run" --db "$run/secd.db" --appid-db "$run/appid.db" \
        --log-file "$run/secd.log" "$@" &
    for _ in $(seq 50); do
        "$ctl" --rundir "$run" health >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    die "appfw-secd did not start"
}
ctl() { "$ctl" --rundir "$run" "$@" 2>&1; }
# One connection decided for alice (uid 1000) in the VM: "allow=1" or
# "deny=1"; and the rule of the last decision.
decide() { "$load" decide "$url" $vm 1 1 /usr/bin/curl - 443 2>&1; }
last_rule() { ctl --json decisions list --limit 1 | sed -n 's/.*"rule":"\([^"]*\)".*/\1/p'; }
# Field $1 of the flow an allow verdict carries to appfw-switchd (read
# from the line of standard input that holds the verdict).
flow_field() {
    python3 -c "
import json, sys
for line in sys.stdin:
    if '\"verdict\"' in line:
        v = json.loads(line[line.index('{'):])
        print(v.get('flow', {}).get('$1', ''))"
}
# Reports, as appfw-switchd does, the datapath's counters of VM $vm (or
# $4, named $5): BYTES_IN ($3) received by the connections of application
# id $1 approved for uid $2 ("-": none; app id 0: the VM's traffic that
# no application's counters count).
datapath() {
    uidf=""
    [ "$2" = - ] || uidf=",\"uid\":$2"
    "$load" raw "$url" "{\"type\":\"stats\",\"interval\":30,\"vm\":{\"uuid\":\"${4:-$vm}\",\"name\":\"${5:-vm-q}\",\"hypervisor\":\"hv-q\"},\"flows\":[],\"apps\":[{\"app_id\":$1$uidf,\"bytes_in\":$3,\"bytes_out\":0,\"packets_in\":9,\"packets_out\":0}]}" >/dev/null
}
# Reports BYTES of alice's traffic (uid 1000) as the datapath counted it:
# her curl's connections, of the app id her allows' flows carry.
traffic() { datapath "${curl:-1}" 1000 "$1"; }
used() {
    ctl --json quota status | python3 -c "
import json, sys
for q in json.load(sys.stdin)['quotas']:
    if q['kind'] == '$1' and q['subject'] == '$2':
        print(q['used'], q['bytes_per_day'])"
}

start_secd
cat >"$run/policy.json" <<'EOF'
{"user_groups": [{"name": "staff"}, {"name": "interns", "parent": "staff"}],
 "users": [{"name": "alice", "groups": ["interns"]}],
 "vm_groups": [{"name": "corp"}, {"name": "lab", "parent": "corp"}],
 "vms": [{"uuid": "66666666-0000-4000-8000-000000000001", "name": "vm-q",
          "group": "lab"}],
 "rules": [{"id": "allow-all", "action": "allow", "priority": -100}],
 "quotas": [
   {"user": "alice", "bytes_per_day": 10000, "action": "block"},
   {"user_group": "staff", "bytes_per_day": 50000, "notify": true}
 ]}
EOF
check "a policy with quotas is applied" ctl policy apply "$run/policy.json"
out=$(decide)
check "alice's connection is allowed" has "$out" 'allow=1 deny=0'
curl=$(echo "$out" | flow_field app_id)
check "its flow carries her uid, for the datapath's counters ($curl, uid $(echo "$out" | flow_field uid))" \
    test -n "$curl" -a "$(echo "$out" | flow_field uid)" = 1000
traffic 6000
check "her 6000 bytes count against her quota and her group's ($(used user alice); $(used user_group staff))" \
    sh -c "[ '$(used user alice)' = '6000 10000' ] && [ '$(used user_group staff)' = '6000 50000' ]"
check "still under it: allowed" has "$(decide)" 'allow=1 deny=0'
check "no violation yet" sh -c "! '$ctl' --rundir '$run' quota violations | grep -q alice"
traffic 5000
check "11000 bytes pass her 10000: a violation is recorded (who, day, quota, volume)" \
    has "$(ctl quota violations)" "^$(date -u +%Y-%m-%d) +user +alice +10000 +11000"
check "and logged" grep -q 'quota exceeded kind=user subject=alice .*action=block' "$run/secd.log"
check "her quota blocks: her next connection is denied" has "$(decide)" 'allow=0 deny=1'
check "by the quota's rule" test "$(last_rule)" = "quota:user:alice"

stop_secd
start_secd
check "after a restart the day's usage is counted again from the statistics ($(used user alice))" \
    test "$(used user alice)" = "11000 10000"
check "and she is still blocked" has "$(decide)" 'allow=0 deny=1'

check "raising her quota applies at once" ctl quota set user alice 20000 --block
check "she is allowed again" has "$(decide)" 'allow=1 deny=0'
check "a child's quota may not exceed its parent's" \
    has "$(ctl quota set user_group interns 60000)" '60000 bytes per day for user group "interns" exceeds the 50000 of its parent group "staff"'
out=$(ctl quota set user_group staff 8000)
check "lowering the parent lowers the children above it ($out)" \
    sh -c "[ '$(used user alice)' = '11000 8000' ]"
check "the change log says so" \
    has "$(ctl changes list --limit 1)" 'quota user_group:staff = 8000 bytes per day; lowered user:alice'
check "over the lowered quota, she is blocked again" has "$(decide)" 'allow=0 deny=1'
ctl system set simulate on >/dev/null
check "under simulation the quota only logs: allowed" has "$(decide)" 'allow=1 deny=0'
check "recorded by the quota's rule, as what would have happened" \
    sh -c "'$ctl' --rundir '$run' --json decisions list --limit 1 | grep -q '\"rule\":\"quota:user:alice\".*would have denied'"
ctl system set simulate off >/dev/null
traffic 1
check "a log-only quota records its violation but does not block by itself" \
    has "$(ctl quota violations)" 'user_group +staff +8000'
ctl quota remove user alice >/dev/null
check "without her own quota, the group's log-only quota lets her through" \
    has "$(decide)" 'allow=1 deny=0'
check "a malformed size is a usage error" \
    has "$(ctl quota set user bob lots)" 'is not a number of bytes'

# Notices: a quota with notify, passed by a VM's traffic, tells the user
# whose traffic it was on that VM, through the VM's hypervisor (here a
# stand-in that polls as appfw-switchd does and prints what it gets) and
# the VM's agent.  secd connects to no one: the notice waits for the poll
# of the hypervisor that stamped the VM's traffic.
"$load" hv-poll "$url" hv-q 60 >"$run/fake.log" 2>&1 &
fake_pid=$!
ctl quota set vm vm-q 12000 --notify >/dev/null
decide >/dev/null     # secd learns again which account uid 1000 is
traffic 2000
for _ in $(seq 30); do
    grep -q '^notice' "$run/fake.log" && break
    sleep 0.1
done
check "the user is told through the VM's hypervisor, on the VM whose traffic passed the quota" \
    grep -q "^notice vm=$vm user=alice text=appfw: the traffic quota of vm vm-q, 12000 bytes per day, is used up (13001 bytes today)" "$run/fake.log"
check "and the notice is logged" \
    grep -q 'quota notice vm=66666666-0000-4000-8000-000000000001 user=alice' "$run/secd.log"

# A guest's stats flow naming another VM ("vm" inside the flow) is still
# filed under the VM the message came from (without counters, so that
# reports by VM, which count only the datapath's traffic, show its row).
"$load" raw "$url" "{\"type\":\"stats\",\"interval\":30,\"vm\":{\"uuid\":\"$vm\",\"name\":\"vm-q\",\"hypervisor\":\"hv-q\"},\"flows\":[{\"protocol\":\"tcp\",\"local\":{\"address\":\"10.1.0.1\",\"port\":40000},\"remote\":{\"address\":\"10.1.0.2\",\"port\":443},\"uid\":1000,\"vm\":{\"uuid\":\"66666666-0000-4000-8000-000000000099\",\"name\":\"victim\"}}]}" >/dev/null
check "a flow's own vm cannot charge another VM" \
    sh -c "sleep 1.2; ! '$ctl' --rundir '$run' stats report --by vm --format csv | grep -q victim"

# --- The datapath's counters, not the guest's reports, charge quotas.
# appfw-switchd counts the connections of each (VM, application, uid) that
# an approved flow let through, and the rest of each VM's established
# traffic (app id 0); a guest that under-reports gains nothing, and what
# two sources report is charged once.
vm2=66666666-0000-4000-8000-000000000002
wget=dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd
stop_secd
printf '{"format":"appfw-appid-feed","version":1,"source":"test","added":[{"name":"wget","path":"/usr/bin/wget","product":"wget","category":"downloader","trust":"trusted","threat":"low","sha256":"%s"}]}' \
    $wget >"$run/feed.json"
"$build/appid/appid" --db "$run/appid.db" import-feed "$run/feed.json" \
    >/dev/null || die "appid import"
start_secd
ctl quota set user dave 10000 --block >/dev/null
ctl quota set vm vm-d 20000 --block >/dev/null
ctl quota set app wget 30000 >/dev/null
# A connection of dave's wget (uid 2000) on vm-d; prints the verdict (and
# keeps it in dave.out).
decide_dave() {
    "$load" raw "$url" "{\"type\":\"decide\",\"id\":$1,\"event\":\"connect\",\"protocol\":\"tcp\",\"direction\":\"outbound\",\"local\":{\"address\":\"10.1.0.5\",\"port\":$((41000 + $1))},\"remote\":{\"address\":\"10.1.0.2\",\"port\":443},\"app\":{\"path\":\"/usr/bin/wget\",\"sha256\":\"$wget\"},\"process\":{\"pid\":77},\"user\":{\"uid\":2000,\"name\":\"dave\"},\"vm\":{\"uuid\":\"$vm2\",\"name\":\"vm-d\",\"hypervisor\":\"hv-q\"}}" >"$run/dave.out"
    sed -n 's/.*"verdict":"\([a-z]*\)".*/\1/p' "$run/dave.out"
}
# vm-d's agent reports BYTES received by a connection of dave's ($2:
# outbound, the default, or inbound).
guest_dave() {
    "$load" raw "$url" "{\"type\":\"stats\",\"interval\":30,\"vm\":{\"uuid\":\"$vm2\",\"name\":\"vm-d\",\"hypervisor\":\"hv-q\"},\"flows\":[{\"protocol\":\"tcp\",\"direction\":\"${2:-outbound}\",\"local\":{\"address\":\"10.1.0.5\",\"port\":41501},\"remote\":{\"address\":\"10.1.0.2\",\"port\":443},\"sha256\":\"$wget\",\"uid\":2000,\"bytes_in\":$1,\"bytes_out\":0}]}" >/dev/null
}
# dave's, vm-d's and wget's use of their quotas.
dave_used() { echo "$(used user dave) / $(used vm vm-d) / $(used app wget)"; }
check "dave's connection is allowed" test "$(decide_dave 501)" = allow
aid=$(flow_field app_id <"$run/dave.out")
check "its flow carries the decision's uid, for the datapath's counters (app_id=$aid)" \
    test -n "$aid" -a "$(flow_field uid <"$run/dave.out")" = 2000
guest_dave 100
check "a guest's report of a connection the datapath counts charges nothing ($(dave_used))" \
    test "$(dave_used)" = "0 10000 / 0 20000 / 0 30000"
datapath "${aid:-1}" 2000 12000 $vm2 vm-d
check "the datapath's 12000 bytes charge dave, his VM and his application, whatever the guest said ($(dave_used))" \
    test "$(dave_used)" = "12000 10000 / 12000 20000 / 12000 30000"
check "a guest that under-reported 100 bytes does not escape: dave's quota blocks" \
    test "$(decide_dave 502)" = deny
guest_dave 12000
check "the guest's honest report of the same traffic is not charged again ($(dave_used))" \
    test "$(dave_used)" = "12000 10000 / 12000 20000 / 12000 30000"
datapath 0 - 3000 $vm2 vm-d
check "the VM's traffic no application's counters count charges only the VM's quotas ($(dave_used))" \
    test "$(dave_used)" = "12000 10000 / 15000 20000 / 12000 30000"
guest_dave 2000 inbound
check "a guest's report of a connection into the VM charges its user and application, not the VM the datapath counted ($(dave_used))" \
    test "$(dave_used)" = "14000 10000 / 15000 20000 / 14000 30000"
stop_secd
start_secd
check "after a restart the day is recounted from the statistics, each byte once ($(dave_used))" \
    test "$(dave_used)" = "14000 10000 / 15000 20000 / 14000 30000"
# Bytes (in + out) of the row $2 of appfwctl stats top --by $1.
top_bytes() {
    ctl --json stats top --by "$1" --limit 100 | python3 -c "
import json, sys
for e in json.load(sys.stdin)['top']:
    if e['key'] == '$2':
        print(e['bytes_in'] + e['bytes_out'])"
}
reported="$(top_bytes user dave) / $(top_bytes vm vm-d) / $(top_bytes app wget)"
check "reports by user, VM and application count each byte once too ($reported)" \
    test "$reported" = "14000 / 15000 / 14000"
# The largest counts the protocol allows (2^53 - 1), many times over
# (after a decision of dave's, from which secd learns his uid again).
decide_dave 503 >/dev/null
for _ in 1 2 3 4 5 6 7 8 9 10; do
    datapath "${aid:-1}" 2000 9007199254740991 $vm2 vm-d
done
check "huge datapath counts add up exactly, never wrap ($(used user dave))" \
    test "$(used user dave)" = "90071992547423910 10000"

echo "quota: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
