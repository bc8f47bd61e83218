#!/usr/bin/env bash
# ctnet-nat's security properties with real traffic (issue 14):
#  - localhost: a neighbour or a container that routes 127.0.0.0/8 at the host reaches neither a
#    host service bound to 127.0.0.1 nor a forward through 127.0.0.1 (CVE-2020-8558), also when
#    all.route_localnet=1 was left on; the host's own 127.0.0.1 forwards work (veth and bridge);
#    without ctnet's rule the same attacks succeed (the test can fail);
#  - route_localnet only on the devices that carry a forwarded container's traffic, never all
#    nor an uplink; a state dir from a ctnet that set all.route_localnet is migrated once;
#  - bridge ports (vb-*): a spoofed source or a spoofed ARP sender gets nothing out;
#  - isolation (init --isolate): no direct container-to-container connection, the host still
#    reaches them, forwards through the host address still work; default stays open;
#  - sysctl and nft snapshots before/after show only what ctnet-nat(8) documents, and flush
#    turns off what it turned on.
. "$(dirname "$0")/lib.sh"

PIDS=()
trap 'for p in "${PIDS[@]}"; do pkill -P "$p" 2>/dev/null; kill "$p" 2>/dev/null; done; _t_cleanup' EXIT
bg() { "$@" >/dev/null 2>&1 & PIDS+=($!); }
in_ns() { local ns=$1; shift; if [ "$ns" = host ]; then "$@"; else ip netns exec "$ns" "$@"; fi; }
tcp() { in_ns "$1" timeout $T_CONN socat -T$T_IDLE -t$T_IDLE - "TCP:$2" </dev/null 2>/dev/null; } # NS HOST:PORT
sc() { cat "/proc/sys/net/ipv4/conf/$1/route_localnet"; }                 # route_localnet of DEV

# An attacker's own namespace: loopback never up (so 127.0.0.0/8 is not local there), a route
# for 127.0.0.0/8 at the host, and route_localnet on so that it accepts the answers from
# 127.0.0.1 (an attacker controls its own kernel).
attacker() { # NS GATEWAY
	ip -n "$1" route add 127.0.0.0/8 via "$2"
	ip netns exec "$1" sysctl -qw net.ipv4.conf.all.route_localnet=1
}
mkve() { # NAME N [lo]: ve-NAME, host 10.233.N.1, container 10.233.N.2; lo up unless "nolo"
	local c=$1 n=$2
	ip netns add "$c"
	[ "${3:-}" = nolo ] || ip -n "$c" link set lo up
	ip link add "ve-$c" type veth peer name eth0 netns "$c"
	ip addr add "10.233.$n.1/32" dev "ve-$c"
	ip link set "ve-$c" up
	ip route add "10.233.$n.2/32" dev "ve-$c"
	ip -n "$c" addr add "10.233.$n.2/32" dev eth0
	ip -n "$c" link set eth0 up
	ip -n "$c" route add "10.233.$n.1/32" dev eth0
	ip -n "$c" route add default via "10.233.$n.1"
}
mkvb() { # NAME HOSTNUM: vb-NAME on br0, container 10.233.100.HOSTNUM/24
	ip netns add "$1"
	ip -n "$1" link set lo up
	ip link add "vb-$1" type veth peer name eth0 netns "$1"
	ip link set "vb-$1" master br0 up
	ip -n "$1" addr add "10.233.100.$2/24" dev eth0
	ip -n "$1" link set eth0 up
	ip -n "$1" route add default via 10.233.100.1
}
# The sysctls ctnet may change, as "key=value" lines.
sysctls() {
	{ for f in /proc/sys/net/ipv4/conf/*/route_localnet; do
		d=${f%/route_localnet}; echo "net.ipv4.conf.${d##*/}.route_localnet=$(cat "$f")"; done
	  echo "net.ipv4.ip_forward=$(cat /proc/sys/net/ipv4/ip_forward)"
	  echo "net.ipv6.conf.all.forwarding=$(cat /proc/sys/net/ipv6/conf/all/forwarding)"; } | sort
}
sysctl_diff() { diff <(echo "$1") <(echo "$2") | grep '^>' | sed 's/^> //' | tr '\n' ' '; }

