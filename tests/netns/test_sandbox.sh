#!/usr/bin/env bash
# The harness itself: tests run in their own network namespace, never the caller's, and
# the "upstream" world is reachable only inside it.
. "$(dirname "$0")/lib.sh"

inner=$(readlink /proc/self/ns/net)
[ -n "$CTNET_OUTER_NETNS" ] && [ "$inner" != "$CTNET_OUTER_NETNS" ] &&
	pass "test netns $inner differs from the caller's $CTNET_OUTER_NETNS" ||
	fail "test netns $inner is the caller's $CTNET_OUTER_NETNS"
check_eq "state dir is private" "$CTNET_STATE_DIR" "$T_SANDBOX/state"
check_eq "only lo before the test builds its world" "$(ip -br link | awk '{print $1}')" "lo"
mk_upstream
check "ping upstream over veth" ping -c1 -W5 192.0.2.2
check "ping6 upstream over veth" ping -6 -c2 -W5 2001:db8::2
check_eq "links in sandbox" "$(ip -br link | awk '{print $1}' | sort | tr '\n' ' ')" "lo up0@if2 "
finish
