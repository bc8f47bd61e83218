#!/usr/bin/env bash
# ctnet demo: a throwaway world in namespaces — a "host", an "upstream" playing the
# internet, three containers (point-to-point with a port forward, IPv6, bridge mode) —
# real traffic through ctnet's NAT, then everything torn down. The machine's own network
# namespace is never touched: this script re-executes itself under `unshare -m -n`.
set -euo pipefail
: "${CTNET_BIN:=$(cd "$(dirname "$0")/.." && pwd)/build}"
export CTNET_BIN
if [ -z "${CTNET_DEMO_SANDBOX:-}" ]; then
	[ "$(id -u)" -eq 0 ] || { echo "demo: run as root (it creates namespaces)" >&2; exit 1; }
	export CTNET_DEMO_SANDBOX=1
	exec unshare -m -n --propagation private -- bash "$0" "$@"
fi
PATH=$CTNET_BIN:$PATH
scratch=$(mktemp -d /tmp/ctnet-demo.XXXXXX)
mount -t tmpfs -o mode=0755 tmpfs "$scratch"
# Loopback forwards by BPF: never on the machine's cgroups nor in its bpffs (a private
# bpffs; a CTNET_CGROUP that is no cgroup v2: the output-hook path).
mount -t bpf -o mode=0700 bpf /sys/fs/bpf 2>/dev/null || true
mkdir -p "$scratch/no-cgroup2"
export CTNET_CGROUP=$scratch/no-cgroup2
mkdir -p /run/netns
mount -t tmpfs -o mode=0755 tmpfs /run/netns
export CTNET_STATE_DIR=$scratch/state CTNET_RUN_DIR=$scratch/run CTNET_NIXOS_CONF_DIR=$scratch/nixos
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for ns in /run/netns/*; do [ -e "$ns" ] && umount "$ns" 2>/dev/null; done
	umount /run/netns "$scratch" 2>/dev/null || true
	rmdir "$scratch" 2>/dev/null || true
}
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

say "A world of our own: this shell's namespace is the host; 'upstream' plays the internet"
ip link set lo up
ip netns add upstream
ip -n upstream link set lo up
ip link add up0 type veth peer name eth0 netns upstream
ip addr add 192.0.2.1/24 dev up0 && ip link set up0 up
ip -n upstream addr add 192.0.2.2/24 dev eth0 && ip -n upstream link set eth0 up
# upstream's web server answers with the address it sees the client as
ip netns exec upstream socat TCP-LISTEN:80,fork,reuseaddr SYSTEM:'echo upstream sees you as $SOCAT_PEERADDR' &
pids+=($!)
echo "host up0 192.0.2.1/24 <-> upstream 192.0.2.2/24 (a web server on :80)"

say "Three containers"
run ctnet up web --create-netns --forward tcp:8080:80
run ctnet up db --create-netns --ipv6
run ctnet-netd bridge add br0 --address 10.233.200.1/24
run ctnet up app --create-netns --bridge br0 --pool 10.233.200.0/24

say "A web server inside container 'web' on port 80"
ip netns exec web socat TCP-LISTEN:80,fork,reuseaddr SYSTEM:'echo hello from container web - you are $SOCAT_PEERADDR' &
pids+=($!)
sleep 0.3

say "Traffic"
for c in web db app; do
	printf '%-4s -> upstream: ' "$c"
	ip netns exec "$c" timeout 5 socat -T3 - TCP:192.0.2.2:80 </dev/null
done
printf 'upstream -> host:8080 -> web:80: '
ip netns exec upstream timeout 5 socat -T3 - TCP:192.0.2.1:8080 </dev/null
printf 'host -> 127.0.0.1:8080 -> web:80: '
timeout 5 socat -T3 - TCP:127.0.0.1:8080 </dev/null
db6=$(ctnet status db --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["local_address6"].split("/")[0])')
run ip netns exec web ping -c1 -W2 "$(ctnet status db --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["local_address"].split("/")[0])')" | tail -2
run ping -6 -c1 -W2 "$db6" | tail -2

say "ctnet status"
run ctnet status
say "ctnet-nat list"
run ctnet-nat list

say "Tear down"
run ctnet down web
run ctnet down db
run ctnet down app
run ctnet-netd bridge del br0

say "Nothing left behind"
run ctnet status
echo "host links: $(ip -br link | awk '{print $1}' | tr '\n' ' ')"
echo "leases: $(ctnet-ipam list --json)"
echo "nft elements in ctnet's table:"
nft list table inet ctnet 2>/dev/null | grep -E 'elements' || echo "  (none)"
echo "named namespaces: $(ls /run/netns | tr '\n' ' ')"
left=$(ip -br link | awk '{print $1}' | grep -E '^(ve|vb)-' || true)
[ -z "$left" ] || { echo "demo: links left behind: $left" >&2; exit 1; }
say "Demo done"
