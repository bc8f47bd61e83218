#!/usr/bin/env bash
# `make bench`: per-container up/down cost of ctnet vs the NixOS-style shell sequence, the CNI
# bridge+host-local+portmap plugins and a lower bound (ip -batch + nft -f), at 0, 1,000 and
# 5,000 containers already present. See bench/README.md.
# Then the data-plane part (bench/dataplane.py): new connections/s and bulk throughput through
# ctnet's NAT versus CNI portmap, a rule per forward and plain routing, with 0, 1,000 and 5,000
# other forwards present. Then `ctnet watch` (bench/watch.sh): time to heal after
# `nft flush ruleset`, a deleted route or address, ip_forward=0, with 1 and 1,000 containers;
# its idle CPU and peak RSS. Then `ctnet apply` (bench/apply.sh: from nothing, no-op, one
# change, at 1,000 and 5,000) and `ctnet doctor` (bench/doctor.sh: doctor vs status at 5,000,
# up with and without its warning), then bursts of containers started together and apply's
# removal at scale (bench/burst.sh), how close impairment comes to the rate and delay asked
# for (bench/impair.sh), and how fast BIRD withdraws a host that went away (bench/failover.sh).
# Each part runs in a sandbox of its own.
#   bench/run.sh [--quick] [--part setup|dataplane|watch|apply|doctor|burst|impair|failover|all] [--samples N] [--levels 0,1000,5000]
#                [--only ctnet,shell,cni,lb] [--dp-levels ..] [--dp-reps N] [--dp-only ..]
#                [--watch-levels 1,1000] [--watch-flushes N] [--watch-repeats N] [--watch-idle S]
#
# Like tests/netns/lib.sh, the script re-executes itself under `unshare -m -n`: its own network
# namespace plays the host, /run/netns and all state live on private tmpfs mounts, and
# everything vanishes when it exits. The root network namespace is never touched.
set -eu

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${CTNET_BIN:=$(cd "$here/.." && pwd)/build}"
export CTNET_BIN

case " $* " in
*" -h "* | *" --help "*) exec python3 "$here/bench.py" --help ;;
esac

if [ -z "${CTNET_BENCH_SANDBOX:-}" ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "bench: needs root (unshare -n, veth, nft); run as root" >&2
		exit 1
	fi
	if ! unshare -m -n true 2>/dev/null; then
		echo "bench: cannot create namespaces here (unshare -m -n failed)" >&2
		exit 1
	fi
	part=all prev= quick=
	# --watch-X V goes to bench/watch.sh as --X V; the rest to the other parts.
	rest=() wargs=()
	while [ $# -gt 0 ]; do
		case $1 in
		--watch-*) [ $# -ge 2 ] || { echo "bench: $1 needs a value" >&2; exit 2; }
			wargs+=("--${1#--watch-}" "$2"); shift 2; continue ;;
		--quick) quick=1 ;;
		esac
		[ "$prev" = --part ] && part=$1
		case $1 in --part=*) part=${1#--part=} ;; esac
		prev=$1
		rest+=("$1")
		shift
	done
	set -- "${rest[@]}"
	case $part in setup | dataplane | watch | apply | doctor | burst | impair | failover | all) ;; *)
		echo "bench: --part setup, dataplane, watch, apply, doctor, burst, impair, failover or all, not '$part'" >&2
		exit 2 ;;
	esac
	# --quick: the watcher with one container, 20 flushes, 10 s idle (about a minute).
	[ -n "$quick" ] && wargs=(--levels 1 --flushes 20 --repeats 10 --idle 10 "${wargs[@]}")
	# Both parts of one run write into the same results.json.
	BENCH_RUN_ID=$(date +%s%N)
	export BENCH_RUN_ID
	rc=0
	for p in setup dataplane watch apply doctor burst impair failover; do
		[ "$part" = all ] || [ "$part" = "$p" ] || continue
		case $p in
		# Each of these makes its own sandbox (watch.sh and apply.sh like this script,
		# doctor.sh through tests/netns/lib.sh) and prints its own table.
		watch) bash "$here/watch.sh" "${wargs[@]}" || rc=$? ;;
		apply) echo "# ctnet apply at scale (bench/apply.sh)"
			bash "$here/apply.sh" ${quick:+--quick} || rc=$? ;;
		doctor) echo "# ctnet doctor at scale (bench/doctor.sh)"
			if [ -n "$quick" ]; then bash "$here/doctor.sh" 1000 5 || rc=$?
			else bash "$here/doctor.sh" 5000 10 || rc=$?; fi ;;
		burst) echo "# bursts of containers and apply's removal (bench/burst.sh)"
			bash "$here/burst.sh" ${quick:+--quick} || rc=$? ;;
		impair) bash "$here/impair.sh" || rc=$? ;;
		failover) bash "$here/failover.sh" ${quick:+--quick} || rc=$? ;;
		*) CTNET_BENCH_SANDBOX=$p unshare -m -n --propagation private -- bash "$0" "$@" || rc=$? ;;
		esac
		[ $rc -eq 0 ] || exit $rc
	done
	exit 0
fi

# --- inside the sandbox: this netns is the "host" ---
scratch=$(mktemp -d /tmp/ctnet-bench.XXXXXX)
mount -t tmpfs -o mode=0755 tmpfs "$scratch"
mkdir -p /run/netns
mount -t tmpfs -o mode=0755 tmpfs /run/netns
cleanup() {
	# Namespaces die with their last reference: these mounts and this process.
	for ns in /run/netns/*; do [ -e "$ns" ] && umount "$ns" 2>/dev/null; done
	umount /run/netns 2>/dev/null
	umount "$scratch" 2>/dev/null
	rmdir "$scratch" 2>/dev/null
	return 0
}
trap cleanup EXIT

export CTNET_STATE_DIR=$scratch/state CTNET_RUN_DIR=$scratch/run
export CTNET_NIXOS_CONF_DIR=$scratch/nixos-containers BENCH_SCRATCH=$scratch
mkdir -p "$CTNET_NIXOS_CONF_DIR"
# Loopback forwards by BPF: never on the machine's cgroups nor in its bpffs. A private bpffs,
# and by default a cgroup that is no cgroup v2 (the output-hook path); the data plane's lobpf
# layout makes a cgroup of its own.
mount -t bpf -o mode=0700 bpf /sys/fs/bpf 2>/dev/null || true
mkdir -p "$scratch/no-cgroup2"
export CTNET_CGROUP=$scratch/no-cgroup2

if [ "$CTNET_BENCH_SANDBOX" = dataplane ]; then
	# Every layout builds its own host, upstream and container namespaces under /run/netns.
	ip link set lo up
	rc=0
	python3 "$here/dataplane.py" "$@" || rc=$?
	exit $rc
fi

# The uplink: veth up0 (192.0.2.1/24) to an "upstream" namespace (192.0.2.2/24) that plays the
# internet, so the benchmark can check each approach's forward and masquerade with traffic.
ip link set lo up
ip netns add upstream
ip -n upstream link set lo up
ip link add up0 type veth peer name eth0 netns upstream
ip addr add 192.0.2.1/24 dev up0
ip link set up0 up
ip -n upstream addr add 192.0.2.2/24 dev eth0
ip -n upstream link set eth0 up
# What NixOS's networking.nat sets; ctnet and the CNI bridge would set it themselves.
sysctl -qw net.ipv4.ip_forward=1

rc=0
python3 "$here/bench.py" "$@" || rc=$?
exit $rc
