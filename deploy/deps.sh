#!/bin/sh
# Installs the Debian packages listed in deploy/packages.txt that are not
# installed yet, then builds libopenvswitch.a (deploy/build-ovs.sh).
# Idempotent: with everything present it only asks dpkg and returns.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
list="$here/packages.txt"

wanted=$(sed -e 's/#.*//' "$list" | tr -s ' \t\n' '\n' | grep -v '^$')

# One dpkg-query for all packages; unknown ones print nothing.
installed=$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' $wanted \
                2>/dev/null | awk '$2 == "installed" { print $1 }')
missing=""
for p in $wanted; do
    if ! printf '%s\n' "$installed" | grep -qx "$p"; then
        missing="$missing $p"
    fi
done

if [ -n "$missing" ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "deps: missing Debian packages:$missing" >&2
        echo "deps: run 'make deps' as root to install them" >&2
        exit 1
    fi
    echo "deps: installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $missing
else
    echo "deps: all $(printf '%s\n' "$wanted" | wc -l) Debian packages present"
fi

"$here/build-ovs.sh" "${OVS_BUILD_DIR:-$here/../.deps/ovs}"
