# Helpers for scripts run inside appfw's test guest (sourced; installed as
# /lib/appfw/guest-lib.sh by deploy/guest-image.sh).

# How many times the agent's channel came up so far.
agent_ups() {
    grep -c "channel up" /run/appfw-agent.log 2>/dev/null
}

# Waits (60 s at most) until the channel came up $1 times in all.
agent_wait_up() {
    for _ in $(seq 600); do
        [ "$(agent_ups)" -ge "$1" ] && return 0
        sleep 0.1
    done
    return 1
}

# check NAME COMMAND...: prints "APPFW-CHECK PASS|FAIL NAME" for the host
# test to collect from the console.
check() {
    name=$1
    shift
    if "$@"; then
        echo "APPFW-CHECK PASS $name"
    else
        echo "APPFW-CHECK FAIL $name"
    fi
}

# has TEXT REGEX: whether TEXT matches REGEX.
has() {
    printf '%s\n' "$1" | grep -q "$2"
}

# The demo's guests (deploy/demo/): one step of the story, on the console
# for the host to narrate; and the start of a story, once the agent is up.
step() {
    echo "APPFW-DEMO $*"
}
demo_start() {
    if ! agent_wait_up 1; then
        step "ERROR the agent did not reach the host"
        exit 1
    fi
    step "READY"
}

# Seconds since the guest booted.
uptime_s() {
    cut -d. -f1 /proc/uptime
}

# The device of the virtio-serial port named $1 (/dev/vportNpM); by
# default the agent's.
agent_port_dev() {
    for d in /sys/class/virtio-ports/*; do
        [ "$(cat "$d/name" 2>/dev/null)" = "${1:-org.appfw.agent.0}" ] &&
            echo "/dev/${d##*/}" && return 0
    done
    return 1
}

# Waits until the host opens gate $2 (starts listening on port $2 of
# address $1): how a host test paces a guest script.  3 minutes at most.
gate() {
    for _ in $(seq 900); do
        echo | nc -w 2 "$1" "$2" >/dev/null 2>&1 && return 0
        usleep 200000
    done
    return 1
}

# Connects to $1:$2 every 0.2 s for $3 seconds; prints "ok=N fail=N".
connect_loop() {
    ok=0
    fail=0
    end=$(($(uptime_s) + $3))
    while [ "$(uptime_s)" -lt "$end" ]; do
        if echo hi | nc -w 3 "$1" "$2" 2>&1 | grep -q '^ok:hi'; then
            ok=$((ok + 1))
        else
            fail=$((fail + 1))
        fi
        usleep 200000
    done
    echo "ok=$ok fail=$fail"
}
