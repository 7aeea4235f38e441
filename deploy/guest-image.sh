#!/bin/sh
# Builds appfw's test guest: a gzip'd initramfs (cpio) for the Debian
# kernel installed on this machine, with static busybox, the static
# appfw-agent, iptables (legacy) with the extensions the agent uses, the
# kernel modules for virtio and netfilter, and deploy/guest/init.
#
#   deploy/guest-image.sh OUT.cpio.gz AGENT|- [SCRIPT | /DEST=SOURCE]...
#
# SCRIPTs go to /scripts in the image; the kernel command line
# appfw.run=NAME runs /scripts/NAME.sh and powers off.  /DEST=SOURCE puts
# any other file at /DEST (executable), with the shared libraries it
# needs if it is a dynamic executable.  AGENT "-": no agent (the security
# VM's image, deploy/secvm-image.sh).  Prints the kernel's path
# (/boot/vmlinuz-VERSION) on the last line.
set -eu
out=$1
agent=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)

kernel=$(ls /boot/vmlinuz-* 2>/dev/null | sort -V | tail -1)
[ -n "$kernel" ] || { echo "guest-image: no /boot/vmlinuz-* (install linux-image-amd64)" >&2; exit 1; }
kver=${kernel#/boot/vmlinuz-}
[ -d "/lib/modules/$kver" ] || { echo "guest-image: no /lib/modules/$kver" >&2; exit 1; }

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/sbin" "$root/usr/sbin" "$root/etc/appfw" \
         "$root/proc" "$root/sys" "$root/dev" "$root/run" "$root/tmp" \
         "$root/var/lib" "$root/scripts" "$root/lib/modules"
cp /bin/busybox "$root/bin/busybox"
[ "$agent" = - ] || cp "$agent" "$root/usr/sbin/appfw-agent"
cp "$here/guest/init" "$root/init"
cp "$here/guest/agent.conf" "$root/etc/appfw/agent.conf"
mkdir -p "$root/lib/appfw"
cp "$here/guest/lib.sh" "$root/lib/appfw/guest-lib.sh"
chmod 755 "$root/init"
printf 'root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000:Alice:/home/alice:/bin/sh\n' \
    >"$root/etc/passwd"
printf 'root:x:0:\nalice:x:1000:\n' >"$root/etc/group"
printf 'search guest.example\n' >"$root/etc/resolv.conf"
# The shared objects $1 loads (and the loader), at their paths.
copy_libs() {
    ldd "$1" 2>/dev/null | awk '/=>/ { print $3 } /^\t\/lib/ { print $1 }' |
    while read -r lib; do
        [ -f "$lib" ] || continue
        mkdir -p "$root$(dirname "$lib")"
        cp -L "$lib" "$root$lib"
    done
}
for s in "$@"; do
    case $s in
    /*=*)
        # DEST=SOURCE: any file, at DEST in the image.
        mkdir -p "$root$(dirname "${s%%=*}")"
        cp "${s#*=}" "$root${s%%=*}"
        chmod 755 "$root${s%%=*}"
        copy_libs "${s#*=}"
        ;;
    *)
        cp "$s" "$root/scripts/"
        chmod 755 "$root/scripts/$(basename "$s")"
        ;;
    esac
done

# iptables (legacy) and the shared objects it loads.
copy_with_libs() {
    mkdir -p "$root$(dirname "$1")"
    cp -L "$1" "$root$1"
    copy_libs "$1"
}
copy_with_libs /usr/sbin/xtables-legacy-multi
for t in iptables-legacy ip6tables-legacy iptables-legacy-restore \
         ip6tables-legacy-restore; do
    ln -s xtables-legacy-multi "$root/usr/sbin/$t"
done
xt=/usr/lib/x86_64-linux-gnu/xtables
for e in libxt_standard libxt_tcp libxt_udp libxt_mark libxt_bpf \
         libxt_NFQUEUE libipt_REJECT libip6t_REJECT libipt_icmp \
         libip6t_icmp6; do
    copy_with_libs "$xt/$e.so"
done
# ld.so's path for the 64-bit loader.
[ -e "$root/lib64/ld-linux-x86-64.so.2" ] || {
    mkdir -p "$root/lib64"
    cp -L /lib64/ld-linux-x86-64.so.2 "$root/lib64/"
}

# Kernel modules, each after those it needs.
# The agent reads sockets through sock_diag (inet_diag, tcp_diag,
# udp_diag), which a full guest loads on demand and this one cannot.
# SCTP and DCCP: protocols the agent must refuse (test-agent-qemu.sh).
mods="virtio_pci virtio_console virtio_net nfnetlink_queue xt_NFQUEUE
      iptable_filter ip6table_filter ipt_REJECT ip6t_REJECT xt_mark
      xt_bpf xt_tcpudp inet_diag tcp_diag udp_diag sctp dccp_ipv4"
: >"$root/lib/modules/load-order"
for m in $mods; do
    modprobe -S "$kver" --show-depends "$m" 2>/dev/null |
        awk '$1 == "insmod" { print $2 }'
done | awk '!seen[$0]++' | while read -r ko; do
    mkdir -p "$root$(dirname "$ko")"
    cp "$ko" "$root$ko"
    echo "$ko" >>"$root/lib/modules/load-order"
done
[ -s "$root/lib/modules/load-order" ] || {
    echo "guest-image: no modules found for $kver" >&2
    exit 1
}

mkdir -p "$(dirname "$out")"
(cd "$root" && find . | cpio -o -H newc --quiet) | gzip -1 >"$out.tmp"
mv "$out.tmp" "$out"
echo "$kernel"
