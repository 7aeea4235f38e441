#!/bin/sh
# Each peer of appfw-secd can do only its own job (docs/operations.md,
# "Who may use which endpoint"):
# - TLS trust per endpoint: the decision endpoint accepts only the
#   hypervisors' certificates, the console only the administrators' (a CA,
#   or a pinned self-signed certificate), with certificates made here;
# - the event stream (decisions tail) needs a console account, like
#   decisions list: local users are told apart by their credentials
#   (system users nobody, daemon and bin, through setpriv);
# - a plain tcp:// URL off this host needs allow-plaintext-tcp=1 and is
#   logged as a warning; loopback stays allowed silently;
# - what guests write (application paths, user and VM names) reaches the
#   terminal escaped, --json stays valid JSON, CSV cells are no formulas.
# Needs root.  Ends with "peers: N passed, N failed".
# Usage: tests/secd/test-peers.sh BUILD-DIR   (KEEP=1 keeps its files)
set -u
build=${1:-build}
secd="$build/security-vm/appfw-secd"
ctl="$build/security-vm/appfwctl"
load="$build/tests/secd/secd-load"
run=$(mktemp -d /tmp/appfw-peers-test.XXXXXX) || exit 1
chmod 755 "$run"
. "$(dirname "$0")/../lib-check.sh"
. "$(dirname "$0")/../lib-tls.sh"
suite=peers
die_logs="$run/*/secd.log"
base=$((20000 + $$ % 20000))
bootstrap=bootstrap-token-peers-0123456789

