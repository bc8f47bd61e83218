#!/usr/bin/env bash
# ctnet-ipam under concurrency and SIGKILL: distinct pairs, whole leases or none.
. "$(dirname "$0")/lib.sh"

S=$CTNET_STATE_DIR/ipam

# consistent WHAT: every lease parses, no two leases share an address, every address of a
# lease is claimed by it, and list --json agrees with the lease files.
consistent() {
	local out
	if out=$(python3 - "$S" "$IPAM" 2>&1 <<'PY'
import ipaddress, json, os, subprocess, sys
S, IPAM = sys.argv[1], sys.argv[2]
owner = {}
names = [n for n in os.listdir(S + "/lease") if not n.startswith(".")]
for n in names:
    kv = {}
    for line in open(f"{S}/lease/{n}"):
        k, v = line.rstrip("\n").split("=", 1)
        kv[k] = v
    assert kv["NAME"] == n, (n, kv)
    addrs = [kv["LOCAL_ADDRESS"].split("/")[0]] + [kv[k] for k in ("HOST_ADDRESS", "HOST_ADDRESS6", "LOCAL_ADDRESS6") if k in kv]
    for a in addrs:
        ipaddress.ip_address(a)
        assert a not in owner, f"{a} in leases {owner.get(a)} and {n}"
        owner[a] = n
        assert os.readlink(f"{S}/addr/{a}") == n, f"claim of {a} is {os.readlink(S + '/addr/' + a)}, lease {n}"
listed = json.loads(subprocess.run([IPAM, "list", "--json"], check=True, capture_output=True).stdout)
assert sorted(l["name"] for l in listed) == sorted(names), "list differs from lease files"
print(len(names))
PY
); then pass "$1 ($out leases)"; else fail "$1: $out"; fi
}

# 64 processes at once, 64 names: 64 distinct pairs.
for round in 1 2 3; do
	pids=()
	for i in $(seq 64); do "$IPAM" alloc "r$round-c$i" >/dev/null 2>"$T_TMP/err.$i" & pids+=($!); done
	failed=0
	for p in "${pids[@]}"; do wait "$p" || failed=$((failed + 1)); done
	check_eq "round $round: 64 parallel allocs all succeed" "$failed" "0"
	check_eq "round $round: 64 distinct local addresses" "$(cat "$S"/lease/r$round-* | grep '^LOCAL_ADDRESS=' | sort -u | wc -l)" "64"
	consistent "round $round: state consistent after parallel allocs"
	pids=()
	for i in $(seq 64); do "$IPAM" release "r$round-c$i" & pids+=($!); done
	failed=0
	for p in "${pids[@]}"; do wait "$p" || failed=$((failed + 1)); done
	check_eq "round $round: 64 parallel releases succeed" "$failed" "0"
	check_eq "round $round: no lease left" "$(ls "$S/lease" | grep -c '^r')" "0"
done

# Parallel allocs of one name: one lease, everyone sees the same pair.
pids=()
for i in $(seq 16); do "$IPAM" alloc same >"$T_TMP/same.$i" & pids+=($!); done
for p in "${pids[@]}"; do wait "$p"; done
check_eq "16 parallel allocs of one name print one pair" "$(cat "$T_TMP"/same.* | sort -u | wc -l)" "2"

# SIGKILL at random instants during alloc and release (with IPv6 claims too).
for i in $(seq 100); do
	name="k$((i % 7))"
	if [ $((i % 2)) -eq 0 ]; then "$IPAM" alloc "$name" --ipv6 >/dev/null 2>&1 &
	else "$IPAM" release "k$(((i + 3) % 7))" >/dev/null 2>&1 & fi
	pid=$!
	sleep "0.00$((RANDOM % 10))"
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	# A bystander allocating at the same time must never share an address.
	if [ $((i % 10)) -eq 0 ]; then "$IPAM" alloc "bystander$i" >/dev/null || fail "alloc after kill $i"; fi
done
consistent "after 100 kill -9 during alloc/release: state consistent"
check "alloc after the kills works" "$IPAM" alloc after-kill --ipv6
check "release after the kills works" "$IPAM" release after-kill
for n in k0 k1 k2 k3 k4 k5 k6; do "$IPAM" alloc "$n" --ipv6 >/dev/null || fail "alloc $n after kills"; done
consistent "every killed name allocates again, state consistent"
# Orphaned claims (a killed alloc's) are reclaimed: nothing is lost once all is released.
for n in $(ls "$S/lease"); do "$IPAM" release "$n"; done
"$IPAM" alloc first >/dev/null
check_eq "after releasing all, the first pair is free again" "$("$IPAM" show first | head -n1)" "HOST_ADDRESS=10.233.1.1"
finish
