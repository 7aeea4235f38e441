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

# Boots appfw's test guest under QEMU (TCG) in the background, in network
# namespace $1 (its user network's 10.0.2.2 is that namespace's
# loopback), with kernel $2, initramfs $3, the agent's virtio-serial port
# on the UNIX socket $4, appfw.run=$5, console output to $6 and $7 vCPUs;
# with $8, a second port, org.appfw.bench.0, on the UNIX socket $8 (the
# benchmark's bare request/response).  Sets qemu_pid.
boot_guest() {
    set -- "$@" ""
    ip netns exec "$1" qemu-system-x86_64 -accel tcg -smp "$7" -m 512 \
        -nographic -no-reboot -kernel "$2" -initrd "$3" \
        -append "console=ttyS0 quiet panic=-1 appfw.run=$5" \
        -device virtio-serial \
        -chardev socket,path="$4",id=ch0,reconnect=1 \
        -device virtserialport,chardev=ch0,name=org.appfw.agent.0 \
        ${8:+-chardev socket,path="$8",id=ch1,reconnect=1} \
        ${8:+-device virtserialport,chardev=ch1,name=org.appfw.bench.0} \
        -netdev user,id=n0 -device virtio-net-pci,netdev=n0 \
        >"$6" 2>&1 </dev/null &
    qemu_pid=$!
}
