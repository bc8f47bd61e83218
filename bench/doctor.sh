#!/usr/bin/env bash
# ctnet doctor at scale, in its own namespaces: N containers (default 5,000) each with a
# forward, behind a Docker-like iptables-nft FORWARD chain and an inet fw table that accept
# ctnet's interfaces. Prints the median of R runs of `ctnet doctor` and of `ctnet status`
# (the ratio is what to compare), and `ctnet up` + `ctnet down` with and without the
# warning check (CTNET_NO_WARN=1). Results also in bench/doctor-results.json.
# Usage: bench/doctor.sh [N] [R]    (CTNET_BIN: the build dir)
N=${1:-5000} R=${2:-10}
. "$(dirname "$0")/../tests/netns/lib.sh"
mk_upstream >/dev/null
ip route add default via 192.0.2.2
iptables -N DOCKER-USER && iptables -A DOCKER-USER -i ve-+ -j ACCEPT && iptables -A DOCKER-USER -o ve-+ -j ACCEPT
iptables -A DOCKER-USER -j RETURN && iptables -P FORWARD DROP && iptables -A FORWARD -j DOCKER-USER
nft -f - <<'NFT'
table inet fw {
	chain forward {
		type filter hook forward priority filter; policy drop;
		ct state established,related accept
		iifname "ve-*" accept
		ct status dnat accept
	}
}
NFT
[ "$(nft list chain inet fw forward | grep -c accept)" -ge 3 ] || { echo "bench/doctor.sh: the inet fw table did not load" >&2; exit 1; }
$NAT init
echo "# making $N containers..." >&2
seq 1 "$N" | xargs -P 2 -I{} sh -c "$CTNET up bg{} --create-netns --forward tcp:\$((20000 + {})):80 >/dev/null 2>&1 || echo fail bg{}"
median() { # CMD...: median wall ms of R runs
	local t=()
	for _ in $(seq "$R"); do
		local s=$(date +%s%N); "$@" >/dev/null 2>&1; t+=($(( ($(date +%s%N) - s) / 1000 )))
	done
	printf '%s\n' "${t[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)]/1000}'
}
echo "containers $($CTNET status --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')"
echo "doctor exit $($CTNET doctor >/dev/null 2>&1; echo $?) (0: nothing blocks)"
d=$(median $CTNET doctor); s=$(median $CTNET status)
echo "ctnet doctor ms $d"
echo "ctnet status ms $s"
echo "ratio doctor/status $(python3 -c "print(round($d/$s, 2))")"
# What the warning check adds to `ctnet up` (a container up and down again), interleaved:
# with it, and with CTNET_NO_WARN=1 (which skips it). A fraction of a millisecond in ~40:
# 3R pairs, each pair in the other order than the one before (a down's deferred kernel work
# lands on whichever runs next).
updown() { $CTNET up probe --create-netns --forward tcp:40000:80 >/dev/null 2>&1; $CTNET down probe >/dev/null 2>&1; }
with_warn() { s0=$(date +%s%N); updown; tw+=($(( ($(date +%s%N) - s0) / 1000 ))); }
without_warn() { s0=$(date +%s%N); CTNET_NO_WARN=1 updown; tn+=($(( ($(date +%s%N) - s0) / 1000 ))); }
tw=() tn=()
for i in $(seq $((3 * R))); do
	if [ $((i % 2)) -eq 1 ]; then with_warn; without_warn; else without_warn; with_warn; fi
done
med() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {printf "%.2f", a[int((NR+1)/2)]/1000}'; }
uw=$(med "${tw[@]}"); un=$(med "${tn[@]}")
echo "up+down with the warning check ms $uw"
echo "up+down without (CTNET_NO_WARN=1) ms $un"
echo "ratio with/without $(python3 -c "print(round($uw/$un, 3))")"
cat >"$(dirname "$0")/doctor-results.json" <<EOF
{"containers": $N, "doctor_ms": $d, "status_ms": $s, "updown_warn_ms": $uw, "updown_nowarn_ms": $un}
EOF
