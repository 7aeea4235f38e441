#!/bin/sh
# appfw-secd over tls+tcp:// on loopback, with certificates made here:
# a client with a certificate from the CA is served; one from another CA,
# or without TLS settings, is not; a TLS URL without a certificate is
# refused at start.  Ends with "secd-tls: N passed, N failed".
# Usage: tests/secd/test-secd-tls.sh BUILD-DIR
set -u
build=${1:-build}
secd="$build/security-vm/appfw-secd"
ctl="$build/security-vm/appfwctl"
load="$build/tests/secd/secd-load"
run=$(mktemp -d /tmp/appfw-secd-tls.XXXXXX) || exit 1
passed=0
failed=0
cleanup() {
    if [ -f "$run/appfw-secd.pid" ]; then
        kill "$(cat "$run/appfw-secd.pid")" 2>/dev/null
        sleep 0.3
    fi
    rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL $1"; sed 's/^/    /' "$run/out" | head -20; }
expect() {  # expect NAME PATTERN COMMAND...
    name=$1 pat=$2
    shift 2
    "$@" >"$run/out" 2>&1
    if grep -q -- "$pat" "$run/out"; then ok; else bad "$name: no \"$pat\""; fi
}

# A CA, a server certificate for localhost, a client certificate, and a
# client certificate from an unrelated CA.
. "$(dirname "$0")/../lib-tls.sh"
{ tls_ca "$run" ca "appfw test CA" && tls_ca "$run" rogue-ca "rogue CA" &&
  tls_issue "$run" server localhost ca "IP:127.0.0.1,DNS:localhost" &&
  tls_issue "$run" hv1 hypervisor-1 ca "DNS:hv1" &&
  tls_issue "$run" rogue hypervisor-x rogue-ca "DNS:hvx"; } || exit 1

port=$((20000 + $$ % 20000))
url="tls+tcp://127.0.0.1:$port"
common="--rundir $run --db $run/secd.db --appid-db $run/appid.db"

# A TLS URL without a certificate is refused at start, clearly.
expect no-cert "a TLS URL needs a certificate and a CA" \
    "$secd" $common --decide-url "$url"
expect half-config "needs both a certificate" \
    "$secd" $common --decide-url "$url" --tls-cert "$run/server.pem"

"$secd" $common --decide-url "$url" --tls-cert "$run/server.pem" \
    --tls-ca "$run/ca.pem" --log-file "$run/secd.log" &
for _ in $(seq 50); do
    "$ctl" --rundir "$run" health >/dev/null 2>&1 && break
    sleep 0.1
done
echo '{"rules":[{"id":"allow-web","action":"allow","match":{"remote_port":[80]}}]}' >"$run/p.json"
"$ctl" --rundir "$run" policy apply "$run/p.json" >/dev/null || { echo "FAIL: no secd"; cat "$run/secd.log"; exit 1; }

vm=44444444-0000-4000-8000-000000000001
tls="APPFW_TLS_CERT=$run/hv1.pem APPFW_TLS_CA=$run/ca.pem"
expect mutual-tls "allow=3 deny=0 error=0" env $tls \
    APPFW_TLS_SERVER_NAME=localhost "$load" decide "$url" $vm 3 1 /usr/bin/curl - 80
expect by-name "allow=1 deny=0 error=0" env $tls \
    "$load" decide "tls+tcp://localhost:$port" $vm 1 1 /usr/bin/curl - 80
expect wrong-name "allow=0 deny=0 error=1" env $tls SECD_LOAD_TIMEOUT_MS=1500 \
    APPFW_TLS_SERVER_NAME=secd.example "$load" decide "$url" $vm 1 1 /usr/bin/curl - 80
expect wrong-ca "allow=0 deny=0 error=1" env APPFW_TLS_CERT="$run/rogue.pem" \
    APPFW_TLS_CA="$run/ca.pem" SECD_LOAD_TIMEOUT_MS=1500 APPFW_TLS_SERVER_NAME=localhost \
    "$load" decide "$url" $vm 1 1 /usr/bin/curl - 80
expect by-address "not by address: give the name" env $tls \
    "$load" decide "$url" $vm 1 1 /usr/bin/curl - 80
expect no-client-tls "needs a certificate" "$load" decide "$url" $vm 1 1 /usr/bin/curl - 80
expect still-serving "allow=1" env $tls APPFW_TLS_SERVER_NAME=localhost \
    "$load" decide "$url" $vm 1 1 /usr/bin/curl - 80

echo "secd-tls: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
