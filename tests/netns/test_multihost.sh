#!/usr/bin/env bash
# Three hosts routed by BIRD 2 with the configuration `ctnet bird-config` makes: containers
# reach each other across hosts with their own addresses, the internet still sees the host's,
# a stopped bird's range is withdrawn, a new container needs no change elsewhere.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/mh_lib.sh"

if ! command -v bird >/dev/null; then
	echo "SKIP: bird not installed (Debian's bird2; tools/deps.sh installs it)"
	exit 77
fi

mh_fabric
for i in 1 2 3; do mh_host $i; done
ip netns exec internet socat -t$T_IDLE TCP-LISTEN:80,fork,reuseaddr SYSTEM:'echo $SOCAT_PEERADDR' &
NET_PID=$!
SRV_PIDS=""
trap 'kill $NET_PID $SRV_PIDS 2>/dev/null; mh_cleanup; _t_cleanup' EXIT

# A container on each host (a1 on h1, b1 on h2, c1 on h3), answering "NAME PEER_ADDRESS".
declare -A ADDR
up_ct() { # up_ct HOST NAME
	local out
	out=$(on "$1" "$CTNET" up "$2" --create-netns) || { fail "up $2 on h$1: $out"; return 1; }
	ADDR[$2]=$(echo "$out" | sed -n 's/^LOCAL_ADDRESS=//p')
	ip netns exec "$2" socat -t$T_IDLE TCP-LISTEN:80,fork,reuseaddr SYSTEM:"echo $2 \$SOCAT_PEERADDR" &
	SRV_PIDS="$SRV_PIDS $!"
	wait_port "$2" 80
}
up_ct 1 a1
up_ct 2 b1
up_ct 3 c1
check_match "a1 has an address from h1's POOL" "${ADDR[a1]}" '^10\.244\.1\.[0-9]+$'
check_match "b1 has an address from h2's POOL" "${ADDR[b1]}" '^10\.244\.2\.[0-9]+$'
check_match "c1 has an address from h3's POOL" "${ADDR[c1]}" '^10\.244\.3\.[0-9]+$'

for i in 1 2 3; do
	check "bird-config for h$i" mh_bird_config $i
	check "bird -p accepts h$i's configuration" bird -p -c "$MH_DIR/h$i/bird.conf"
done
cmp -s "$MH_DIR/h1/bird.conf" <(on 1 "$CTNET" bird-config --source 10.99.0.1 --neighbor 10.99.0.2 --neighbor 10.99.0.3)
check_eq "bird-config: the same input gives the same text" "$?" "0"
check_exit "bird-config: a bad --neighbor is refused (exit 2)" 2 on 1 "$CTNET" bird-config --source 10.99.0.1 --neighbor 10.99.0.300
check_match "bird-config: ... naming it" "$T_STDERR" 'invalid --neighbor address "10\.99\.0\.300"'
check_exit "bird-config: a range outside CLUSTER_CIDR is refused (exit 2)" 2 \
	on 1 "$CTNET" bird-config --source 10.99.0.1 --neighbor 10.99.0.2 --announce 192.168.0.0/24
check_match "bird-config: ... naming it and the file" "$T_STDERR" "192\.168\.0\.0/24 lies outside every CLUSTER_CIDR of $MH_DIR/h1/ctnet.conf"
for i in 1 2 3; do check "bird started in h$i" mh_bird_start $i; done
# The shipped examples are what bird-config makes (fabric 192.168.10.0/24 there, 10.99.0.0/24 here).
EX=$(cd "$(dirname "$0")/../../examples/bird" && pwd)
cp "$EX/ctnet.conf.host1" "$MH_DIR/ex.conf" # a short path: the text names it, escaped and cut at 80
example_is_made() { # example_is_made FILE BIRD-CONFIG-ARGS...
	local f=$1; shift
	diff <(sed 's/192\.168\.10\./10.99.0./g; s/192_168_10_/10_99_0_/g' "$EX/$f") \
		<(CTNET_CONF=$MH_DIR/ex.conf $CTNET bird-config "$@" | sed "s|$MH_DIR/ex.conf|/etc/ctnet/ctnet.conf|")
}
check "examples/bird/bird.conf.host1 is bird-config's text" \
	example_is_made bird.conf.host1 --source 10.99.0.1 --neighbor 10.99.0.2 --neighbor 10.99.0.3
