#!/bin/sh
# appfw-secd's console administration (docs/operations.md, "Accounts"):
# accounts and levels, local clients known by their peer credentials
# (existing system users daemon, bin and nobody, through setpriv),
# remote ones by token over tcp:// on loopback, what each level may
# change, the change log, and the administration commands that edit the
# policy (system defaults, the protocol catalogue, global protocols).
# Ends with "admin: N passed, N failed".
# Usage: tests/secd/test-admin.sh BUILD-DIR
set -u
build=${1:-build}
secd="$build/security-vm/appfw-secd"
ctl="$build/security-vm/appfwctl"
run=$(mktemp -d /tmp/appfw-admin-test.XXXXXX) || exit 1
chmod 755 "$run"
. "$(dirname "$0")/../lib-check.sh"
suite=admin
die_logs="$run/secd.log"
port=$((20000 + $$ % 20000 + 7))
bootstrap=bootstrap-token-0123456789abcdef

cleanup() {
    if [ -f "$run/appfw-secd.pid" ]; then
        pid=$(cat "$run/appfw-secd.pid")
        kill "$pid" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

"$secd" --rundir "$run" --db "$run/secd.db" --appid-db "$run/appid.db" \
    --log-file "$run/secd.log" --console-mode 0666 \
    --console-url "ipc://$run/secd-console.sock" \
    --bootstrap-token-sha256 "$(printf %s $bootstrap | sha256sum | cut -c1-64)" &
for _ in $(seq 50); do
    "$ctl" --rundir "$run" health >/dev/null 2>&1 && break
    sleep 0.1
done
"$ctl" --rundir "$run" health >/dev/null 2>&1 || die "appfw-secd did not start"

# Runs appfwctl as local user $1.
as() {
    u=$1
    shift
    setpriv --reuid "$u" --regid "$(id -g "$u")" --clear-groups \
        "$ctl" --rundir "$run" "$@" 2>&1
}
root() { "$ctl" --rundir "$run" "$@" 2>&1; }

check "root is the built-in system administrator" \
    has "$(root whoami)" 'level +system-admin'
check "a local user without an account is refused, and told how to get one" \
    has "$(as nobody health)" 'no appfw account for local user nobody .*account add'
check "a bad bootstrap hash is refused at start" \
    has "$("$secd" --rundir "$run/x" --bootstrap-token-sha256 abc -n 2>&1; "$secd" --rundir "$run/x" --db "$run/x.db" --bootstrap-token-sha256 abc 2>&1)" \
    'bootstrap-token-sha256: give 64'

# A manager before any policy exists: refused, and secd stays up.
root account add early --level manager --unix-user games --group vm:lab >/dev/null
echo '{"vm_groups": [{"name": "x"}]}' >"$run/p0.json"
check "a manager's first policy is checked against an empty one" \
    has "$(as games policy apply "$run/p0.json")" 'not "vm_groups"'
check "and secd is still up" root health

# A base policy with a group tree for the manager.
cat >"$run/p1.json" <<'EOF'
{"vm_groups": [{"name": "corp"}, {"name": "lab", "parent": "corp"},
               {"name": "lab-secure", "parent": "lab"}],
 "rules": [
   {"id": "corp-web", "vm_group": "corp", "action": "allow",
    "match": {"remote_port": [80]}},
   {"id": "lab-ssh", "vm_group": "lab-secure", "action": "deny",
    "match": {"remote_port": [22]}},
   {"id": "office-hours", "action": "deny",
    "match": {"remote_port": [25],
              "schedule": {"days": ["sat"], "start": "00:00", "end": "23:59"}}}
 ]}
EOF
check "root applies the base policy" root policy apply "$run/p1.json"

check "root adds an admin for local user daemon" \
    root account add ops --level admin --unix-user daemon
check "root adds a manager of vm group lab for local user bin" \
    root account add labmgr --level manager --unix-user bin --group vm:lab
check "a manager must own a group" \
    has "$(root account add m2 --level manager --unix-user sys)" 'owns at least one group'
check "an unknown level is refused" \
    has "$(root account add x --level god --unix-user sys)" 'is not system-admin'
check "daemon is account ops, an admin" \
    has "$(as daemon whoami)" 'name +ops'
check "an admin may read" as daemon health

check "an admin may not change system defaults" \
    has "$(as daemon system set logging off)" 'not authorized: system.set needs level system-admin'
check "nor add accounts" \
    has "$(as daemon account add y --level admin --unix-user sys)" 'not authorized'
sed 's/"corp-web", "vm_group": "corp", "action": "allow"/"corp-web", "vm_group": "corp", "action": "deny"/' \
    "$run/p1.json" >"$run/p2.json"
check "an admin may change an ordinary rule" as daemon policy apply "$run/p2.json"
sed 's/"sat"/"sun"/' "$run/p2.json" >"$run/p3.json"
out=$(as daemon policy apply "$run/p3.json")
check "but not a schedule ($out)" \
    has "$out" 'only a system-admin changes schedules \(rule "office-hours"\)'
printf '%s\n' '{"system": {"logging": false},' >"$run/p4.json"
tail -c +2 "$run/p2.json" >>"$run/p4.json"
check "nor the system section inside a whole policy" \
    has "$(as daemon policy apply "$run/p4.json")" 'only a system-admin changes "system"'

sed 's/"lab-ssh", "vm_group": "lab-secure", "action": "deny"/"lab-ssh", "vm_group": "lab-secure", "action": "allow"/' \
    "$run/p2.json" >"$run/p5.json"
check "a manager may change a rule of a group below the one it owns" \
    as bin policy apply "$run/p5.json"
sed 's/"corp-web", "vm_group": "corp", "action": "deny"/"corp-web", "vm_group": "corp", "action": "allow"/' \
    "$run/p5.json" >"$run/p6.json"
check "but not a rule of a group above it" \
    has "$(as bin policy apply "$run/p6.json")" 'rule "corp-web" is not attached to a group account labmgr owns'
sed 's/{"name": "corp"}/{"name": "corp"}, {"name": "new"}/' "$run/p5.json" >"$run/p7.json"
check "nor groups, users or VMs" \
    has "$(as bin policy apply "$run/p7.json")" 'a manager changes only rules .* not "vm_groups"'
check "nor roll back to a version that changes a group above it" \
    has "$(as bin policy rollback 1)" 'not authorized'

# The naming service and the site lists' names: a manager may look, not
# set (users and VMs are not a manager's to edit); an admin may set.
check "as bin (manager): naming list and sites list" \
    sh -c "setpriv --reuid bin --regid \$(id -g bin) --clear-groups '$ctl' --rundir '$run' naming list >/dev/null &&
           setpriv --reuid bin --regid \$(id -g bin) --clear-groups '$ctl' --rundir '$run' sites list >/dev/null"
check "a manager may not set a naming entry" \
    has "$(as bin naming set 55555555-0000-4000-8000-0000000000ee --user x)" 'not authorized: naming.set needs level admin'
check "nor ask for the site names to be resolved again" \
    has "$(as bin sites resolve)" 'not authorized: sites.resolve needs level admin'

# The system administrator's commands edit the policy as new versions.
check "system set logging off makes a new policy version" \
    has "$(root system set logging off)" 'policy version [0-9]+ is active'
check "the active policy says so" \
    has "$(root policy show)" '"logging": ?false'
load="$build/tests/secd/secd-load"
vm=55555555-0000-4000-8000-000000000001
decide() { "$load" decide "ipc://$run/secd-decide.sock" $vm 1 1 /usr/bin/curl - 9999 2>&1; }
check "a connection no rule allows is denied" has "$(decide)" 'allow=0 deny=1'
root system set simulate on >/dev/null
check "simulate on: the next decision lets it through, without a restart" \
    has "$(decide)" 'allow=1 deny=0'
root system set simulate off >/dev/null
check "and off again" has "$(decide)" 'allow=0 deny=1'
# Reports over a time range, as a table, CSV and JSON.
csv=$(root stats report --by vm --format csv)
check "a CSV report by VM has the three decisions, two denied" \
    sh -c "echo '$csv' | head -1 | grep -q '^vm,connections,denials,bytes_in' &&
           echo '$csv' | grep -q '^\"vm-55555555\",3,2,'"
check "the same as JSON" \
    has "$(root stats report --by vm --format json)" '"key": ?"vm-55555555"'
check "a table by rule over an explicit range" \
    has "$(root stats report --by rule --from "$(date +%Y-%m-%d)" --to now)" 'default:unknown-app'
check "a range that ends before them has none" \
    sh -c "! '$ctl' --rundir '$run' stats report --by vm --from 2020-01-01 --to '2020-01-02 12:00' | grep -q '$vm'"
check "a malformed time is a usage error" \
    has "$(root stats report --from yesterday)" 'a time is YYYY-MM-DD'
check "a bad system value is refused" \
    has "$(root system set logging maybe)" 'give on or off'
check "a catalogue protocol is added" root protocol add FTP --ports 20-21 --protocol tcp
check "a global protocol is added" \
    root global add DNS --ports 53 --protocol udp --action allow --no-log
check "a duplicate is refused" \
    has "$(root global add DNS --ports 53 --action allow)" 'exists'
root policy show >"$run/shown.txt"
check "both are in the active policy" \
    sh -c "grep -q '\"FTP\"' '$run/shown.txt' && grep -q '\"DNS\"' '$run/shown.txt'"

# A rule naming FTP: removing the protocol asks first.
root --json policy show | python3 -c '
import json, sys
doc = json.loads(json.load(sys.stdin)["policy"]["text"])
doc["rules"].append({"id": "no-ftp", "vm_group": "lab", "action": "deny",
                     "match": {"app_protocol": ["FTP"]}})
print(json.dumps(doc))' >"$run/p8.json"
check "a rule may name the protocol" root policy apply "$run/p8.json"
check "removing the protocol names the rules it would remove, and stops" \
    has "$(root protocol remove FTP)" 'also removes the rules that name it: no-ftp; repeat with --yes'
check "with --yes it goes, with its rule" root protocol remove FTP --yes
check "and the rule is gone from the active policy" \
    sh -c "! '$ctl' --rundir '$run' policy show | grep -q no-ftp"

check "an account of level none is refused" sh -c "
    '$ctl' --rundir '$run' account add idle --level none --unix-user sys >/dev/null &&
    setpriv --reuid sys --regid \$(id -g sys) --clear-groups '$ctl' --rundir '$run' health 2>&1 |
        grep -q 'account idle has level none'"

# explain: which rule decides, and the chain of groups.
cat >"$run/p9.json" <<'EOF'
{"vm_groups": [{"name": "corp"}, {"name": "lab", "parent": "corp"},
               {"name": "lab-secure", "parent": "lab"}],
 "vms": [{"uuid": "22222222-0000-4000-8000-000000000001", "name": "vm-a",
          "group": "lab-secure"}],
 "rules": [
   {"id": "corp-deny-ssh", "vm_group": "corp", "action": "deny",
    "match": {"remote_port": [22]}},
   {"id": "lab-allow-ssh", "vm_group": "lab", "action": "allow",
    "match": {"remote_port": [22]}}
 ]}
EOF
root policy apply "$run/p9.json" >/dev/null
out=$(root explain --vm vm-a --app /usr/bin/ssh --remote 10.0.0.9:22)
echo "$out"
check "explain: a group's deny decides for a member below it" \
    has "$out" 'rule +corp-deny-ssh'
check "explain names the group that restricted it" \
    has "$out" 'restricted by +corp'
check "and shows the chain, with the group below's allow it overrides" \
    sh -c "echo '$out' | grep -q 'vm group \"corp\" .*deny .*corp-deny-ssh .*<- decides' &&
           echo '$out' | grep -q 'vm group \"lab\" .*allow .*lab-allow-ssh'"
grep -v 'corp-deny-ssh\|"match": {"remote_port": \[22\]}},' "$run/p9.json" >"$run/p10.json"
root policy apply "$run/p10.json" >/dev/null
check "without the group's deny, the member's own group's allow decides" \
    has "$(root explain --vm 22222222-0000-4000-8000-000000000001 --remote 10.0.0.9:22)" \
    'rule +lab-allow-ssh'

# Remote consoles: tokens.
stop_and_restart() {
    kill "$(cat "$run/appfw-secd.pid")"
    for _ in $(seq 50); do [ -f "$run/appfw-secd.pid" ] || break; sleep 0.1; done
    "$secd" --rundir "$run" --db "$run/secd.db" --appid-db "$run/appid.db" \
        --log-file "$run/secd.log" --console-url "tcp://127.0.0.1:$port" \
        --bootstrap-token-sha256 "$(printf %s $bootstrap | sha256sum | cut -c1-64)" &
    sleep 0.5
}
out=$(root account add remote --level admin --new-token)
token=$(echo "$out" | sed -n 's/^token .*: \([0-9a-f]*\)$/\1/p')
check "an account with a new token ($(echo "$out" | head -1))" test -n "$token"
stop_and_restart
remote() { "$ctl" --url "tcp://127.0.0.1:$port" "$@" 2>&1; }
check "a remote request without a token is refused" \
    has "$(remote health)" 'must carry an account.s token'
check "with a wrong one too" \
    has "$(remote --token not-the-token-at-all health)" 'no account has this token'
check "with its token the remote console is account remote" \
    has "$(remote --token "$token" whoami)" 'name +remote'
check "APPFW_TOKEN works too" \
    has "$(APPFW_TOKEN=$token remote whoami)" 'level +admin'
check "the bootstrap token is the system administrator bootstrap" \
    has "$(remote --token $bootstrap whoami)" 'name +bootstrap'
check "which may add accounts" \
    remote --token $bootstrap account add gone --level none --unix-user lp
check "a unix user has one account: a second is refused, the first stays" \
    sh -c "'$ctl' --url tcp://127.0.0.1:$port --token $bootstrap account add dup --level admin --unix-user lp 2>&1 | grep -q 'another account has this unix user' &&
           '$ctl' --url tcp://127.0.0.1:$port --token $bootstrap account list | grep -q '^gone '"
check "an admin lists the accounts" \
    has "$(remote --token "$token" account list)" 'gone +none'

# The change log names every account.
log=$(remote --token $bootstrap changes list --limit 100)
echo "$log" | head -5
check "the change log records root's changes" has "$log" 'root +system.set +system logging = off'
check "ops's" has "$log" 'ops +policy.apply'
check "labmgr's" has "$log" 'labmgr +policy.apply'
check "and bootstrap's" has "$log" 'bootstrap +account.add +gone'
check "refusals are logged" grep -q 'console refused cmd=system.set account=ops' "$run/secd.log"
check "an account is removed" remote --token $bootstrap account remove gone
check "and listed no more" \
    sh -c "! '$ctl' --url tcp://127.0.0.1:$port --token $bootstrap account list | grep -q '^gone '"

echo "admin: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
