#!/bin/busybox sh
# The guest's init (PID 1). Mounts what rbt needs, runs every case named in /cases/list (one
# `NAME TIMEOUT_SECS` a line, in order) and frames each case's output on /dev/ttyS1, which QEMU
# writes to a file the host harness reads. The console (/dev/ttyS0) only carries kernel messages.
/bin/busybox mkdir -p /usr/bin /usr/sbin /sbin
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root

mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
mount -t tracefs tracefs /sys/kernel/tracing
mount -t debugfs debugfs /sys/kernel/debug
mount -t bpf bpf /sys/fs/bpf
mount -t cgroup2 cgroup2 /sys/fs/cgroup
ip link set lo up
hostname rbt-guest

# Raw mode: no \r added to each line, nothing echoed back.
stty -F /dev/ttyS1 raw -echo 2>/dev/null
exec 3>/dev/ttyS1
mark() { echo "==rbt-guest== $*" >&3; }

# Copies a file to the results port, ending it with a newline if it lacks one.
relay() {
    cat "$1" >&3
    if [ -s "$1" ] && [ -n "$(tail -c 1 "$1")" ]; then echo >&3; fi
}

mark ready "$(uname -r)"
while read -r name timeout; do
    mark begin "$name"
    start=$(cut -d ' ' -f 1 /proc/uptime)
    cd /tmp
    timeout -s KILL "$timeout" sh "/cases/$name" </dev/null >/tmp/stdout 2>/tmp/stderr
    code=$?
    cd /
    # What the case left running (an rbt whose shell was killed) must not see the next case.
    kill -9 -1 2>/dev/null
    end=$(cut -d ' ' -f 1 /proc/uptime)
    mark stdout
    relay /tmp/stdout
    mark stderr
    relay /tmp/stderr
    mark exit "$code" "$(awk "BEGIN { print $end - $start }")"
done </cases/list
mark done
sync
poweroff -f