check "examples/bird/rr/bird.conf.host1 is bird-config's text" \
	example_is_made rr/bird.conf.host1 --source 10.99.0.1 --neighbor 10.99.0.250

# routed I J...: every host of the list has a route to every other's range. Waited for before
# each exchange: under load a BFD session (100 ms x 3) may flap and come back; that is the
# price of failover within 0.5 s, and what a flap costs is measured by bench/failover.sh.
routed() {
	local i j
	for i in "$@"; do for j in "$@"; do
		[ $i = $j ] || mh_has_route $i 10.244.$j.0/24 || return 1
	done; done
}

# Each host learns the two other ranges from BGP.
for i in 1 2 3; do
	for j in 1 2 3; do
		[ $i = $j ] && continue
		t=$(until_true "$T_WAIT" mh_has_route $i 10.244.$j.0/24)
		check_eq "h$i: route to h$j's 10.244.$j.0/24 is bird's, via h$j (${t} ms after start)" \
			"$(mh_route $i 10.244.$j.0/24)" "bird 10.99.0.$j"
	done
done
until_true "$T_WAIT" mh_has_route 1 fd00:244:2::/48 >/dev/null
wait_for routed 1 2 3
check_eq "h1: its own range is in the kernel only as unreachable (from its own static, never via another host)" \
	"$(ip -n h1 -j route show exact 10.244.1.0/24 | python3 -c 'import json,sys; print([(r.get("type"), r.get("gateway")) for r in json.load(sys.stdin)])')" \
	"[('unreachable', None)]"
check_eq "h1: IPv6 range of h2 over the IPv4 session, via h2's fabric IPv6 address" \
	"$(ip -n h1 -6 -j route show exact fd00:244:2::/48 | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r[0]["protocol"], r[0]["gateway"]) if r else print("")')" \
	"bird fd99::2"
wait_for routed 1 2 3
check_eq "h1: nothing outside the cluster CIDRs installed by bird" \
	"$(ip -n h1 -j route show proto bird | python3 -c 'import json,sys; print(sorted(r["dst"] for r in json.load(sys.stdin) if r.get("type") != "unreachable"))')" \
	"['10.244.2.0/24', '10.244.3.0/24']"
check_eq "h1: a packet for an unused address of its own range is refused, not sent out of the default route" \
	"$(ip -n h1 route get 10.244.1.250 2>&1 | head -1)" "RTNETLINK answers: No route to host"