mk_upstream
bg ip netns exec upstream socat -u UDP4-RECV:7778 OPEN:"$T_TMP/udp.log",creat,append
bg ip netns exec upstream socat -t$T_IDLE TCP4-LISTEN:7777,fork,reuseaddr SYSTEM:'echo $SOCAT_PEERADDR'
ip netns add nbr # the neighbour on a second host-facing link
ip link add up1 type veth peer name eth0 netns nbr
ip addr add 198.51.100.1/24 dev up1
ip link set up1 up
ip -n nbr addr add 198.51.100.2/24 dev eth0
ip -n nbr link set eth0 up
attacker nbr 198.51.100.1
mkve c1 1
mkve c2 2 nolo
attacker c2 10.233.2.1
# br_netfilter (loaded by Docker and others) would show bridged frames to the inet hooks too:
# off in this world, so the bridge family rules must hold on their own (checked with it on
# below when the module is there).
BRNF=/proc/sys/net/bridge/bridge-nf-call-iptables
[ -e "$BRNF" ] && echo 0 >"$BRNF" && echo 0 >/proc/sys/net/bridge/bridge-nf-call-ip6tables
ip link add br0 type bridge
ip addr add 10.233.100.1/24 dev br0
ip link set br0 up
mkvb c3 5
mkvb c4 6
for c in c1 c2 c3 c4; do
	bg ip netns exec "$c" socat -t$T_IDLE TCP4-LISTEN:80,fork,reuseaddr SYSTEM:"echo $c \$SOCAT_PEERADDR"
done
bg socat -t$T_IDLE TCP4-LISTEN:9999,bind=127.0.0.1,fork,reuseaddr SYSTEM:'echo hostonly'
for w in "c1 80" "c2 80" "c3 80" "c4 80" "host 9999" "upstream 7778" "upstream 7777"; do
	wait_port $w || fail "server $w did not start"
done
# Unrelated admin table: never touched.
nft -f - <<'NFT'
table inet admin {
	chain input { type filter hook input priority 0; policy accept; }
}
NFT
ADMIN=$(nft -j list table inet admin)
BEFORE=$(sysctls)

# --- a state dir written by an older ctnet, which set all.route_localnet=1 ---
legacy=$T_SANDBOX/legacy
mkdir -p "$legacy/nat/containers"
printf '# ctnet-nat configuration\n' >"$legacy/nat/config"
printf 'ADDRESS=10.233.1.2\nIFACE=ve-c1\nFORWARD=tcp:8080:80\n' >"$legacy/nat/containers/c1"
sysctl -qw net.ipv4.conf.all.route_localnet=1
check "init on an older ctnet's state dir" env CTNET_STATE_DIR="$legacy" "$NAT" init
check_eq "migration: all.route_localnet back to 0, on for ve-c1 (its forward) instead" \
	"$(sc all) $(sc ve-c1)" "0 1"
check_match "migration recorded (done once)" "$(cat "$legacy/nat/config")" "ROUTE_LOCALNET=interfaces"
check "flush the migrated state" env CTNET_STATE_DIR="$legacy" "$NAT" flush
check_eq "flush turned route_localnet off on ve-c1" "$(sc ve-c1)" "0"
# A fresh state dir on a host where the admin set all.route_localnet: ctnet leaves it alone.
sysctl -qw net.ipv4.conf.all.route_localnet=1
check "init on a fresh state dir" env CTNET_STATE_DIR="$T_SANDBOX/fresh" "$NAT" init
check_eq "an admin's all.route_localnet=1 stays (ctnet did not set it)" "$(sc all)" "1"
env CTNET_STATE_DIR="$T_SANDBOX/fresh" "$NAT" flush
sysctl -qw net.ipv4.conf.all.route_localnet=0
sysctl -qw net.ipv4.ip_forward=0

