#!/usr/bin/env bash
# ctnet doctor: one world per scenario (each a fresh `unshare -m -n` host with an upstream and
# a container "web" forwarding tcp:8080:80). Each scenario breaks the host the way another tool
# would, checks that traffic really breaks, that doctor exits 1 naming the culprit (table
# and JSON carry the same findings), applies the fix doctor prints, and checks that doctor
# exits 0 and traffic works again.
. "$(dirname "$0")/lib.sh"

SCENARIOS="healthy docker docker_optin inet_fw ip_forward route_localnet host_route addr_clash route_overlap ext_iface listener listener6"

if [ -z "${DOCTOR_SCENARIO:-}" ]; then
	# The outer sandbox only runs each scenario in a world of its own.
	for s in $SCENARIOS; do
		echo "## scenario $s"
		if env -u CTNET_SANDBOX DOCTOR_SCENARIO="$s" bash "$0"; then
			pass "scenario $s: every check passed"
		else
			fail "scenario $s: see the FAIL lines above"
		fi
	done
	finish
fi

PIDS=()
trap 'for p in "${PIDS[@]}"; do pkill -P "$p" 2>/dev/null; kill "$p" 2>/dev/null; done; _t_cleanup' EXIT
bg() { "$@" >/dev/null 2>&1 & PIDS+=($!); }

mk_upstream
ip route add default via 192.0.2.2
$CTNET up web --create-netns --forward tcp:8080:80 >/dev/null || fail "up web"
bg ip netns exec web socat -t$T_IDLE TCP4-LISTEN:80,fork,reuseaddr SYSTEM:'echo web'
bg ip netns exec upstream socat -t$T_IDLE TCP4-LISTEN:7777,fork,reuseaddr SYSTEM:'echo up'
wait_port web 80 || fail "web server did not start"
wait_port upstream 7777 || fail "upstream server did not start"

out_ok() { [ "$(ip netns exec web timeout $T_CONN socat -T$T_IDLE -t$T_IDLE - TCP:192.0.2.2:7777 </dev/null 2>/dev/null)" = up ]; }
fwd_ok() { [ "$(ip netns exec upstream timeout $T_CONN socat -T$T_IDLE -t$T_IDLE - TCP:192.0.2.1:8080 </dev/null 2>/dev/null)" = web ]; }
local_ok() { [ "$(timeout $T_CONN socat -T$T_IDLE -t$T_IDLE - TCP:127.0.0.1:8080 </dev/null 2>/dev/null)" = web ]; }
traffic_ok() { out_ok && fwd_ok && local_ok; }

