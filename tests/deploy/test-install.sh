#!/bin/sh
# Tests of "make install" into a scratch DESTDIR: every file lands where
# its PREFIX says, the installed programs run, the units name the
# installed paths, the default configuration files pass each program's
# -n, the man pages are there, and a second install keeps an edited
# configuration file.  Ends with "install: N passed, N failed".
set -u
cd "$(dirname "$0")/../.." || exit 1
dest=$(mktemp -d /tmp/appfw-install-test.XXXXXX) || exit 1
trap 'rm -rf "$dest"' EXIT
. tests/lib-check.sh

make --no-print-directory install DESTDIR="$dest/a" PREFIX=/usr \
    >"$dest/make.log" 2>&1
check "make install DESTDIR=... PREFIX=/usr succeeds" test $? = 0
r="$dest/a"
for f in usr/sbin/appfw-secd usr/sbin/appfw-switchd usr/sbin/appfw-agent \
         usr/sbin/appfw-vmctl \
         usr/bin/appfwctl usr/bin/appid usr/libexec/appfw/appfw-libvirt-hook; do
    check "$f runs --help" sh -c "'$r/$f' --help >/dev/null 2>&1"
done
check "the installed agent is the static build" \
    sh -c "! ldd '$r/usr/sbin/appfw-agent' >/dev/null 2>&1"
check "the libvirt hook is in qemu.d" test \
    "$(readlink "$r/etc/libvirt/hooks/qemu.d/appfw")" = \
    /usr/libexec/appfw/appfw-libvirt-hook
for u in appfw-secd appfw-switchd appfw-agent; do
    f="$r/lib/systemd/system/$u.service"
    check "$u.service names /usr/sbin/$u and /etc/appfw" \
        sh -c "grep -q '^ExecStart=/usr/sbin/$u -c /etc/appfw/' '$f' &&
               ! grep -q @ '$f'"
done
check "appfw-secd accepts its installed configuration" \
    sh -c "'$r/usr/sbin/appfw-secd' -c '$r/etc/appfw/secd.conf' -n >/dev/null"
check "appfw-switchd accepts its installed configuration" \
    sh -c "'$r/usr/sbin/appfw-switchd' -c '$r/etc/appfw/switchd.conf' -n >/dev/null"
check "appfw-agent accepts its installed configuration" \
    sh -c "'$r/usr/sbin/appfw-agent' -c '$r/etc/appfw/agent.conf' -n >/dev/null"
check "the libvirt hook accepts its installed configuration" \
    sh -c "APPFW_HOOK_CONFIG='$r/etc/appfw/libvirt-hook.conf' \
           '$r/usr/libexec/appfw/appfw-libvirt-hook' d stopped end - \
           </dev/null 2>/dev/null"
for m in man8/appfw-secd.8 man8/appfw-switchd.8 man8/appfw-agent.8 \
         man8/appfw-vmctl.8 \
         man8/appfw-libvirt-hook.8 man1/appfwctl.1 man1/appid.1; do
    check "man page $m has a title and a synopsis" \
        sh -c "grep -q '^\.TH' '$r/usr/share/man/$m' &&
               grep -q '^\.SH SYNOPSIS' '$r/usr/share/man/$m'"
done
check "the docs are installed" test -f "$r/usr/share/doc/appfw/agent.md"

echo "# edited" >>"$r/etc/appfw/secd.conf"
make --no-print-directory install DESTDIR="$dest/a" PREFIX=/usr \
    >"$dest/make.log" 2>&1
check "a second install keeps an edited configuration file" \
    grep -q '^# edited' "$r/etc/appfw/secd.conf"

make --no-print-directory install DESTDIR="$dest/b" >"$dest/make.log" 2>&1
check "the default PREFIX is /usr/local, with its own etc" \
    sh -c "[ -x '$dest/b/usr/local/sbin/appfw-secd' ] &&
           [ -f '$dest/b/usr/local/etc/appfw/secd.conf' ] &&
           grep -q 'ExecStart=/usr/local/sbin/appfw-secd -c /usr/local/etc/appfw/' \
               '$dest/b/usr/local/lib/systemd/system/appfw-secd.service'"

echo "install: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
