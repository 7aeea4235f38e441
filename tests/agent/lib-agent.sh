# Shell helpers for the agent's test and benchmark (sourced).

# Stops process $1 (if any): SIGTERM, then SIGKILL after 2.5 s.
stop_pid() {
    [ -n "$1" ] && kill "$1" 2>/dev/null && {
        for _ in $(seq 50); do
            kill -0 "$1" 2>/dev/null || return 0
            sleep 0.05
        done
        kill -9 "$1" 2>/dev/null
    }
    return 0
}
