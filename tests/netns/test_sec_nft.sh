#!/usr/bin/env bash
# ctnet's nftables against hostile tenants and foreign firewalls (issue 28), with real frames
# and real traffic; one world (`unshare -m -n` host, upstream, containers) per scenario:
#  mac       a container that takes another's MAC on a ctnet bridge and sends gratuitous ARP
#            from it does not cut the host off the victim (10 of 10 connections); ARP naming
#            another's MAC as its sender is dropped; a container that changed its own MAC is
#            reported by status and put back by up.
#  brnf      br_netfilter (bridge-nf-call-iptables=1): nothing bridged is masqueraded; with
#            --isolate a forward reached at the bridge's address works and direct traffic does
#            not; Docker's FORWARD DROP kills bridged traffic and doctor's fix covers the
#            bridge as well as the veths.
#  foreign   a rule inserted into ctnet's own chains: check, status and doctor notice it,
#            restore removes it.
#  docker    the DOCKER-USER accepts of --accept-in-docker-user (veths and bridges) are desired
#            state: check and doctor report them gone after Docker flushed the chain, restore
#            puts them back, flush keeps them wanted, --no-accept-in-docker-user drops them.
#  watch     ctnet watch removes a foreign rule from ctnet's chains and puts the DOCKER-USER
#            accepts back after a flush.
#  hostaddr  --isolate: no container reaches a host service bound to another container's
#            host-side address; one that two containers share (ctnet-nat) goes with the last.
#  hostip    a forward pinned (--host-ip) to an address the host no longer has: status and
#            doctor name the address.
# Each check that guards a fix also runs once without it (its rule deleted, or the rule of
# before put back) and must fail there: the test can fail.
. "$(dirname "$0")/lib.sh"

SCENARIOS="mac brnf foreign docker watch hostaddr hostip"

if [ -z "${SEC_SCENARIO:-}" ]; then
	for s in $SCENARIOS; do
		echo "## scenario $s"
		env -u CTNET_SANDBOX SEC_SCENARIO="$s" bash "$0"
		case $? in
		0) pass "scenario $s: every check passed" ;;
		77) echo "NOT RUN scenario $s (see above; not counted as passed)" ;;
		*) fail "scenario $s: see the FAIL lines above" ;;
		esac
	done
	finish
fi

