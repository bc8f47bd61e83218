#!/usr/bin/env bash
# `ctnet apply` at scale, in one run (ratios, not absolute targets):
#   - from nothing to N containers (netns, veth, addresses, routes, masquerade, one forward
#     each) with one `ctnet apply`, against N x `ctnet up NAME --create-netns --config FILE`;
#   - a no-op apply of the N, and one changed file among them; peak RSS of apply.
# bench/apply.sh [--quick] [--n N] [--noop-n M]   (default N=1000, M=5000; --quick: 200 / 1000)
# Like bench/run.sh it re-executes itself under `unshare -m -n`: the root namespace is never
# touched. Results: bench/apply-results.json.
set -eu
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${CTNET_BIN:=$(cd "$here/.." && pwd)/build}"
export CTNET_BIN
N=1000 NOOP=5000
while [ $# -gt 0 ]; do
	case $1 in
	--quick) N=200 NOOP=1000 ;;
	--n) N=$2; shift ;;
	--noop-n) NOOP=$2; shift ;;
	*) echo "usage: bench/apply.sh [--quick] [--n N] [--noop-n M]" >&2; exit 2 ;;
	esac
	shift
done
if [ -z "${CTNET_BENCH_SANDBOX:-}" ]; then
	[ "$(id -u)" -eq 0 ] || { echo "bench/apply.sh: needs root" >&2; exit 1; }
	export CTNET_BENCH_SANDBOX=1
	exec unshare -m -n --propagation private -- bash "$0" --n "$N" --noop-n "$NOOP"
