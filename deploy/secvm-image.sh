#!/bin/sh
# Builds appfw's security VM image: a gzip'd initramfs for the Debian
# kernel of this machine (deploy/guest-image.sh, without the agent) that
# runs appfw-secd with its signature database, reached by appfw-switchd
# over nng tcp:// or tls+tcp:// on a management network.
#
#   deploy/secvm-image.sh OUT.cpio.gz [OPTIONS]
#     --build DIR        where appfw-secd was built (default build)
#     --appid-db FILE    the signature database to ship (default: an empty
#                        one; see appid(1) import-dpkg / import-feed)
#     --tls-cert FILE    PEM certificate and key of the security VM; with
#     --tls-ca FILE      the CA of its peers: secd then listens on
#                        tls+tcp:// and every peer must present a
#                        certificate (without them: plain tcp://, with
#                        allow-plaintext-tcp, which secd logs)
#     --bootstrap-token-sha256 HEX
#                        sha256sum of the token with which a remote
#                        administrator creates the first console accounts
#                        (docs/operations.md, "Accounts")
#
# The VM listens on port 7100 (decisions) and 7101 (console, appfwctl,
# also its event stream) of its address (kernel command line appfw.ip=CIDR,
# appfw.gw=ADDRESS|none) and runs /scripts/secd.sh (appfw.run=secd
# appfw.agent=off); its store lives in memory.  Prints the kernel's path
# on the last line.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
usage() {
    sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit "$1"
}
[ $# -ge 1 ] || usage 2
case $1 in -h|--help) usage 0 ;; esac
out=$1
shift
build=build appid_db="" cert="" ca="" bootstrap=""
while [ $# -gt 0 ]; do
    [ $# -ge 2 ] || { echo "secvm-image: $1 needs a value" >&2; exit 2; }
    case $1 in
    --build) build=$2 ;;
    --appid-db) appid_db=$2 ;;
    --tls-cert) cert=$2 ;;
    --tls-ca) ca=$2 ;;
    --bootstrap-token-sha256) bootstrap=$2 ;;
    *) echo "secvm-image: unknown option $1" >&2; exit 2 ;;
    esac
    shift 2
done
if [ -n "$cert$ca" ] && { [ ! -r "$cert" ] || [ ! -r "$ca" ]; }; then
    echo "secvm-image: --tls-cert and --tls-ca go together, as readable files" >&2
    exit 2
fi
secd="$build/security-vm/appfw-secd"
[ -x "$secd" ] || { echo "secvm-image: no $secd (make first)" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ -z "$appid_db" ]; then
    appid_db="$tmp/appid.db"
    echo '{"format": "appfw-appid-feed", "version": 1, "source": "empty",
           "added": [], "changed": [], "removed": []}' |
        "$build/appid/appid" --db "$appid_db" -q import-feed - >/dev/null
fi
scheme=tcp
files="/var/lib/appfw/appid.db=$appid_db"
{
    echo "# appfw-secd in the security VM (deploy/secvm-image.sh)."
    echo "rundir = /run/appfw"
    echo "db = /run/appfw/secd.db"
    echo "appid-db = /var/lib/appfw/appid.db"
    if [ -n "$cert" ]; then
        scheme=tls+tcp
        echo "tls-cert = /etc/appfw/tls/secd.pem"
        echo "tls-ca = /etc/appfw/tls/ca.pem"
        files="$files /etc/appfw/tls/secd.pem=$cert /etc/appfw/tls/ca.pem=$ca"
    fi
    [ -z "$bootstrap" ] || echo "bootstrap-token-sha256 = $bootstrap"
    # Without certificates, plaintext on the management network, said
    # so in secd's log (docs/operations.md).
    [ "$scheme" = tls+tcp ] || echo "allow-plaintext-tcp = 1"
    echo "decide-url = $scheme://0.0.0.0:7100"
    echo "console-url = $scheme://0.0.0.0:7101"
} >"$tmp/secd.conf"
"$secd" -c "$tmp/secd.conf" -n >/dev/null ||
    { echo "secvm-image: the configuration does not check" >&2; exit 1; }

# shellcheck disable=SC2086  # $files: DEST=SOURCE words without spaces
"$here/guest-image.sh" "$out" - "$here/secvm/secd.sh" \
    /usr/sbin/appfw-secd="$secd" /etc/appfw/secd.conf="$tmp/secd.conf" \
    $files