PIDS=()
trap 'for p in "${PIDS[@]}"; do pkill -P "$p" 2>/dev/null; kill "$p" 2>/dev/null; done; _t_cleanup' EXIT
bg() { "$@" >/dev/null 2>&1 & PIDS+=($!); }
in_ns() { local ns=$1; shift; if [ "$ns" = host ]; then "$@"; else ip netns exec "$ns" "$@"; fi; }
tcp() { in_ns "$1" timeout $T_CONN socat -T$T_IDLE -t$T_IDLE - "TCP:$2" </dev/null 2>/dev/null; } # NS HOST:PORT
serve() { # NS PORT [BIND]: answers "NS PEER" (the address the server saw)
	local b=${3:+,bind=$3}
	bg in_ns "$1" socat -t$T_IDLE "TCP4-LISTEN:$2,fork,reuseaddr$b" SYSTEM:"echo $1 \$SOCAT_PEERADDR"
	wait_port "$1" "$2" || fail "server $1:$2 did not start"
}
addr_of() { ip -n "$1" -j addr show eth0 | python3 -c 'import json,sys; print([a["local"] for a in json.load(sys.stdin)[0]["addr_info"] if a["family"]=="inet"][0])'; }
mac_of() { ip -n "$1" -j link show eth0 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])'; }
handle_of() { # FAMILY TABLE CHAIN COMMENT
	nft -a list chain "$1" "$2" "$3" | sed -n "s/.*comment \"$4\" # handle \([0-9]*\)\$/\1/p"
}
del_rule() { nft delete rule "$1" "$2" "$3" handle "$(handle_of "$@")"; }
# until_true SECONDS CMD...: until CMD succeeds (a liveness bound, not a speed limit).
until_true() {
	local end=$(($(date +%s) + $1)); shift
	while [ "$(date +%s)" -lt "$end" ]; do "$@" >/dev/null 2>&1 && return 0; sleep 0.05; done
	return 1
}
mkbr() { ip link add br0 type bridge && ip addr add 10.233.100.1/24 dev br0 && ip link set br0 up; }
upbr() { $CTNET up "$1" --create-netns --bridge br0 --pool 10.233.100.0/24 "${@:2}" >/dev/null || fail "up $1"; }
dj() { $CTNET doctor --json 2>/dev/null; }
# finding CODE FIELD: that field of the first blocking finding with CODE
finding() { dj | python3 -c 'import json,sys
for f in json.load(sys.stdin)["findings"]:
    if f["code"]==sys.argv[1] and f["severity"]=="blocks": print(f.get(sys.argv[2],"")); break' "$1" "$2"; }
# fault NAME KIND: the object of the first fault of that kind in status --json
fault() { $CTNET status "$1" --json 2>/dev/null | python3 -c 'import json,sys
for f in json.load(sys.stdin)[0].get("faults",[]):
    if f["kind"]==sys.argv[1]: print(f["object"]); break' "$2"; }
# What Docker does on start (iptables-nft): FORWARD policy drop, DOCKER-USER first.
docker_start() {
	iptables -N DOCKER-USER && iptables -A DOCKER-USER -j RETURN
	iptables -P FORWARD DROP && iptables -A FORWARD -j DOCKER-USER
}
docker_restart() { iptables -F DOCKER-USER && iptables -A DOCKER-USER -j RETURN; }
docker_rules() { iptables -S DOCKER-USER | grep -c 'ctnet:docker'; }
PY=/usr/bin/python3
[ -x $PY ] || PY=python3
FRAMES=$(cd "$(dirname "$0")" && pwd)/frames.py

mk_upstream
ip route add default via 192.0.2.2
bg ip netns exec upstream socat -t$T_IDLE TCP4-LISTEN:7777,fork,reuseaddr SYSTEM:'echo $SOCAT_PEERADDR'
wait_port upstream 7777 || fail "upstream server did not start"

S=$SEC_SCENARIO
case $S in
mac)
	mkbr
	upbr v
	upbr a
	serve v 80
	V=$(addr_of v) A=$(addr_of a) vmac=$(mac_of v) amac=$(mac_of a)
	check_eq "$S: the record holds the MAC v has" "$(grep '^LOCAL_MAC=' "$CTNET_RUN_DIR/containers/v")" "LOCAL_MAC=$vmac"
	check_match "$S: v's port may send from that MAC only" \
		"$(nft list set bridge ctnet port_mac | tr -d '\n\t ')" "\"vb-v\"\.$vmac"
	connects() { # how many of 10 connections from the host reach v
		local ok=0
		# 3 s to connect (SYN retransmits at 1 and 3 s), then patience for the answer: a
		# busy machine is slow to fork the server, a theft loses the SYN.
		for i in $(seq 10); do
			local t0=$(date +%s%N) got
			got=$(timeout 30 socat -T20 -t20 - "TCP:$V:80,connect-timeout=3" </dev/null 2>&1)
			[ "${got%% *}" = v ] && ok=$((ok + 1)) ||
				echo "# connection $i: '$got' after $((($(date +%s%N) - t0) / 1000000)) ms" >&2
		done
		echo "$ok"
	}
	# a takes v's MAC and floods gratuitous ARP from it (every 10 ms) while the host connects.
	theft() {
		local log=$T_TMP/atk.$RANDOM pid n
		ip -n a link set eth0 address "$vmac"
		ip netns exec a $PY "$FRAMES" arp eth0 "$vmac" "$vmac" "$A" 0 0.01 >"$log" 2>&1 &
		pid=$!
		until_true "$T_WAIT" grep -q sending "$log" || echo "attacker did not start: $(cat "$log")" >&2
		n=$(connects)
		kill "$pid"; wait "$pid" 2>/dev/null
		ip -n a link set eth0 address "$amac"
		echo "$n"
	}
	fdb_port() { bridge -j fdb show br br0 | python3 -c 'import json,sys
print(" ".join(sorted({e["ifname"] for e in json.load(sys.stdin) if e.get("mac")==sys.argv[1] and "self" not in e.get("flags",[])})))' "$vmac"; }
	check_eq "$S: the host reaches v (10 of 10)" "$(connects)" 10
	check_eq "$S: a takes v's MAC and sends gratuitous ARP from it: the host still reaches v (10 of 10)" "$(theft)" 10
	check_eq "$S: ... the bridge learned v's MAC on v's port only" "$(fdb_port)" "vb-v"
	check_match "$S: a using its own MAC still reaches the host" "$(tcp a 192.0.2.2:7777)" "^192\.0\.2\.1$"
	# The test can fail: without the MAC rules (as before) the theft works.
	del_rule bridge ctnet port_antispoof ctnet:mac && del_rule bridge ctnet port_antispoof ctnet:arp-mac
	n=$(theft)
	[ "$n" -lt 10 ] && pass "$S: without the MAC rules the host reaches v $n of 10 times (test can fail)" ||
		fail "$S: without the MAC rules the theft did not work (10 of 10): the attack is not real"
	check_exit "$S: check reports the rules gone" 1 $NAT check
	check "$S: restore" $NAT restore
	# What the theft left (the bridge's and the host's caches) goes when v speaks again.
	ip neigh flush dev br0
	ip netns exec v ping -c1 -W2 10.233.100.1 >/dev/null
	check_eq "$S: after restore the host reaches v again (10 of 10), theft or not" "$(theft)" 10

	# ARP naming v's MAC as the sender's hardware address (from a's own MAC and address).
	neigh_a() { ip -j neigh show "$A" dev br0 | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d[0].get("lladdr","") if d else "")'; }
	neigh_is() { [ "$(neigh_a)" = "$1" ]; }
	brmac=$(ip -j link show br0 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])')
	# lie_until SECONDS MAC: replies to the host every 20 ms (the neighbour table takes a new
	# address once its locktime, 1 s, is over) until the host's entry for a is MAC.
	lie_until() {
		local log=$T_TMP/lie.$RANDOM pid rc
		ip netns exec a $PY "$FRAMES" arp eth0 "$amac" "$vmac" "$A" 0 0.02 "$brmac" 10.233.100.1 >"$log" 2>&1 &
		pid=$!
		until_true "$T_WAIT" grep -q sending "$log"
		# (neigh_is asks again each time: a $(neigh_a) here would be read once, before the
		# first lie could land, and the wait would decide nothing)
		until_true "$1" neigh_is "$2"
		rc=$?
		kill "$pid"; wait "$pid" 2>/dev/null
		return $rc
	}
	ip neigh flush dev br0
	ping -c1 -W2 "$A" >/dev/null
	check_eq "$S: the host knows a's MAC" "$(neigh_a)" "$amac"
	check_fails "$S: ARP from a naming v's MAC as sender (5 s of it): the host keeps a's MAC" lie_until 5 "$vmac"
	check_eq "$S: ... still a's" "$(neigh_a)" "$amac"
	del_rule bridge ctnet port_antispoof ctnet:arp-mac
	check "$S: without the ARP rule the host takes v's MAC for a (test can fail)" lie_until "$T_WAIT" "$vmac"
	$NAT restore >/dev/null
	ip neigh flush dev br0

	# A container that changes its own MAC sends nothing; status says so; up puts it back.
	ip -n a link set eth0 address 02:00:00:00:00:99
	check_eq "$S: a with a MAC of its own choosing gets nothing out" "$(tcp a 192.0.2.2:7777)" ""
	check_exit "$S: status reports a" 1 $CTNET status a
	check_match "$S: ... naming the MAC" "$($CTNET status a --json | python3 -c 'import json,sys; print(" ".join(f["text"] for f in json.load(sys.stdin)[0]["faults"]))')" "mac 02:00:00:00:00:99, not $amac"
	check "$S: up repairs it" $CTNET up a --create-netns --bridge br0 --pool 10.233.100.0/24
	check_eq "$S: a has its MAC back" "$(mac_of a)" "$amac"
	check_match "$S: a reaches out again" "$(tcp a 192.0.2.2:7777)" "^192\.0\.2\.1$"
	check_exit "$S: ctnet-nat check in sync" 0 $NAT check
	;;
brnf)
	BRNF=/proc/sys/net/bridge/bridge-nf-call-iptables
	if [ ! -e "$BRNF" ]; then
		echo "NOT RUN $S: needs br_netfilter (CONFIG_BRIDGE_NETFILTER): this kernel has no $BRNF"
		exit 77
	fi
	echo 1 >"$BRNF" && echo 1 >/proc/sys/net/bridge/bridge-nf-call-ip6tables
	mkbr
	upbr a
	upbr b --forward tcp:8081:80
	$CTNET up c --create-netns --forward tcp:9090:80 >/dev/null || fail "up c"
	for x in a b c; do serve $x 80; done
	A=$(addr_of a) B=$(addr_of b) C=$(addr_of c)
	echo "# br_netfilter on: bridge-nf-call-iptables=$(cat $BRNF)"
	check_eq "$S: a -> b on the bridge: b sees a's own address (nothing masqueraded)" "$(tcp a "$B:80")" "b $A"
	check_eq "$S: a -> upstream is masqueraded" "$(tcp a 192.0.2.2:7777)" "192.0.2.1"
	check_eq "$S: c -> b (routed into the bridge) is not masqueraded" "$(tcp c "$B:80")" "b $C"
	# The test can fail: with the masquerade rule of before, the bridge's address.
	nft replace rule inet ctnet postrouting handle "$(handle_of inet ctnet postrouting ctnet:masq4)" \
		ip saddr @masq4 oifname != @ifaces masquerade comment '"ctnet:masq4"'
	check_eq "$S: with the rule of before a -> b is masqueraded to the bridge's address (test can fail)" \
		"$(tcp a "$B:80")" "b 10.233.100.1"
	$NAT restore >/dev/null

	check "$S: init --isolate" $NAT init --isolate
	check_eq "$S: isolated: a cannot connect to b directly" "$(tcp a "$B:80")" ""
	check_eq "$S: isolated: a reaches b's forward at the bridge's address" "$(tcp a 10.233.100.1:8081 | cut -d' ' -f1)" "b"
	check_eq "$S: isolated: a reaches b's forward at the uplink's address" "$(tcp a 192.0.2.1:8081 | cut -d' ' -f1)" "b"
	check_eq "$S: isolated: a reaches c's forward" "$(tcp a 192.0.2.1:9090 | cut -d' ' -f1)" "c"
	check_eq "$S: isolated: c reaches b's forward" "$(tcp c 192.0.2.1:8081 | cut -d' ' -f1)" "b"
	check_eq "$S: isolated: the host reaches b" "$(tcp host "$B:80")" "b 10.233.100.1"
	del_rule bridge ctnet port_forward ctnet:isolate-dnat
	check_eq "$S: without the rule for br_netfilter's bridged DNAT, a loses b's forward (test can fail)" \
		"$(tcp a 10.233.100.1:8081)" ""
	$NAT restore >/dev/null
	check "$S: init --no-isolate" $NAT init --no-isolate

	docker_start
	check_eq "$S: Docker's FORWARD DROP kills bridged traffic (br_netfilter)" "$(tcp a "$B:80")" ""
	check_exit "$S: doctor exits 1" 1 $CTNET doctor
	fix=$(finding forward-drop fix)
	check_match "$S: doctor's fix covers the bridge" "$fix" "DOCKER-USER -i br0 -j ACCEPT"
	check_match "$S: ... and the veths" "$fix" "DOCKER-USER -i ve-\+ -j ACCEPT"
	check_match "$S: ... naming the bridged frames" "$(finding forward-drop evidence)" "frames bridged to its neighbours"
	echo "# fix: $fix"
	check "$S: doctor's fix runs" sh -c "$fix"
	check_eq "$S: after the fix a -> b on the bridge" "$(tcp a "$B:80")" "b $A"
	check_eq "$S: after the fix a -> upstream" "$(tcp a 192.0.2.2:7777)" "192.0.2.1"
	check_eq "$S: after the fix c -> upstream" "$(tcp c 192.0.2.2:7777)" "192.0.2.1"
	check_exit "$S: after the fix doctor exits 0" 0 $CTNET doctor
	;;