# conn FROM TO_ADDR: TO's answer, "NAME PEER_ADDRESS".
conn() { ip netns exec "$1" timeout $T_CONN socat -T$T_IDLE -t$T_IDLE - TCP:"$2":80 </dev/null 2>&1; }
for pair in a1:b1 a1:c1 b1:a1 b1:c1 c1:a1 c1:b1; do
	from=${pair%:*} to=${pair#*:}
	wait_for routed 1 2 3
	check_eq "$from reaches $to across hosts, $to sees $from's own address (no NAT in the cluster)" \
		"$(conn $from ${ADDR[$to]})" "$to ${ADDR[$from]}"
done
check_eq "a1 to the internet: masqueraded to h1's fabric address" "$(conn a1 10.99.0.254)" "10.99.0.1"
check_eq "b1 to the internet: masqueraded to h2's fabric address" "$(conn b1 10.99.0.254)" "10.99.0.2"

# A new container on h2: reachable from the other hosts, nothing changed there.
routes1=$(ip -n h1 -j route show proto bird)
up_ct 2 b2
check_match "b2 has an address from h2's POOL" "${ADDR[b2]}" '^10\.244\.2\.[0-9]+$'
wait_for routed 1 2 3
check_eq "a1 reaches the new b2, which sees a1's address" "$(conn a1 ${ADDR[b2]})" "b2 ${ADDR[a1]}"
wait_for routed 1 2 3
check_eq "c1 reaches the new b2" "$(conn c1 ${ADDR[b2]})" "b2 ${ADDR[c1]}"
wait_for routed 1 2 3
check_eq "h1's routes unchanged by a container on h2" "$(ip -n h1 -j route show proto bird)" "$routes1"

# h3's bird stopped: its range withdrawn from h1 and h2; h1 and h2 still reach each other.
pid3=$(mh_bird_pid 3)
t0=$(t_now_ms)
kill -TERM "$pid3"
declare -A WITHDRAWN
for i in 1 2; do
	until_true "$T_WAIT" mh_no_route $i 10.244.3.0/24 >/dev/null
	WITHDRAWN[$i]=$(($(t_now_ms) - t0))
done
for i in 1 2; do
	echo "# h3's bird stopped: h$i withdrew 10.244.3.0/24 within ${WITHDRAWN[$i]} ms (target 0.5 s, bench/failover.sh)"
	check_eq "h$i: h3's range withdrawn after h3's bird stopped" "$(mh_route $i 10.244.3.0/24)" ""
done
wait_for gone "$pid3"
wait_for routed 1 2
check_eq "h1 still routes to h2 through bird" "$(mh_route 1 10.244.2.0/24)" "bird 10.99.0.2"
wait_for routed 1 2
check_eq "a1 still reaches b1 with its own address" "$(conn a1 ${ADDR[b1]})" "b1 ${ADDR[a1]}"
wait_for routed 1 2
check_eq "b1 still reaches a1 with its own address" "$(conn b1 ${ADDR[a1]})" "a1 ${ADDR[b1]}"

# h3's bird back: its range is learned again.
check "bird started again in h3" mh_bird_start 3
wait_for routed 1 2 3
check_eq "h1: h3's range back after its bird restarted" "$(mh_route 1 10.244.3.0/24)" "bird 10.99.0.3"
check_eq "a1 reaches c1 again" "$(conn a1 ${ADDR[c1]})" "c1 ${ADDR[a1]}"

# The route-reflector layout of examples/bird/rr: each host peers only with the reflector
# (10.99.0.250, a namespace of its own); routes keep the announcing host as next hop.
for i in 1 2 3; do mh_bird_stop $i; done
check_eq "h1: the full-mesh routes gone with its bird" "$(ip -n h1 route show proto bird)" ""
mh_attach rr prr 250
sed 's/192\.168\.10\./10.99.0./g' "$EX/rr/bird.conf.reflector" >"$MH_DIR/rr.conf"
check "bird -p accepts the example reflector" bird -p -c "$MH_DIR/rr.conf"
nsenter --net=/run/netns/rr bird -c "$MH_DIR/rr.conf" -s "$MH_DIR/rr.ctl" -P "$MH_DIR/rr.pid" &&
	wait_for test -s "$MH_DIR/rr.pid"
RR_PID=$(cat "$MH_DIR/rr.pid" 2>/dev/null)
trap 'kill $NET_PID $SRV_PIDS $RR_PID 2>/dev/null; mh_cleanup; _t_cleanup' EXIT
for i in 1 2 3; do
	on $i "$CTNET" bird-config --source 10.99.0.$i --neighbor 10.99.0.250 >"$MH_DIR/h$i/bird.conf"
	check "h$i's bird started as a client of the reflector" mh_bird_start $i
done
for pair in 1:2 1:3 2:1 2:3 3:1 3:2; do
	i=${pair%:*} j=${pair#*:}
	until_true "$T_WAIT" mh_has_route $i 10.244.$j.0/24 >/dev/null
	check_eq "reflector: h$i's route to h$j's range goes to h$j, not the reflector" \
		"$(mh_route $i 10.244.$j.0/24)" "bird 10.99.0.$j"
done
check_eq "reflector: installs nothing in its own kernel" "$(ip -n rr route show proto bird)" ""
wait_for routed 1 2 3
check_eq "reflector: a1 reaches c1 with its own address" "$(conn a1 ${ADDR[c1]})" "c1 ${ADDR[a1]}"
wait_for routed 1 2 3
check_eq "reflector: c1 reaches b2 with its own address" "$(conn c1 ${ADDR[b2]})" "b2 ${ADDR[c1]}"
kill -TERM "$RR_PID"
wait_for gone "$RR_PID"
finish
