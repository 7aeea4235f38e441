#!/bin/sh
# The naming service, the resolver and the reports that use them
# (docs/operations.md "Naming service", docs/policy.md "Sites").
#
# appfw-secd runs in a network namespace of its own whose /etc/hosts and
# /etc/resolv.conf the test writes (ip netns exec bind-mounts
# /etc/netns/NAME/*), so that every name lookup is answered from the
# test's hosts file and nothing leaves the machine.  Agents' reports and
# appfw-switchd's questions are sent as the real messages (secd-load raw).
#
# Covers: a login recorded only once the VM has a valid address; a newer
# login logging out the user who was there; a repeated login ignored; an
# address taken over by another VM released from the first; an
# administrator's entry winning over agents' reports; the map surviving a
# restart; an agent-less VM's traffic decided for the user the map names
# at its source address (and not for another VM's); destinations
# reverse-resolved for reports by site and protocol; the change log; site
# lists' names resolved (all addresses), shown unresolved when they do
# not resolve, looked up again on a schedule, kept across a restart, and
# deciding deny-all-except and allow-all-except lists.
# Ends with "naming: N passed, N failed".
# Usage: tests/secd/test-naming.sh BUILD-DIR
set -u
build=${1:-build}
secd="$build/security-vm/appfw-secd"
ctl="$build/security-vm/appfwctl"
load="$build/tests/secd/secd-load"
run=$(mktemp -d /tmp/appfw-naming-test.XXXXXX) || exit 1
. "$(dirname "$0")/../lib-check.sh"
suite=naming
die_logs="$run/secd.log"
ns=afwn$$
url="ipc://$run/secd-decide.sock"
vma=77777777-0000-4000-8000-00000000000a
vmb=77777777-0000-4000-8000-00000000000b
vmc=77777777-0000-4000-8000-00000000000c