foreign)
	$CTNET up web --create-netns --forward tcp:8080:80 >/dev/null || fail "up web"
	mkbr
	upbr p
	serve web 80
	fwd() { tcp upstream 192.0.2.1:8080 | cut -d' ' -f1; }
	check_eq "$S: the forward works" "$(fwd)" "web"
	nft insert rule inet ctnet forward drop
	check_eq "$S: a drop inserted into ctnet's forward chain breaks it" "$(fwd)" ""
	check_exit "$S: ctnet-nat check exits 1" 1 $NAT check
	check_match "$S: ... naming the chain" "$(cat "$T_TMP/out")" "chain forward: rules \[\?,"
	check_exit "$S: status exits 1" 1 $CTNET status web
	check_eq "$S: ... a nat-table fault naming the chain" "$(fault web nat-table)" "inet ctnet forward"
	check_exit "$S: doctor exits 1 (it said 0 blocking)" 1 $CTNET doctor
	check_eq "$S: doctor names the chain" "$(finding ctnet-chain-foreign-rule object)" "inet ctnet forward"
	check_eq "$S: ... and the fix" "$(finding ctnet-chain-foreign-rule fix)" "ctnet-nat restore"
	check "$S: restore" $NAT restore
	check_eq "$S: restore removed the foreign rule" \
		"$(nft -j list chain inet ctnet forward | python3 -c 'import json,sys; print(sum(1 for x in json.load(sys.stdin)["nftables"] if "rule" in x and not x["rule"].get("comment","").startswith("ctnet:")))')" "0"
	check_eq "$S: the forward works again" "$(fwd)" "web"
	check_exit "$S: check in sync" 0 $NAT check
	check_exit "$S: doctor exits 0" 0 $CTNET doctor
	check_exit "$S: status exits 0" 0 $CTNET status
	# The same in the bridge table: an accept before the checks of the ports.
	nft insert rule bridge ctnet port_antispoof accept
	check_exit "$S: an accept in port_antispoof: check exits 1" 1 $NAT check
	check_eq "$S: doctor names it" "$(finding ctnet-chain-foreign-rule object)" "bridge ctnet port_antispoof"
	check "$S: restore" $NAT restore
	check_exit "$S: check in sync" 0 $NAT check
	;;