# --- the real setup ---
check "init" "$NAT" init
check "add c1 (veth, forward 8080)" "$NAT" add c1 --address 10.233.1.2 --iface ve-c1 --forward tcp:8080:80
check "add c2 (veth, forward 9090)" "$NAT" add c2 --address 10.233.2.2 --iface ve-c2 --forward tcp:9090:80
check "add c3 (bridge port, forward 8081)" "$NAT" add c3 --address 10.233.100.5 --iface vb-c3 --forward tcp:8081:80
check_eq "sysctls changed: exactly ip_forward and route_localnet on ve-c1, ve-c2 and br0" \
	"$(sysctl_diff "$BEFORE" "$(sysctls)")" \
	"net.ipv4.conf.br0.route_localnet=1 net.ipv4.conf.ve-c1.route_localnet=1 net.ipv4.conf.ve-c2.route_localnet=1 net.ipv4.ip_forward=1 "
check_eq "route_localnet stays off on all, default, the uplinks and the bridge ports" \
	"$(sc all) $(sc default) $(sc up0) $(sc up1) $(sc vb-c3)" "0 0 0 0 0"
tables=$(nft -j list tables | python3 -c 'import json,sys; print(" ".join(sorted(t["table"]["family"]+" "+t["table"]["name"] for t in json.load(sys.stdin)["nftables"] if "table" in t)))')
check_eq "nft: ctnet's two tables and the admin's, nothing else" "$tables" "bridge ctnet inet admin inet ctnet"
chains=$(nft -j list ruleset | python3 -c 'import json,sys; print(" ".join(sorted(c["chain"]["family"]+":"+c["chain"]["name"]+":"+c["chain"].get("hook","") for c in json.load(sys.stdin)["nftables"] if "chain" in c and c["chain"]["table"]=="ctnet")))')
check_eq "nft: the documented chains and hooks" "$chains" \
	"bridge:port_antispoof:prerouting bridge:port_forward:forward inet:antispoof:prerouting inet:forward:forward inet:input:input inet:output:output inet:postrouting:postrouting inet:prerouting:prerouting"

