#!/usr/bin/env bash
# After a deletion, ctnet-nat/ctnet hand their netfilter sockets to a short-lived child
# (nat/release.c) so the caller does not wait for the kernel's RCU grace period. That
# child must hold nothing else: not the caller's stdout, not ctnet's lock files.
. "$(dirname "$0")/lib.sh"

mkns c1
ip link add ve-c1 type veth peer name eth0 netns c1
check "add c1" $NAT add c1 --address 10.233.1.2 --iface ve-c1 --forward tcp:8080:80
for i in $(seq 5); do
	$NAT forward add c1 tcp:$((9000 + i)):80 >/dev/null
	# del deletes elements: the child is forked; the lock must be free at once.
	$NAT forward del c1 tcp:$((9000 + i)):80 >/dev/null
	if flock -n "$CTNET_STATE_DIR/nat/lock" true; then pass "lock free right after forward del ($i)"; else fail "lock held after forward del ($i)"; fi
done
# The caller's stdout: the helper closes it at once, so no ctnet-nat process may hold it
# after the command returned (the helper itself lives ~10-20 ms, long enough to be seen).
$NAT del c1 >"$T_TMP/out"
holders=$(for p in /proc/[0-9]*; do
	[ "$(cat "$p/comm" 2>/dev/null)" = ctnet-nat ] || continue
	ls -l "$p/fd" 2>/dev/null | grep -E "$T_TMP/out|/lock" | sed "s|^|${p#/proc/}: |"
done)
check_eq "no ctnet-nat process holds the caller's stdout or a lock after del" "$holders" ""
check_eq "elements gone after del" "$(nft -j list set inet ctnet masq4 | python3 -c 'import json,sys; print([x["set"].get("elem",[]) for x in json.load(sys.stdin)["nftables"] if "set" in x])')" "[[]]"

# An add killed after claiming its ports but before writing its container file leaves the
# port index naming it: del of that name frees them (found by the kill -9 tests).
ln -s ghost "$CTNET_STATE_DIR/nat/ports/tcp-9999"
ln -s other "$CTNET_STATE_DIR/nat/ports/tcp-9998"
check "del of an unrecorded name" $NAT del ghost
check_eq "its port claim is gone" "$(ls "$CTNET_STATE_DIR/nat/ports" | grep -c '^tcp-9999$' || true)" "0"
check_eq "another owner's claim stays" "$(readlink "$CTNET_STATE_DIR/nat/ports/tcp-9998")" "other"
finish