docker)
	docker_start
	mkbr
	upbr a
	$CTNET up c --create-netns >/dev/null || fail "up c"
	out_ok() { [ "$(tcp a 192.0.2.2:7777)" = 192.0.2.1 ] && [ "$(tcp c 192.0.2.2:7777)" = 192.0.2.1 ]; }
	check_fails "$S: Docker's FORWARD DROP blocks both" out_ok
	check "$S: init --accept-in-docker-user" $NAT init --accept-in-docker-user
	check_eq "$S: accepts for ve-* and br0, in and out" "$(iptables -S DOCKER-USER | grep ctnet:docker | grep -o -- '-[io] [a-z0-9+-]*' | sort | tr '\n' ' ')" "-i br0 -i ve-+ -o br0 -o ve-+ "
	check_eq "$S: ... before Docker's RETURN" "$(iptables -S DOCKER-USER | tail -n 1)" "-A DOCKER-USER -j RETURN"
	check "$S: traffic of both works" out_ok
	check_match "$S: recorded" "$(cat "$CTNET_STATE_DIR/nat/config")" "DOCKER_USER=1"
	$NAT init --isolate >/dev/null && $NAT init --no-isolate >/dev/null
	check_match "$S: an init without the option keeps it" "$(cat "$CTNET_STATE_DIR/nat/config")" "DOCKER_USER=1"
	check_exit "$S: check in sync" 0 $NAT check
	docker_restart
	check_fails "$S: after Docker flushed DOCKER-USER traffic is blocked" out_ok
	check_exit "$S: check exits 1" 1 $NAT check
	check_match "$S: ... naming what is missing" "$(cat "$T_TMP/out")" "missing ip filter DOCKER-USER rule"
	check_exit "$S: doctor exits 1" 1 $CTNET doctor
	check_eq "$S: doctor says the accepts are gone" "$(finding docker-user-missing fix)" "ctnet-nat restore"
	check "$S: restore" $NAT restore
	check_eq "$S: restore put the four back" "$(docker_rules)" "4"
	check "$S: traffic works again" out_ok
	check "$S: flush" $NAT flush
	check_eq "$S: flush removed them" "$(docker_rules)" "0"
	check "$S: restore after flush" $NAT restore
	check_eq "$S: still wanted: restore put them back" "$(docker_rules)" "4"
	$CTNET down a >/dev/null
	check_eq "$S: the last container of br0 gone: its accepts too" "$(docker_rules)" "2"
	check_exit "$S: check in sync" 0 $NAT check
	check "$S: init --no-accept-in-docker-user" $NAT init --no-accept-in-docker-user
	check_eq "$S: none left" "$(docker_rules)" "0"
	check_eq "$S: no longer recorded" "$(grep -c DOCKER_USER "$CTNET_STATE_DIR/nat/config")" "0"
	check_eq "$S: Docker's own rule stays" "$(iptables -S DOCKER-USER | grep -c RETURN)" "1"
	;;
