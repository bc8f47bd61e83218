#!/usr/bin/env bash
# ctnet-netd extra veths (NixOS extraVeths): two containers with a second pair on one lab
# bridge ping each other; a point-to-point one gets NixOS's addresses and routes and never a
# default route; a host name that is taken is refused with nothing changed; down removes them.
. "$(dirname "$0")/lib.sh"
PY=$(command -v /usr/bin/python3 || command -v python3)
python3() { "$PY" "$@"; }

links() { ip -j link | python3 -c 'import json,sys; print(" ".join(sorted(l["ifname"] for l in json.load(sys.stdin))))'; }
links_in() { ip -n "$1" -j link | python3 -c 'import json,sys; print(" ".join(sorted(l["ifname"] for l in json.load(sys.stdin))))'; }
master() { ip -j link show dev "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0].get("master", "-"))'; }
alias_of() { ip -j -d link show dev "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0].get("ifalias"))'; }
addrs_in() { ip -n "$1" -4 -j addr show dev "$2" | python3 -c 'import json,sys; print(" ".join(sorted("%s/%d" % (a["local"], a["prefixlen"]) for l in json.load(sys.stdin) for a in l["addr_info"])))'; }
routes_in() { ip -n "$1" -4 -j route show | python3 -c 'import json,sys; print("; ".join(sorted(r["dst"] + (" via " + r["gateway"] if "gateway" in r else "") + " " + r["dev"] for r in json.load(sys.stdin))))'; }

mkns c1
mkns c2
ip netns attach host $$ 2>/dev/null || { touch /run/netns/host && mount --bind /proc/self/ns/net /run/netns/host; }
check "lab bridge" "$NETD" bridge add br-lab --address 10.99.0.254/24

# --- test_two_containers_on_a_lab_bridge ---
check_exit "up a with --extra-veth on br-lab" 0 "$NETD" up a --netns /run/netns/c1 --host-address 10.233.1.1 \
	--local-address 10.233.1.2 --extra-veth lab-a,host-bridge=br-lab,local-address=10.99.0.1/24
check_exit "up b with a bridged and a point-to-point extra veth" 0 "$NETD" up b --netns /run/netns/c2 \
	--host-address 10.233.2.1 --local-address 10.233.2.2 \
	--extra-veth lab-b,host-bridge=br-lab,local-address=10.99.0.2/24 \
	--extra-veth p2p-b,host-address=10.98.0.1,local-address=10.98.0.2,host-address6=fd98::1,local-address6=fd98::2
check_eq "host side: main pairs, extra veths and the bridge" "$(links)" "br-lab lab-a lab-b lo p2p-b ve-a ve-b"
check_eq "c1: eth0 and lab-a" "$(links_in c1)" "eth0 lab-a lo"
check_eq "c2: eth0, lab-b and p2p-b" "$(links_in c2)" "eth0 lab-b lo p2p-b"
check_eq "lab-a and lab-b enslaved to br-lab" "$(master lab-a) $(master lab-b) $(master p2p-b)" "br-lab br-lab -"
check_eq "extra veths carry the container's alias" "$(alias_of lab-a) $(alias_of p2p-b)" "ctnet:a ctnet:b"
check_eq "c1's lab address" "$(addrs_in c1 lab-a)" "10.99.0.1/24"
check "c1 pings c2 over the lab bridge" ip netns exec c1 ping -c1 -W"$T_CONN" 10.99.0.2
check "c2 pings c1 over the lab bridge" ip netns exec c2 ping -c1 -W"$T_CONN" 10.99.0.1
check_eq "the bridged host side has no address" "$(addrs_in host lab-a)" ""

# --- test_point_to_point_nixos_routes ---
check_eq "host side of p2p-b: its address" "$(addrs_in host p2p-b)" "10.98.0.1/32"
check_match "host route to the local address through p2p-b" "$(routes_in host)" '10\.98\.0\.2 p2p-b'
check_eq "c2's routes: default only through eth0, host address through p2p-b" "$(routes_in c2)" \
	"10.233.2.1 eth0; 10.98.0.1 p2p-b; 10.99.0.0/24 lab-b; default via 10.233.2.1 eth0"
check "host pings c2 over p2p-b" ping -c1 -W"$T_CONN" 10.98.0.2
check "host pings c2 over p2p-b (IPv6)" ping -6 -c1 -W"$T_CONN" fd98::2
check_match "show b lists its extra veths" "$("$NETD" show b)" 'p2p-b +b +veth'

# --- test_impair_an_extra_veth ---
check_exit "impair lab-b (an extra veth) --rate 8mbit" 0 "$NETD" impair b --netns /run/netns/c2 --host-ifname lab-b --ifname lab-b --rate 8mbit
check_eq "  both ends of lab-b shaped" "$(tc -j qdisc show dev lab-b | python3 -c 'import json,sys; print([(q["kind"], q["handle"]) for q in json.load(sys.stdin)])') $(ip netns exec c2 tc -j qdisc show dev lab-b | python3 -c 'import json,sys; print([(q["kind"], q["handle"]) for q in json.load(sys.stdin)])')" "[('tbf', '3:')] [('tbf', '3:')]"
check_eq "  the main pair is not" "$(tc -j qdisc show dev ve-b | python3 -c 'import json,sys; print([q["kind"] for q in json.load(sys.stdin)])')" "['noqueue']"
check_exit "  removed again" 0 "$NETD" impair b --netns /run/netns/c2 --host-ifname lab-b --ifname lab-b
check_eq "  lab-b back to the default" "$(tc -j qdisc show dev lab-b | python3 -c 'import json,sys; print([q["kind"] for q in json.load(sys.stdin)])')" "['noqueue']"

# --- test_second_up_reapplies ---
s0=$(links; addrs_in c2 p2p-b; routes_in c2)
check_exit "second up with the same extra veths exits 0" 0 "$NETD" up b --netns /run/netns/c2 \
	--host-address 10.233.2.1 --local-address 10.233.2.2 \
	--extra-veth lab-b,host-bridge=br-lab,local-address=10.99.0.2/24 \
	--extra-veth p2p-b,host-address=10.98.0.1,local-address=10.98.0.2,host-address6=fd98::1,local-address6=fd98::2
check_eq "  nothing changed" "$(links; addrs_in c2 p2p-b; routes_in c2)" "$s0"

# --- test_taken_names_refused ---
ip link add lab-x type veth peer name lab-x-peer
snap() { links; links_in c1; addrs_in c1 lab-a; routes_in c1; }
s0=$(snap)
check_exit "extra veth whose host name is taken (not ctnet's) refused" 1 "$NETD" extra-veth add a lab-x,host-bridge=br-lab --netns /run/netns/c1
check_match "  message names it" "$T_STDERR" 'interface lab-x exists and is not ctnet'
check_exit "extra veth named like another container's refused" 1 "$NETD" extra-veth add a lab-b --netns /run/netns/c1
check_match "  message names the owner" "$T_STDERR" 'interface lab-b exists and belongs to container "b"'
check_exit "extra veth named like the container's eth0 refused" 1 "$NETD" extra-veth add a eth0 --netns /run/netns/c1
check_match "  message hints at the container" "$T_STDERR" 'File exists'
check_exit "extra veth onto a missing bridge refused" 1 "$NETD" extra-veth add a lab-q,host-bridge=nosuch --netns /run/netns/c1
check_match "  message names the bridge" "$T_STDERR" 'bridge "nosuch" does not exist'
check_exit "extra veth named ve-... refused" 1 "$NETD" extra-veth add a ve-x --netns /run/netns/c1
check_exit "bad extra veth spec refused" 1 "$NETD" up a --netns /run/netns/c1 --host-address 10.233.1.1 \
	--local-address 10.233.1.2 --extra-veth lab-a,colour=red
check_match "  message names the key" "$T_STDERR" 'unknown key "colour"'
check_eq "after the refusals nothing changed" "$(snap)" "$s0"
ip link del lab-x

# --- test_down_removes_extra_veths ---
check_exit "extra-veth del removes one" 0 "$NETD" extra-veth del b p2p-b
check_eq "  p2p-b gone on both sides" "$(links) / $(links_in c2)" "br-lab lab-a lab-b lo ve-a ve-b / eth0 lab-b lo"
check_exit "extra-veth del again: absent is success" 0 "$NETD" extra-veth del b p2p-b
check_exit "extra-veth del of another container's refused" 1 "$NETD" extra-veth del a lab-b
check_exit "down b --extra-veth lab-b" 0 "$NETD" down b --extra-veth lab-b
check_exit "down a --extra-veth lab-a" 0 "$NETD" down a --extra-veth lab-a
check_eq "no extra veth left on the host" "$(links)" "br-lab lo"
check_eq "none left in the containers" "$(links_in c1) / $(links_in c2)" "lo / lo"
check "bridge del" "$NETD" bridge del br-lab
finish
