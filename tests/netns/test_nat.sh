#!/usr/bin/env bash
# ctnet-nat with real traffic: a host (this netns), an upstream "internet" and two
# containers c1, c2 on veths, built with plain ip commands. Checks masquerade, forwards
# from outside / localhost / the host's address / another container (hairpin), UDP,
# ranges, --host-ip, IPv6, anti-spoofing, conntrack cleanup, drift and restore, counters,
# and that an unrelated table is never touched.
. "$(dirname "$0")/lib.sh"

PIDS=()
# Children first: a forked socat serving a flow that conntrack cleanup cut off never ends.
trap 'for p in "${PIDS[@]}"; do pkill -P "$p" 2>/dev/null; kill "$p" 2>/dev/null; done; _t_cleanup' EXIT

bg() { "$@" >/dev/null 2>&1 & PIDS+=($!); }
# in NS: run a command there ("host" = here)
in_ns() { local ns=$1; shift; if [ "$ns" = host ]; then "$@"; else ip netns exec "$ns" "$@"; fi; }
tcp() { in_ns "$1" timeout $T_CONN socat -T$T_IDLE -t$T_IDLE - "TCP:$2" </dev/null 2>/dev/null; } # NS HOST:PORT
udp() { echo ping | in_ns "$1" timeout $T_CONN socat -T$T_IDLE -t$T_IDLE - "UDP:$2" 2>/dev/null; }

mk_upstream
ip addr add 192.0.2.3/24 dev up0 # a second host address, for --host-ip
mkct c1 1
mkct c2 2

# Unrelated admin table: must stay byte-identical across every ctnet command.
mk_admin() {
	nft -f - <<'NFT'
table inet admin {
	set blocked { type ipv4_addr; elements = { 198.51.100.7 } }
	chain input {
		type filter hook input priority 0; policy accept;
		ip saddr @blocked counter drop
	}
}
NFT
	ADMIN=$(nft -j list table inet admin)
	[[ "$ADMIN" == *blocked* ]] || fail "could not create table inet admin"
}
mk_admin
nat() { # runs ctnet-nat and checks the admin table did not change
	"$NAT" "$@"
	local rc=$?
	[ "$(nft -j list table inet admin)" == "$ADMIN" ] || fail "ctnet-nat $* changed table inet admin"
	return $rc
}

# Servers. c1: TCP 80 answers "c1 PEER", 81 echoes (long flows), 91 answers its port,
# UDP 53 answers; IPv6 on 80. Upstream: 7777 answers the peer address; UDP 7778 logs.
bg ip netns exec c1 socat -t$T_IDLE TCP4-LISTEN:80,fork,reuseaddr SYSTEM:'echo c1 $SOCAT_PEERADDR'
bg ip netns exec c1 socat -t$T_IDLE TCP6-LISTEN:80,ipv6only=1,fork,reuseaddr SYSTEM:'echo c1v6 $SOCAT_PEERADDR'
bg ip netns exec c1 socat -t$T_IDLE TCP4-LISTEN:81,fork,reuseaddr EXEC:cat
bg ip netns exec c1 socat -t$T_IDLE TCP4-LISTEN:91,fork,reuseaddr SYSTEM:'echo port $SOCAT_SOCKPORT'
bg ip netns exec c1 socat UDP4-LISTEN:53,fork,reuseaddr SYSTEM:'echo c1udp'
bg ip netns exec c2 socat -t$T_IDLE TCP4-LISTEN:80,fork,reuseaddr SYSTEM:'echo c2 $SOCAT_PEERADDR'
bg ip netns exec upstream socat -t$T_IDLE TCP4-LISTEN:7777,fork,reuseaddr SYSTEM:'echo $SOCAT_PEERADDR'
bg ip netns exec upstream socat -t$T_IDLE TCP6-LISTEN:7777,ipv6only=1,fork,reuseaddr SYSTEM:'echo $SOCAT_PEERADDR'
bg ip netns exec upstream socat -u UDP4-RECV:7778 OPEN:"$T_TMP/udp.log",creat,append
bg socat -t$T_IDLE TCP4-LISTEN:7000,fork,reuseaddr SYSTEM:'echo host $SOCAT_PEERADDR'
for w in "c1 80" "c1 81" "c1 91" "c1 53" "c2 80" "upstream 7777" "upstream 7778" "host 7000"; do
	wait_port $w || fail "server $w did not start"
