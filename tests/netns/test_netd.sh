#!/usr/bin/env bash
# ctnet-netd: veth pairs into container namespaces, addresses, routes, bridge mode, hashed
# names, idempotence, and bad input that must leave both sides untouched.
. "$(dirname "$0")/lib.sh"

addrs_in() { ip -n "$1" -j addr show dev "$2" | python3 -c 'import json,sys; print(" ".join(sorted("%s/%d" % (a["local"], a["prefixlen"]) for l in json.load(sys.stdin) for a in l["addr_info"] if a.get("scope") == "global")))'; }
routes_in() { # NS FAMILY: "dst[ via gw] dev" lines, sorted, kernel prefix routes left out
	ip -n "$1" "-$2" -j route show | python3 -c 'import json,sys
print("; ".join(sorted(r["dst"] + (" via " + r["gateway"] if "gateway" in r else "") + " " + r["dev"] for r in json.load(sys.stdin) if r.get("protocol") != "kernel")))'
}

mkns c1
mkns c2
ip netns attach host $$ 2>/dev/null || { mkdir -p /run/netns && touch /run/netns/host && mount --bind /proc/self/ns/net /run/netns/host; }

# --- test_up_point_to_point_ipv4_ipv6 ---
ip monitor link >"$T_TMP/monitor" 2>&1 &
mon=$!
wait_for sh -c "ss -Hf netlink -p | grep -q 'ip/$mon '" # subscribed
check_exit "up web exits 0" 0 "$NETD" up web --netns /run/netns/c1 --host-address 10.233.1.1 \
	--local-address 10.233.1.2 --host-address6 fd00:1::1 --local-address6 fd00:1::2 --json
check_match "up --json names the host side" "$(cat "$T_TMP/out")" '"host_ifname": "ve-web"'
wait_for grep -q ve-web "$T_TMP/monitor" # what came before it was written too
kill "$mon"; wait "$mon" 2>/dev/null
check_eq "host side has only ve-web besides lo" "$(ip -j link | python3 -c 'import json,sys; print(sorted(l["ifname"] for l in json.load(sys.stdin)))')" "['lo', 've-web']"
check_eq "eth0 never appeared in the host namespace (ip monitor link)" "$(grep -c 'eth0' "$T_TMP/monitor")" "0"
check_eq "host addresses" "$(addrs_in host ve-web)" "10.233.1.1/32 fd00:1::1/128"
check_eq "container addresses" "$(addrs_in c1 eth0)" "10.233.1.2/32 fd00:1::2/128"
check_eq "host IPv4 routes" "$(routes_in host 4)" "10.233.1.2 ve-web"
check_eq "host IPv6 routes" "$(routes_in host 6)" "fd00:1::2 ve-web"
check_eq "container IPv4 routes" "$(routes_in c1 4)" "10.233.1.1 eth0; default via 10.233.1.1 eth0"
check_eq "container IPv6 routes" "$(routes_in c1 6)" "default via fd00:1::1 eth0; fd00:1::1 eth0"
check_eq "container lo is up" "$(ip -n c1 -j link show lo | python3 -c 'import json,sys; print("UP" in json.load(sys.stdin)[0]["flags"])')" "True"
check_eq "alias on host side" "$(ip -j -d link show ve-web | python3 -c 'import json,sys; print(json.load(sys.stdin)[0].get("ifalias"))')" "ctnet:web"
check_eq "alias on container side" "$(ip -n c1 -j -d link show eth0 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0].get("ifalias"))')" "ctnet:web"
check "ping host -> container IPv4" ping -c1 -W"$T_CONN" 10.233.1.2
check "ping host -> container IPv6" ping -6 -c1 -W"$T_CONN" fd00:1::2
check "ping container -> host IPv4" ip netns exec c1 ping -c1 -W"$T_CONN" 10.233.1.1
check "ping container -> host IPv6" ip netns exec c1 ping -6 -c1 -W"$T_CONN" fd00:1::1

# --- test_up_twice_same_state ---
# Link-local addresses finish DAD ~1 s after link up and add their routes then: wait for
# that first, so the comparison sees only what a second `up` could change.
for i in $(seq 40); do
	ip -6 route show table local | grep -q 'local fe80' && ip -n c1 -6 route show table local | grep -q 'local fe80' && break
	sleep 0.1
done
h1=$(snapshot_links; snapshot_addrs; snapshot_routes); c1s=$(ip netns exec c1 bash -c "$(declare -f snapshot_links snapshot_addrs snapshot_routes); snapshot_links; snapshot_addrs; snapshot_routes")
check_exit "second up exits 0" 0 "$NETD" up web --netns /run/netns/c1 --host-address 10.233.1.1 \
	--local-address 10.233.1.2 --host-address6 fd00:1::1 --local-address6 fd00:1::2
