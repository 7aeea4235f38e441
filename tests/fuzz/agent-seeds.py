"""Seeds for tests/fuzz/fuzz-agent.c from real traffic.

  agent-seeds.py TRANSCRIPT OUTDIR

TRANSCRIPT is host-sim's --transcript of a run of tests/agent/test-agent.sh
(KEEP_LOGS=DIR keeps it as DIR/host-transcript.log): every message between
the agent and host-sim, in order.  Each session (from a host hello to the
next) becomes scripts for the fuzz target of at most MAX_BYTES each (a
long one goes on in the next, which begins with the hello again):

  - what host-sim sent stays as it was (hello, verdicts, notices,
    policy_push, heartbeats), but a verdict's id becomes its question's
    number in the script, as the fuzz target's agent counts them;
  - each question the agent asked becomes the guest event that makes the
    fuzz target's agent ask the same (the event, protocol, remote address
    and port; the application by kind, as tests/fuzz/agent-fakes.c has
    them, or another one where the fuzz target's agent would find that
    one's verdict in its cache and not ask);
  - each heartbeat of the agent moves the clock by a second;
  - a session with a policy_push runs in fail mode cached, as
    test-agent.sh's do.

The result goes to OUTDIR/host-sim-N.
"""
import json
import os
import sys

MAX_BYTES = 2000


def proc_of(decide):
    """The fuzz target's process (agent-fakes.c) for the decide's app."""
    app = decide.get("app")
    if app is None:
        return 6            # Executed another program: an unknown app.
    if app.get("memfd"):
        return 5
    if "nc" in app.get("name", ""):
        return 2
    if decide.get("user", {}).get("uid") == 0:
        return 3
    if app.get("path", "").startswith("/tmp/"):
        return 4
    return 1


# Processes of agent-fakes.c with an application of their own each, to
# try in turn when the one a decide maps to has a verdict cached.
OTHER_PROCS = [1, 3, 2, 4, 5, 8]


class Session:
    def __init__(self, hello=None):
        self.lines = []
        self.size = 0
        self.hello = hello
        self.questions = {}     # The agent's id -> the script's number.
        self.keys = {}          # The agent's id -> its question's key.
        self.peers = {}         # Address -> the target's peer index.
        self.cached = False
        self.now = 0            # The fuzz target's clock, in ms.
        self.cache = {}         # Key -> when its verdict expires.
        self.version = None

    def add(self, line):
        if self.size + len(line) + 1 > MAX_BYTES:
            return False
        self.lines.append(line)
        self.size += len(line) + 1
        return True

    def peer(self, address):
        if address not in self.peers:
            v6 = ":" in address
            used = [p for a, p in self.peers.items() if (":" in a) == v6]
            self.peers[address] = (2 if v6 else 0) + len(used) % 2
        return self.peers[address]

    def event(self, d):
        """The script's lines for decide 'd', and its question's key."""
        event, proto = d["event"], d["protocol"]
        local = event in ("listen", "accept")
        port = d["local" if local else "remote"]["port"]
        peer = None if event == "listen" else self.peer(d["remote"]["address"])
        key = None
        for proc in [proc_of(d)] + OTHER_PROCS:
            key = (proc, event, proto, peer, port)
            if self.cache.get(key, -1) <= self.now:
                break
        kind = "ping" if proto == "icmp" else proto
        if event == "listen":
            return [f"bind {proc} {proto} {port}", "wait 50"], key
        if event == "accept":
            return [f"in {kind} {proc} {peer} {port}"], key
        return [f"out {kind} {proc} {peer} {port}"], key

    def verdict(self, v):
        """What the fuzz target's agent caches of verdict 'v'."""
        version = v.get("policy_version")
        if version is not None and version != self.version:
            if self.version is not None:
                self.cache = {}
            self.version = version
        key = self.keys.get(v["id"])
        if key is not None and v.get("ttl", 0):
            self.cache[key] = self.now + 1000 * v["ttl"]

    def take(self, direction, msg, text):
        kind = msg.get("type")
        if direction == ">":
            if kind == "verdict":
                if msg["id"] not in self.questions:
                    return True
                self.verdict(msg)
                msg["id"] = self.questions[msg["id"]]
                text = json.dumps(msg, separators=(",", ":"))
            if kind == "policy_push":
                self.cached = True
            if kind == "hello":
                self.hello = text
            return self.add(text)
        if kind == "decide":
            lines, key = self.event(msg)
            if sum(len(x) + 1 for x in lines) + self.size > MAX_BYTES:
                return False
            self.questions[msg["id"]] = len(self.questions) + 1
            self.keys[msg["id"]] = key
            return all(self.wait(x) for x in lines)
        if kind == "heartbeat":
            return self.wait("wait 1000")
        return True

    def wait(self, line):
        if line.startswith("wait "):
            self.now += int(line.split()[1])
        return self.add(line)

    def script(self):
        head = ["mode cached"] if self.cached else []
        return "\n".join(head + self.lines) + "\n"


def main():
    transcript, outdir = sys.argv[1], sys.argv[2]
    sessions = []
    with open(transcript) as f:
        for raw in f:
            direction, _, text = raw.rstrip("\n").partition(" ")
            try:
                msg = json.loads(text)
            except ValueError:
                continue
            if direction == ">" and msg.get("type") == "hello":
                sessions.append(Session())
            if sessions and not sessions[-1].take(direction, msg, text):
                # Full: the session goes on in a script of its own.
                s = Session(sessions[-1].hello)
                s.cached = sessions[-1].cached
                s.add(s.hello)
                sessions.append(s)
                s.take(direction, msg, text)
    os.makedirs(outdir, exist_ok=True)
    for i, s in enumerate(sessions):
        with open(os.path.join(outdir, f"host-sim-{i}"), "w") as f:
            f.write(s.script())


if __name__ == "__main__":
    main()