done

check "init" nat init
check "init again (idempotent)" nat init
check_eq "ip_forward switched on in this netns" "$(cat /proc/sys/net/ipv4/ip_forward)" 1
check_eq "route_localnet not switched on for all interfaces" "$(cat /proc/sys/net/ipv4/conf/all/route_localnet)" 0

# Before c1 is NAT'ed its spoofed packets pass: proves the spoof test below can fail.
ip -n c1 addr add 10.233.9.9/32 dev eth0
echo spoof-before | ip netns exec c1 timeout 3 socat -u - UDP4:192.0.2.2:7778,bind=10.233.9.9
wait_for grep -q spoof-before "$T_TMP/udp.log"
check_match "without ctnet, a spoofed packet reaches upstream (test can fail)" "$(cat "$T_TMP/udp.log")" "spoof-before"

check "add c1 with forwards" nat add c1 --address 10.233.1.2 --address6 fd42::1:2 --iface ve-c1 \
	--forward tcp:8080:80 --forward udp:5353:53
check "add c1 again (idempotent)" nat add c1 --address 10.233.1.2 --address6 fd42::1:2 --iface ve-c1 \
	--forward tcp:8080:80 --forward udp:5353:53
check "add c2" nat add c2 --address 10.233.2.2 --address6 fd42::2:2 --iface ve-c2
check_eq "route_localnet on ve-c1 (has forwards), not on ve-c2 (none) nor the uplink" \
	"$(cat /proc/sys/net/ipv4/conf/{ve-c1,ve-c2,up0,all}/route_localnet | tr '\n' ' ')" "1 0 0 0 "
check_eq "fwd4 holds exactly the two forwards" \
	"$(nft -j list map inet ctnet fwd4 | python3 -c 'import json,sys; print(sum(len(x["map"].get("elem",[])) for x in json.load(sys.stdin)["nftables"] if "map" in x))')" 2

# Masquerade.
check_eq "upstream sees the host address for c1 (masquerade)" "$(tcp c1 192.0.2.2:7777)" "192.0.2.1"
v6src=$(tcp c1 '[2001:db8::2]:7777' | tr -d '[]')
check_eq "upstream sees the host IPv6 address for c1" \
	"$(python3 -c 'import ipaddress,sys; print(ipaddress.ip_address(sys.argv[1]))' "$v6src" 2>&1)" "2001:db8::1"
check_eq "container -> container keeps its source" "$(tcp c2 10.233.1.2:80)" "c1 10.233.2.2"
check_eq "container -> host keeps its source" "$(tcp c1 10.233.1.1:7000)" "host 10.233.1.2"

# Forwards.
check_eq "upstream -> host:8080 reaches c1:80" "$(tcp upstream 192.0.2.1:8080)" "c1 192.0.2.2"
check_match "host -> 127.0.0.1:8080 reaches c1" "$(tcp host 127.0.0.1:8080)" "^c1 "
check_match "host -> own address 192.0.2.1:8080 reaches c1" "$(tcp host 192.0.2.1:8080)" "^c1 "
check_eq "c2 -> host:8080 reaches c1 through the host (hairpin)" "$(tcp c2 192.0.2.1:8080)" "c1 10.233.1.1"
check_eq "UDP forward upstream -> host:5353 -> c1:53" "$(udp upstream 192.0.2.1:5353)" "c1udp"
check_match "IPv6 forward upstream -> [2001:db8::1]:8080 -> c1" "$(tcp upstream '[2001:db8::1]:8080')" "^c1v6 "

check "forward add port range" nat forward add c1 tcp:8000-8002:90-92
check_eq "range: host 8001 -> c1:91" "$(tcp upstream 192.0.2.1:8001)" "port 91"
check "forward add --host-ip" nat forward add c1 tcp:8443:80 --host-ip 192.0.2.1
check_eq "--host-ip forward works on that address" "$(tcp upstream 192.0.2.1:8443)" "c1 192.0.2.2"
check_eq "--host-ip forward not on another host address" "$(tcp upstream 192.0.2.3:8443)" ""

