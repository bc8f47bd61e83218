#!/usr/bin/env bash
# How fast a host's range is withdrawn from the others when the host goes away, with the BIRD 2
# configuration `ctnet bird-config` makes: three hosts on a fabric bridge (tests/netns/mh_lib.sh),
# h3 taken away REPEATS times in three ways, the time until h1 and h2 both removed h3's route
# from their kernels, against the issue's target of 0.5 s:
#   stopped  bird ended by SIGTERM (it says goodbye: a BGP Cease)
#   frozen   bird stopped by SIGSTOP (a hung host: only BFD notices, 100 ms x 3)
#   linkdown h3's fabric link down (a dead cable or host: only BFD notices)
# and once frozen with --no-bfd (the BGP hold time, 3 s). Reports, does not assert.
# Usage: bench/failover.sh [--quick] [REPEATS, default 5; --quick: 2]
# Its own namespaces through tests/netns/lib.sh; the root network namespace is never touched.
. "$(dirname "$0")/../tests/netns/lib.sh"
REPEATS=5
[ "${1:-}" = --quick ] && { REPEATS=2; shift; }
[ -n "${1:-}" ] && REPEATS=$1
. "$(dirname "$0")/../tests/netns/mh_lib.sh"
command -v bird >/dev/null || { echo "failover: bird not installed (Debian's bird2)" >&2; exit 1; }
trap 'mh_cleanup; _t_cleanup' EXIT
NET=10.244.3.0/24

# gone_from_both: neither h1 nor h2 has a route to h3's range.
gone_from_both() {
	[ -z "$(ip -n h1 route show exact $NET)" ] && [ -z "$(ip -n h2 route show exact $NET)" ]
}
back_in_both() {
	[ -n "$(ip -n h1 route show exact $NET)" ] && [ -n "$(ip -n h2 route show exact $NET)" ]
}
# take_away HOW: h3 goes away; prints the milliseconds until both withdrew (or "timeout").
take_away() {
	local t0 pid
	pid=$(mh_bird_pid 3)
	t0=$(t_now_ms)
	case $1 in
	stopped) kill -TERM "$pid" ;;
	frozen) kill -STOP "$pid" ;;
	linkdown) ip -n h3 link set eth0 down ;;
	esac
	local end=$((t0 + T_WAIT * 1000))
	while ! gone_from_both; do
		[ "$(t_now_ms)" -lt "$end" ] || { echo timeout; return; }
	done
	echo $(($(t_now_ms) - t0))
}
# bring_back HOW: h3 as before, its range learned again by both.
bring_back() {
	case $1 in
	stopped) wait_for gone "$(mh_bird_pid 3)"; mh_bird_start 3 ;;
	frozen) kill -CONT "$(mh_bird_pid 3)" ;;
	linkdown) ip -n h3 link set eth0 up ;;
	esac
	wait_for back_in_both || { echo "failover: h3's range not back after $1" >&2; exit 1; }
}
report() { # HOW SAMPLES...
	local how=$1; shift
	python3 - "$how" "$@" <<'EOF'
import statistics, sys
how, v = sys.argv[1], sys.argv[2:]
ok = [int(x) for x in v if x != "timeout"]
if not ok:
    print("%-22s every sample timed out" % how); sys.exit()
med = statistics.median(ok)
print("%-22s n=%d  min %4d  median %4d  max %4d ms   median / 0.5 s target: %.2f%s" % (
    how, len(v), min(ok), med, max(ok), med / 500, "" if len(ok) == len(v) else "  (%d timed out)" % (len(v) - len(ok))))
EOF
}

mh_fabric
for i in 1 2 3; do mh_host $i; done
for i in 1 2 3; do mh_bird_config $i && mh_bird_start $i || exit 1; done
wait_for back_in_both || { echo "failover: routes never learned" >&2; exit 1; }
echo "# failover: h3 taken away, until h1 and h2 both withdrew $NET (bench/failover.sh, $REPEATS each)"
for how in stopped frozen linkdown; do
	samples=()
	for _ in $(seq "$REPEATS"); do
		samples+=("$(take_away $how)")
		bring_back $how
	done
	report "$how (BFD)" "${samples[@]}"
done
# Without BFD: the BGP hold time decides.
for i in 1 2 3; do mh_bird_stop $i; done
for i in 1 2 3; do
	on $i "$CTNET" bird-config --no-bfd --source 10.99.0.$i \
		$(for j in 1 2 3; do [ $j = $i ] || echo --neighbor 10.99.0.$j; done) >"$MH_DIR/h$i/bird.conf"
	mh_bird_start $i || exit 1
done
wait_for back_in_both || { echo "failover: routes never learned without BFD" >&2; exit 1; }
report "frozen (no BFD)" "$(take_away frozen)"