# --- localhost (CVE-2020-8558) ---
check_eq "host -> 127.0.0.1:8080 reaches c1 (veth)" "$(tcp host 127.0.0.1:8080)" "c1 10.233.1.1"
check_eq "host -> 127.0.0.1:8081 reaches c3 (bridge port)" "$(tcp host 127.0.0.1:8081)" "c3 10.233.100.1"
check_eq "host -> 127.0.0.1:9999 (the host-only service) works" "$(tcp host 127.0.0.1:9999)" "hostonly"
attacks() { # WHAT: the four attacks must all fail
	check_eq "$1: neighbour -> 127.0.0.1:9999 (host-only service) gets nothing" "$(tcp nbr 127.0.0.1:9999)" ""
	check_eq "$1: neighbour -> 127.0.0.1:8080 (c1's forward) gets nothing" "$(tcp nbr 127.0.0.1:8080)" ""
	check_eq "$1: container c2 -> 127.0.0.1:9999 gets nothing" "$(tcp c2 127.0.0.1:9999)" ""
	check_eq "$1: container c2 -> 127.0.0.1:8080 gets nothing" "$(tcp c2 127.0.0.1:8080)" ""
}
attacks "per-interface route_localnet"
sysctl -qw net.ipv4.conf.all.route_localnet=1
attacks "all.route_localnet=1 left on"
drops=$(nft -j list chain inet ctnet antispoof | python3 -c 'import json,sys
for x in json.load(sys.stdin)["nftables"]:
    r=x.get("rule")
    if r and r.get("comment")=="ctnet:localnet":
        print([e["counter"]["packets"] for e in r["expr"] if "counter" in e][0])')
[ "${drops:-0}" -gt 0 ] && pass "rule ctnet:localnet counted the attacks ($drops packets)" ||
	fail "rule ctnet:localnet counted ${drops:-nothing}"
# The test can fail: without the rule (as before this fix) the attacks get through.
handle=$(nft -a list chain inet ctnet antispoof | sed -n 's/.*ctnet:localnet.*# handle \([0-9]*\).*/\1/p')
nft delete rule inet ctnet antispoof handle "$handle"
check_eq "without the rule: neighbour reaches the host-only service (test can fail)" "$(tcp nbr 127.0.0.1:9999)" "hostonly"
check_eq "without the rule: neighbour reaches c1's forward via 127.0.0.1 (test can fail)" "$(tcp nbr 127.0.0.1:8080)" "c1 198.51.100.2"
sysctl -qw net.ipv4.conf.all.route_localnet=0
check_eq "without the rule, all=0: a forward via 127.0.0.1 is still reachable (route_localnet alone is not enough)" \
	"$(tcp nbr 127.0.0.1:8080)" "c1 198.51.100.2"
check_eq "without the rule: container c2 reaches the host-only service over its ve-c2" "$(tcp c2 127.0.0.1:9999)" "hostonly"
check_exit "check reports the missing rule" 1 "$NAT" check
check "restore" "$NAT" restore
attacks "after restore"
check_eq "after restore: host -> 127.0.0.1:8080 still reaches c1" "$(tcp host 127.0.0.1:8080)" "c1 10.233.1.1"

# --- bridge ports: anti-spoofing ---
ip -n c4 addr add 10.233.100.9/24 dev eth0
udp_from() { echo "$2" | ip netns exec "$1" timeout 3 socat -u - "UDP4:192.0.2.2:7778,bind=$3"; }
udp_from c4 spoof-before 10.233.100.9
wait_for grep -q spoof-before "$T_TMP/udp.log"
check_match "before c4 is added, its spoofed source reaches upstream (test can fail)" "$(cat "$T_TMP/udp.log")" "spoof-before"
# ARP: c4 tells the host that c3's address is at c4's MAC.
arp_spoof() {
	ip netns exec c4 python3 - "$(ip -j link show br0 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])')" <<'PY'
import socket, sys, subprocess, json
br = bytes.fromhex(sys.argv[1].replace(":", ""))
me = bytes.fromhex(json.loads(subprocess.check_output(["ip", "-j", "link", "show", "eth0"]))[0]["address"].replace(":", ""))
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
arp = b"\x00\x01\x08\x00\x06\x04\x00\x02" + me + socket.inet_aton("10.233.100.5") + br + socket.inet_aton("10.233.100.1")
s.send(br + me + b"\x08\x06" + arp)
PY
}
c3mac=$(ip -n c3 -j link show eth0 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])')
c4mac=$(ip -n c4 -j link show eth0 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])')
neigh5() { ip -j neigh show 10.233.100.5 dev br0 | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d[0].get("lladdr","") if d else "")'; }
neigh_is() { [ "$(neigh5)" = "$1" ]; }
ping -c1 -W2 10.233.100.5 >/dev/null
check_eq "host knows c3's MAC" "$(neigh5)" "$c3mac"
sleep 1.2 # past the neighbour table's locktime
arp_spoof
wait_for neigh_is "$c4mac"
check_eq "before c4 is added, its ARP reply for c3's address poisons the host (test can fail)" "$(neigh5)" "$c4mac"
ip neigh flush dev br0
ping -c1 -W2 10.233.100.5 >/dev/null
check "add c4 (bridge port)" "$NAT" add c4 --address 10.233.100.6 --iface vb-c4
udp_from c4 spoof-after 10.233.100.9
udp_from c4 real-after 10.233.100.6
# Sent after the spoofed one on the same path: once it is there, the other would be too.
wait_for grep -q real-after "$T_TMP/udp.log"
log=$(cat "$T_TMP/udp.log")
check_match "c4's own address still gets through" "$log" "real-after"
[[ "$log" == *spoof-after* ]] && fail "c4's spoofed source 10.233.100.9 reached upstream" ||
	pass "c4's spoofed source 10.233.100.9 dropped on its bridge port"
check_eq "c4 reaches upstream by TCP from its own address (masqueraded)" "$(tcp c4 192.0.2.2:7777)" "192.0.2.1"
sleep 1.2
arp_spoof
sleep 0.3
check_eq "c4's ARP reply claiming c3's address is dropped: the host keeps c3's MAC" "$(neigh5)" "$c3mac"
check_eq "c3 still reachable from the host" "$(tcp host 10.233.100.5:80)" "c3 10.233.100.1"
sent=$("$NAT" list --json | python3 -c 'import json,sys; print({c["name"]:c for c in json.load(sys.stdin)["containers"]}["c4"]["sent"]["packets"])')
[ "${sent:-0}" -gt 0 ] && pass "list counts a bridge port's packets (c4 sent $sent)" || fail "c4 sent counter: ${sent:-none}"

