"""Test traffic for the switchd and agent tests, run inside the tests'
network namespaces (never anywhere else).  Servers listen on [::] and
take IPv4 too.

  netns-tcp.py serve TCP-PORT... [udp:PORT...]
      echo servers: TCP answers "ok:" + what it read (to "get N", N bytes
      instead, at most 64 MiB; to "drip S", a byte every 50 ms for S
      seconds, at most 60); UDP datagrams are
      appended to the file named by $UDP_LOG.  $BIND_DEVICE binds the TCP
      servers to that interface (SO_BINDTODEVICE), $BIND_ADDR to that
      address (for example a scoped "fe80::1%eth0") instead of [::].
      $REUSEPORT=1 joins a SO_REUSEPORT group; $REUSEPORT_PICK=N also
      attaches a reuseport BPF program that hands every connection to
      the group's Nth socket (from 0, in the order they joined).
      $SERVE_TAG is added to each answer
  netns-tcp.py connect HOST PORT
      one TCP request/response; prints "ok SECONDS" (then "by=TAG" if
      the server has a tag) or "fail ERROR SECONDS"
  netns-tcp.py fetch HOST PORT BYTES
      a download: asks for BYTES and reads until the server closes;
      prints "ok BYTES-READ SECONDS" or "fail ERROR BYTES-READ SECONDS"
  netns-tcp.py drip HOST PORT SECONDS
      one long-lived connection: a byte every 50 ms for SECONDS; prints
      "ok BYTES-READ SECONDS" once the server closes, or "fail ERROR
      BYTES-READ SECONDS" if it breaks (a stall of 2 s breaks it)
  netns-tcp.py until-refused HOST PORT SECONDS
      a new connection every 5 ms until one is refused or fails, for
      SECONDS at most; prints "refused_at=T ok=N" (T: the failure's wall
      clock, in seconds since the epoch) or "never ok=N"
  netns-tcp.py udp HOST PORT TEXT
      sends one datagram; prints "ok" or "fail ERROR"
  netns-tcp.py loop HOST PORT SECONDS
      connects every 20 ms for SECONDS; prints "ok=N fail=M"
  netns-tcp.py burst HOST PORT N
      starts N connections at once (non-blocking), then closes them
  netns-tcp.py rate HOST PORT SECONDS
      back-to-back request/response connections for SECONDS; prints
      "conns_per_s=N fail=M"
"""
import ctypes
import os
import socket
import struct
import sys
import threading
import time


def dual_stack(kind):
    """A socket on [::] that takes IPv4 too."""
    s = socket.socket(socket.AF_INET6, kind)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    return s


SO_ATTACH_REUSEPORT_CBPF = 51
BPF_RET_K = 0x06


def pick_in_group(s, index):
    """Attaches a classic BPF program "return INDEX" to the SO_REUSEPORT
    group of socket 's'."""
    insn = ctypes.create_string_buffer(struct.pack("HBBI", BPF_RET_K, 0, 0,
                                                   index))
    # struct sock_fprog { unsigned short len; struct sock_filter *filter; }
    prog = struct.pack("HP", 1, ctypes.addressof(insn))
    s.setsockopt(socket.SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, prog)


def serve_tcp(port):
    s = dual_stack(socket.SOCK_STREAM)
    if os.environ.get("BIND_DEVICE"):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE,
                     os.environ["BIND_DEVICE"].encode())
    if os.environ.get("REUSEPORT"):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    # getaddrinfo() reads a "%scope" suffix; bind() alone does not.
    s.bind(socket.getaddrinfo(os.environ.get("BIND_ADDR", "::"), port,
                              socket.AF_INET6)[0][4])
    s.listen(64)
    if os.environ.get("REUSEPORT_PICK"):
        pick_in_group(s, int(os.environ["REUSEPORT_PICK"]))
    tag = os.environ.get("SERVE_TAG", "").encode()
    while True:
        c, _ = s.accept()
        try:
            c.settimeout(2)
            data = c.recv(65536)
            if data.startswith(b"get "):
                c.settimeout(10)
                c.sendall(b"x" * min(int(data[4:]), 64 << 20))
            elif data.startswith(b"drip "):
                threading.Thread(target=drip, args=(c, int(data[5:])),
                                 daemon=True).start()
                continue
            else:
                c.sendall(b"ok:" + data + (b" by=" + tag if tag else b""))
        except OSError:
            pass
        c.close()


