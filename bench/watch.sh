#!/usr/bin/env bash
# The targets of `ctnet watch` (issue 18), measured: time until a forward answers again after
# `nft flush ruleset` (p50/p95 over FLUSHES flushes) with 1 and with 1,000 containers present;
# after a deleted host route, a deleted container address, ip_forward=0; the watcher's idle
# CPU over IDLE seconds, its peak RSS and how long it takes to exit on SIGTERM.
#   bench/watch.sh [--levels 1,1000] [--flushes 50] [--repeats 20] [--idle 60]
#
# Like bench/run.sh it re-executes itself under `unshare -m -n`: its own network namespace is
# the host, /run/netns and all state live on private tmpfs mounts. The root network namespace is
# never touched. Times are from the moment the breaking command returned to the first answer
# of a forward, probed from an "upstream" namespace every 2 ms without starting a process
# ("answers"; each answer costs ~10 ms: socat forks per connection), and to the watcher's
# log line saying it repaired it ("repaired", from `ctnet watch --json`; timed from the start
# of the breaking command, which includes that command's own few milliseconds).
set -eu

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${CTNET_BIN:=$(cd "$here/.." && pwd)/build}"
export CTNET_BIN
LEVELS=1,1000 FLUSHES=50 REPEATS=20 IDLE=60
while [ $# -gt 0 ]; do
	case $1 in
	--levels) LEVELS=$2; shift 2 ;;
	--flushes) FLUSHES=$2; shift 2 ;;
	--repeats) REPEATS=$2; shift 2 ;;
	--idle) IDLE=$2; shift 2 ;;
	-h | --help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench/watch.sh: unknown argument \"$1\"" >&2; exit 2 ;;
	esac
done

if [ -z "${CTNET_BENCH_SANDBOX:-}" ]; then
	[ "$(id -u)" -eq 0 ] || { echo "bench/watch.sh: needs root (unshare -n, veth, nft)" >&2; exit 1; }
	export CTNET_BENCH_SANDBOX=1
	exec unshare -m -n --propagation private -- bash "$0" --levels "$LEVELS" --flushes "$FLUSHES" \
		--repeats "$REPEATS" --idle "$IDLE"
fi

