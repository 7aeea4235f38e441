#!/bin/sh
# Quotas (docs/policy.md "Quotas", docs/operations.md): appfw-secd counts
# each subject's bytes per UTC day from the traffic statistics, records a
# violation the first time a quota is passed, denies the subject's new
# connections when the quota blocks, keeps the count across a restart,
# and applies quota changes at once.  A child's quota may not exceed its
# parent's; lowering a parent lowers the children above it.
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
# Reports BYTES of alice's traffic (uid 1000) from the VM's agent.
traffic() {
    "$load" raw "$url" "{\"type\":\"stats\",\"interval\":30,\"vm\":{\"uuid\":\"$vm\",\"name\":\"vm-q\",\"hypervisor\":\"hv-q\"},\"flows\":[{\"protocol\":\"tcp\",\"local\":{\"address\":\"10.1.0.1\",\"port\":40000},\"remote\":{\"address\":\"10.1.0.2\",\"port\":443},\"uid\":1000,\"bytes_in\":$1,\"bytes_out\":0}]}" >/dev/null
}
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
check "alice's connection is allowed" has "$(decide)" 'allow=1 deny=0'
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
# counted under the VM the message came from.
"$load" raw "$url" "{\"type\":\"stats\",\"interval\":30,\"vm\":{\"uuid\":\"$vm\",\"name\":\"vm-q\",\"hypervisor\":\"hv-q\"},\"flows\":[{\"protocol\":\"tcp\",\"local\":{\"address\":\"10.1.0.1\",\"port\":40000},\"remote\":{\"address\":\"10.1.0.2\",\"port\":443},\"uid\":1000,\"bytes_in\":77,\"vm\":{\"uuid\":\"66666666-0000-4000-8000-000000000099\",\"name\":\"victim\"}}]}" >/dev/null
check "a flow's own vm cannot charge another VM" \
    sh -c "sleep 1.2; ! '$ctl' --rundir '$run' stats report --by vm --format csv | grep -q victim"

echo "quota: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
