#!/usr/bin/env bash
# ctnet trace: real connections from upstream traced through every table; the packet's
# path shows ctnet's DNAT, or names the table and chain whose policy dropped it; the
# temporary trace chain is gone after exit, SIGINT, SIGTERM, and (after kill -9) after gc.
. "$(dirname "$0")/lib.sh"

PIDS=()
trap 'for p in "${PIDS[@]}"; do pkill -P "$p" 2>/dev/null; kill "$p" 2>/dev/null; done; _t_cleanup' EXIT
bg() { "$@" >/dev/null 2>&1 & PIDS+=($!); }

mk_upstream
ip route add default via 192.0.2.2
$CTNET up web --create-netns --forward tcp:8080:80 >/dev/null || fail "up web"
bg ip netns exec web socat -t$T_IDLE TCP4-LISTEN:80,fork,reuseaddr SYSTEM:'echo web'
wait_port web 80 || fail "web server did not start"

trace_chains() { nft -j list table inet ctnet | python3 -c 'import json,sys
print(sum(1 for o in json.load(sys.stdin)["nftables"] if "chain" in o and o["chain"]["name"].startswith("trace-")))'; }
trace_has() { [ "$(trace_chains)" -ge "$1" ]; } # N: at least N trace chains
# until the tracer's chains exist (it listens before it adds them)
wait_trace() { wait_for trace_has 1; }
connect() { ip netns exec upstream timeout $T_CONN socat -T$T_IDLE -t$T_IDLE - TCP:192.0.2.1:8080 </dev/null 2>/dev/null; }
# py EXPR over the trace JSON in $T_TMP/trace.json (d: the document)
tj() { python3 -c "import json,sys; d=json.load(open('$T_TMP/trace.json')); print($1)"; }

# --- no foreign table: the path shows ctnet's DNAT ---
$CTNET trace web --count 2 --timeout 8 --json >"$T_TMP/trace.json" 2>"$T_TMP/trace.err" &
TP=$!
check "tracer sets up its chain" wait_trace
check_eq "the connection works" "$(connect)" "web"
wait $TP; rc=$?
check_eq "trace exits 0 (packets traced)" "$rc" "0"
check_eq "first packet: upstream to the host's port" "$(tj 'd["packets"][0]["dst"]')" "192.0.2.1:8080"
check_eq "the trace shows ctnet's DNAT rule" \
	"$(tj '[e["chain"]+":"+e.get("comment","")+":"+e["verdict"] for e in d["packets"][0]["events"] if e["table"]=="ctnet" and e["chain"]=="prerouting"][0]')" \
	"prerouting:ctnet:fwd4:accept"
check_eq "the trace shows the new destination" "$(tj 'd["packets"][0].get("dnat_to")')" "10.233.1.2:80"
check_eq "nothing dropped it" "$(tj 'd["packets"][0]["verdict"]')" "accept"
check_eq "the trace chains are gone after exit" "$(trace_chains)" "0"

# --- a drop-policy forward chain in another table: named as the culprit ---
nft -f - <<'NFT'
table inet fw {
	chain forward { type filter hook forward priority filter; policy drop; ct state established,related accept; }
}
NFT
$CTNET trace web --count 1 --timeout 8 >"$T_TMP/trace.txt" 2>&1 &
TP=$!
wait_trace
check_eq "the connection now fails" "$(connect)" ""
wait $TP
check_match "table output: one line naming the policy drop" "$(cat "$T_TMP/trace.txt")" \
	"dropped by policy of table inet fw chain forward"
$CTNET trace web --count 1 --timeout 8 --json >"$T_TMP/trace.json" 2>"$T_TMP/trace.err" &
TP=$!
wait_trace
connect >/dev/null
wait $TP || cat "$T_TMP/trace.err" "$T_TMP/trace.json"
check_eq "--json: dropped_by names table and chain" \
	"$(tj 'd["packets"][0]["dropped_by"]')" "{'family': 'inet', 'table': 'fw', 'chain': 'forward', 'policy': True}"
check_eq "--json: ctnet's DNAT happened before the drop" "$(tj 'd["packets"][0].get("dnat_to")')" "10.233.1.2:80"
check_eq "trace chains gone after a traced drop" "$(trace_chains)" "0"
nft delete table inet fw

# --- Docker's FORWARD policy (iptables-nft) ---
iptables -N DOCKER-USER && iptables -A DOCKER-USER -j RETURN
iptables -P FORWARD DROP && iptables -A FORWARD -j DOCKER-USER
$CTNET trace web --count 1 --timeout 8 --json >"$T_TMP/trace.json" 2>/dev/null &
TP=$!
wait_trace
connect >/dev/null
wait $TP
check_eq "Docker: dropped by policy of ip filter FORWARD" \
	"$(tj '(d["packets"][0]["dropped_by"]["family"], d["packets"][0]["dropped_by"]["table"], d["packets"][0]["dropped_by"]["chain"])')" \
	"('ip', 'filter', 'FORWARD')"
check_eq "Docker: the path went through DOCKER-USER and returned" \
	"$(tj '[e["chain"]+":"+e["verdict"] for e in d["packets"][0]["events"] if e["table"]=="filter"]')" \
	"['FORWARD:jump', 'DOCKER-USER:return', 'FORWARD:drop']"
iptables -P FORWARD ACCEPT

# --- ctnet-nat check is not confused by a tracer's chain ---
$CTNET trace web --timeout 30 >/dev/null 2>&1 &
TP=$!
wait_trace
check "ctnet-nat check: in sync while a trace runs" $NAT check

# --- signals ---
kill -TERM $TP; wait $TP
check_eq "SIGTERM: trace chains removed" "$(trace_chains)" "0"
$CTNET trace web --timeout 30 >/dev/null 2>&1 &
TP=$!
wait_trace
kill -INT $TP; wait $TP
check_eq "SIGINT: trace chains removed" "$(trace_chains)" "0"

# --- kill -9: gc sweeps the orphaned chains, and only those ---
$CTNET trace web --timeout 30 >/dev/null 2>&1 &
TP=$!
wait_trace
$CTNET trace web --timeout 30 >/dev/null 2>&1 &
LIVE=$!
wait_for trace_has 4
kill -9 $TP; wait $TP 2>/dev/null
check_eq "kill -9 leaves the chains behind" "$(trace_chains)" "4"
check_match "gc removes them" "$($CTNET gc)" "removed 2 trace chains"
check_eq "gc kept the live tracer's chains" "$(trace_chains)" "2"
kill -TERM $LIVE; wait $LIVE
check_eq "and the live tracer removed its own" "$(trace_chains)" "0"

# --- --probe: one connection from the host itself ---
$CTNET trace web --probe --count 1 --timeout 5 --json >"$T_TMP/trace.json" 2>/dev/null
check_eq "--probe traces the host's connection to the container" "$(tj 'd["packets"][0]["dst"]')" "10.233.1.2:80"

# --- nothing matches: exit 1 ---
check_exit "no packet: exit 1" 1 $CTNET trace web --port 9999 --timeout 1
check_exit "unknown container: exit 1" 1 $CTNET trace nope --timeout 1
check_exit "bad --count: usage" 2 $CTNET trace web --count 0
check_eq "no trace chain left at the end" "$(trace_chains)" "0"
finish