watch)
	docker_start
	$CTNET up web --create-netns --forward tcp:8080:80 >/dev/null || fail "up web"
	$NAT init --accept-in-docker-user >/dev/null
	serve web 80
	fwd_ok() { [ "$(tcp upstream 192.0.2.1:8080 | cut -d' ' -f1)" = web ]; }
	check "$S: the forward works" fwd_ok
	LOG=$T_TMP/watch.log
	$CTNET watch >"$LOG" 2>&1 &
	PIDS+=($!)
	check "$S: watcher ready" until_true "$T_WAIT" grep -q "^ctnet watch: ready" "$LOG"
	foreign() { nft -j list chain inet ctnet forward | python3 -c 'import json,sys; print(sum(1 for x in json.load(sys.stdin)["nftables"] if "rule" in x and not x["rule"].get("comment","").startswith("ctnet:")))'; }
	nft insert rule inet ctnet forward drop
	no_foreign() { [ "$(foreign)" = 0 ]; }
	two_accepts() { [ "$(docker_rules)" = 2 ]; }
	check "$S: watch removes a drop inserted into ctnet's forward chain" until_true "$T_WAIT" no_foreign
	check "$S: ... the forward works again" until_true "$T_WAIT" fwd_ok
	check_match "$S: ... and says so" "$(cat "$LOG")" "repaired.*chain forward"
	docker_restart
	check "$S: watch puts the DOCKER-USER accepts back after Docker flushed them" until_true "$T_WAIT" two_accepts
	check "$S: ... the forward works" until_true "$T_WAIT" fwd_ok
	check_match "$S: ... and says so" "$(cat "$LOG")" "repaired.*DOCKER-USER"
	;;