def drip(c, seconds):
    try:
        for _ in range(min(seconds, 60) * 20):
            c.sendall(b"x")
            time.sleep(0.05)
    except OSError:
        pass
    c.close()


def until_refused(host, port, seconds):
    end = time.time() + seconds
    ok = 0
    while time.time() < end:
        if connect(host, port, timeout=1).startswith("ok"):
            ok += 1
            time.sleep(0.005)
        else:
            return "refused_at=%.6f ok=%d" % (time.time(), ok)
    return "never ok=%d" % ok


def serve_udp(port):
    s = dual_stack(socket.SOCK_DGRAM)
    s.bind(("::", port))
    while True:
        data, _ = s.recvfrom(65536)
        with open(os.environ["UDP_LOG"], "a") as f:
            f.write("%d %s\n" % (port, data.decode(errors="replace")))


def connect(host, port, timeout=3):
    t0 = time.time()
    try:
        s = socket.create_connection((host, port), timeout=timeout)
        s.sendall(b"hello")
        reply = s.recv(100)
        s.close()
        if not reply.startswith(b"ok:hello"):
            return "fail BadReply %.3f" % (time.time() - t0)
        return ("ok %.3f" % (time.time() - t0)
                + reply[len(b"ok:hello"):].decode(errors="replace"))
    except OSError as e:
        return "fail %s %.3f" % (type(e).__name__, time.time() - t0)


def read_all(host, port, request, timeout):
    """Sends 'request' and reads until the server closes."""
    t0 = time.time()
    got = 0
    try:
        s = socket.create_connection((host, port), timeout=timeout)
        s.settimeout(timeout)
        s.sendall(request)
        while True:
            data = s.recv(65536)
            if not data:
                break
            got += len(data)
        s.close()
        return "ok %d %.3f" % (got, time.time() - t0)
    except OSError as e:
        return "fail %s %d %.3f" % (type(e).__name__, got, time.time() - t0)


def main():
    cmd = sys.argv[1]
    if cmd == "serve":
        for spec in sys.argv[2:]:
            if spec.startswith("udp:"):
                target, port = serve_udp, int(spec[4:])
            else:
                target, port = serve_tcp, int(spec)
            threading.Thread(target=target, args=(port,), daemon=True).start()
        threading.Event().wait()
    elif cmd == "connect":
        print(connect(sys.argv[2], int(sys.argv[3])))
    elif cmd == "fetch":
        print(read_all(sys.argv[2], int(sys.argv[3]),
                       b"get %d" % int(sys.argv[4]), 10))
    elif cmd == "drip":
        # A stall of 2 s breaks it.
        print(read_all(sys.argv[2], int(sys.argv[3]),
                       b"drip %d" % int(sys.argv[4]), 2))
    elif cmd == "until-refused":
        print(until_refused(sys.argv[2], int(sys.argv[3]),
                            float(sys.argv[4])))
    elif cmd == "udp":
        family = socket.AF_INET6 if ":" in sys.argv[2] else socket.AF_INET
        s = socket.socket(family, socket.SOCK_DGRAM)
        try:
            s.sendto(sys.argv[4].encode(), (sys.argv[2], int(sys.argv[3])))
            print("ok")
        except OSError as e:
            print("fail %s" % type(e).__name__)
    elif cmd == "loop":
        end = time.time() + float(sys.argv[4])
        ok = fail = 0
        while time.time() < end:
            if connect(sys.argv[2], int(sys.argv[3]), 0.5).startswith("ok"):
                ok += 1
            else:
                fail += 1
            time.sleep(0.02)
        print("ok=%d fail=%d" % (ok, fail))
    elif cmd == "burst":
        socks = []
        for _ in range(int(sys.argv[4])):
            c = socket.socket()
            c.setblocking(False)
            c.connect_ex((sys.argv[2], int(sys.argv[3])))
            socks.append(c)
        time.sleep(0.5)
        for c in socks:
            c.close()
    elif cmd == "rate":
        end = time.time() + float(sys.argv[4])
        t0 = time.time()
        ok = fail = 0
        while time.time() < end:
            if connect(sys.argv[2], int(sys.argv[3]), 1).startswith("ok"):
                ok += 1
            else:
                fail += 1
        print("conns_per_s=%.0f fail=%d" % (ok / (time.time() - t0), fail))


main()
