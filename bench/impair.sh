#!/usr/bin/env bash
# How close `ctnet-netd` impairment comes to what it was asked for, as ratios (the tests assert
# only the floors a busy machine cannot break: not faster than the rate, not below the delay).
# A TCP transfer through a pair shaped at each rate, both ways: achieved / configured rate;
# with --delay D on both ends: ping RTT min/avg/max, avg / 2 D (where the kernel has sch_netem).
# Reports, does not assert. Usage: bench/impair.sh [MiB per transfer, default 4]
# Its own namespaces through tests/netns/lib.sh; the root network namespace is never touched.
MIB=${1:-4}
. "$(dirname "$0")/../tests/netns/lib.sh"
mkns c1
UP=("$NETD" up web --netns /run/netns/c1 --host-address 10.233.1.1 --local-address 10.233.1.2)
XFER=$(dirname "$0")/../tests/netns/xfer.py
xfer() { # FROM TO ADDR: "seconds bytes"
	local from=() to=()
	[ "$1" != host ] && from=(ip netns exec "$1")
	[ "$2" != host ] && to=(ip netns exec "$2")
	rm -f "$T_TMP/listening"
	"${to[@]}" python3 "$XFER" server "$3" 0 "$T_TMP/listening" &
	wait_for test -e "$T_TMP/listening"
	"${from[@]}" python3 "$XFER" client "$3" $((MIB << 20))
	wait
}
echo "# ctnet-netd impairment: achieved / configured ($MIB MiB per transfer)"
for rate in 8mbit 100mbit; do
	bps=$(( ${rate%mbit} * 1000000 ))
	"${UP[@]}" --rate "$rate" >/dev/null || { echo "up --rate $rate failed" >&2; exit 1; }
	for dir in "host c1 10.233.1.2" "c1 host 10.233.1.1"; do
		read -r secs got <<<"$(xfer $dir)"
		set -- $dir
		python3 -c "print('rate %-8s %s -> %-4s %.2f s, %d bytes: %.3f of the rate' % ('$rate', '$1', '$2', $secs, $got, $got * 8 / $secs / $bps))"
	done
done
"${UP[@]}" >/dev/null
if ip netns exec c1 tc qdisc add dev lo root netem delay 1ms 2>/dev/null; then
	for d in 10 50; do
		"${UP[@]}" --delay ${d}ms >/dev/null
		ping -c 20 -i 0.2 10.233.1.2 | sed -n 's|^rtt .*= \([0-9.]*\)/\([0-9.]*\)/\([0-9.]*\)/.*|\1 \2 \3|p' |
			{ read -r mn avg mx; python3 -c "print('delay %-3s ms both ends: RTT min %.1f avg %.1f max %.1f ms: avg / 2 x delay %.3f' % ($d, $mn, $avg, $mx, $avg / (2 * $d)))"; }
	done
else
	echo "delay: this kernel has no sch_netem (make check-vm runs the netem tests on Debian's 6.1)"
fi
"$NETD" down web >/dev/null