# jq-less JSON helpers over `ctnet doctor --json`
dj() { $CTNET doctor --json 2>/dev/null; }
codes() { dj | python3 -c 'import json,sys; print(" ".join(sorted(f["code"] for f in json.load(sys.stdin)["findings"] if f["severity"]=="blocks")))'; }
# finding CODE FIELD: that field of the first blocking finding with CODE
finding() { dj | python3 -c 'import json,sys
for f in json.load(sys.stdin)["findings"]:
    if f["code"]==sys.argv[1] and f["severity"]=="blocks": print(f.get(sys.argv[2],"")); break' "$1" "$2"; }

# The table and the JSON show the same findings: each JSON finding's code and object appear
# on one line of the table, and the counts agree.
same_findings() {
	local table json
	table=$($CTNET doctor 2>/dev/null)
	json=$(dj)
	python3 - "$table" "$json" <<'PY'
import json, sys
table, doc = sys.argv[1].splitlines(), json.loads(sys.argv[2])
heads = [l for l in table if l and not l.startswith(" ") and not l[0].isdigit()]
ok = len(heads) == len(doc["findings"])
for f in doc["findings"]:
    ok &= any(l.split()[0] == f["severity"] and f["code"] in l and f["object"] in l for l in heads)
    ok &= any(f["evidence"] in l for l in table)
sys.exit(0 if ok else 1)
PY
}

# broken CODE OBJECT_REGEX: traffic is broken (what), doctor exits 1 naming it
broken() {
	local code=$1 obj=$2 what=$3
	check_exit "$S: doctor exits 1" 1 $CTNET doctor
	check_match "$S: doctor names $code" "$(codes)" "(^| )$code( |$)"
	check_match "$S: the finding names $obj" "$(finding "$code" object)" "$obj"
	check "$S: table and --json carry the same findings" same_findings
	if [ -n "$what" ]; then
		check_fails "$S: the breakage is real ($what fails)" "$what"
	fi
}
# apply the fix doctor printed for CODE
apply_fix() {
	local fix
	fix=$(finding "$1" fix)
	[ -n "$fix" ] || { fail "$S: no fix printed for $1"; return; }
	echo "# fix: $fix"
	fix=${fix//ctnet-nat /$NAT }
	check "$S: the printed fix runs" sh -c "$fix"
}
healed() {
	check_exit "$S: after the fix doctor exits 0" 0 $CTNET doctor
	check "$S: after the fix traffic works (out, forward, localhost forward)" traffic_ok
}

S=$DOCTOR_SCENARIO
case $S in
healthy)
	check "$S: traffic works" traffic_ok
	check_exit "$S: doctor exits 0" 0 $CTNET doctor
	check_eq "$S: --json: no blocker" "$(dj | python3 -c 'import json,sys; print(json.load(sys.stdin)["blocks"])')" "0"
	check_match "$S: table summary" "$($CTNET doctor)" "1 container checked: 0 blocking"
	check_exit "$S: doctor web exits 0 (also inside)" 0 $CTNET doctor web
	;;
docker)
	# What dockerd does on start (iptables-nft), with its DOCKER-USER chain.
	iptables -N DOCKER-USER && iptables -A DOCKER-USER -j RETURN
	iptables -N DOCKER && iptables -N DOCKER-ISOLATION-STAGE-1
	iptables -A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j RETURN
	iptables -A DOCKER-ISOLATION-STAGE-1 -j RETURN
	iptables -P FORWARD DROP
	iptables -A FORWARD -j DOCKER-USER
	iptables -A FORWARD -j DOCKER-ISOLATION-STAGE-1
	iptables -A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
	iptables -A FORWARD -o docker0 -j DOCKER
	iptables -A FORWARD -i docker0 ! -o docker0 -j ACCEPT
	broken forward-drop "^ip filter FORWARD$" out_ok
	check_match "$S: fix uses DOCKER-USER" "$(finding forward-drop fix)" "DOCKER-USER -i ve-\+ -j ACCEPT"
	check_match "$S: evidence says policy drop" "$(finding forward-drop evidence)" "policy drop of ip filter FORWARD"
	apply_fix forward-drop
	healed
	;;
docker_optin)
	iptables -N DOCKER-USER && iptables -A DOCKER-USER -j RETURN
	iptables -P FORWARD DROP && iptables -A FORWARD -j DOCKER-USER
	docker_rules() { iptables -S DOCKER-USER | grep -c 'ctnet:docker'; }
	check_exit "$S: doctor exits 1 before the opt-in" 1 $CTNET doctor
	check_eq "$S: plain init adds nothing to DOCKER-USER" "$($NAT init >/dev/null; docker_rules)" "0"
	check "$S: init --accept-in-docker-user" $NAT init --accept-in-docker-user
	check_eq "$S: two accept rules in DOCKER-USER" "$(docker_rules)" "2"
	check_eq "$S: ... before Docker's RETURN" "$(iptables -S DOCKER-USER | sed -n 2,3p | grep -c ACCEPT)" "2"
	check_eq "$S: again: still two" "$($NAT init --accept-in-docker-user >/dev/null; docker_rules)" "2"
	healed
	check "$S: ctnet-nat flush" $NAT flush
	check_eq "$S: flush removed them" "$(docker_rules)" "0"
	check_eq "$S: Docker's own rule stays" "$(iptables -S DOCKER-USER | grep -c RETURN)" "1"
	$NAT restore >/dev/null
	;;
inet_fw)
	nft -f - <<'NFT'
