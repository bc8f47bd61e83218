#!/usr/bin/env bash
# ctnet-nat cost per operation at 10 and at 5,000 existing containers: `add` (with one
# forward), `forward add`, `del`, and `list` at 5,000. Runs in its own network and mount
# namespace with a tmpfs state dir; the 5,000 are written as state files and loaded by one
# `ctnet-nat restore` (one transaction). Usage: bench/nat.sh [REPS] (CTNET_BIN: build dir)
set -eu
if [ -z "${CTNET_BENCH_INNER:-}" ]; then
	[ "$(id -u)" -eq 0 ] || { echo "bench/nat.sh: needs root (unshare -n)"; exit 77; }
	export CTNET_BENCH_INNER=1
	exec unshare -m -n --propagation private -- bash "$0" "$@"
fi
: "${CTNET_BIN:=$(cd "$(dirname "$0")/.." && pwd)/build}"
NAT=$CTNET_BIN/ctnet-nat
REPS=${1:-20}
tmp=$(mktemp -d /tmp/ctnet-bench.XXXXXX)
mount -t tmpfs -o mode=0755 tmpfs "$tmp"
# Loopback forwards by BPF: never on the machine's cgroups nor in its bpffs (a private
# bpffs; a CTNET_CGROUP that is no cgroup v2: the output-hook path).
mount -t bpf -o mode=0700 bpf /sys/fs/bpf 2>/dev/null || true
mkdir -p "$tmp/no-cgroup2"
export CTNET_CGROUP=$tmp/no-cgroup2
trap 'umount "$tmp"; rmdir "$tmp"' EXIT
ip link set lo up

now() { date +%s%N; }
# avg_ms CMD...: runs CMD (with $i substituted by the caller) REPS times, prints avg ms.
populate() { # N: state for containers b0..b(N-1), then one restore
	local n=$1 d=$CTNET_STATE_DIR/nat
	mkdir -p "$d/containers" "$d/ports"
	for ((i = 0; i < n; i++)); do
		printf 'ADDRESS=10.%d.%d.2\nIFACE=ve-b%d\nFORWARD=tcp:%d:80\n' \
			$((100 + i / 250)) $((i % 250)) "$i" $((20000 + i)) >"$d/containers/b$i"
		ln -s "b$i" "$d/ports/tcp-$((20000 + i))"
	done
	"$NAT" restore
}
measure() { # prints "add fwd del" average ms over REPS new containers
	local t0 t1 add=0 fwd=0 del=0
	for ((r = 0; r < REPS; r++)); do
		t0=$(now); "$NAT" add "x$r" --address "10.250.$r.2" --iface "ve-x$r" --forward "tcp:$((40000 + r)):80"; t1=$(now)
		add=$((add + t1 - t0))
		t0=$(now); "$NAT" forward add "x$r" "udp:$((40000 + r)):53"; t1=$(now)
		fwd=$((fwd + t1 - t0))
	done
	for ((r = 0; r < REPS; r++)); do
		t0=$(now); "$NAT" del "x$r"; t1=$(now)
		del=$((del + t1 - t0))
	done
	echo "$((add / REPS / 1000)) $((fwd / REPS / 1000)) $((del / REPS / 1000))"
}
us() { printf '%d.%02d' $(($1 / 1000)) $((($1 % 1000) / 10)); }

for n in 10 5000; do
	export CTNET_STATE_DIR=$tmp/state-$n
	nft flush ruleset
	t0=$(now); populate "$n"; t1=$(now)
	restore_us[$n]=$(((t1 - t0) / 1000))
	read -r a f d <<<"$(measure)"
	add[$n]=$a fwd[$n]=$f del[$n]=$d
	t0=$(now); "$NAT" list >/dev/null; t1=$(now)
	list[$n]=$(((t1 - t0) / 1000))
	t0=$(now); "$NAT" check >/dev/null; t1=$(now)
	check[$n]=$(((t1 - t0) / 1000))
done

ratio() { python3 -c "print(f'{$2/$1:.2f}x')"; }
echo "ctnet-nat per operation (ms, average of $REPS, whole process incl. startup)"
printf '%-22s %12s %12s %10s\n' operation "10 ctrs" "5000 ctrs" ratio
for op in add fwd del; do
	declare -n v=$op
	label=$op; [ $op = add ] && label="add (+1 forward)"; [ $op = fwd ] && label="forward add"
	printf '%-22s %12s %12s %10s\n' "$label" "$(us "${v[10]}")" "$(us "${v[5000]}")" "$(ratio "${v[10]}" "${v[5000]}")"
done
printf '%-22s %12s %12s %10s\n' "list" "$(us "${list[10]}")" "$(us "${list[5000]}")" "$(ratio "${list[10]}" "${list[5000]}")"
printf '%-22s %12s %12s %10s\n' "check" "$(us "${check[10]}")" "$(us "${check[5000]}")" "$(ratio "${check[10]}" "${check[5000]}")"
printf '%-22s %12s %12s %10s\n' "populate+restore" "$(us "${restore_us[10]}")" "$(us "${restore_us[5000]}")" "$(ratio "${restore_us[10]}" "${restore_us[5000]}")"
