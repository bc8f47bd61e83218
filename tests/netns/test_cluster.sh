#!/usr/bin/env bash
# Several hosts: two "hosts" (namespaces h1, h2, each with its own ctnet state and its own
# ctnet.conf: different POOL, the same CLUSTER_CIDR) on a fabric bridge with static routes to
# each other's pools (BIRD's part is tested elsewhere), and an "internet" namespace. A
# container reaches another host's container with its own address; the internet still sees
# the host's; forwards and hairpin work with the pool inside the cluster CIDR; the sets hold
# the CIDRs and come back after `nft flush ruleset`; a bad host config changes nothing.
. "$(dirname "$0")/lib.sh"

# --- the world: fabric bridge, two hosts, the internet ---
mkns fab
ip -n fab link add br0 type bridge
ip -n fab link set br0 up
i=0
for ns in h1 h2 inet; do
	i=$((i + 1))
	mkns "$ns"
	ip -n fab link add "p-$ns" type veth peer name fab0 netns "$ns"
	ip -n fab link set "p-$ns" master br0 up
	ip -n "$ns" link set fab0 up
done
ip -n h1 addr add 172.16.0.1/24 dev fab0
ip -n h2 addr add 172.16.0.2/24 dev fab0
ip -n inet addr add 172.16.0.100/24 dev fab0
ip -n h1 route add default via 172.16.0.100
ip -n h2 route add default via 172.16.0.100
ip -n h1 route add 10.2.0.0/16 via 172.16.0.2 proto static
ip -n h2 route add 10.1.0.0/16 via 172.16.0.1 proto static
for h in h1 h2; do
	mkdir -p "$T_SANDBOX/$h"
	printf '# host %s\nPOOL=10.%s.0.0/16\nCLUSTER_CIDR=10.0.0.0/8\nCLUSTER_CIDR=fd00:ab::/32\n' "$h" "${h#h}" \
		>"$T_SANDBOX/$h.conf"
done
# on HOST CMD...: CMD in HOST's network namespace with HOST's ctnet state and config
# ($CONF_OVERRIDE instead when set; the mount namespace stays: /run/netns is shared by both
# hosts' containers).
on() {
	local h=$1; shift
	nsenter --net=/run/netns/$h env CTNET_STATE_DIR="$T_SANDBOX/$h/state" CTNET_RUN_DIR="$T_SANDBOX/$h/run" \
		CTNET_CONF="${CONF_OVERRIDE:-$T_SANDBOX/$h.conf}" "$@"
}
# on_exec HOST CMD...: the same, replacing the shell (for `on_exec ... &`: $! is CMD itself).
on_exec() {
	local h=$1; shift
	exec nsenter --net=/run/netns/$h env CTNET_STATE_DIR="$T_SANDBOX/$h/state" CTNET_RUN_DIR="$T_SANDBOX/$h/run" \
		CTNET_CONF="${CONF_OVERRIDE:-$T_SANDBOX/$h.conf}" "$@"
}
ask() { # NS ADDR PORT: what the listener there answers
	ip netns exec "$1" timeout $T_CONN socat -T$T_IDLE -t$T_IDLE - "TCP:$2:$3" </dev/null 2>/dev/null
}
pids=()
listen() { # NS PORT: a listener that answers with the peer's address
	ip netns exec "$1" socat -t$T_IDLE TCP-LISTEN:"$2",fork,reuseaddr SYSTEM:'echo $SOCAT_PEERADDR' &
	pids+=($!)
	wait_port "$1" "$2"
}
trap 'kill "${pids[@]}" 2>/dev/null; _t_cleanup' EXIT

# --- a container on each host; the pools come from each host's POOL ---
out1=$(on h1 $CTNET up c1 --create-netns --forward tcp:8080:80)
out2=$(on h2 $CTNET up c2 --create-netns)
out3=$(on h1 $CTNET up c3 --create-netns)
check_eq "h1's container from h1's POOL" "$(echo "$out1" | sed -n 's/^LOCAL_ADDRESS=//p')" "10.1.1.2"
check_eq "h2's container from h2's POOL" "$(echo "$out2" | sed -n 's/^LOCAL_ADDRESS=//p')" "10.2.1.2"
check_eq "a second container on h1" "$(echo "$out3" | sed -n 's/^LOCAL_ADDRESS=//p')" "10.1.2.2"
listen c2 7000
listen c1 80
listen inet 7000

