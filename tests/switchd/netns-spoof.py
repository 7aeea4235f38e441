"""Forged frames for the port-security checks of the switchd test, sent
and watched with raw sockets inside the test's network namespaces (never
anywhere else).  MACs are "52:54:00:..." text, addresses IPv4/IPv6 text.

  netns-spoof.py garp IFACE MAC IP
      a gratuitous ARP reply (broadcast) claiming IP for MAC
  netns-spoof.py udp IFACE MAC DST-MAC SRC-IP DST-IP PORT TEXT
      one IPv4 UDP datagram from SRC-IP (whatever the interface's address)
  netns-spoof.py na IFACE MAC SRC-IP6 TARGET
      an unsolicited neighbour advertisement (override) to ff02::1 saying
      TARGET is at MAC
  netns-spoof.py sniff IFACE SECONDS MAC IP
      counts the ARP frames and neighbour advertisements received in
      SECONDS that claim IP for MAC; prints the count
"""
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003


def mac_bytes(mac):
    return bytes(int(x, 16) for x in mac.split(":"))


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def send(iface, frame):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    s.send(frame)
    s.close()


def garp(mac, ip):
    m, a = mac_bytes(mac), socket.inet_aton(ip)
    arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 2) + m + a + b"\xff" * 6 + a
    return b"\xff" * 6 + m + b"\x08\x06" + arp


def udp4(mac, dst_mac, src, dst, port, text):
    payload = text.encode()
    udp = struct.pack("!HHHH", 40000, port, 8 + len(payload), 0) + payload
    s, d = socket.inet_aton(src), socket.inet_aton(dst)
    pseudo = s + d + struct.pack("!BBH", 0, 17, len(udp))
    csum = checksum(pseudo + udp) or 0xffff
    udp = udp[:6] + struct.pack("!H", csum) + udp[8:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17,
                     0, s, d)
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return mac_bytes(dst_mac) + mac_bytes(mac) + b"\x08\x00" + ip + udp


def na(mac, src, target):
    s = socket.inet_pton(socket.AF_INET6, src)
    d = socket.inet_pton(socket.AF_INET6, "ff02::1")
    t = socket.inet_pton(socket.AF_INET6, target)
    # Type 136, override flag, target, target link-layer address option.
    icmp = (struct.pack("!BBHI", 136, 0, 0, 0x20000000) + t
            + struct.pack("!BB", 2, 1) + mac_bytes(mac))
    pseudo = s + d + struct.pack("!I3xB", len(icmp), 58)
    icmp = icmp[:2] + struct.pack("!H", checksum(pseudo + icmp)) + icmp[4:]
    ip6 = struct.pack("!IHBB", 0x60000000, len(icmp), 58, 255) + s + d
    return (b"\x33\x33\x00\x00\x00\x01" + mac_bytes(mac) + b"\x86\xdd"
            + ip6 + icmp)


def claims(frame, mac, ip):
    """Whether 'frame' is an ARP or NA claiming 'ip' for 'mac'."""
    m = mac_bytes(mac)
    etype = frame[12:14]
    if etype == b"\x08\x06" and ":" not in ip:
        return frame[22:28] == m and frame[28:32] == socket.inet_aton(ip)
    if etype == b"\x86\xdd" and ":" in ip and len(frame) >= 86:
        return (frame[20] == 58 and frame[54] == 136
                and frame[62:78] == socket.inet_pton(socket.AF_INET6, ip)
                and frame[80:86] == m)
    return False


def sniff(iface, seconds, mac, ip):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW,
                      socket.htons(ETH_P_ALL))
    s.bind((iface, 0))
    end = time.time() + seconds
    n = 0
    while True:
        left = end - time.time()
        if left <= 0:
            break
        s.settimeout(left)
        try:
            frame, addr = s.recvfrom(65535)
        except socket.timeout:
            break
        # Only what arrived, not what this namespace sent.
        if addr[2] != socket.PACKET_OUTGOING and claims(frame, mac, ip):
            n += 1
    print(n)


def main():
    cmd, a = sys.argv[1], sys.argv[2:]
    if cmd == "garp":
        send(a[0], garp(a[1], a[2]))
    elif cmd == "udp":
        send(a[0], udp4(a[1], a[2], a[3], a[4], int(a[5]), a[6]))
    elif cmd == "na":
        send(a[0], na(a[1], a[2], a[3]))
    elif cmd == "sniff":
        sniff(a[0], float(a[1]), a[2], a[3])
    else:
        sys.exit("netns-spoof.py: unknown command %s" % cmd)


main()
