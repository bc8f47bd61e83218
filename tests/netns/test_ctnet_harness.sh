#!/usr/bin/env bash
# ctnet up with a link impairment and extra veths (the harness options wired through the
# spec): a rate shows in tc and in status, changes in place and goes with a repeated up
# without it (same link); bad values change nothing; two containers on a lab bridge through
# extra veths reach each other; down leaves no extra veth. (Delay/loss need the kernel's netem:
# see test_netd_netem.sh.)
. "$(dirname "$0")/lib.sh"
PY=$(command -v /usr/bin/python3 || command -v python3)
python3() { "$PY" "$@"; }
ifx() { ip -j link show "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["ifindex"])'; }
qd() { tc -j qdisc show dev "$1" | python3 -c 'import json,sys; print(" ".join(q["kind"] for q in json.load(sys.stdin)))'; }

check "up with --rate 8mbit" $CTNET up a --create-netns --rate 8mbit
check_match "host side has ctnet's tbf" "$(qd ve-a)" "tbf"
check_match "container side has it too" "$(ip netns exec a tc -j qdisc show dev eth0 | python3 -c 'import json,sys; print(" ".join(q["kind"] for q in json.load(sys.stdin)))')" "tbf"
check_eq "status --json shows the impairment" "$($CTNET status a --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0].get("impairment"))')" "{'rate': '8mbit'}"
ix=$(ifx ve-a)
check_exit "a repeated up with another rate" 0 $CTNET up a --create-netns --rate 1gbit
check_match "changed on stderr" "$T_STDERR" "changed impairment set"
check_eq "status shows the new rate" "$($CTNET status a --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["impairment"]["rate"])')" "1gbit"
check_exit "a repeated up without it" 0 $CTNET up a --create-netns
check_match "removal on stderr" "$T_STDERR" "changed impairment removed"
check_eq "no tbf left" "$(qd ve-a | grep -c tbf)" "0"
check_eq "same link throughout" "$(ifx ve-a)" "$ix"
w0=$(snapshot_state; snapshot_links; cat "$CTNET_RUN_DIR/containers/a")
for bad in "--delay -1ms" "--loss 101%" "--rate fast"; do
	# shellcheck disable=SC2086
	check_exit "refused: $bad" 1 $CTNET up a --create-netns $bad
	check_match "the value is named ($bad)" "$T_STDERR" "${bad#* }"
done
check_eq "bad values changed nothing" "$(snapshot_state; snapshot_links; cat "$CTNET_RUN_DIR/containers/a")" "$w0"
$CTNET down a

# Two containers on a lab bridge through extra veths.
ip link add br-lab type bridge && ip link set br-lab up
check "b with an extra veth on br-lab" $CTNET up b --create-netns --extra-veth lab0,host-bridge=br-lab,local-address=10.9.0.1/24
check "c with an extra veth on br-lab" $CTNET up c --create-netns --extra-veth lab1,host-bridge=br-lab,local-address=10.9.0.2/24
check "b reaches c over the lab bridge" $CTNET exec b -- ping -c1 -W"$T_CONN" 10.9.0.2
check_eq "no default route through the extra veth" "$(ip -n b route show default | grep -c lab0)" "0"
check_eq "status --json lists the extra veth" "$($CTNET status b --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["extra_veths"])')" "['lab0,host-bridge=br-lab,local-address=10.9.0.1/24']"
ip link del lab0
check_exit "a repeated up puts a deleted extra veth back" 0 $CTNET up b --create-netns --extra-veth lab0,host-bridge=br-lab,local-address=10.9.0.1/24
check_match "and says so" "$T_STDERR" "repaired extra veth lab0 missing"
check "b reaches c again" $CTNET exec b -- ping -c1 -W"$T_CONN" 10.9.0.2
check_exit "another extra veth on a running container is refused" 1 $CTNET up b --create-netns
check_match "naming the field" "$T_STDERR" "extra veths cannot change"
$CTNET down b; $CTNET down c
check_eq "down leaves no extra veth" "$(ip -o link | grep -c -e lab0 -e lab1)" "0"
finish