check_eq "second up: host unchanged" "$(snapshot_links; snapshot_addrs; snapshot_routes)" "$h1"
check_eq "second up: container unchanged" "$(ip netns exec c1 bash -c "$(declare -f snapshot_links snapshot_addrs snapshot_routes); snapshot_links; snapshot_addrs; snapshot_routes")" "$c1s"
check "ping after second up" ping -c1 -W"$T_CONN" 10.233.1.2

# --- test_show ---
check_match "show lists ve-web" "$("$NETD" show)" 've-web +web +veth +up'
check_eq "show web --json" "$("$NETD" show web --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d[0]["ifname"], d[0]["addresses"], d[0]["routes"])')" "ve-web ['10.233.1.1', 'fd00:1::1'] ['10.233.1.2', 'fd00:1::2']"
check_eq "show of another name is empty" "$("$NETD" show nosuch --json | tr -d ' \n')" "[]"

# --- test_down_twice ---
check_exit "down web exits 0" 0 "$NETD" down web
check_eq "host back to lo only" "$(ip -br link | awk '{print $1}')" "lo"
check_eq "container back to lo only" "$(ip -n c1 -br link | awk '{print $1}')" "lo"
check_eq "no host routes left" "$(routes_in host 4)$(routes_in host 6)" ""
check_exit "down web again exits 0" 0 "$NETD" down web

# --- test_long_name_hashed ---
long=abcdefghij0123456789
check_exit "up 20-character name" 0 "$NETD" up "$long" --netns /run/netns/c1 --host-address 10.233.2.1 --local-address 10.233.2.2 --json
hif=$(python3 -c 'import json; print(json.load(open("'"$T_TMP/out"'"))["host_ifname"])')
check_match "hashed host name is ve- + 12 base32" "$hif" '^ve-[a-z2-7]{12}$'
check_eq "alias holds the full name" "$(ip -j -d link show "$hif" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0].get("ifalias"))')" "ctnet:$long"
check "ping the long-named container" ping -c1 -W"$T_CONN" 10.233.2.2
check_match "show finds it by name" "$("$NETD" show "$long")" "^$hif +$long"
"$NETD" up "$long" --netns /run/netns/c1 --host-address 10.233.2.1 --local-address 10.233.2.2 --json >/dev/null 2>&1
check_eq "same hashed name on second up" "$(ip -br link | awk '{print $1}' | grep -c '^ve-')" "1"
check_exit "down finds it by name" 0 "$NETD" down "$long"
check_eq "long-named link gone" "$(ip -br link | awk '{print $1}')" "lo"

# --- test_bridge_two_containers ---
check_exit "bridge add" 0 "$NETD" bridge add br0 --address 10.233.100.1/24
check_exit "bridge add again (idempotent)" 0 "$NETD" bridge add br0 --address 10.233.100.1/24
check_exit "up c1 on the bridge" 0 "$NETD" up b1 --netns /run/netns/c1 --bridge br0 --local-address 10.233.100.5/24
check_exit "up c2 on the bridge" 0 "$NETD" up b2 --netns /run/netns/c2 --bridge br0 --local-address 10.233.100.6/24
check_eq "vb-b1 enslaved to br0" "$(ip -j link show vb-b1 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0].get("master"))')" "br0"
check_eq "no host address on vb-b1" "$(addrs_in host vb-b1)" ""
check_eq "c1 address carries its prefix" "$(addrs_in c1 eth0)" "10.233.100.5/24"
check_eq "c1 default via the bridge's address" "$(routes_in c1 4)" "default via 10.233.100.1 eth0"
sleep 1 # bridge ports leave the listening/learning states (no STP: immediate; margin)
check "ping c1 -> c2 over the bridge" ip netns exec c1 ping -c1 -W"$T_CONN" 10.233.100.6
check "ping c2 -> bridge address" ip netns exec c2 ping -c1 -W"$T_CONN" 10.233.100.1
check "ping host -> c1 over the bridge" ping -c1 -W"$T_CONN" 10.233.100.5
check_exit "down b1" 0 "$NETD" down b1
check_exit "down b2" 0 "$NETD" down b2
check_exit "bridge del" 0 "$NETD" bridge del br0
check_exit "bridge del again" 0 "$NETD" bridge del br0
check_eq "bridge mode leaves only lo" "$(ip -br link | awk '{print $1}')" "lo"