check_eq "h1 -> h2 container to container: the peer sees the real source" "$(ask c1 10.2.1.2 7000)" "10.1.1.2"
check_eq "the internet sees h1's address (masqueraded)" "$(ask c1 172.16.0.100 7000)" "172.16.0.1"
check_eq "h2's container to the internet: h2's address" "$(ask c2 172.16.0.100 7000)" "172.16.0.2"
check_eq "forward from the internet: inet -> h1:8080 -> c1:80" "$(ask inet 172.16.0.1 8080)" "172.16.0.100"
check_eq "hairpin (pool inside the cluster CIDR): c3 -> h1:8080 -> c1, masqueraded by h1" \
	"$(ask c3 172.16.0.1 8080)" "10.1.1.1"
check_eq "another host's container through the forward: c2 -> h1:8080 -> c1" "$(ask c2 172.16.0.1 8080)" "172.16.0.2"

# --- POOL6: the IPv6 /48 of new leases; leases from the random ULA keep theirs ---
printf 'POOL=10.1.0.0/16\n' >"$T_TMP/nopool6.conf"
printf 'POOL=10.1.0.0/16\nPOOL6=fd42:0:1::/48\n' >"$T_TMP/pool6.conf"
old6=$(CONF_OVERRIDE=$T_TMP/nopool6.conf on h1 $IPAM alloc v6old --ipv6 | sed -n 's/^LOCAL_ADDRESS6=//p')
check_match "without POOL6: the random ULA /48" "$old6" '^fd[0-9a-f]{2}:'
ula=$(cat "$T_SANDBOX/h1/state/ipam/ula6")
new6=$(CONF_OVERRIDE=$T_TMP/pool6.conf on h1 $IPAM alloc v6new --ipv6 | sed -n 's/^LOCAL_ADDRESS6=//p')
check_match "with POOL6: a new lease inside it (the /48, then the IPv4 address)" "$new6" '^fd42:0:1::a01:'
check_eq "with POOL6: the old lease keeps its address" \
	"$(CONF_OVERRIDE=$T_TMP/pool6.conf on h1 $IPAM alloc v6old --ipv6 | sed -n 's/^LOCAL_ADDRESS6=//p')" "$old6"
check_eq "with POOL6: ipam/ula6 left alone" "$(cat "$T_SANDBOX/h1/state/ipam/ula6")" "$ula"
on h1 $IPAM release v6old; on h1 $IPAM release v6new

# --- the sets ---
set_elems() { # HOST SET: its elements as nft -j gives them
	ip netns exec "$1" nft -j list set inet ctnet "$2" | python3 -c 'import json,sys
for x in json.load(sys.stdin)["nftables"]:
	if "set" in x: print(" ".join("%s/%s" % (e["prefix"]["addr"], e["prefix"]["len"]) if isinstance(e, dict) else e for e in x["set"].get("elem", [])))'
}
check_eq "h1's cluster4 holds the IPv4 cluster CIDR" "$(set_elems h1 cluster4)" "10.0.0.0/8"
check_eq "h1's cluster6 holds the IPv6 one" "$(set_elems h1 cluster6)" "fd00:ab::/32"
check_eq "h2's cluster4 too" "$(set_elems h2 cluster4)" "10.0.0.0/8"
check_match "recorded in h1's NAT config" "$(cat "$T_SANDBOX/h1/state/nat/config")" "CLUSTER_CIDR=10.0.0.0/8"
check "h1: check in sync" on h1 $NAT check

# --- drift: an element removed, then the whole ruleset ---
ip netns exec h1 nft delete element inet ctnet cluster4 '{ 10.0.0.0/8 }'
check_exit "h1: a cluster CIDR removed is drift" 1 on h1 $NAT check
check_match "check names it" "$(on h1 $NAT check)" "missing element cluster4 10.0.0.0/8"
check_eq "meanwhile h1's container reaches h2 masqueraded" "$(ask c1 10.2.1.2 7000)" "172.16.0.1"
check_match "status sees it too" "$(on h1 $CTNET status --json | python3 -c 'import json,sys
print(sorted(set(f["text"] for c in json.load(sys.stdin) for f in c.get("faults", []))))')" \
	"cluster sets differ from the recorded cluster CIDRs"
