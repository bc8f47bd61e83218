#!/usr/bin/env bash
# ctnet doctor at scale, in its own namespaces: N containers (default 5,000) each with a
# forward, behind a Docker-like iptables-nft FORWARD chain and an inet fw table that accept
# ctnet's interfaces. Prints the median of R runs of `ctnet doctor` and of `ctnet status`
# (the ratio is what to compare), and `ctnet up` with and without the warning check.
# Usage: bench/doctor.sh [N] [R]    (CTNET_BIN: the build dir)
N=${1:-5000} R=${2:-10}
. "$(dirname "$0")/../tests/netns/lib.sh"
mk_upstream >/dev/null
ip route add default via 192.0.2.2
iptables -N DOCKER-USER && iptables -A DOCKER-USER -i ve-+ -j ACCEPT && iptables -A DOCKER-USER -o ve-+ -j ACCEPT
iptables -A DOCKER-USER -j RETURN && iptables -P FORWARD DROP && iptables -A FORWARD -j DOCKER-USER
nft -f - <<'NFT'
table inet fw { chain forward { type filter hook forward priority filter; policy drop;
	ct state established,related accept; iifname "ve-*" accept; ct status dnat accept
} }
NFT
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