scratch=$(mktemp -d /tmp/ctnet-bench.XXXXXX)
mount -t tmpfs -o mode=0755 tmpfs "$scratch"
# Loopback forwards by BPF: never on the machine's cgroups nor in its bpffs (a private
# bpffs; a CTNET_CGROUP that is no cgroup v2: the output-hook path).
mount -t bpf -o mode=0700 bpf /sys/fs/bpf 2>/dev/null || true
mkdir -p "$scratch/no-cgroup2"
export CTNET_CGROUP=$scratch/no-cgroup2
mkdir -p /run/netns
mount -t tmpfs -o mode=0755 tmpfs /run/netns
WPID= SPID=
cleanup() {
	kill $WPID $SPID 2>/dev/null || true
	for ns in /run/netns/*; do [ -e "$ns" ] && umount "$ns" 2>/dev/null; done
	umount /run/netns 2>/dev/null || true
	umount "$scratch" 2>/dev/null || true
	rmdir "$scratch" 2>/dev/null || true
}
trap cleanup EXIT
export CTNET_STATE_DIR=$scratch/state CTNET_RUN_DIR=$scratch/run CTNET_NIXOS_CONF_DIR=$scratch/conf
CTNET=$CTNET_BIN/ctnet
ip link set lo up
ip netns add upstream
ip -n upstream link set lo up
ip link add up0 type veth peer name eth0 netns upstream
ip addr add 192.0.2.1/24 dev up0
ip link set up0 up
ip -n upstream addr add 192.0.2.2/24 dev eth0
ip -n upstream link set eth0 up

cat >"$scratch/probe.py" <<'PY'
import ctypes, json, os, socket, subprocess, sys, time
libc = ctypes.CDLL(None, use_errno=True)
host, up = os.open("/proc/self/ns/net", os.O_RDONLY), os.open("/run/netns/upstream", os.O_RDONLY)
def answer():
    libc.setns(up, 0x40000000)
    s = socket.socket()
    libc.setns(host, 0x40000000)
    # A SYN sent while the path is broken is lost: retrying it after 20 ms (not the kernel's
    # 1 s, nor a 200 ms timeout) keeps the probe's own delay below the repair's.
    s.settimeout(0.02)
    try:
        s.connect(("192.0.2.1", 8080))
        s.settimeout(0.5)
        return s.recv(16).strip() == b"web"
    except OSError:
        return False
    finally:
        s.close()
n, gap, cmd, log = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4]
times, fixed, lost = [], [], 0
logf = open(log)
logf.seek(0, 2)
def repaired_at(since):
    # The watcher's first "repaired" line (--json: its wall-clock time) after the break.
    end = time.monotonic() + 2
    while time.monotonic() < end:
        for line in logf:
            try:
                o = json.loads(line)
            except ValueError:
                continue
            if o.get("event") == "repaired" and o["time"] >= since:
                return (o["time"] - since) * 1000
        time.sleep(0.01)
    return None
for i in range(n):
    w0 = time.time()  # the repair can be logged before the command's process has exited
    subprocess.run(cmd, shell=True, check=True)
    t0 = time.monotonic()
    while not answer():
        if time.monotonic() - t0 > 10:
            lost += 1
            break
        time.sleep(0.002)
    else:
        times.append((time.monotonic() - t0) * 1000)
    r = repaired_at(w0)
    if r is not None:
        fixed.append(r)
    time.sleep(gap)
def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, max(0, int((p * len(v) + 99) // 100) - 1))] if v else float("nan")
print("answers p50 %6.1f p95 %6.1f max %6.1f ms (%d, %d lost); repaired p50 %6.1f p95 %6.1f ms (%d logged)"
      % (pct(times, 50), pct(times, 95), pct(times, 100), len(times), lost, pct(fixed, 50), pct(fixed, 95), len(fixed)))
PY

present=0
IFS=, read -r -a levels <<<"$LEVELS"
for level in "${levels[@]}"; do
	if [ "$present" -eq 0 ]; then
		$CTNET up web --create-netns --forward tcp:8080:80 >/dev/null
		ip netns exec web socat TCP-LISTEN:80,fork,reuseaddr SYSTEM:'echo web' &
		SPID=$!
		present=1
		sleep 0.5
	fi
	t0=$(date +%s)
	while [ "$present" -lt "$level" ]; do
		$CTNET up "c$present" --create-netns --forward "tcp:$((20000 + present)):80" >/dev/null
		present=$((present + 1))
	done
	[ "$level" -gt 1 ] && echo "# $level containers up in $(($(date +%s) - t0)) s"
	$CTNET watch --json >"$scratch/watch.log" 2>&1 &
	WPID=$!
	for _ in $(seq 300); do grep -q '"ready"' "$scratch/watch.log" && break; sleep 0.1; done
	# The first pass checks everything: let it finish before breaking anything.
	sleep $((level > 100 ? 5 : 1))
	echo "== $level container(s), ctnet watch running"
	printf '%-34s ' "nft flush ruleset ($FLUSHES x):"; python3 "$scratch/probe.py" "$FLUSHES" 1.2 "nft flush ruleset" "$scratch/watch.log"
	printf '%-34s ' "host route deleted ($REPEATS x):"; python3 "$scratch/probe.py" "$REPEATS" 1.2 "ip route del 10.233.1.2 dev ve-web" "$scratch/watch.log"
	printf '%-34s ' "container address deleted ($REPEATS x):"; python3 "$scratch/probe.py" "$REPEATS" 1.2 "ip -n web addr del 10.233.1.2/32 dev eth0" "$scratch/watch.log"
	printf '%-34s ' "ip_forward=0 ($REPEATS x):"; python3 "$scratch/probe.py" "$REPEATS" 1.2 "sysctl -qw net.ipv4.ip_forward=0" "$scratch/watch.log"
	sleep 2
	# CPU time in ns (schedstat), not in 10 ms ticks: idle is a few ms a minute.
	c0=$(awk '{print $1}' /proc/$WPID/schedstat); sleep "$IDLE"; c1=$(awk '{print $1}' /proc/$WPID/schedstat)
	echo "idle CPU over $IDLE s: $(awk -v t=$((c1 - c0)) -v s="$IDLE" 'BEGIN{printf "%.4f %% (%.1f ms)", t/(s*1e7), t/1e6}'); peak RSS $(awk '/VmHWM/{print $2, $3}' /proc/$WPID/status)"
	t0=$(date +%s%N); kill -TERM $WPID; wait $WPID || true; WPID=
	echo "SIGTERM to exit: $(( ($(date +%s%N) - t0) / 1000000 )) ms (tests/netns/test_ctnet_watch.sh asserts only the exit 0)"
done
