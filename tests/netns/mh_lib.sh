# Sourced by the multi-host tests and bench/failover.sh after lib.sh: hosts h1..hN
# (namespaces) on a fabric bridge (namespace "fabric"), each with its own ctnet state,
# host configuration and BIRD 2 (from `ctnet bird-config`), and an "internet" namespace on
# the same fabric as every host's default route.
#
#   fabric 10.99.0.0/24 + fd99::/64: host i is 10.99.0.i / fd99::i, the internet .254 / ::fe
#   host i's pool: 10.244.i.0/24 (POOL) and fd00:244:i::/48 (POOL6), inside the
#   CLUSTER_CIDR 10.244.0.0/16 and fd00:244::/32
#
# Every bird runs inside its host's namespace with its own config, control socket and pid
# file, and is ended by its PID (mh_cleanup).

MH_HOSTS=""
MH_DIR=$T_SANDBOX/mh

mh_fabric() {
	mkdir -p "$MH_DIR"
	mkns fabric
	ip -n fabric link add br0 type bridge
	ip -n fabric link set br0 up
	mh_attach internet pi 254
}

# mh_attach NS PORT N: namespace NS (made here) on the fabric as 10.99.0.N and fd99::N (hex),
# its eth0 on bridge port PORT.
mh_attach() {
	mkns "$1"
	ip link add eth0 netns "$1" type veth peer name "$2" netns fabric
	ip -n fabric link set "$2" master br0 up
	ip -n "$1" addr add 10.99.0."$3"/24 dev eth0
	ip -n "$1" addr add fd99::"$(printf %x "$3")"/64 dev eth0 nodad
	ip -n "$1" link set eth0 up
}

# mh_host I: namespace hI on the fabric, its state dirs and host configuration.
mh_host() {
	local i=$1 h=h$1 d=$MH_DIR/h$1
	mh_attach "$h" p"$i" "$i"
	ip -n "$h" route add default via 10.99.0.254
	mkdir -p "$d/state" "$d/run"
	printf 'POOL=10.244.%s.0/24\nPOOL6=fd00:244:%s::/48\nCLUSTER_CIDR=10.244.0.0/16,fd00:244::/32\n' \
		"$i" "$i" >"$d/ctnet.conf"
	MH_HOSTS="$MH_HOSTS $i"
}

# on I CMD...: CMD in host I's network namespace with host I's ctnet state and configuration.
on() {
	local d=$MH_DIR/h$1 h=h$1
	shift
	nsenter --net=/run/netns/"$h" env CTNET_STATE_DIR="$d/state" CTNET_RUN_DIR="$d/run" \
		CTNET_CONF="$d/ctnet.conf" "$@"
}

# mh_bird_config I: host I's bird.conf from ctnet bird-config, every other host a neighbor.
mh_bird_config() {
	local i=$1 j args=()
	for j in $MH_HOSTS; do [ "$j" = "$i" ] || args+=(--neighbor 10.99.0."$j"); done
	on "$i" "$CTNET" bird-config --source 10.99.0."$i" "${args[@]}" >"$MH_DIR/h$i/bird.conf"
}

# mh_bird_start I: host I's bird (daemonized; its PID in h$I/bird.pid once it runs).
mh_bird_start() {
	local d=$MH_DIR/h$1
	rm -f "$d/bird.pid"
	nsenter --net=/run/netns/h"$1" bird -c "$d/bird.conf" -s "$d/bird.ctl" -P "$d/bird.pid" &&
		wait_for test -s "$d/bird.pid"
}

mh_bird_pid() { cat "$MH_DIR/h$1/bird.pid" 2>/dev/null; }

# mh_bird_stop I [SIGNAL]: host I's bird ended by its PID, waited for (default TERM).
mh_bird_stop() {
	local pid
	pid=$(mh_bird_pid "$1") || return 0
	[ -n "$pid" ] || return 0
	kill -"${2:-TERM}" "$pid" 2>/dev/null
	[ "${2:-TERM}" = STOP ] || wait_for gone "$pid"
}

# mh_route I NET: host I's kernel route to NET as "PROTO GATEWAY", or "" when there is none.
mh_route() {
	ip -n h"$1" -j route show exact "$2" 2>/dev/null | python3 -c 'import json,sys
r=json.load(sys.stdin); print(" ".join((r[0].get("protocol",""), r[0].get("gateway",""))) if r else "")'
}
# Polled: ip alone, no python.
mh_has_route() { [ -n "$(ip -n h"$1" route show exact "$2" 2>/dev/null)" ]; }
mh_no_route() { [ -z "$(ip -n h"$1" route show exact "$2" 2>/dev/null)" ]; }

mh_cleanup() {
	local i pid
	for i in $MH_HOSTS; do
		pid=$(mh_bird_pid "$i")
		[ -n "$pid" ] && { kill -CONT "$pid"; kill -TERM "$pid"; } 2>/dev/null
	done
	return 0
}