fi
scratch=$(mktemp -d /tmp/ctnet-bench-apply.XXXXXX)
mount -t tmpfs -o mode=0755 tmpfs "$scratch"
# Loopback forwards by BPF: never on the machine's cgroups nor in its bpffs (a private
# bpffs; a CTNET_CGROUP that is no cgroup v2: the output-hook path).
mount -t bpf -o mode=0700 bpf /sys/fs/bpf 2>/dev/null || true
mkdir -p "$scratch/no-cgroup2"
export CTNET_CGROUP=$scratch/no-cgroup2
mkdir -p /run/netns
mount -t tmpfs -o mode=0755 tmpfs /run/netns
cleanup() {
	for ns in /run/netns/*; do [ -e "$ns" ] && umount "$ns" 2>/dev/null; done
	umount /run/netns 2>/dev/null; umount "$scratch" 2>/dev/null; rmdir "$scratch" 2>/dev/null
	return 0
}
trap cleanup EXIT
export CTNET_STATE_DIR=$scratch/state CTNET_RUN_DIR=$scratch/run CTNET_NIXOS_CONF_DIR=$scratch/none
ip link set lo up
C=$CTNET_BIN/ctnet
D=$scratch/d
mkdir -p "$D"
mkconfs() { for i in $(seq 1 "$1"); do printf 'PRIVATE_NETWORK=1\nHOST_PORT=tcp:%d:80\n' $((20000 + i)) >"$D/c$i.conf"; done; }
now() { date +%s%N; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f\n", (b - a) / 1000000 }'; }
rss() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -n 1; }
reachable() { # every container's address answers a ping from the host (sampled: 1 in 10)
	local bad=0
	for i in $(seq 1 10 "$1"); do
		a=$(sed -n 's/^LOCAL_ADDRESS=//p' "$CTNET_RUN_DIR/containers/c$i")
		ping -c1 -W1 "${a%/*}" >/dev/null 2>&1 || bad=$((bad + 1))
	done
	echo $bad
}

mkconfs "$N"
t0=$(now); $C apply "$D" >/dev/null; t1=$(now)
apply_ms=$(ms "$t0" "$t1")
unreach=$(reachable "$N")
elems=$(nft -j list map inet ctnet fwd4 | python3 -c 'import json,sys; print(sum(len(x["map"].get("elem",[])) for x in json.load(sys.stdin)["nftables"] if "map" in x))')
t0=$(now); $C apply "$D" >/dev/null; t1=$(now)
noop_ms=$(ms "$t0" "$t1")
rm -f "$D"/*.conf
t0=$(now); $C apply "$D" >/dev/null; t1=$(now)
rm_ms=$(ms "$t0" "$t1")

# The same N one `ctnet up --config` at a time.
mkconfs "$N"
t0=$(now)
for i in $(seq 1 "$N"); do $C up "c$i" --create-netns --config "$D/c$i.conf" >/dev/null; done
t1=$(now)
ups_ms=$(ms "$t0" "$t1")
for i in $(seq 1 "$N"); do $C down "c$i"; done

# No-op apply and its RSS with NOOP containers (median of 5), --deep beside it; one changed
# file among them (a forward added and removed in turn, median of 4), and that change alone
# (the same edit of a hand-made container by `ctnet up`): the difference is what the plan
# costs on top.
rm -f "$D"/*.conf; mkconfs "$NOOP"
$C apply "$D" >/dev/null
# As on a host, where the next apply comes long after the files were written: files older
# than 2 s enter apply's index (this apply writes it), and the no-ops stat them instead of
# reading them. The N no-op above ran right after its files were written: read in full.
sleep 2.5
$C apply "$D" >/dev/null
med() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
noop_big_ms=$(for _ in 1 2 3 4 5; do t0=$(now); $C apply "$D" >/dev/null; t1=$(now); ms "$t0" "$t1"; done | med)
deep_ms=$(for _ in 1 2 3; do t0=$(now); $C apply --deep "$D" >/dev/null; t1=$(now); ms "$t0" "$t1"; done | med)
rss_kb=$(rss $C apply "$D")
flip() { # the k-th edit of c1: a second forward on and off
	if [ $(($1 % 2)) -eq 1 ]; then printf 'PRIVATE_NETWORK=1\nHOST_PORT="tcp:%d:80,tcp:%d:81"\n' 20001 40001 >"$D/c1.conf"
	else printf 'PRIVATE_NETWORK=1\nHOST_PORT=tcp:%d:80\n' 20001 >"$D/c1.conf"; fi
}
one_ms=$(for k in 1 2 3 4; do flip $k; t0=$(now); $C apply "$D" >/dev/null 2>&1; t1=$(now); ms "$t0" "$t1"; done | med)
$C up hx --create-netns --forward tcp:45000:80 >/dev/null # the same edit by hand, beside them
hx() { if [ $(($1 % 2)) -eq 1 ]; then $C up hx --create-netns --forward tcp:45000:80 --forward tcp:45001:81
	else $C up hx --create-netns --forward tcp:45000:80; fi >/dev/null 2>&1; }
alone_ms=$(for k in 1 2 3 4; do t0=$(now); hx $k; t1=$(now); ms "$t0" "$t1"; done | med)
ratio=$(awk -v a="$apply_ms" -v b="$ups_ms" 'BEGIN { printf "%.2f", a / b }')
cat <<EOF
apply from nothing to $N containers: $apply_ms ms ($unreach of $(( (N + 9) / 10 )) sampled unreachable; $elems fwd4 elements)
$N x ctnet up --config:               $ups_ms ms
ratio apply / ups:                    ${ratio}x   (target <= 0.5x; absolute target <= 2000 ms)
no-op apply, $N containers:           $noop_ms ms   (files just written: each read in full)
no-op apply, $NOOP containers:        $noop_big_ms ms   (target <= 150 ms; files indexed: a stat each)
no-op apply --deep, $NOOP containers: $deep_ms ms   (also inside every namespace)
one changed file among $NOOP:         $one_ms ms   (the change alone: $alone_ms ms)
removing all $N (empty DIR):          $rm_ms ms
peak RSS of a no-op apply at $NOOP:   $((rss_kb / 1024)) MB   (target <= 32 MB)
EOF
cat >"$here/apply-results.json" <<EOF
{"n": $N, "apply_ms": $apply_ms, "ups_ms": $ups_ms, "ratio": $ratio, "unreachable_sampled": $unreach,
 "noop_ms": $noop_ms, "noop_n": $NOOP, "noop_big_ms": $noop_big_ms, "noop_deep_ms": $deep_ms,
 "one_change_ms": $one_ms, "one_change_alone_ms": $alone_ms, "remove_all_ms": $rm_ms, "rss_kb": $rss_kb}
EOF
