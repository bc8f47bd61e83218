#!/usr/bin/env bash
# ctnet-netd link impairment that needs no netem: a rate (tbf) on both ends of the pair,
# changed in place under a running flow, removed by an `up` without it; bad values and a
# foreign qdisc refused with nothing changed. Delay, jitter and loss: test_netd_netem.sh.
. "$(dirname "$0")/lib.sh"
# The distribution's python3 when there is one: a pyenv shim costs ~2 s per start.
PY=$(command -v /usr/bin/python3 || command -v python3)
python3() { "$PY" "$@"; }

mkns c1
NS=(--netns /run/netns/c1)
UP=("$NETD" up web "${NS[@]}" --host-address 10.233.1.1 --local-address 10.233.1.2)

# qdiscs of both ends as "kind handle" (root first), and the host side's ifindex.
qd() { tc -j qdisc show dev ve-web | python3 -c 'import json,sys; print(" ".join("%s %s" % (q["kind"], q["handle"]) for q in json.load(sys.stdin)))'; }
qd_in() { ip netns exec c1 tc -j qdisc show dev eth0 | python3 -c 'import json,sys; print(" ".join("%s %s" % (q["kind"], q["handle"]) for q in json.load(sys.stdin)))'; }
tbf_rate() { # DEV [NS]: the tbf's rate in bytes/s
	local in=(); [ -n "${2:-}" ] && in=(ip netns exec "$2")
	"${in[@]}" tc -j qdisc show dev "$1" | python3 -c 'import json,sys; print(" ".join(str(q["options"]["rate"]) for q in json.load(sys.stdin) if q["kind"] == "tbf"))'
}
tbf_bytes() { tc -s -j qdisc show dev ve-web | python3 -c 'import json,sys; print([q["bytes"] for q in json.load(sys.stdin) if q["kind"] == "tbf"][0])'; }
ifindex() { ip -j link show dev ve-web | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["ifindex"])'; }
impair_json() { "$NETD" show web --json | python3 -c 'import json,sys; d=json.load(sys.stdin); i=d[0]["impairment"]; print(None if i is None else (i.get("rate_bps"), i.get("rate"), i.get("delay_us"), i.get("loss_ppm")))'; }

# A TCP transfer of BYTES through the pair (tests/netns/xfer.py): a server in SERVER_NS (host:
# here) on ADDR:5001 reads to EOF and answers; the client times connect..answer.
XFER=$(dirname "$0")/xfer.py
# xfer FROM_NS TO_NS ADDR BYTES [PAUSE MARK]
xfer() {
	local from=() to=()
	[ "$1" != host ] && from=(ip netns exec "$1")
	[ "$2" != host ] && to=(ip netns exec "$2")
	rm -f "$T_TMP/listening"
	"${to[@]}" "$PY" "$XFER" server "$3" 0 "$T_TMP/listening" &
	local srv=$!
	wait_for test -e "$T_TMP/listening"
	"${from[@]}" "$PY" "$XFER" client "$3" "$4" "${@:5}"
	wait "$srv"
}
tbf_burst() { # DEV [NS]: the tbf's bucket in bytes
	local in=(); [ -n "${2:-}" ] && in=(ip netns exec "$2")
	"${in[@]}" tc -j qdisc show dev "$1" | python3 -c 'import json,sys; print([q["options"]["burst"] for q in json.load(sys.stdin) if q["kind"] == "tbf"][0])'
}
# not_faster SECS BYTES RATE BURST: a token bucket passes at most BURST + RATE * t bytes in t
# seconds, so BYTES took at least (BYTES - BURST) / RATE (1% for the kernel's rounding). The
# floor is what the rate guarantees; how close a transfer comes to it is for make bench.
not_faster() { python3 -c "import sys; sys.exit(0 if float('$1' or -1) >= 0.99 * ($2 - $4) / $3 else 1)"; }
floor() { python3 -c "print('%.2f' % (($1 - $3) / $2))"; }

# --- test_rate_both_directions ---
check_exit "up --rate 8mbit exits 0" 0 "${UP[@]}" --rate 8mbit
ix=$(ifindex)
check_eq "host end: root tbf 3:" "$(qd)" "tbf 3:"
check_eq "container end: root tbf 3:" "$(qd_in)" "tbf 3:"
check_eq "both ends shape at 1000000 bytes/s" "$(tbf_rate ve-web) $(tbf_rate eth0 c1)" "1000000 1000000"
check_eq "show --json reports the rate" "$(impair_json)" "(8000000, '8mbit', 0, 0)"
check_match "show (text) reports the rate" "$("$NETD" show web)" 'impairment rate 8mbit'
bk=$(tbf_burst ve-web) && min=$(floor 2097152 1000000 "$bk")
read -r secs got <<<"$(xfer host c1 10.233.1.2 2097152)"
check_eq "2 MiB host -> container: all bytes arrive" "$got" "2097152"
if not_faster "$secs" 2097152 1000000 "$bk"; then pass "2 MiB host -> container not faster than 8mbit ($secs s, floor $min s)"; else fail "2 MiB host -> container at 8mbit: '$secs' s, faster than the rate allows (at least $min s with a $bk-byte bucket)"; fi
bk=$(tbf_burst eth0 c1) && min=$(floor 2097152 1000000 "$bk")
read -r secs got <<<"$(xfer c1 host 10.233.1.1 2097152)"
check_eq "2 MiB container -> host: all bytes arrive" "$got" "2097152"
if not_faster "$secs" 2097152 1000000 "$bk"; then pass "2 MiB container -> host not faster than 8mbit ($secs s, floor $min s)"; else fail "2 MiB container -> host at 8mbit: '$secs' s, faster than the rate allows (at least $min s with a $bk-byte bucket)"; fi

