#!/bin/sh
# /scripts/secd.sh of appfw's security VM (deploy/secvm-image.sh,
# appfw.run=secd): runs appfw-secd until it stops, its log on the console
# (each line prefixed "APPFW-SECVM").  The VM powers off when it stops.
mkdir -p /run/appfw /var/lib/appfw
chmod 600 /etc/appfw/tls/*.pem 2>/dev/null
echo "APPFW-SECVM starting appfw-secd"
/usr/sbin/appfw-secd -c /etc/appfw/secd.conf 2>&1 | sed 's/^/APPFW-SECVM /'
echo "APPFW-SECVM appfw-secd stopped"