# Anti-spoofing: c1 now in ifaces.
echo spoof-after | ip netns exec c1 timeout 3 socat -u - UDP4:192.0.2.2:7778,bind=10.233.9.9
echo real-after | ip netns exec c1 timeout 3 socat -u - UDP4:192.0.2.2:7778
# Sent after the spoofed one on the same path: once it is there, the other would be too.
wait_for grep -q real-after "$T_TMP/udp.log"
log=$(cat "$T_TMP/udp.log")
check_match "the real address gets through" "$log" "real-after"
[[ "$log" == *spoof-after* ]] && fail "spoofed source 10.233.9.9 reached upstream" ||
	pass "spoofed source 10.233.9.9 dropped"

# Counters.
counters() { "$NAT" list --json | python3 -c 'import json,sys
d={c["name"]:c for c in json.load(sys.stdin)["containers"]}
c=d["c1"]; f=[x for x in c["forwards"] if x["spec"]=="tcp:8080:80"][0]
print(c["sent"]["packets"], f["connections"])'; }
read -r sent1 conn1 <<<"$(counters)"
tcp upstream 192.0.2.1:8080 >/dev/null; tcp c1 192.0.2.2:7777 >/dev/null
read -r sent2 conn2 <<<"$(counters)"
[ "${sent1:-0}" -gt 0 ] && [ "$sent2" -gt "$sent1" ] && pass "list --json: c1 sent packets grow ($sent1 -> $sent2)" ||
	fail "list --json: c1 sent packets $sent1 -> $sent2, expected growth"
[ "$conn2" -gt "$conn1" ] && pass "list --json: forward connections grow ($conn1 -> $conn2)" ||
	fail "list --json: forward connections $conn1 -> $conn2, expected growth"
check_match "list is readable" "$("$NAT" list)" "c1 +ve-c1 +10.233.1.2"

# Conntrack: an established flow through tcp:8081 stops after forward del.
check "forward add tcp:8081:81" nat forward add c1 tcp:8081:81
cat >"$T_TMP/flow.py" <<'PY'
import os, socket, sys, time
s = socket.create_connection(("192.0.2.1", 8081), timeout=float(sys.argv[2]))
s.sendall(b"one\n"); print("got1", s.recv(100).decode().strip(), flush=True)
while not os.path.exists(sys.argv[1]): time.sleep(0.05)
try:
    s.sendall(b"two\n"); d = s.recv(100)
    print("got2", d.decode().strip() if d else "EOF", flush=True)
except Exception as e:
    print("got2 error", type(e).__name__, flush=True)
PY
ip netns exec upstream timeout $T_WAIT python3 "$T_TMP/flow.py" "$T_TMP/go" "$T_CONN" >"$T_TMP/flow.out" 2>&1 &
flow=$!
wait_for grep -q got1 "$T_TMP/flow.out"
check_eq "long-lived flow established" "$(head -1 "$T_TMP/flow.out")" "got1 one"
n_before=$(conntrack -L -p tcp --dport 8081 2>/dev/null | grep -c .)
[ "$n_before" -ge 1 ] && pass "conntrack has the flow to 8081 ($n_before)" || fail "no conntrack entry for 8081 before del"
check "forward del tcp:8081" nat forward del c1 tcp:8081:81
check_eq "conntrack entries for 8081 gone" "$(conntrack -L -p tcp --dport 8081 2>/dev/null | grep -c .)" 0
touch "$T_TMP/go"; wait $flow
check_match "the established flow stops getting through" "$(tail -1 "$T_TMP/flow.out")" "^got2 (error|EOF)"
check_eq "new connections to 8081 fail" "$(tcp upstream 192.0.2.1:8081)" ""

# Drift: nft flush ruleset behind our back.
nft flush ruleset
check_exit "check reports drift after nft flush ruleset" 1 "$NAT" check
check_match "check names the missing table" "$(cat "$T_TMP/out")" "missing table inet ctnet"
mk_admin
check "restore" nat restore
check_exit "check in sync after restore" 0 "$NAT" check
check_eq "forward works again after restore" "$(tcp upstream 192.0.2.1:8080)" "c1 192.0.2.2"
check_eq "range works again after restore" "$(tcp upstream 192.0.2.1:8001)" "port 91"
check_eq "masquerade works again after restore" "$(tcp c1 192.0.2.2:7777)" "192.0.2.1"
nft flush chain inet ctnet postrouting
check_exit "check reports flushed chain" 1 "$NAT" check
check_match "check names the chain" "$(cat "$T_TMP/out")" "chain postrouting"
check "restore after chain flush" nat restore
nft delete table inet ctnet
check "forward add after the table vanished rebuilds it" nat forward add c2 tcp:9090:80
check_eq "new forward works after rebuild" "$(tcp upstream 192.0.2.1:9090)" "c2 192.0.2.2"
check_eq "old forward works after rebuild" "$(tcp upstream 192.0.2.1:8080)" "c1 192.0.2.2"
check_exit "in sync after rebuild" 0 "$NAT" check

# del: c1's flows leave conntrack (found in /proc/net/nf_conntrack), c2's stay.
# A connection still closing when its flow is deleted (the last forward check's) sends one more
# segment, and TCP loose pickup makes a new flow of it, from the container: not one the delete
# missed. This test's own namespace does no loose pickup, so what is counted is what was left.
sysctl -qw net.netfilter.nf_conntrack_tcp_loose=0
ct_n() { conntrack -L "$@" 2>/dev/null | grep -c .; } # ARGS: matching entries
ct_has() { [ "$(ct_n -p tcp --reply-src "$1")" -ge 1 ]; } # ADDR: a TCP flow answered by ADDR
ct_flows() { # C N: an ICMP, an ICMPv6 and a forwarded TCP flow of container C (10.233.N.2)
	ip netns exec "$1" ping -c1 -W2 192.0.2.2 >/dev/null 2>&1
	ip netns exec "$1" ping -6 -c1 -W2 2001:db8::2 >/dev/null 2>&1
	# The client holds its connection past the checks: its close would send packets that,
	# once the flow is deleted, make a new one (TCP loose pickup) and fail the count on a
	# slow (sanitizer) run.
	ip netns exec upstream python3 -c 'import socket,sys,time
s=socket.create_connection(("192.0.2.1",int(sys.argv[1])),timeout=3); s.recv(100); time.sleep(30)' "$3" &
	PIDS+=($!)
	wait_for ct_has "10.233.$2.2"
}
ct_flows c1 1 8080
ct_flows c2 2 9090
[ "$(ct_n -f ipv4 -s 10.233.1.2)" -ge 1 ] && [ "$(ct_n -f ipv6 -s fd42::1:2)" -ge 1 ] &&
	[ "$(ct_n -p tcp --reply-src 10.233.1.2)" -ge 1 ] && pass "c1 has ICMP, ICMPv6 and forwarded TCP flows" ||
	fail "c1 flows missing: $(conntrack -L 2>&1; conntrack -L -f ipv6 2>&1)"
check "del c1" nat del c1
check_eq "c1's flows (ICMP, ICMPv6, forwarded TCP) gone from conntrack after del" \
	"$(ct_n -f ipv4 -s 10.233.1.2) $(ct_n -f ipv6 -s fd42::1:2) $(ct_n --reply-src 10.233.1.2)" "0 0 0"
[ "$(ct_n -f ipv4 -s 10.233.2.2)" -ge 1 ] && [ "$(ct_n -f ipv6 -s fd42::2:2)" -ge 1 ] &&
	[ "$(ct_n -p tcp --reply-src 10.233.2.2)" -ge 1 ] && pass "c2's flows stay" ||
	fail "c2's flows went with c1's: $(conntrack -L 2>&1; conntrack -L -f ipv6 2>&1)"
check_eq "forward to c1 gone after del" "$(tcp upstream 192.0.2.1:8080)" ""
check_eq "c2 forward still works" "$(tcp upstream 192.0.2.1:9090)" "c2 192.0.2.2"
check "del c1 again (absent is success)" nat del c1
check_exit "in sync after del" 0 "$NAT" check
check "flush" nat flush
check_eq "flush removed only ctnet's table" "$(nft list tables)" "table inet admin"
check_exit "check after flush: drift" 1 "$NAT" check
check "restore after flush" nat restore
check_eq "restore after flush brings c2 back" "$(tcp upstream 192.0.2.1:9090)" "c2 192.0.2.2"
# The same through the ctnetlink dump (used past 16,384 tracked flows or without the listing).
ct_flows c2 2 9090
check "del c2 (conntrack found by dump)" env CTNET_CT_DUMP=1 "$NAT" del c2
check_eq "c2's flows gone from conntrack after del by dump" \
	"$(ct_n -f ipv4 -s 10.233.2.2) $(ct_n -f ipv6 -s fd42::2:2) $(ct_n --reply-src 10.233.2.2)" "0 0 0"
finish