stop_secd() {
    [ -f "$run/appfw-secd.pid" ] || return 0
    pid=$(cat "$run/appfw-secd.pid")
    kill "$pid" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
}
cleanup() {
    stop_secd
    ip netns del "$ns" 2>/dev/null
    rm -rf "/etc/netns/$ns"
    rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

ip netns add "$ns" || die "ip netns add"
ip -n "$ns" link set lo up
mkdir -p "/etc/netns/$ns"
cat >"/etc/netns/$ns/hosts" <<'EOF'
127.0.0.1 localhost
10.1.0.80 web.test.example intranet.test.example
10.1.0.90 games.test.example
2001:db8::90 games.test.example
EOF
# A name server nothing answers at (loopback of the namespace): names
# not in the hosts file fail at once.
echo "nameserver 127.0.0.1" >"/etc/netns/$ns/resolv.conf"

start_secd() {
    ip netns exec "$ns" "$secd" --rundir "$run" --db "$run/secd.db" \
        --appid-db "$run/appid.db" --log-file "$run/secd.log" \
        --log-level info,naming:dbg --flush-ms 100 \
        --site-resolve-interval 2 --naming-stale-s 2 "$@" &
    for _ in $(seq 50); do
        "$ctl" --rundir "$run" health >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    die "appfw-secd did not start"
}
ctl() { "$ctl" --rundir "$run" "$@" 2>&1; }
# naming VM NAME '"ADDR",...' '{session},...': an agent's report.
# A VM's reports apply at most every 200 ms (a sooner one is held until
# then): wait that long after each.
naming() {
    "$load" raw "$url" "{\"type\":\"naming\",\"vm\":{\"uuid\":\"$1\",\"name\":\"$2\"},\"addresses\":[$3],\"sessions\":[$4]}" >/dev/null
    sleep 0.25
}
session() { echo "{\"user\":\"$1\",\"tty\":\"pts/$2\",\"since\":$3}"; }
# The user the naming service has on VM NAME.
user_on() {
    ctl --json naming list | python3 -c "
import json, sys
for h in json.load(sys.stdin)['hosts']:
    if h['name'] == '$1':
        print(h['user'] or '-', ' '.join(h['addresses']), h.get('waiting_user', ''))"
}
# A question from appfw-switchd for an agent-less VM: VM NAME SRC DST PORT.
noagent() {
    "$load" raw "$url" "{\"type\":\"decide\",\"id\":7,\"event\":\"connect\",\"protocol\":\"tcp\",\"direction\":\"outbound\",\"local\":{\"address\":\"$3\",\"port\":40000},\"remote\":{\"address\":\"$4\",\"port\":$5},\"agent\":false,\"vm\":{\"uuid\":\"$1\",\"name\":\"$2\"}}"
}
# Agent statistics of one connection of uid 1000 from VM a.
traffic() {
    "$load" raw "$url" "{\"type\":\"stats\",\"interval\":30,\"vm\":{\"uuid\":\"$vma\",\"name\":\"vm-a\"},\"flows\":[{\"protocol\":\"tcp\",\"direction\":\"outbound\",\"local\":{\"address\":\"10.1.0.5\",\"port\":40001},\"remote\":{\"address\":\"$1\",\"port\":$2},\"uid\":1000,\"bytes_in\":$3,\"bytes_out\":0}]}" >/dev/null
}

start_secd
cat >"$run/policy.json" <<'EOF'
{"vm_groups": [{"name": "all", "unknown_app": "deny"}],
 "users": [{"name": "dave"}],
 "protocols": [{"name": "HTTP", "ports": [80]}],
 "rules": [{"id": "dave-web", "user": "dave",
            "match": {"remote_port": [80]}, "action": "allow"}]}
EOF
check "a policy is applied" ctl policy apply "$run/policy.json"

# --- Logins and addresses reported by agents.
naming $vma vm-a '"fe80::5"' "$(session alice 0 1000)"
check "a login waits while the VM has only a link-local address ($(user_on vm-a))" \
    test "$(user_on vm-a)" = "- fe80::5 alice"
naming $vma vm-a '"fe80::5","10.1.0.5"' "$(session alice 0 1000)"
check "with a valid address the login is recorded ($(user_on vm-a))" \
    test "$(user_on vm-a)" = "alice fe80::5 10.1.0.5 "
naming $vma vm-a '"fe80::5","10.1.0.5"' "$(session alice 0 1000)"
n=$(ctl naming events | grep -c ' login ')
check "a repeated login is ignored ($n logins)" test "$n" = 1
naming $vma vm-a '"fe80::5","10.1.0.5"' \
    "$(session alice 0 1000),$(session carol 1 2000)"
check "a newer login logs out the user who was there" \
    sh -c "'$ctl' --rundir '$run' naming events --limit 2 |
           awk 'NR == 2 && \$3 != \"login\" { exit 1 } NR == 3 && \$3 != \"logout\" { exit 1 }' &&
           '$ctl' --rundir '$run' naming events --limit 2 | grep -q 'login .*vm-a .*carol' &&
           '$ctl' --rundir '$run' naming events --limit 2 | grep -q 'logout .*vm-a .*alice'"
naming $vmc vm-c '"10.1.0.5"' "$(session erin 0 3000)"
check "another VM cannot take an address a live VM's agent reports" \
    sh -c "[ '$(user_on vm-a)' = 'carol fe80::5 10.1.0.5 ' ] &&
           grep -q 'vm=$vmc reports address 10.1.0.5, but the agent still reports it for vm=$vma: not taken' '$run/secd.log'"
sleep 2.1    # vm-a's agent falls silent: its entry is stale (2 s here)
naming $vmc vm-c '"10.1.0.5"' "$(session erin 0 3000)"
check "once it is stale, the address is taken over, released from the first VM" \
    sh -c "[ '$(user_on vm-a)' = 'carol fe80::5 ' ] &&
           '$ctl' --rundir '$run' naming events | grep -q 'release .*vm-a .*10.1.0.5'"

# A guest that floods reports: they apply at most every 200 ms, the
# newest held one last, so the final state is right and the store is not
# written for each.  As appfw-switchd forwards them: stamped with its
# epoch and increasing seq, all in flight at once, so that secd's
# receiving contexts may take them in any order.
flood() {  # flood EPOCH SEQ USER [SINCE]: one such report from vm-c
    echo "{\"type\":\"naming\",\"vm\":{\"uuid\":\"$vmc\",\"name\":\"vm-c\"},\"addresses\":[\"10.1.0.5\"],\"sessions\":[$(session "$3" 0 "${4:-$((4000 + $2))}")],\"epoch\":$1,\"seq\":$2}"
}
set --
for i in $(seq 30); do
    set -- "$@" "$(flood 7 "$i" flood$i)"
done
"$load" raw "$url" "$@" >/dev/null
for _ in $(seq 30); do
    [ "$(user_on vm-c)" = 'flood30 10.1.0.5 ' ] && break
    sleep 0.1
done
n=$(ctl naming events --limit 200 | grep -c ' login .*flood')
check "a flood of 30 reports: the last one wins ($(user_on vm-c)), applied $n times" \
    sh -c "[ '$(user_on vm-c)' = 'flood30 10.1.0.5 ' ] && [ $n -lt 10 ]"
# Not held either: a held report would apply within 200 ms.
"$load" raw "$url" "$(flood 7 3 late)" >/dev/null
sleep 0.6
check "a report switchd forwarded before the last one, come late, is dropped ($(user_on vm-c))" \
    test "$(user_on vm-c)" = 'flood30 10.1.0.5 '
"$load" raw "$url" "$(flood 8 1 grace 4100)" >/dev/null
sleep 0.3
check "a restarted switchd's first report (a new epoch) is taken ($(user_on vm-c))" \
    test "$(user_on vm-c)" = 'grace 10.1.0.5 '

# --- An administrator's entry for an agent-less VM.
check "naming set on a VM not seen yet needs its uuid" \
    has "$(ctl naming set vm-b --user dave)" 'no vm "vm-b"'
check "naming set by uuid" ctl naming set $vmb --user dave --address 10.1.0.6
check "an agent cannot take an administrator's address" \
    sh -c "'$load' raw '$url' '{\"type\":\"naming\",\"vm\":{\"uuid\":\"$vmc\",\"name\":\"vm-c\"},\"addresses\":[\"10.1.0.6\"],\"sessions\":[]}' >/dev/null &&
           sleep 0.3 &&
           [ \"\$('$ctl' --rundir '$run' --json naming list | grep -c '10.1.0.6')\" = 1 ] &&
           grep -q 'reports address 10.1.0.6, but an administrator gave it to vm=$vmb: not taken' '$run/secd.log'"
out=$(noagent $vmb vm-b 10.1.0.6 10.1.0.80 80)
check "an agent-less VM's connection is decided for the user at its source address" \
    has "$out" '"verdict":"allow","rule":"dave-web"'
out=$(noagent $vmb vm-b 10.1.0.66 10.1.0.80 80)
check "from an address the map does not name, there is no user: denied" \
    has "$out" '"verdict":"deny"'
out=$(noagent $vmc vm-c 10.1.0.6 10.1.0.80 80)
check "another VM using that address does not get the user" \
    has "$out" '"verdict":"deny"'
check "the change log has the administrator's entries" \
    has "$(ctl changes list --limit 3)" 'naming.set.*vm 77777777-0000-4000-8000-00000000000b'

# vm-b's own agent reports: the administrator's entry wins.
naming $vmb vm-b '"10.1.0.66"' "$(session frank 0 5000)"
check "an agent's report does not change an administrator's entry" \
    test "$(user_on vm-b)" = "dave 10.1.0.6 "

check "naming remove forgets a VM deleted for good: its user logged out, addresses released" \
    sh -c "'$ctl' --rundir '$run' naming remove vm-c >/dev/null &&
           ! '$ctl' --rundir '$run' naming list | grep -q '^vm-c ' &&
           '$ctl' --rundir '$run' naming events --limit 3 | grep -q 'logout .*vm-c .*grace' &&
           '$ctl' --rundir '$run' changes list --limit 1 | grep -q 'naming.remove'"

# --- Restart: the map is kept.
stop_secd
start_secd
check "after a restart the map is the same ($(user_on vm-a))" \
    sh -c "[ '$(user_on vm-a)' = 'carol fe80::5 ' ] &&
           '$ctl' --rundir '$run' naming list | grep -q 'dave (static)' &&
           ! '$ctl' --rundir '$run' naming list | grep -q '^vm-c '"
ctl naming unset $vmb >/dev/null
check "unset gives the VM back to its agent's last report, kept across the restart ($(user_on vm-b))" \
    test "$(user_on vm-b)" = "frank 10.1.0.66 "

# --- Reports: destinations by host name, by protocol.
traffic 10.1.0.80 80 5000
traffic 10.1.0.90 443 700
traffic 10.1.0.91 443 300
for _ in $(seq 30); do
    ctl stats report --by site --format csv | grep -q web.test.example && break
    sleep 0.2
done
report=$(ctl stats report --by site --format csv)
check "report by site: destinations under their host names" \
    sh -c "echo '$report' | grep -q '^\"web.test.example\",3,2,5000,' &&
           echo '$report' | grep -q '^\"games.test.example\",0,0,700,'"
check "an address without a name stays an address" \
    has "$report" '^"10.1.0.91",0,0,300,'
report=$(ctl stats report --by protocol --format csv)
check "report by protocol: catalogue names, else protocol/port" \
    sh -c "echo '$report' | grep -q '^\"HTTP\",3,2,5000,' &&
           echo '$report' | grep -q '^\"tcp/443\",0,0,1000,'"
check "the host names are cached in the store" \
    python3 -c "import sqlite3; r = sqlite3.connect('$run/secd.db').execute('SELECT name FROM rdns').fetchall(); assert ('web.test.example',) in r, r"
check "a malformed naming set is refused" \
    has "$(ctl naming set $vma --address 10.1.0.300)" 'is not an IPv4 or IPv6 address'

# --- Site lists (docs/policy.md "Sites"): their names resolved by secd.
cat >"$run/sites.json" <<'EOF'
{"user_groups": [{"name": "interns"}],
 "users": [{"name": "alice", "groups": ["interns"]}, {"name": "carol"}],
 "protocols": [{"name": "HTTP", "ports": [80]}],
 "rules": [{"id": "allow-all", "action": "allow", "priority": -100}],
 "sites": [
   {"user_group": "interns", "mode": "deny-all-except",
    "sites": ["intranet.test.example", "10.2.0.0/24", "nowhere.test.example"]},
   {"user": "carol", "mode": "allow-all-except",
    "sites": ["games.test.example"]}]}
EOF
check "a policy with site lists is applied" ctl policy apply "$run/sites.json"
# An agent's question: USER REMOTE-ADDRESS; prints "VERDICT RULE".
ask() {
    "$load" raw "$url" "{\"type\":\"decide\",\"id\":9,\"event\":\"connect\",\"protocol\":\"tcp\",\"direction\":\"outbound\",\"local\":{\"address\":\"10.1.0.5\",\"port\":40002},\"remote\":{\"address\":\"$2\",\"port\":80},\"app\":{\"path\":\"/usr/bin/curl\"},\"process\":{\"pid\":4100},\"user\":{\"uid\":1000,\"name\":\"$1\"},\"vm\":{\"uuid\":\"$vma\",\"name\":\"vm-a\"}}" |
        sed -n 's/.*"verdict":"\([a-z]*\)","rule":"\([^"]*\)".*/\1 \2/p'
}
# The revision of the decisions in a verdict (ask's question, as alice).
revision() {
    "$load" raw "$url" "{\"type\":\"decide\",\"id\":9,\"event\":\"connect\",\"protocol\":\"tcp\",\"direction\":\"outbound\",\"local\":{\"address\":\"10.1.0.5\",\"port\":40002},\"remote\":{\"address\":\"10.1.0.80\",\"port\":80},\"app\":{\"path\":\"/usr/bin/curl\"},\"process\":{\"pid\":4100},\"user\":{\"uid\":1000,\"name\":\"alice\"},\"vm\":{\"uuid\":\"$vma\",\"name\":\"vm-a\"}}" |
        sed -n 's/.*"revision":\([0-9]*\).*/\1/p'
}
for _ in $(seq 50); do
    ctl sites list | grep -q '^games.test.example *resolved' && break
    sleep 0.1
done
sites=$(ctl sites list)
check "the site names are resolved to all their addresses" \
    sh -c "echo '$sites' | grep -q '^intranet.test.example *resolved .* 10.1.0.80$' &&
           echo '$sites' | grep '^games.test.example *resolved' | grep -q ' 10.1.0.90\\b' &&
           echo '$sites' | grep '^games.test.example *resolved' | grep -q ' 2001:db8::90\\b'"
check "a name that does not resolve is shown as unresolved" \
    has "$sites" '^nowhere.test.example *unresolved *- *(.*)'
check "deny-all-except: a listed site is allowed ($(ask alice 10.1.0.80))" \
    test "$(ask alice 10.1.0.80)" = "allow allow-all"
check "and a listed prefix ($(ask alice 10.2.0.7))" \
    test "$(ask alice 10.2.0.7)" = "allow allow-all"
check "anything else is denied by the group's list ($(ask alice 10.1.0.90))" \
    test "$(ask alice 10.1.0.90)" = "deny site:user_group:interns"
a=$(ask carol 10.1.0.90)
b=$(ask carol 2001:db8::90)
check "allow-all-except: a listed site is denied, at each of its addresses ($a; $b)" \
    test "$a $b" = "deny site:user:carol deny site:user:carol"
check "and the rest allowed ($(ask carol 10.1.0.80))" \
    test "$(ask carol 10.1.0.80)" = "allow allow-all"
# The name moves: looked up again on the schedule (2 s here, a day by
# default).
# (Rewritten in place: secd sees the file through a bind mount of its
# inode, which sed -i would replace.)
rev0=$(revision)
sed 's/^10.1.0.80 web/10.1.0.81 web/' "/etc/netns/$ns/hosts" >"$run/hosts"
cat "$run/hosts" >"/etc/netns/$ns/hosts"
for _ in $(seq 60); do
    ctl sites list | grep -q '^intranet.test.example .* 10.1.0.81$' && break
    sleep 0.1
done
check "names are looked up again on a schedule: the new address is allowed ($(ask alice 10.1.0.81))" \
    test "$(ask alice 10.1.0.81)" = "allow allow-all"
check "and the old one no longer ($(ask alice 10.1.0.80))" \
    test "$(ask alice 10.1.0.80)" = "deny site:user_group:interns"
rev1=$(revision)
check "a site's new address raises the decisions' revision ($rev0 -> $rev1), so hypervisors recheck" \
    test "${rev1:-0}" -gt "${rev0:-0}"
check "and secd logs why" \
    grep -q "decisions changed .*reason=a site's addresses changed" "$run/secd.log"
check "sites resolve asks again at once (in the change log)" \
    sh -c "'$ctl' --rundir '$run' sites resolve >/dev/null &&
           '$ctl' --rundir '$run' changes list --limit 1 | grep -q sites.resolve"
traffic 10.1.0.81 80 400
for _ in $(seq 30); do
    ctl stats report --by site --format csv | grep -q '^"intranet' && break
    sleep 0.2
done
check "report by site: a site list's name wins over the reverse name" \
    has "$(ctl stats report --by site --format csv)" '^"intranet.test.example",[0-9]*,[0-9]*,400,'
check "lookups that find the same addresses leave the revision ($(revision))" \
    test "$(revision)" = "$rev1"
stop_secd
# The name stops resolving while secd is down.
grep -v intranet "/etc/netns/$ns/hosts" >"$run/hosts"
cat "$run/hosts" >"/etc/netns/$ns/hosts"
start_secd --site-resolve-interval 86400
check "after a restart the saved addresses decide at once ($(ask alice 10.1.0.81))" \
    test "$(ask alice 10.1.0.81)" = "allow allow-all"
ctl sites resolve >/dev/null
for _ in $(seq 50); do
    ctl sites list | grep -q '^intranet.test.example *stale' && break
    sleep 0.1
done
check "a name that stops resolving keeps its last addresses, shown stale with the error" \
    has "$(ctl sites list)" '^intranet.test.example *stale .* 10.1.0.81 (.*)'
check "and they still decide ($(ask alice 10.1.0.81))" \
    test "$(ask alice 10.1.0.81)" = "allow allow-all"

echo "naming: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
