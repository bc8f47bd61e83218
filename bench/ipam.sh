#!/usr/bin/env bash
# ctnet-ipam: cost of one alloc (a process per call) at 0 leases and at 10,000 leases.
# Runs in a tmpfs state dir when it can mount one (root, own mount namespace), else a
# temp dir. Prints the median of 30 allocs at each size and their ratio.
set -eu
: "${CTNET_BIN:=$(cd "$(dirname "$0")/.." && pwd)/build}"
IPAM=$CTNET_BIN/ctnet-ipam
N=${N:-10000}
if [ -z "${CTNET_BENCH_NS:-}" ] && [ "$(id -u)" -eq 0 ] && unshare -m true 2>/dev/null; then
	export CTNET_BENCH_NS=1
	exec unshare -m --propagation private -- bash "$0" "$@"
fi
dir=$(mktemp -d /tmp/ctnet-bench-ipam.XXXXXX)
trap 'umount "$dir" 2>/dev/null; rm -rf "$dir"' EXIT
[ -n "${CTNET_BENCH_NS:-}" ] && mount -t tmpfs -o mode=0755 tmpfs "$dir"
chmod 755 "$dir"
export CTNET_STATE_DIR=$dir/state CTNET_NIXOS_CONF_DIR=$dir/none

# median_ms PREFIX: 30 allocs of new names, each timed alone; prints the median in ms.
median_ms() {
	local i t0 t1
	for i in $(seq 30); do
		t0=$(date +%s%N)
		"$IPAM" alloc "$1$i" >/dev/null
		t1=$(date +%s%N)
		echo $(((t1 - t0) / 1000))
	done | sort -n | sed -n 15p | awk '{printf "%.3f", $1 / 1000}'
}

empty=$(median_ms a)
for n in $(seq 30); do "$IPAM" release "a$n"; done
t0=$(date +%s)
for i in $(seq "$N"); do "$IPAM" alloc "fill$i" >/dev/null; done
fill_s=$(($(date +%s) - t0))
full=$(median_ms b)
leases=$(ls "$CTNET_STATE_DIR/ipam/lease" | wc -l)
echo "ipam alloc, median of 30 (process per call):"
echo "  at 0 leases:      $empty ms"
echo "  at $N leases: $full ms   (filling took ${fill_s} s; $leases leases now)"
awk -v a="$empty" -v b="$full" 'BEGIN { printf "  ratio:            %.2f\n", b / a }'