not() { ! "$@"; }
stop_secd() {  # stop_secd DIR
    [ -f "$1/appfw-secd.pid" ] || return 0
    pid=$(cat "$1/appfw-secd.pid")
    kill "$pid" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
}
cleanup() {
    for d in "$run"/*/; do stop_secd "$d"; done
    [ -n "${KEEP:-}" ] || rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# start_secd NAME OPTIONS...: secd with its files in $run/NAME; waits
# until its pid file names a live process (or it exits).
start_secd() {
    dir="$run/$1"
    shift
    mkdir -p "$dir"
    "$secd" --rundir "$dir" --db "$dir/secd.db" --appid-db "$dir/appid.db" \
        --log-file "$dir/secd.log" "$@" >"$dir/stderr" 2>&1 &
    for _ in $(seq 100); do
        [ -s "$dir/appfw-secd.pid" ] && grep -q 'started' "$dir/secd.log" 2>/dev/null && return 0
        kill -0 $! 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

vm=55555555-0000-4000-8000-000000000001
echo '{"rules":[{"id":"allow-web","action":"allow","match":{"remote_port":[80]}}]}' >"$run/policy.json"

## 1. TLS: each endpoint trusts its own peers.

{ tls_ca "$run" secd-ca "appfw secd CA" &&
  tls_ca "$run" hv-ca "appfw hypervisors CA" &&
  tls_ca "$run" admin-ca "appfw administrators CA" &&
  tls_issue "$run" server localhost secd-ca "DNS:localhost" &&
  tls_issue "$run" hv1 hypervisor-1 hv-ca "DNS:hv1" &&
  tls_issue "$run" admin1 admin-1 admin-ca "DNS:admin1"; } || die "certificates"
# An administrator known by a pinned self-signed certificate of its own.
# shellcheck disable=SC2086,SC2154  # $tls_key: lib-tls.sh's options
openssl req -x509 $tls_key -keyout "$run/pinned.key" -out "$run/pinned.crt" \
    -days 2 -subj "/CN=admin-pinned" 2>/dev/null || die "certificates"
cat "$run/pinned.crt" "$run/pinned.key" >"$run/pinned.pem"
cat "$run/admin-ca.pem" "$run/pinned.crt" >"$run/admins.pem"

decide="tls+tcp://localhost:$((base + 11))"
console="tls+tcp://localhost:$((base + 12))"
# tctl CERT ARGS...: appfwctl on the TLS console with CERT and the token.
tctl() {
    cert=$1
    shift
    "$ctl" --url "$console" --tls-cert "$run/$cert.pem" \
        --tls-ca "$run/secd-ca.pem" --token $bootstrap --timeout 2000 "$@" 2>&1
}
# tload CERT ARGS...: secd-load with CERT.
tload() {
    cert=$1
    shift
    env APPFW_TLS_CERT="$run/$cert.pem" APPFW_TLS_CA="$run/secd-ca.pem" \
        SECD_LOAD_TIMEOUT_MS=2000 "$load" "$@" 2>&1
}

tls_checks() {
    check "an administrator's certificate is served on the console" \
        has "$(tctl admin1 policy apply "$run/policy.json")" 'version 1 is active'
    check "so is a pinned self-signed administrator's certificate" \
        has "$(tctl pinned whoami)" 'bootstrap'
    check "a hypervisor's certificate is served on the decision endpoint" \
        has "$(tload hv1 decide "$decide" $vm 2 1 /usr/bin/curl - 80)" 'allow=2 deny=0 error=0'
    check "an administrator's certificate cannot send decide" \
        has "$(tload admin1 decide "$decide" $vm 1 1 /usr/bin/curl - 80)" 'allow=0 deny=0 error=1'
    check "nor a pinned administrator's" \
        has "$(tload pinned decide "$decide" $vm 1 1 /usr/bin/curl - 80)" 'allow=0 deny=0 error=1'
    stats="{\"type\":\"stats\",\"interval\":30,\"vm\":{\"uuid\":\"$vm\",\"name\":\"vm-admin\"},\"flows\":[{\"protocol\":\"tcp\",\"local\":{\"address\":\"10.77.0.1\",\"port\":40000},\"remote\":{\"address\":\"10.77.0.2\",\"port\":80},\"bytes_in\":1}]}"
    naming="{\"type\":\"naming\",\"vm\":{\"uuid\":\"$vm\",\"name\":\"vm-admin\"},\"addresses\":[\"10.77.0.1\"],\"sessions\":[{\"user\":\"mallory\",\"tty\":\"pts/0\",\"from\":\"\",\"since\":1}]}"
    check "an administrator's certificate cannot send stats or naming" \
        sh -c "! { env APPFW_TLS_CERT='$run/admin1.pem' APPFW_TLS_CA='$run/secd-ca.pem' \
                   '$load' raw '$decide' '$stats' '$naming' 2>&1 | grep -q '\"ok\":true'; }"
    check "and secd took none of them (no naming entry)" \
        not has "$(tctl admin1 naming list)" mallory
    check "a hypervisor's certificate cannot use the console" \
        not has "$(tctl hv1 health)" decisions
    check "nor read the event stream" \
        not has "$(tctl hv1 decisions tail --count 1 --seconds 2)" 'allow '
    check "the console still serves administrators" has "$(tctl admin1 health)" 'decisions'
    check "a CA for an endpoint needs a certificate" \
        has "$("$secd" --rundir "$run/x" --db "$run/x.db" --decide-tls-ca "$run/hv-ca.pem" 2>&1)" \
        'needs a certificate'
}
if start_secd tls --decide-url "$decide" --console-url "$console" \
       --tls-cert "$run/server.pem" --decide-tls-ca "$run/hv-ca.pem" \
       --console-tls-ca "$run/admins.pem" \
       --bootstrap-token-sha256 "$(printf %s $bootstrap | sha256sum | cut -c1-64)"; then
    tls_checks
else
    check "appfw-secd starts with a CA per endpoint" false
    cat "$run/tls/stderr"
fi
stop_secd "$run/tls"

## 2. The event stream needs a console account.

start_secd local --console-mode 0666 --flush-ms 100 ||
    die "appfw-secd did not start: $(cat "$run/local/stderr")"
lurl="ipc://$run/local/secd-decide.sock"
lctl() { "$ctl" --rundir "$run/local" "$@" 2>&1; }
as() {
    u=$1
    shift
    setpriv --reuid "$u" --regid "$(id -g "$u")" --clear-groups \
        "$ctl" --rundir "$run/local" "$@" 2>&1
}
lctl policy apply "$run/policy.json" >/dev/null || die "policy"
lctl account add watcher --level manager --unix-user daemon --group vm:lab >/dev/null ||
    die "account"
lctl account add idle --level none --unix-user bin >/dev/null || die "account"
as nobody decisions tail --count 1 --seconds 6 >"$run/tail-nobody" &
tails=$!
as bin decisions tail --count 1 --seconds 6 >"$run/tail-none" &
tails="$tails $!"
as daemon decisions tail --count 1 --seconds 6 >"$run/tail-manager" &
tails="$tails $!"
lctl decisions tail --count 1 --seconds 6 >"$run/tail-root" &
tails="$tails $!"
sleep 1.5
"$load" decide "$lurl" $vm 1 1 /usr/bin/stream-me - 80 >/dev/null
# shellcheck disable=SC2086  # $tails: pids
wait $tails
check "a local user without an account cannot read the event stream" \
    sh -c "! grep -q stream-me '$run/tail-nobody' && grep -q 'no appfw account for local user nobody' '$run/tail-nobody'"
check "nor an account of level none" \
    sh -c "! grep -q stream-me '$run/tail-none' && grep -q 'level none' '$run/tail-none'"
check "a manager's account reads it" grep -q /usr/bin/stream- "$run/tail-manager"
check "root reads it" grep -q /usr/bin/stream- "$run/tail-root"

## 3. Guests' strings reach the terminal escaped.

# decide_raw PATH USER VM-NAME (JSON string contents)
decide_raw() {
    "$load" raw "$lurl" "{\"type\":\"decide\",\"id\":7,\"event\":\"connect\",\"protocol\":\"tcp\",\"direction\":\"outbound\",\"local\":{\"address\":\"10.77.0.1\",\"port\":40000},\"remote\":{\"address\":\"10.77.0.2\",\"port\":80},\"app\":{\"path\":\"$1\"},\"process\":{\"pid\":4242,\"cmdline\":\"$1\"},\"user\":{\"uid\":1000,\"name\":\"$2\"},\"vm\":{\"uuid\":\"$vm\",\"name\":\"$3\",\"ofport\":3}}" 2>&1
}
evil='/usr/bin/x\u001b]0;pwned\u0007\u001b[2J\u009b31m\u202eexe.txt\ttab\nline'
lctl decisions tail --count 1 --seconds 8 >"$run/tail-evil" &
tails=$!
lctl --json decisions tail --count 1 --seconds 8 >"$run/tail-evil.json" &
tails="$tails $!"
sleep 1.5
check "a decide with hostile strings is answered" \
    has "$(decide_raw "$evil" 'eve\u001b[8m' 'vm\u001b[1mbad\u0085')" '"verdict"'
for u in '=HYPERLINK(\"http://x\")' '+1+2' '-3' '@SUM(A1)' 'plain'; do
    decide_raw /usr/bin/curl "$u" vm-csv >/dev/null
done
# shellcheck disable=SC2086
wait $tails
sleep 0.5
lctl decisions list --limit 20 >"$run/list"
lctl stats top --by app >"$run/top"
lctl stats top --by user >"$run/top-user"
lctl vm list >"$run/vms"
lctl --json decisions list --limit 20 >"$run/list.json"
lctl stats report --by user --format csv >"$run/report.csv"
lctl stats report --by app --format json >"$run/report.json"
lctl stats report --by app --format csv >"$run/report-app.csv"

# Terminal controls: C0 (but newline), DEL, C1 in UTF-8, bidi, separators.
hostile='[\x00-\x09\x0b-\x1f\x7f]|\xc2[\x80-\x9f]|\xe2\x80[\x8e\x8f\xa8-\xae]|\xe2\x81[\xa6-\xa9]|\xd8\x9c'
clean() { ! LC_ALL=C grep -qP "$hostile" "$1"; }
for f in list tail-evil top top-user vms list.json tail-evil.json report.csv \
         report.json report-app.csv; do
    check "no terminal control characters in $f" clean "$run/$f"
done
check "a report shows every escape" \
    grep -qF '"/usr/bin/x\x1b]0;pwned\x07\x1b[2J\u{009b}31m\u{202e}exe.txt\ttab\nline",' "$run/report-app.csv"
check "decisions list shows them (in its column's width)" \
    grep -qF '/usr/bin/x\x1b]0' "$run/list"
check "decisions tail too" grep -qF '/usr/bin/x\x1b]0' "$run/tail-evil"
check "a user name is escaped" grep -qF 'eve\x1b[8m' "$run/list"
check "a VM name is escaped" grep -qF 'vm\x1b[1mbad' "$run/list"
check "every decision stays on one line" \
    test "$(grep -c 'allow-web' "$run/list")" -eq "$(($(wc -l <"$run/list") - 1))"
check "--json output is valid JSON with the guest's exact strings" \
    python3 -c "
import json, sys
d = json.load(open('$run/list.json'))
paths = [x['path'] for x in d['decisions']]
assert '/usr/bin/x\x1b]0;pwned\x07\x1b[2J\x9b31m\u202eexe.txt\ttab\nline' in paths, paths
e = json.loads(open('$run/tail-evil.json').readline())
assert e['user'] == 'eve\x1b[8m', e
json.load(open('$run/report.json'))
"
check "a CSV cell that is a formula gets a quote in front" \
    sh -c "grep -q '^\"'\"'\"'=HYPERLINK(\"\"http://x\"\")\",' '$run/report.csv' &&
           grep -q '^\"'\"'\"'+1+2\",' '$run/report.csv' &&
           grep -q '^\"'\"'\"'-3\",' '$run/report.csv' &&
           grep -q '^\"'\"'\"'@SUM(A1)\",' '$run/report.csv' &&
           grep -q '^\"plain\",' '$run/report.csv'"
stop_secd "$run/local"

## 4. Plain tcp:// off this host.

out=$(timeout 10 "$secd" --rundir "$run/p1" --db "$run/p1/secd.db" \
      --appid-db "$run/p1/appid.db" --decide-url "tcp://0.0.0.0:$((base + 13))" 2>&1
      echo "exit=$?")
check "a tcp:// decision endpoint off this host is refused at start" \
    sh -c "printf '%s\n' \"\$1\" | grep -q 'decide-url=tcp://0.0.0.0:.*allow-plaintext-tcp=1' &&
           printf '%s\n' \"\$1\" | grep -qx 'exit=1'" - "$out"
check "so is a console on one" \
    sh -c "timeout 10 '$secd' --rundir '$run/p2' --db '$run/p2/secd.db' --appid-db '$run/p2/appid.db' \
               --console-url 'tcp://:$((base + 14))' 2>&1 | grep -q 'console-url=tcp://:.*allow-plaintext-tcp'"
if start_secd plain --allow-plaintext-tcp 1 --decide-url "tcp://0.0.0.0:$((base + 13))"; then
    check "with allow-plaintext-tcp=1 it starts and logs a warning" \
        grep -q 'level=warn.*decide-url=tcp://0.0.0.0:.*plaintext off this host' "$run/plain/secd.log"
    check "and serves" has "$("$load" decide "tcp://127.0.0.1:$((base + 13))" $vm 1 1 /usr/bin/curl - 80)" 'deny=1'
else
    check "with allow-plaintext-tcp=1 it starts and logs a warning" false
fi
stop_secd "$run/plain"
if start_secd loop --decide-url "tcp://127.0.0.1:$((base + 16))" \
       --console-url "tcp://localhost:$((base + 17))"; then
    check "loopback tcp:// needs no option and logs no warning" \
        sh -c "! grep -q plaintext '$run/loop/secd.log'"
else
    check "loopback tcp:// needs no option and logs no warning" false
fi
stop_secd "$run/loop"

# appfw-switchd, the other end, follows the same rule (before it looks
# for Open vSwitch, so none is needed here).
switchd="$build/ovs-plugin/appfw-switchd"
sw="$run/switchd"
mkdir -p "$sw"
out=$(timeout 10 "$switchd" --rundir "$sw" --ovs-rundir "$sw" --registry "" \
      --decide-url "tcp://10.99.0.1:$((base + 18))" 2>&1
      echo "exit=$?")
check "appfw-switchd refuses a tcp:// decide-url off this host" \
    sh -c "printf '%s\n' \"\$1\" | grep -q 'decide-url=tcp://10.99.0.1:.*allow-plaintext-tcp=1' &&
           printf '%s\n' \"\$1\" | grep -qx 'exit=1'" - "$out"
"$switchd" --rundir "$sw" --ovs-rundir "$sw" --registry "" --log-file "$sw/switchd.log" \
    --allow-plaintext-tcp 1 --decide-url "tcp://10.99.0.1:$((base + 18))" 2>/dev/null &
for _ in $(seq 100); do grep -q started "$sw/switchd.log" 2>/dev/null && break; sleep 0.1; done
check "and with allow-plaintext-tcp=1 starts with a warning" \
    grep -qs 'level=warn.*decide-url=tcp://10.99.0.1:.*plaintext off this host' "$sw/switchd.log"
if [ -f "$sw/appfw-switchd.pid" ]; then
    pid=$(cat "$sw/appfw-switchd.pid")
    kill "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
fi

# Under SAN=1: what the sanitizers said, of the daemons (their stderr)
# and of appfwctl (in the outputs kept).
check "no sanitizer reports" \
    sh -c "! grep -rlE 'Sanitizer|runtime error:' '$run' | grep -q ."

echo "$suite: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