# --- test_move_and_macvlan ---
ip link add extra0 type veth peer name extra0p
check_exit "move extra0 into c1 as eth5" 0 "$NETD" move extra0 --netns /run/netns/c1 --ifname eth5
check_eq "eth5 is in c1" "$(ip -n c1 -br link | awk '{print $1}' | grep -c '^eth5')" "1"
check_eq "extra0 left the host" "$(ip -br link | awk '{print $1}' | grep -c '^extra0@')" "0"
ip link set extra0p up
check_exit "macvlan add on extra0p into c2" 0 "$NETD" macvlan add extra0p mv0 --netns /run/netns/c2 --mode bridge
check_eq "macvlan mv0 is in c2 in bridge mode" "$(ip -n c2 -j -d link show mv0 | python3 -c 'import json,sys; l=json.load(sys.stdin)[0]; print(l["linkinfo"]["info_kind"], l["linkinfo"]["info_data"]["mode"])')" "macvlan bridge"
check_eq "macvlan never on the host" "$(ip -br link | awk '{print $1}' | grep -c mv0)" "0"
check_exit "macvlan with a bad mode is usage" 2 "$NETD" macvlan add extra0p mv1 --netns /run/netns/c2 --mode nonsense
ip -n c2 link del mv0; ip -n c1 link del eth5

# --- test_extra_veth ---
check_exit "extra veth with --host-ifname/--ifname" 0 "$NETD" up web --netns /run/netns/c1 --host-ifname vx-web --ifname eth1 --host-address 10.233.3.1 --local-address 10.233.3.2
check "ping over the extra veth" ping -c1 -W"$T_CONN" 10.233.3.2
check_exit "down the extra veth" 0 "$NETD" down web --host-ifname vx-web
check_eq "extra veth gone" "$(ip -br link | awk '{print $1}')" "lo"

# --- test_bad_input_changes_nothing ---
ip link add notbr type veth peer name notbrp
ip link add ve-taken type veth peer name takenp
touch "$T_TMP/regular"
snap() { snapshot_links; snapshot_addrs; snapshot_routes; ip netns exec c1 bash -c "$(declare -f snapshot_links snapshot_addrs snapshot_routes); snapshot_links; snapshot_addrs; snapshot_routes"; }
before=$(snap)
U=(--host-address 10.233.9.1 --local-address 10.233.9.2)
bad() { # WHAT CODE REGEX ARGS...
	local what=$1 code=$2 re=$3; shift 3
	check_exit "bad input: $what exits $code" "$code" "$NETD" "$@"
	check_match "bad input: $what message" "$T_STDERR" "$re"
	check_eq "bad input: $what changed nothing" "$(snap)" "$before"
}
bad "missing netns path" 1 'netns "/nonexistent/ns": No such file' up bad --netns /nonexistent/ns "${U[@]}"
bad "regular file as netns" 1 'not a network namespace' up bad --netns "$T_TMP/regular" "${U[@]}"
bad "mount namespace as netns" 1 'netns "/proc/self/ns/mnt": not a network namespace' up bad --netns /proc/self/ns/mnt "${U[@]}"
bad "dead pid" 1 'pid 999999: No such process' up bad --pid 999999 "${U[@]}"
bad "host equals local" 1 'both "10.233.9.1"' up bad --netns /run/netns/c1 --host-address 10.233.9.1 --local-address 10.233.9.1
bad "prefix /33" 1 '10.233.9.1/33' up bad --netns /run/netns/c1 --host-address 10.233.9.1/33 --local-address 10.233.9.2
bad "IPv4 for --host-address6" 1 'host IPv6 address' up bad --netns /run/netns/c1 "${U[@]}" --host-address6 10.0.0.1 --local-address6 fd00::2
bad "missing bridge" 1 'bridge "nosuchbr" does not exist' up bad --netns /run/netns/c1 --bridge nosuchbr --local-address 10.233.9.2/24
bad "bridge that is not a bridge" 1 '"notbr" is not a bridge' up bad --netns /run/netns/c1 --bridge notbr --local-address 10.233.9.2/24
bad "invalid name" 1 'invalid container name "a;b"' up 'a;b' --netns /run/netns/c1 "${U[@]}"
bad "invalid MAC" 1 'invalid MAC address "zz:00:00:00:00:01"' up bad --netns /run/netns/c1 "${U[@]}" --mac zz:00:00:00:00:01
bad "multicast MAC" 1 'multicast' up bad --netns /run/netns/c1 "${U[@]}" --mac 01:00:5e:00:00:01
bad "MTU 67" 1 'MTU' up bad --netns /run/netns/c1 "${U[@]}" --mtu 67
bad "MTU 65536" 1 'MTU' up bad --netns /run/netns/c1 "${U[@]}" --mtu 65536
bad "interface taken" 1 'interface ve-taken exists and is not ctnet.s' up taken --netns /run/netns/c1 "${U[@]}"
bad "ifname too long" 1 'invalid interface name "eth0123456789abc"' up bad --netns /run/netns/c1 "${U[@]}" --ifname eth0123456789abc
bad "down of a foreign interface" 1 'is not ctnet.s' down taken
bad "missing --local-address is usage" 2 'local-address' up bad --netns /run/netns/c1 --host-address 10.233.9.1
bad "netns and pid together is usage" 2 'exactly one' up bad --netns /run/netns/c1 --pid 1 "${U[@]}"
bad "unknown option is usage" 2 'unknown option' up bad --frobnicate
finish
