#!/usr/bin/env bash
# ctnet-netd vs the `ip` commands NixOS's container@ service runs: mean wall time of one
# container's up and down (a process per call for both), over 100 containers, with 0 and
# with 1,000 containers already plumbed. Reports, does not assert.
#   bench/netd.sh [ITERATIONS]     (CTNET_BIN: build dir, default build/)
# Re-executes itself under `unshare -m -n`: its own netns is the host, /run/netns is a
# private tmpfs; the root network namespace is never touched.
set -eu
: "${CTNET_BIN:=$(cd "$(dirname "$0")/.." && pwd)/build}"
NETD=$CTNET_BIN/ctnet-netd
ITER=${1:-100}
EXISTING=1000

if [ -z "${CTNET_BENCH_SANDBOX:-}" ]; then
	[ "$(id -u)" -eq 0 ] || { echo "bench/netd.sh: needs root (unshare -n, veth)" >&2; exit 1; }
	export CTNET_BENCH_SANDBOX=1
	exec unshare -m -n --propagation private -- bash "$0" "$@"
fi
mkdir -p /run/netns
mount -t tmpfs -o mode=0755 tmpfs /run/netns
trap 'for n in /run/netns/*; do umount "$n" 2>/dev/null; done; umount /run/netns' EXIT
ip link set lo up
for i in $(seq 1 "$ITER"); do ip netns add "b$i"; done

now() { date +%s%N; }
# A and B of container i (10.233.x.y pairs in 10.200/16 so the 1,000 existing ones don't clash).
ha() { echo "10.200.$(($1 / 200)).$(($1 % 200 + 1))"; }
la() { echo "10.201.$(($1 / 200)).$(($1 % 200 + 1))"; }

ctnet_up() { "$NETD" up "c$1" --netns "/run/netns/b$1" --host-address "$(ha "$1")" --local-address "$(la "$1")" >/dev/null; }
ctnet_down() { "$NETD" down "c$1"; }
# What nixos-container's start script does (privateNetwork, no bridge).
ip_up() {
	local i=$1 h l
	h=$(ha "$i") l=$(la "$i")
	ip link add "ve-c$i" type veth peer name eth0 netns "b$i"
	ip link set "ve-c$i" up
	ip addr add "$h" dev "ve-c$i"
	ip route add "$l" dev "ve-c$i"
	ip -n "b$i" link set lo up
	ip -n "b$i" link set eth0 up
	ip -n "b$i" addr add "$l" dev eth0
	ip -n "b$i" route add "$h" dev eth0
	ip -n "b$i" route add default via "$h"
}
ip_down() { ip link del "ve-c$1"; }

# run LABEL UPFN DOWNFN: mean up and down time in ms over ITER containers.
run() {
	local label=$1 up=$2 down=$3 i t0 tu=0 td=0
	for i in $(seq 1 "$ITER"); do
		t0=$(now); "$up" "$i"; tu=$((tu + $(now) - t0))
	done
	for i in $(seq 1 "$ITER"); do
		t0=$(now); "$down" "$i"; td=$((td + $(now) - t0))
	done
	awk -v l="$label" -v u="$tu" -v d="$td" -v n="$ITER" \
		'BEGIN { printf "%-34s up %7.2f ms   down %7.2f ms   up+down %7.2f ms\n", l, u / n / 1e6, d / n / 1e6, (u + d) / n / 1e6 }'
	[ "$(ip -br link | wc -l)" -eq "$base_links" ] || echo "  (warning: links left behind)"
}

level() {
	base_links=$(ip -br link | wc -l)
	echo "# $1 existing containers ($(ip -br link | wc -l) host links), mean of $ITER"
	run "ctnet-netd up/down" ctnet_up ctnet_down
	run "ip commands (NixOS sequence)" ip_up ip_down
}

level 0
# 1,000 existing containers: 10 namespaces with 100 pairs each (what grows is the host side).
for k in $(seq 1 10); do ip netns add "e$k"; done
for j in $(seq 1 $EXISTING); do
	k=$((j % 10 + 1))
	"$NETD" up "x$j" --netns "/run/netns/e$k" --ifname "e$((j / 10))" \
		--host-address "10.210.$((j / 200)).$((j % 200 + 1))" --local-address "10.211.$((j / 200)).$((j % 200 + 1))" >/dev/null
done
level $EXISTING
