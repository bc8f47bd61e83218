# Sourced by every tests/netns/test_*.sh.
#
# The script re-executes itself under `unshare -m -n`: its own network namespace plays the
# "host", a private mount namespace gives it its own /run/netns (for `ip netns add` of
# containers and an "upstream"), and state lives in a tmpfs. Nothing touches the root
# network namespace; everything vanishes when the script exits.
#
# Assertions print "PASS what" or "FAIL what: saw X, expected Y"; the runner counts them.
set -u
# Debian's python3 first: a pyenv shim in PATH costs ~2 s per start, and the tests start
# hundreds of them.
[ -x /usr/bin/python3 ] && PATH=/usr/bin:$PATH

: "${CTNET_BIN:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build}"
export CTNET_BIN
IPAM=$CTNET_BIN/ctnet-ipam
NETD=$CTNET_BIN/ctnet-netd
NAT=$CTNET_BIN/ctnet-nat
CTNET=$CTNET_BIN/ctnet

if [ -z "${CTNET_SANDBOX:-}" ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "SKIP: needs root (unshare -n, veth, nft); run as root"
		exit 77
	fi
	if ! unshare -m -n true 2>/dev/null; then
		echo "SKIP: cannot create namespaces here (unshare -m -n failed)"
		exit 77
	fi
	export CTNET_SANDBOX=1 CTNET_OUTER_NETNS=$(readlink /proc/self/ns/net)
	exec unshare -m -n --propagation private -- bash "$0" "$@"
fi

# --- inside the sandbox: host netns + private mounts ---
T_SANDBOX=$(mktemp -d /tmp/ctnet-t.XXXXXX)
mount -t tmpfs -o mode=0755 tmpfs "$T_SANDBOX"
mkdir -p /run/netns
mount -t tmpfs -o mode=0755 tmpfs /run/netns
export CTNET_STATE_DIR=$T_SANDBOX/state CTNET_RUN_DIR=$T_SANDBOX/run
export CTNET_NIXOS_CONF_DIR=$T_SANDBOX/nixos-containers
# The host config (ctnet.conf(5)): none unless a test writes this file, whatever /etc holds.
export CTNET_CONF=$T_SANDBOX/ctnet.conf
T_TMP=$T_SANDBOX/tmp
mkdir -p "$T_TMP"
# Loopback forwards by BPF (ctnet-nat): never on the machine's cgroups nor in its bpffs. A
# private bpffs for this world, and by default a cgroup that is no cgroup v2 directory (the
# old IPv4 path); tests of the BPF path make a cgroup of their own and point CTNET_CGROUP there.
mount -t bpf -o mode=0700 bpf /sys/fs/bpf 2>/dev/null || true
mkdir -p "$T_SANDBOX/no-cgroup2"
export CTNET_CGROUP=$T_SANDBOX/no-cgroup2
ip link set lo up

_t_cleanup() {
	# Namespaces die with their last reference: the mounts below and this process.
	for ns in /run/netns/*; do [ -e "$ns" ] && umount "$ns" 2>/dev/null; done
	umount /run/netns 2>/dev/null
	umount "$T_SANDBOX" 2>/dev/null
	rmdir "$T_SANDBOX" 2>/dev/null
	return 0
}
trap _t_cleanup EXIT

T_PASS=0 T_FAIL=0
pass() { echo "PASS $*"; T_PASS=$((T_PASS + 1)); }
fail() { echo "FAIL $*"; T_FAIL=$((T_FAIL + 1)); }

# check WHAT CMD...: CMD must exit 0.
check() {
	local what=$1; shift
	local out
	if out=$("$@" 2>&1); then pass "$what"; else fail "$what: '$*' exited $?: $(echo "$out" | tail -n 3 | tr '\n' ' ')"; fi
}
# check_fails WHAT CMD...: CMD must exit non-zero.
check_fails() {
	local what=$1; shift
	local out
	if out=$("$@" 2>&1); then fail "$what: '$*' succeeded, expected failure: $(echo "$out" | tail -n 2 | tr '\n' ' ')"; else pass "$what"; fi
}
# check_eq WHAT GOT EXPECTED
check_eq() {
	if [ "$2" == "$3" ]; then pass "$1"; else fail "$1: saw '$2', expected '$3'"; fi
}
# check_match WHAT GOT REGEX
check_match() {
	if [[ "$2" =~ $3 ]]; then pass "$1"; else fail "$1: saw '$2', expected to match /$3/"; fi
}
# check_exit WHAT CODE CMD...: CMD must exit with CODE; its stderr is kept in $T_STDERR.
check_exit() {
	local what=$1 want=$2; shift 2
	"$@" >"$T_TMP/out" 2>"$T_TMP/err"
	local rc=$?
	T_STDERR=$(cat "$T_TMP/err")
	if [ "$rc" -eq "$want" ]; then pass "$what"; else fail "$what: exit $rc, expected $want; stderr: $(head -c 300 "$T_TMP/err")"; fi
}

# Waiting is not timing: what a test waits for must happen, however busy the machine (CI is
# 2 CPUs shared with others, make check-vm an emulated CPU); how fast it happens is measured by
# make bench, never asserted here. T_WAIT (CTNET_TEST_WAIT, default 60 s) only keeps a broken
# program from hanging the run. One exchange (connect, ask, answer) is guarded by T_CONN
# (CTNET_TEST_CONN, default 5 s; make check-vm's emulated CPU uses 20): a one-shot client is
# `timeout $T_CONN socat -T$T_IDLE -t$T_IDLE - ADDR </dev/null`, -t because socat otherwise gives
# the answer only 0.5 s after its stdin's EOF, less than a server forking a shell may take.
# The server side has the same timer: `socat -t$T_IDLE TCP-LISTEN:PORT,fork SYSTEM:'echo X'`,
# or the client's half-close (its stdin's EOF, at once) leaves the shell 0.5 s to answer
# before the server closes: an empty answer on a slow machine (in make check-vm's guest
# with the CPUs busy, 4 of 40 exchanges without -t, 0 of 40 with it).
T_WAIT=${CTNET_TEST_WAIT:-60}
T_CONN=${CTNET_TEST_CONN:-5}
T_IDLE=$((T_CONN > 3 ? T_CONN - 2 : 1))
t_now_ms() { echo $(($(date +%s%N) / 1000000)); }
# until_true SECONDS CMD...: until CMD succeeds; prints the milliseconds it took, or "timeout"
# (and fails) after SECONDS.
until_true() {
	local t0 end limit=$1; shift
	t0=$(t_now_ms) end=$(($(t_now_ms) + limit * 1000))
	while [ "$(t_now_ms)" -lt "$end" ]; do
		"$@" >/dev/null 2>&1 && { echo $(($(t_now_ms) - t0)); return 0; }
		sleep 0.01
	done
	echo timeout
	return 1
}

# wait_for CMD...: until_true for T_WAIT, quietly.
wait_for() { until_true "$T_WAIT" "$@" >/dev/null; }
gone() { ! kill -0 "$1" 2>/dev/null; } # gone PID: the process has exited

# wait_port NS PORT: until something listens on TCP or UDP PORT in namespace NS ("host":
# this one), T_WAIT at most.
wait_port() {
	local in=(ip netns exec "$1") end=$((SECONDS + T_WAIT))
	[ "$1" = host ] && in=()
	while [ $SECONDS -lt $end ]; do
		"${in[@]}" ss -Hlntu 2>/dev/null | grep -q "[:*]$2 " && return 0
		sleep 0.1
	done
	return 1
}

# A namespace named NAME, lo up.
mkns() {
	ip netns add "$1" && ip -n "$1" link set lo up
}

# A container NAME (a namespace) on a veth ve-NAME, routed: host 10.233.N.1 / fd42::N:1,
# container 10.233.N.2 / fd42::N:2.
mkct() { # NAME N
	local c=$1 n=$2
	mkns "$c"
	ip link add "ve-$c" type veth peer name eth0 netns "$c"
	ip addr add "10.233.$n.1/32" dev "ve-$c"
	ip -6 addr add "fd42::$n:1/128" dev "ve-$c" nodad
	ip link set "ve-$c" up
	ip route add "10.233.$n.2/32" dev "ve-$c"
	ip -6 route add "fd42::$n:2/128" dev "ve-$c"
	ip -n "$c" addr add "10.233.$n.2/32" dev eth0
	ip -n "$c" -6 addr add "fd42::$n:2/128" dev eth0 nodad
	ip -n "$c" link set eth0 up
	ip -n "$c" route add "10.233.$n.1/32" dev eth0
	ip -n "$c" route add default via "10.233.$n.1"
	ip -n "$c" -6 route add "fd42::$n:1/128" dev eth0
	ip -n "$c" -6 route add default via "fd42::$n:1"
}

# An "upstream" namespace playing the internet, linked to the host by a veth:
# host 192.0.2.1/24 on "up0", upstream 192.0.2.2/24, and IPv6 2001:db8::1/2 /64.
# (Documentation ranges, inside our own namespaces only.)
mk_upstream() {
	mkns upstream
	ip link add up0 type veth peer name eth0 netns upstream
	ip addr add 192.0.2.1/24 dev up0
	ip -6 addr add 2001:db8::1/64 dev up0 nodad
	ip link set up0 up
	ip -n upstream addr add 192.0.2.2/24 dev eth0
	ip -n upstream -6 addr add 2001:db8::2/64 dev eth0 nodad
	ip -n upstream link set eth0 up
}

# Snapshot of kernel state for "nothing changed" assertions.
snapshot_links() { ip -j link show | python3 -c 'import json,sys; print(sorted((l["ifname"],l.get("ifalias","")) for l in json.load(sys.stdin)))'; }
# Kernel-made IPv6 link-local addresses and routes appear on their own a moment after a link
# comes up; ctnet never makes them, so snapshots leave them out.
snapshot_addrs() { ip -j addr show | python3 -c 'import json,sys; print(sorted((l["ifname"],a["local"],a["prefixlen"]) for l in json.load(sys.stdin) for a in l.get("addr_info",[]) if not a["local"].startswith("fe80:")))'; }
snapshot_routes() { { ip -4 -j route show table all; ip -6 -j route show table all; } | python3 -c 'import json,sys
d=[r for line in sys.stdin for r in json.loads(line) if not r.get("dst","").startswith("fe80:")]
print(sorted(json.dumps(r, sort_keys=True) for r in d))'; }
snapshot_nft() { nft -j list ruleset 2>/dev/null | python3 -c 'import json,sys; d=json.load(sys.stdin); print(json.dumps([x for x in d["nftables"] if "metainfo" not in x], sort_keys=True))'; }
snapshot_state() { (cd "$CTNET_STATE_DIR" 2>/dev/null && find . -type f -o -type l | sort | while read -r f; do echo "$f $(readlink "$f" 2>/dev/null || md5sum < "$f")"; done); }

# Call at the end of every test script.
finish() {
	echo "# $(basename "$0"): $T_PASS passed, $T_FAIL failed"
	[ "$T_FAIL" -eq 0 ] && [ "$T_PASS" -gt 0 ]
	exit $?
}