hostaddr)
	$CTNET up c1 --create-netns >/dev/null || fail "up c1"
	$CTNET up c2 --create-netns >/dev/null || fail "up c2"
	mkbr
	upbr b
	H2=$(ip -j addr show ve-c2 | python3 -c 'import json,sys; print([a["local"] for a in json.load(sys.stdin)[0]["addr_info"] if a["family"]=="inet"][0])')
	serve host 9999 "$H2"
	serve host 9998 192.0.2.1
	check_eq "$S: open (default): c1 reaches a host service on c2's host-side address" "$(tcp c1 "$H2:9999" | cut -d' ' -f1)" "host"
	check "$S: init --isolate" $NAT init --isolate
	check_eq "$S: isolated: c2 reaches the service on its own host-side address" "$(tcp c2 "$H2:9999" | cut -d' ' -f1)" "host"
	check_eq "$S: isolated: c1 does not reach it" "$(tcp c1 "$H2:9999")" ""
	check_eq "$S: isolated: nor does b on the bridge" "$(tcp b "$H2:9999")" ""
	check_eq "$S: isolated: c1 reaches a host service on the host's uplink address" "$(tcp c1 192.0.2.1:9998 | cut -d' ' -f1)" "host"
	del_rule inet ctnet input ctnet:isolate-host4
	check_eq "$S: without the rule c1 reaches it (test can fail)" "$(tcp c1 "$H2:9999" | cut -d' ' -f1)" "host"
	$NAT restore >/dev/null
	# A host-side address two containers share (ctnet-nat allows it; ctnet up refuses): its
	# element goes with the last of them only.
	$NAT add s1 --address 10.233.50.2 --iface ve-s1 --host-address 10.233.50.1 >/dev/null || fail "add s1"
	$NAT add s2 --address 10.233.50.3 --iface ve-s2 --host-address 10.233.50.1 >/dev/null || fail "add s2"
	host4() { nft -j list set inet ctnet host4 | python3 -c 'import json,sys; print(" ".join(sorted(str(e) for x in json.load(sys.stdin)["nftables"] if "set" in x for e in x["set"].get("elem",[]))))'; }
	check_match "$S: a shared host-side address is in host4" "$(host4)" "10\.233\.50\.1"
	$NAT del s1
	check_match "$S: one of its containers gone: it stays" "$(host4)" "10\.233\.50\.1"
	check_exit "$S: check in sync" 0 $NAT check
	$NAT del s2
	check_eq "$S: the last gone: it goes" "$(host4 | grep -c 10.233.50.1)" "0"
	check_eq "$S: its claims are gone too" "$(ls "$CTNET_STATE_DIR/nat/shared" | grep -c 10.233.50.1)" "0"
	check_exit "$S: check in sync" 0 $NAT check
	;;
hostip)
	ip addr add 198.18.0.1/32 dev up0
	ip -n upstream route add 198.18.0.1/32 via 192.0.2.1
	$CTNET up web --create-netns --forward tcp:8080:80@198.18.0.1 >/dev/null || fail "up web"
	serve web 80
	check_eq "$S: the pinned forward works" "$(tcp upstream 198.18.0.1:8080 | cut -d' ' -f1)" "web"
	check_exit "$S: status exits 0" 0 $CTNET status web
	ip addr del 198.18.0.1/32 dev up0
	check_exit "$S: the address gone: status exits 1" 1 $CTNET status web
	check_eq "$S: ... a host-ip fault naming it" "$(fault web host-ip)" "198.18.0.1"
	check_exit "$S: doctor exits 1" 1 $CTNET doctor
	check_eq "$S: doctor names the address" "$(finding host-ip-missing object)" "198.18.0.1"
	ip addr add 198.18.0.1/32 dev up0
	check_exit "$S: the address back: status exits 0" 0 $CTNET status web
	check_exit "$S: doctor exits 0" 0 $CTNET doctor
	check_eq "$S: the forward works again" "$(tcp upstream 198.18.0.1:8080 | cut -d' ' -f1)" "web"
	;;
esac
finish