# --- test_rate_changed_in_place_under_a_flow ---
# The flow sends a quarter, pauses while the rate changes, sends the rest on the same
# connection. The tbf's byte counter keeps counting: the same qdisc, changed, not replaced.
rm -f "$T_TMP/paused"
xfer host c1 10.233.1.2 4194304 2 "$T_TMP/paused" >"$T_TMP/flow" &
flow=$!
wait_for test -e "$T_TMP/paused"
before=$(tbf_bytes)
check_exit "impair --rate 1gbit while the flow runs" 0 "$NETD" impair web "${NS[@]}" --rate 1gbit
after=$(tbf_bytes)
wait "$flow"
read -r secs got <"$T_TMP/flow"
check_eq "the flow across the change delivered every byte" "$got" "4194304"
check_eq "rate changed on both ends" "$(tbf_rate ve-web) $(tbf_rate eth0 c1)" "125000000 125000000"
if [ "$before" -gt 0 ] && [ "$after" -ge "$before" ]; then pass "tbf changed in place (byte counter $before -> $after)"; else fail "tbf counter $before -> $after: replaced, not changed"; fi
check_eq "same link (ifindex)" "$(ifindex)" "$ix"
check_eq "show --json after the change" "$(impair_json)" "(1000000000, '1gbit', 0, 0)"

# --- test_up_without_impairment_removes_it ---
check_exit "up without impairment options exits 0" 0 "${UP[@]}"
check_eq "host end back to the kernel's default" "$(qd)" "noqueue 0:"
check_eq "container end back to the kernel's default" "$(qd_in)" "noqueue 0:"
check_eq "same link after removal" "$(ifindex)" "$ix"
check_eq "show --json: no impairment" "$(impair_json)" "None"
check "ping after removal" ping -c1 -W"$T_CONN" 10.233.1.2
check_exit "removing again is a no-op" 0 "$NETD" impair web "${NS[@]}"

# --- test_bad_values_change_nothing ---
"${UP[@]}" --rate 8mbit >/dev/null
snap() { qd; qd_in; tbf_rate ve-web; tbf_rate eth0 c1; snapshot_links; snapshot_addrs; }
s0=$(snap)
check_exit "up --delay -1ms refused" 1 "${UP[@]}" --delay -1ms
check_match "  message names it" "$T_STDERR" 'invalid delay "-1ms"'
check_exit "up --loss 101% refused" 1 "${UP[@]}" --loss 101%
check_match "  message names it" "$T_STDERR" 'invalid loss "101%": above 100%'
check_exit "up --rate fast refused" 1 "${UP[@]}" --rate fast
check_match "  message names it" "$T_STDERR" 'invalid rate "fast"'
check_exit "impair --rate 11gbit refused" 1 "$NETD" impair web "${NS[@]}" --rate 11gbit
check_match "  message names it" "$T_STDERR" 'invalid rate "11gbit": above the maximum 10gbit'
check_exit "impair --jitter 20ms --delay 10ms refused" 1 "$NETD" impair web "${NS[@]}" --delay 10ms --jitter 20ms
check_match "  message says why" "$T_STDERR" 'jitter 20ms is larger than the delay 10ms'
check_exit "impair --jitter without --delay refused" 1 "$NETD" impair web "${NS[@]}" --jitter 1ms
check_exit "impair of an unknown container refused" 1 "$NETD" impair nosuch "${NS[@]}" --rate 1mbit
check_match "  message names it" "$T_STDERR" 'container "nosuch" has no pair'
check_eq "after the refusals both ends are as they were" "$(snap)" "$s0"

# --- test_foreign_qdisc_left_alone ---
"${UP[@]}" >/dev/null
tc qdisc add dev ve-web root handle 5: tbf rate 1mbit burst 10k limit 10k
check_exit "impair over a foreign root qdisc refused" 1 "$NETD" impair web "${NS[@]}" --rate 2mbit
check_match "  message names it" "$T_STDERR" 've-web" has a root qdisc tbf 5: that is not ctnet'
check_eq "  foreign qdisc untouched" "$(qd) $(tbf_rate ve-web)" "tbf 5: 125000"
check_eq "  container end untouched" "$(qd_in)" "noqueue 0:"
check_match "show --json marks it foreign" "$("$NETD" show web --json | tr -d ' \n')" '"impairment":\{"foreign":true\}'
check_exit "up without impairment leaves a foreign qdisc alone" 0 "${UP[@]}"
check_eq "  still there" "$(qd)" "tbf 5:"
tc qdisc del dev ve-web root

# --- test_without_netem_the_refusal_says_so ---
if ! ip netns exec c1 tc qdisc add dev lo root netem delay 1ms 2>/dev/null; then
	s0=$(snap)
	check_exit "no netem in this kernel: --delay refused" 1 "$NETD" impair web "${NS[@]}" --delay 50ms --rate 8mbit
	check_match "  message says netem is missing" "$T_STDERR" 'this kernel has no netem qdisc'
	check_eq "  nothing changed on either end" "$(snap)" "$s0"
	echo "SKIP delay/jitter/loss: this kernel has no sch_netem (test_netd_netem.sh covers them where it has)"
else
	ip netns exec c1 tc qdisc del dev lo root
	pass "kernel has netem (delay, jitter and loss tested in test_netd_netem.sh)"
fi

check_exit "down exits 0" 0 "$NETD" down web
check_eq "no link left" "$(ip -j link | python3 -c 'import json,sys; print(sorted(l["ifname"] for l in json.load(sys.stdin)))')" "['lo']"
finish