# --- isolation ---
check_eq "default (open): c1 -> c2 directly" "$(tcp c1 10.233.2.2:80)" "c2 10.233.1.2"
check_eq "default (open): c3 -> c4 on the same bridge" "$(tcp c3 10.233.100.6:80)" "c4 10.233.100.5"
check "init --isolate" "$NAT" init --isolate
isolated() { # WHAT
	check_eq "$1: c1 cannot connect to c2's address" "$(tcp c1 10.233.2.2:80)" ""
	check_eq "$1: c3 cannot connect to c4 (same bridge)" "$(tcp c3 10.233.100.6:80)" ""
	check_eq "$1: c3 cannot connect to c2 (bridge to veth)" "$(tcp c3 10.233.2.2:80)" ""
	check_eq "$1: the host reaches c2" "$(tcp host 10.233.2.2:80)" "c2 10.233.2.1"
	check_eq "$1: the host reaches c4" "$(tcp host 10.233.100.6:80)" "c4 10.233.100.1"
	check_match "$1: c1 reaches c2's forward through the host address" "$(tcp c1 192.0.2.1:9090)" "^c2 "
	check_match "$1: c3 reaches c2's forward through the host address" "$(tcp c3 192.0.2.1:9090)" "^c2 "
	check_eq "$1: c1 still reaches upstream" "$(tcp c1 192.0.2.2:7777)" "192.0.2.1"
}
isolated "isolated"
if [ -e "$BRNF" ]; then
	echo 1 >"$BRNF"
	check_eq "isolated, br_netfilter on: c3 cannot connect to c4" "$(tcp c3 10.233.100.6:80)" ""
	check_match "isolated, br_netfilter on: c3 reaches c2's forward" "$(tcp c3 192.0.2.1:9090)" "^c2 "
	echo 0 >"$BRNF"
fi
check_match "isolation recorded in the desired state" "$(cat "$CTNET_STATE_DIR/nat/config")" "ISOLATE=1"
check "init without an isolation option keeps it" "$NAT" init
check_eq "still isolated after a plain init" "$(tcp c1 10.233.2.2:80)" ""
nft flush ruleset
check "restore after nft flush ruleset" "$NAT" restore
isolated "after restore"
check_exit "check in sync with isolation" 0 "$NAT" check
check "init --no-isolate" "$NAT" init --no-isolate
check_eq "open again: c1 -> c2 directly" "$(tcp c1 10.233.2.2:80)" "c2 10.233.1.2"
check_eq "open again: c3 -> c4" "$(tcp c3 10.233.100.6:80)" "c4 10.233.100.5"

# --- flush leaves only what is documented ---
nft -f - <<'NFT'
table inet admin {
	chain input { type filter hook input priority 0; policy accept; }
}
NFT
ADMIN=$(nft -j list table inet admin)
check "flush" "$NAT" flush
check_eq "flush removed both ctnet tables, nothing else" "$(nft list tables | tr '\n' ' ')" "table inet admin "
check_eq "after flush only ip_forward differs from before (documented: left on)" \
	"$(sysctl_diff "$BEFORE" "$(sysctls)")" "net.ipv4.ip_forward=1 "
check_eq "after flush: c2 cannot reach the host-only service (route_localnet off on ve-c2)" "$(tcp c2 127.0.0.1:9999)" ""
check "restore after flush" "$NAT" restore
check_eq "restore switched route_localnet back on where needed" "$(sc ve-c1) $(sc ve-c2) $(sc br0) $(sc all)" "1 1 1 0"
check_eq "host -> 127.0.0.1:8081 reaches c3 after restore" "$(tcp host 127.0.0.1:8081)" "c3 10.233.100.1"
check "forward del c1's only forward" "$NAT" forward del c1 tcp:8080:80
check_eq "route_localnet off on ve-c1 once it forwards nothing" "$(sc ve-c1)" "0"
[ "$(nft -j list table inet admin)" == "$ADMIN" ] && pass "table inet admin untouched" || fail "table inet admin changed"
finish
