#!/usr/bin/env bash
# A PMTU black hole: the uplink is a 1400-MTU link to a router that filters ICMP, the server
# is behind the router on a 1500-MTU link. Downloads into a container complete: its link
# defaults to the uplink's MTU, and ctnet's table clamps TCP MSS for forwarded SYNs (also
# for a container with --mtu 1500). Without the clamp such a download stalls.
. "$(dirname "$0")/lib.sh"

PIDS=()
trap 'for p in "${PIDS[@]}"; do pkill -P "$p" 2>/dev/null; kill "$p" 2>/dev/null; done; _t_cleanup' EXIT
bg() { "$@" >/dev/null 2>&1 & PIDS+=($!); }

mkns router; mkns server
ip link add up0 mtu 1400 type veth peer name eth0 netns router
ip addr add 192.0.2.1/24 dev up0 && ip link set up0 up
ip -n router link set eth0 mtu 1400 up && ip -n router addr add 192.0.2.2/24 dev eth0
ip -n router link add eth1 type veth peer name eth0 netns server
ip -n router addr add 198.51.100.1/24 dev eth1 && ip -n router link set eth1 up
ip -n server addr add 198.51.100.2/24 dev eth0 && ip -n server link set eth0 up
ip -n server route add default via 198.51.100.1
ip netns exec router sysctl -qw net.ipv4.ip_forward=1
# The router tells nobody that packets are too big.
ip netns exec router nft add table ip filter
ip netns exec router nft add chain ip filter out '{ type filter hook output priority 0; }'
ip netns exec router nft add rule ip filter out icmp type destination-unreachable drop
ip route add default via 192.0.2.2
head -c 2000000 /dev/urandom >"$T_TMP/blob"
want=$(md5sum <"$T_TMP/blob" | cut -d' ' -f1)
bg ip netns exec server socat TCP4-LISTEN:9000,fork,reuseaddr OPEN:"$T_TMP/blob",rdonly
wait_port server 9000 || fail "server did not start"
download() { ip netns exec "$1" timeout $((T_CONN + 3)) socat -T$((T_IDLE + 1)) -u TCP:198.51.100.2:9000 STDOUT 2>/dev/null | md5sum | cut -d' ' -f1; }

$CTNET up a --create-netns >/dev/null || fail "up a"
check_eq "container link defaults to the uplink's MTU" "$(ip -n a -j link show eth0 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["mtu"])')" "1400"
check_eq "download into it completes" "$(download a)" "$want"
$CTNET up b --create-netns --mtu 1500 >/dev/null || fail "up b"
check_eq "--mtu 1500 is kept" "$(ip -n b -j link show eth0 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["mtu"])')" "1500"
check_match "ctnet's table clamps MSS to the route MTU" "$(nft list chain inet ctnet forward)" "maxseg size set rt mtu"
check_eq "download into a 1500-MTU container completes (MSS clamp)" "$(download b)" "$want"
check "ctnet-nat check: in sync" $NAT check
# Control: without the clamp the 1500-MTU container stalls (the test can fail).
nft flush chain inet ctnet forward
check_fails "without the clamp the download stalls" test "$(download b)" = "$want"
$NAT restore >/dev/null
check_eq "restored: completes again" "$(download b)" "$want"
check_match "doctor notes b's MTU above the uplink's" "$($CTNET doctor b --json)" "mtu-above-uplink"
finish
