"""Where appfw-agent's notices land in its test (tests/agent/test-agent.sh).

  notify-sink.py syslog SOCKET OUT
      a syslog daemon stand-in: each datagram on the UNIX socket SOCKET is
      appended to OUT as one line
  notify-sink.py tty UTMP USER OUT
      a logged-in USER: opens a pseudo-terminal, writes a utmp file UTMP
      with one USER_PROCESS entry for it, and appends what is written to
      the terminal to OUT
"""
import os
import pty
import socket
import struct
import sys
import time


def syslog(path, out):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    while True:
        data = s.recv(65536)
        with open(out, "a") as f:
            f.write(data.decode(errors="replace").rstrip("\n") + "\n")


# glibc's struct utmpx on x86_64 (384 bytes).
UTMPX = "hi32s4s32s256shhi2i4i20s"
USER_PROCESS = 7


def tty(utmp, user, out):
    master, slave = pty.openpty()
    line = os.ttyname(slave)[len("/dev/"):]
    assert struct.calcsize(UTMPX) == 384
    rec = struct.pack(UTMPX, USER_PROCESS, os.getpid(), line.encode(),
                      line[-4:].encode(), user.encode(), b"test", 0, 0, 0,
                      int(time.time()), 0, 0, 0, 0, 0, b"")
    with open(utmp, "wb") as f:
        f.write(rec)
    while True:
        data = os.read(master, 4096)
        with open(out, "a") as f:
            f.write(data.decode(errors="replace"))


if sys.argv[1] == "syslog":
    syslog(sys.argv[2], sys.argv[3])
else:
    tty(sys.argv[2], sys.argv[3], sys.argv[4])
