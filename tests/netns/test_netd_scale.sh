#!/usr/bin/env bash
# ctnet-netd at scale: 200 containers up then down leave no link, address or route behind,
# and every one of them answers a ping while up.
. "$(dirname "$0")/lib.sh"

N=200
before_links=$(snapshot_links) before_addrs=$(snapshot_addrs) before_routes=$(snapshot_routes)
for i in $(seq 1 $N); do ip netns add "s$i"; done
fails=0
for i in $(seq 1 $N); do
	"$NETD" up "s$i" --netns "/run/netns/s$i" --host-address "10.233.$((i / 250)).$((i % 250 + 1))" \
		--local-address "10.234.$((i / 250)).$((i % 250 + 1))" >/dev/null 2>"$T_TMP/err" || { fails=$((fails + 1)); cat "$T_TMP/err"; }
done
check_eq "$N ups succeeded" "$fails" "0"
check_eq "$N ve- links on the host" "$(ip -br link | grep -c '^ve-s')" "$N"
check_eq "$N host routes" "$(ip route | grep -c 'dev ve-s')" "$N"
check "ping the first container" ping -c1 -W"$T_CONN" 10.234.0.2
check "ping the last container" ping -c1 -W"$T_CONN" "10.234.$((N / 250)).$((N % 250 + 1))"
check_eq "container s100 has its address" "$(ip -n s100 -j addr show dev eth0 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["addr_info"][0]["local"])')" "10.234.0.101"
fails=0
for i in $(seq 1 $N); do "$NETD" down "s$i" 2>"$T_TMP/err" || { fails=$((fails + 1)); cat "$T_TMP/err"; }; done
check_eq "$N downs succeeded" "$fails" "0"
check_eq "links as before" "$(snapshot_links)" "$before_links"
check_eq "addresses as before" "$(snapshot_addrs)" "$before_addrs"
check_eq "routes as before" "$(snapshot_routes)" "$before_routes"
left=0
for i in $(seq 1 $N); do [ "$(ip -n "s$i" -br link | wc -l)" -eq 1 ] || left=$((left + 1)); done
check_eq "containers left with only lo" "$left" "0"
finish