table inet fw {
	chain forward {
		type filter hook forward priority filter; policy drop;
		ct state established,related accept
		iifname "lan0" accept
	}
}
NFT
	broken forward-drop "^inet fw forward$" fwd_ok
	check_match "$S: status warns in one line, pointing at doctor" "$($CTNET status 2>&1 >/dev/null)" \
		"^ctnet: warning: .*inet fw forward.*ctnet doctor[^"$'\n'"]*$"
	check_match "$S: up warns too" "$($CTNET up api --create-netns 2>&1 >/dev/null)" "warning: .*inet fw forward"
	$CTNET down api
	apply_fix forward-drop
	healed
	check_eq "$S: after the fix status prints no warning" "$($CTNET status 2>&1 >/dev/null)" ""
	;;
ip_forward)
	sysctl -qw net.ipv4.ip_forward=0
	broken ip-forward-off "net.ipv4.ip_forward" out_ok
	apply_fix ip-forward-off
	healed
	;;
route_localnet)
	sysctl -qw net.ipv4.conf.all.route_localnet=0 net.ipv4.conf.ve-web.route_localnet=0
	broken route-localnet-off "ve-web.route_localnet" local_ok
	apply_fix route-localnet-off
	healed
	;;
host_route)
	ip route del 10.233.1.2 dev ve-web
	broken host-route-missing "10.233.1.2/32 dev ve-web" fwd_ok
	apply_fix host-route-missing
	healed
	;;
addr_clash)
	ip link add vpn0 type veth peer name vpn0p && ip link set vpn0 up && ip link set vpn0p up
	ip addr add 10.233.1.2/32 dev vpn0
	broken address-clash "interface vpn0" fwd_ok
	apply_fix address-clash
	healed
	;;
route_overlap)
	ip link add vpn0 type veth peer name vpn0p && ip link set vpn0 up && ip link set vpn0p up
	ip route add 10.233.0.0/16 dev vpn0
	broken route-overlap "10.233.0.0/16 dev vpn0" ""
	apply_fix route-overlap
	healed
	;;
ext_iface)
	$NAT init --external-interface wan9 || fail "$S: init --external-interface wan9"
	broken external-interface-missing "wan9" out_ok
	apply_fix external-interface-missing
	healed
	;;
listener)
	# An IPv4 socket on the forwarded port (as podman's conmon holds one): ctnet's DNAT takes
	# its connections first, so it is a note naming the process, not a blocker.
	bg socat -t$T_IDLE TCP4-LISTEN:8080,fork,reuseaddr SYSTEM:'echo host'
	wait_port host 8080 || fail "$S: host listener did not start"
	lp=${PIDS[-1]}
	check "$S: traffic still works (the forward, from upstream and 127.0.0.1)" traffic_ok
	check_exit "$S: doctor exits 0" 0 $CTNET doctor
	check_eq "$S: no blocking finding" "$(codes)" ""
	note=$(dj | python3 -c 'import json,sys
for f in json.load(sys.stdin)["findings"]:
    if f["code"]=="port-listener-shadowed" and f["severity"]=="note": print(f["object"], "|", f["evidence"])')
	check_match "$S: a note names the port and the process" "$note" "^tcp port 8080 \| pid $lp \(socat\) listens on 0\.0\.0\.0:8080.*DNAT takes the connections first"
	check "$S: table and --json carry the same findings" same_findings
	;;
listener6)
	# An IPv6 socket on the port of a forward to a container without IPv6: IPv6 connections
	# reach the host process, not the container. Blocking.
	host6_ok() { [ "$(timeout 4 socat -T2 -t2 - TCP6:[::1]:8080 </dev/null 2>/dev/null)" = web ]; }
	bg socat -t$T_IDLE TCP6-LISTEN:8080,ipv6only=1,fork,reuseaddr SYSTEM:'echo host'
	wait_port host 8080 || fail "$S: host listener did not start"
	lp=${PIDS[-1]}
	broken port-listener "tcp port 8080" host6_ok
	check_match "$S: evidence names the process and why" "$(finding port-listener evidence)" \
		"pid $lp \(socat\) listens on \[::\]:8080.*no IPv6 address"
	check "$S: IPv4 traffic still works" traffic_ok
	kill "$lp"; wait "$lp" 2>/dev/null
	wait_for sh -c "! ss -Hlnt | grep -q ':8080 '"
	healed
	;;
esac
finish