check "h1: restore" on h1 $NAT restore
check_eq "restore puts the element back" "$(set_elems h1 cluster4)" "10.0.0.0/8"
ip netns exec h1 nft flush ruleset
check "h1: restore after nft flush ruleset" on h1 $NAT restore
check_eq "the sets are back after a flush" "$(set_elems h1 cluster4) $(set_elems h1 cluster6)" "10.0.0.0/8 fd00:ab::/32"
check "h1: in sync again" on h1 $NAT check
check_eq "after restore: the real source again" "$(ask c1 10.2.1.2 7000)" "10.1.1.2"
check_eq "after restore: the internet still sees h1's address" "$(ask c1 172.16.0.100 7000)" "172.16.0.1"

# --- ctnet watch puts a removed cluster CIDR back ---
on_exec h1 $CTNET watch >"$T_TMP/watch.log" 2>&1 &
WPID=$!
pids+=($WPID)
check "h1: the watcher is ready" until_true "$T_WAIT" grep -q "^ctnet watch: ready" "$T_TMP/watch.log"
ip netns exec h1 nft delete element inet ctnet cluster4 '{ 10.0.0.0/8 }'
check "watch puts the cluster CIDR back" wait_for sh -c "ip netns exec h1 nft -j list set inet ctnet cluster4 | grep -q '\"addr\": \"10.0.0.0\"'"
check "h1: in sync after the watcher's repair" wait_for on h1 $NAT check
kill "$WPID"; wait "$WPID" 2>/dev/null
check "the watcher has stopped" gone "$WPID"

# --- isolation keeps working: containers of one host apart, the cluster open ---
check "h1: init --isolate" on h1 $NAT init --isolate
check_fails "isolated: c3 does not reach c1 directly" ask c3 10.1.1.2 80
check_eq "isolated: c3 reaches c1 through the forward" "$(ask c3 172.16.0.1 8080)" "10.1.1.1"
check_eq "isolated: c1 still reaches h2's container with its own address" "$(ask c1 10.2.1.2 7000)" "10.1.1.2"
check "h1: init --no-isolate" on h1 $NAT init --no-isolate
check_eq "init kept the cluster CIDRs" "$(set_elems h1 cluster4)" "10.0.0.0/8"

# --- an option that disagrees with the file is refused; the file wins over nothing ---
check_exit "init --cluster-cidr other than the file's: refused" 1 on h1 $NAT init --cluster-cidr 10.9.0.0/16
check_match "the refusal names the file" "$T_STDERR" "differs from CLUSTER_CIDR in \"$T_SANDBOX/h1.conf\""
check_eq "refused: the set unchanged" "$(set_elems h1 cluster4)" "10.0.0.0/8"

# --- a bad host config is refused naming file and line, and changes nothing ---
printf 'POOL=10.1.0.0/16\nCLUSTR_CIDR=10.0.0.0/8\n' >"$T_TMP/bad.conf"
nft0=$(ip netns exec h1 nft -j list ruleset); links0=$(ip -n h1 -j link show | python3 -c 'import json,sys; print(sorted(l["ifname"] for l in json.load(sys.stdin)))')
state0=$(cd "$T_SANDBOX/h1" && find . -type f -o -type l | sort | xargs md5sum 2>/dev/null)
check_exit "ctnet up with a bad host config: refused" 1 on h1 env CTNET_CONF="$T_TMP/bad.conf" $CTNET up c4 --create-netns
check_match "the error names the file, the line and the key" "$T_STDERR" "$T_TMP/bad.conf.*line 2.*CLUSTR_CIDR"
check_exit "ctnet-nat init with it: refused" 1 on h1 env CTNET_CONF="$T_TMP/bad.conf" $NAT init
check_exit "ctnet-ipam alloc with it: refused" 1 on h1 env CTNET_CONF="$T_TMP/bad.conf" $IPAM alloc c4
check_eq "refused: no /run/netns/c4" "$(ls /run/netns | grep -c '^c4$')" "0"
check_eq "refused: h1's links unchanged" "$(ip -n h1 -j link show | python3 -c 'import json,sys; print(sorted(l["ifname"] for l in json.load(sys.stdin)))')" "$links0"
check_eq "refused: h1's ruleset unchanged" "$(ip netns exec h1 nft -j list ruleset)" "$nft0"
check_eq "refused: h1's state unchanged" "$(cd "$T_SANDBOX/h1" && find . -type f -o -type l | sort | xargs md5sum 2>/dev/null)" "$state0"

