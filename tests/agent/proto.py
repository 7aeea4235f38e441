"""Test traffic of protocols other than TCP and UDP for test-agent.sh, run
inside its network namespaces (never anywhere else).

  proto.py ping HOST
      one ICMP/ICMPv6 echo from an unprivileged ping socket; prints "ok"
      (the reply came), "timeout" or "fail ERROR"
  proto.py send KIND HOST PORT
      one datagram; KIND is udplite (PORT: its port) or raw (PORT: the
      IP protocol number; raw sockets need root); prints "sent" or
      "fail ERROR"
  proto.py serve KIND PORT SECONDS
      waits SECONDS for one datagram (after printing "ready"); prints
      "got" or "none"
"""
import socket
import struct
import sys

UDPLITE = 136


def family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def ping(host):
    fam = family(host)
    proto = socket.IPPROTO_ICMPV6 if fam == socket.AF_INET6 \
        else socket.IPPROTO_ICMP
    try:
        s = socket.socket(fam, socket.SOCK_DGRAM, proto)
        s.settimeout(3)
        kind = 128 if fam == socket.AF_INET6 else 8
        # The kernel fills in the identifier and the checksum.
        s.sendto(struct.pack("!BBHHH", kind, 0, 0, 0, 1) + b"appfw",
                 (host, 0))
        s.recv(256)
        print("ok")
    except socket.timeout:
        print("timeout")
    except OSError as e:
        print("fail", type(e).__name__)


def open_socket(kind, host, port):
    if kind == "udplite":
        return socket.socket(family(host), socket.SOCK_DGRAM, UDPLITE)
    return socket.socket(family(host), socket.SOCK_RAW, port)


def send(kind, host, port):
    try:
        s = open_socket(kind, host, port)
        s.sendto(b"appfw", (host, port if kind == "udplite" else 0))
        print("sent")
    except OSError as e:
        print("fail", type(e).__name__)


def serve(kind, port, seconds):
    s = open_socket(kind, "::", port)
    if kind == "udplite":
        s.bind(("::", port))
    else:
        # IPv4 too: a raw IPv6 socket gets only IPv6.
        s4 = socket.socket(socket.AF_INET, socket.SOCK_RAW, port)
    print("ready", flush=True)
    import select
    ready = select.select([s] if kind == "udplite" else [s, s4], [], [],
                          seconds)[0]
    print("got" if ready else "none", flush=True)


def main():
    cmd = sys.argv[1]
    if cmd == "ping":
        ping(sys.argv[2])
    elif cmd == "send":
        send(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif cmd == "serve":
        serve(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))


main()