# --- doctor's cross-host checks ---
finding() { # HOST CODE: "severity|object|evidence" of each finding with that code
	on "$1" $CTNET doctor --json --host-only 2>/dev/null | python3 -c 'import json,sys
for f in json.load(sys.stdin)["findings"]:
	if f["code"] == sys.argv[1]: print("%s|%s|%s" % (f["severity"], f["object"], f["evidence"]))' "$2"
}
check_match "doctor: the route to h2's range, with its protocol, as a note" "$(finding h1 cluster-routes)" \
	'^note\|cluster CIDR 10.0.0.0/8\|1 route to other hosts.* ranges: 10.2.0.0/16 via 172.16.0.2 dev fab0 proto static$'
check_eq "doctor: nothing masquerades cluster traffic" "$(finding h1 cluster-masq-foreign)$(finding h1 cluster-masqueraded)" ""
check "doctor: nothing blocks" on h1 $CTNET doctor --host-only
ip -n h1 route add 10.1.200.0/24 via 172.16.0.2 proto bird
check_match "doctor: another host's route inside h1's pool blocks" "$(finding h1 cluster-pool-overlap)" \
	'^blocks\|route 10.1.200.0/24 via 172.16.0.2 dev fab0\|this route \(proto bird\) .*inside this host.s pool 10.1.0.0/16'
check_exit "doctor exits 1 on it" 1 on h1 $CTNET doctor --host-only
ip -n h1 route del 10.1.200.0/24
ip -n h1 route del 10.2.0.0/16
check_match "doctor: no route to another host's range is a warning" "$(finding h1 cluster-no-route)" '^degrades\|cluster CIDR 10.0.0.0/8\|'
ip -n h1 route add 10.2.0.0/16 via 172.16.0.2 proto static
ip netns exec h1 nft -f - <<'NFT'
table ip other {
	chain post {
		type nat hook postrouting priority 50; policy accept;
		oifname "fab0" masquerade comment "masquerade everything out of the uplink"
	}
}
NFT
check_eq "another tool's masquerade: h2's container sees h1's address" "$(ask c1 10.2.1.2 7000)" "172.16.0.1"
check_match "doctor names that rule" "$(finding h1 cluster-masq-foreign)" \
	'^degrades\|ip other post rule [0-9]+\|another tool.s rule masquerades container c1.s packets to 10.2.0.1 \(cluster CIDR 10.0.0.0/8\)'
ip netns exec h1 nft delete table ip other
ip netns exec h1 nft delete element inet ctnet cluster4 '{ 10.0.0.0/8 }'
check_match "doctor: a cluster CIDR missing from the kernel's set" "$(finding h1 cluster-masqueraded)" \
	'^degrades\|set inet ctnet cluster4\|cluster CIDR 10.0.0.0/8 is recorded but not in the kernel'
check "h1: restore" on h1 $NAT restore
check_eq "after restore: doctor quiet about it" "$(finding h1 cluster-masqueraded)" ""
printf 'POOL=10.1.0.0/16\nCLUSTER_CIDR=10.0.0.0/8,10.100.0.0/16,fd00:ab::/32\n' >"$T_TMP/dup.conf"
check_match "doctor: a host config with a covered CIDR is still the same list" \
	"$(CONF_OVERRIDE=$T_TMP/dup.conf finding h1 cluster-config-differs)" '^$'
printf 'POOL=10.1.0.0/16\nCLUSTER_CIDR=10.0.0.0/8,172.30.0.0/16,fd00:ab::/32\n' >"$T_TMP/more.conf"
check_match "doctor: a host config that differs from what NAT recorded" \
	"$(CONF_OVERRIDE=$T_TMP/more.conf finding h1 cluster-config-differs)" \
	'CLUSTER_CIDR says 10.0.0.0/8,172.30.0.0/16,fd00:ab::/32, NAT recorded 10.0.0.0/8,fd00:ab::/32:'
check_match "doctor: a bad host config is a blocking finding" \
	"$(CONF_OVERRIDE=$T_TMP/bad.conf finding h1 host-config-invalid)" "^blocks\|$T_TMP/bad.conf\|.*line 2.*CLUSTR_CIDR"

# --- a new container on h2 is reachable from h1 with no change on h1 ---
out5=$(on h2 $CTNET up c5 --create-netns)
check_eq "c5 from h2's POOL" "$(echo "$out5" | sed -n 's/^LOCAL_ADDRESS=//p')" "10.2.2.2"
listen c5 7000
check_eq "h1's container reaches the new one with its own address" "$(ask c1 10.2.2.2 7000)" "10.1.1.2"

kill "${pids[@]}" 2>/dev/null
for c in c1 c3; do on h1 $CTNET down "$c" >/dev/null; done
for c in c2 c5; do on h2 $CTNET down "$c" >/dev/null; done
finish
