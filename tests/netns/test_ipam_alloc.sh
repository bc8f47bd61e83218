#!/usr/bin/env bash
# ctnet-ipam allocation: nixos order, configs, idempotency, capacity, pools, reserve, JSON,
# IPv6. ipam touches no network; the harness gives it a private tmpfs state dir.
. "$(dirname "$0")/lib.sh"

S=$CTNET_STATE_DIR/ipam
addr_of() { "$IPAM" show "$1" | sed -n "s/^$2=//p"; }

# Capacity (in a fresh state dir): the nixos pairs, then 300 more, all distinct
# /30-aligned pairs in the pool.
CTNET_STATE_DIR=$T_SANDBOX/state2 S=$T_SANDBOX/state2/ipam
for i in $(seq 1 600); do
	"$IPAM" alloc "n$i" >/dev/null || { fail "alloc n$i: exit $?"; break; }
	[ "$(ls "$S/lease" | wc -l)" -ge 554 ] && break
done
n=$(ls "$S/lease" | wc -l)
check_eq "554 leases allocated" "$n" "554"
check_eq "the 254th pair is 10.233.254.x" "$(grep -l '^HOST_ADDRESS=10.233.254.1$' "$S"/lease/* | wc -l)" "1"
"$IPAM" list --json >"$T_TMP/list.json"
check "554 leases: distinct, in pool, /30-aligned, nixos first" python3 - "$T_TMP/list.json" <<'PY'
import ipaddress, json, sys
leases = json.load(open(sys.argv[1]))
assert len(leases) == 554, len(leases)
pool = ipaddress.ip_network("10.233.0.0/16")
seen = set()
nixos = set()
for l in leases:
    h = ipaddress.ip_address(l["host_address"]); lo = ipaddress.ip_address(l["local_address"])
    assert h in pool and lo in pool, l
    assert int(h) % 4 == 1 and int(lo) == int(h) + 1, l
    assert h not in seen and lo not in seen, l
    seen |= {h, lo}
    if int(h) & 0xff == 1: nixos.add(int(h) >> 8 & 0xff)
assert nixos == set(range(1, 255)), sorted(set(range(1, 255)) - nixos)
PY
check_eq "the 255th onward start at 10.233.0.5" "$(grep -l '^HOST_ADDRESS=10.233.0.5$' "$S"/lease/* | wc -l)" "1"

CTNET_STATE_DIR=$T_SANDBOX/state S=$T_SANDBOX/state/ipam

# nixos order: 10.233.N.1/.2, lowest N first.
out=$("$IPAM" alloc c1)
check_eq "first lease is nixos's first pair" "$out" $'HOST_ADDRESS=10.233.1.1\nLOCAL_ADDRESS=10.233.1.2'
"$IPAM" alloc c2 >/dev/null
check_eq "second lease is 10.233.2.x" "$(addr_of c2 HOST_ADDRESS) $(addr_of c2 LOCAL_ADDRESS)" "10.233.2.1 10.233.2.2"
check_eq "alloc again returns the same lease" "$("$IPAM" alloc c1)" "$out"
check_eq "idempotent alloc adds no lease" "$(ls "$S/lease" | wc -l)" "2"
check_eq "lease file is readable KEY=VALUE" "$(grep -c '^HOST_ADDRESS=10.233.1.1$' "$S/lease/c1")" "1"
check_eq "claim link names the owner" "$(readlink "$S/addr/10.233.1.2")" "c1"

# A freed pair is handed out again first (lowest free).
"$IPAM" release c1
check_eq "release removes the lease" "$(ls "$S/lease")" "c2"
check_eq "release removes the claims" "$(ls "$S/addr" | grep -c '^10\.233\.1\.')" "0"
"$IPAM" alloc c3 >/dev/null
check_eq "lowest free pair is reused" "$(addr_of c3 HOST_ADDRESS)" "10.233.1.1"
check_exit "release of an absent lease succeeds" 0 "$IPAM" release nosuch
check_exit "show of an absent lease fails" 1 "$IPAM" show nosuch
check_match "show names the missing lease" "$T_STDERR" 'no lease for "nosuch"'

# nixos configs count as taken: bare, with /prefix, quoted; own config does not.
mkdir -p "$CTNET_NIXOS_CONF_DIR"
printf 'PRIVATE_NETWORK=1\nHOST_ADDRESS=10.233.3.1\nLOCAL_ADDRESS=10.233.3.2\n' >"$CTNET_NIXOS_CONF_DIR/old1.conf"
printf 'HOST_ADDRESS="10.233.4.1"\nLOCAL_ADDRESS=10.233.4.2/24\n' >"$CTNET_NIXOS_CONF_DIR/old2.conf"
printf "# comment\nLOCAL_ADDRESS='10.233.5.2/32'\n" >"$CTNET_NIXOS_CONF_DIR/old3.conf"
printf 'HOST_ADDRESS=10.233.6.1\nLOCAL_ADDRESS=10.233.6.2\n' >"$CTNET_NIXOS_CONF_DIR/mine.conf"
"$IPAM" alloc d1 >/dev/null
check_eq "addresses of conf files are skipped (3, 4, 5, 6 taken)" "$(addr_of d1 HOST_ADDRESS)" "10.233.7.1"
"$IPAM" release d1
check_exit "a container may reserve what its own conf names" 0 "$IPAM" reserve mine --host-address 10.233.6.1 --local-address 10.233.6.2
check_exit "another container may not" 1 "$IPAM" reserve notmine --host-address 10.233.6.1 --local-address 10.233.6.2
check_match "and the error names the conf file" "$T_STDERR" 'named in nixos conf ".*/mine\.conf"'
rm -f "$CTNET_NIXOS_CONF_DIR"/*.conf
"$IPAM" release mine
check_exit "--nixos-conf-dir is honoured" 0 "$IPAM" alloc d2 --nixos-conf-dir /nonexistent
check_eq "d2 gets the lowest free pair" "$(addr_of d2 HOST_ADDRESS)" "10.233.3.1"

# Exhaustion of a small pool: exit 1, clear message, state unchanged.
check_exit "a /30 pool holds one pair" 0 "$IPAM" alloc p1 --pool 10.250.0.0/30
check_eq "its pair is .1/.2" "$(addr_of p1 HOST_ADDRESS) $(addr_of p1 LOCAL_ADDRESS)" "10.250.0.1 10.250.0.2"
before=$(snapshot_state)
check_exit "a full pool fails" 1 "$IPAM" alloc p2 --pool 10.250.0.0/30
check_match "the error says the pool is exhausted" "$T_STDERR" '^ctnet-ipam: pool 10\.250\.0\.0/30 exhausted'
check_eq "a failed alloc changes no state" "$(snapshot_state)" "$before"
"$IPAM" alloc q1 --pool 10.250.1.0/24 >/dev/null
"$IPAM" alloc q2 --pool 10.250.1.0/24 >/dev/null
check_eq "a /24 pool uses /30 pairs" "$(addr_of q2 HOST_ADDRESS) $(addr_of q2 LOCAL_ADDRESS)" "10.250.1.5 10.250.1.6"
check_exit "alloc of a leased name in another pool fails" 1 "$IPAM" alloc q1 --pool 10.250.2.0/24
check_match "and names the pool it has" "$T_STDERR" 'already has a lease in pool 10\.250\.1\.0/24'

# Bridge pool: one address each, .1 kept for the bridge, the pool's prefix.
out=$("$IPAM" alloc b1 --pool 10.233.200.0/24 --single)
check_eq "bridge lease: LOCAL_ADDRESS only, with prefix" "$out" "LOCAL_ADDRESS=10.233.200.2/24"
"$IPAM" alloc b2 --pool 10.233.200.0/24 --single >/dev/null
check_eq "second bridge lease is .3" "$(addr_of b2 LOCAL_ADDRESS)" "10.233.200.3/24"
check_exit "a bridge pool refuses pair allocs" 1 "$IPAM" alloc b3 --pool 10.233.200.0/24
check_exit "a bridge subnet cannot be reserved as a pair in the /16" 1 \
	"$IPAM" reserve r0 --host-address 10.233.200.9 --local-address 10.233.200.10
check_match "the conflict names the bridge pool" "$T_STDERR" 'inside bridge pool 10\.233\.200\.0/24'
check_exit "a bridge pool whose .1 is leased is refused" 1 "$IPAM" alloc b4 --pool 10.233.1.0/24 --single
check_match "naming the owner of .1" "$T_STDERR" 'bridge address 10\.233\.1\.1 is taken by "c3"'

# Reserve: static leases, conflicts name the owner, outside the pool fails.
check_exit "reserve a free pair" 0 "$IPAM" reserve r1 --host-address 10.233.50.9 --local-address 10.233.50.10
check_eq "static lease is shown" "$(addr_of r1 LOCAL_ADDRESS)" "10.233.50.10"
check_exit "reserve the same again succeeds" 0 "$IPAM" reserve r1 --host-address 10.233.50.9 --local-address 10.233.50.10
before=$(snapshot_state)
check_exit "reserve of a taken address fails" 1 "$IPAM" reserve r2 --host-address 10.233.50.10 --local-address 10.233.50.11
check_match "and names the owner" "$T_STDERR" '10\.233\.50\.10 is taken by "r1"'
check_exit "reserve of an allocated pair fails" 1 "$IPAM" reserve r3 --host-address 10.233.2.1 --local-address 10.233.2.2
check_match "and names the allocating owner" "$T_STDERR" 'taken by "c2"'
check_exit "reserve outside the pool fails" 1 "$IPAM" reserve r4 --host-address 10.1.0.1 --local-address 10.1.0.2
check_match "and says so" "$T_STDERR" 'outside pool 10\.233\.0\.0/16'
check_exit "reserve with other addresses for a leased name fails" 1 "$IPAM" reserve r1 --host-address 10.233.50.13 --local-address 10.233.50.14
printf 'HOST_ADDRESS=10.233.60.1\n' >"$CTNET_NIXOS_CONF_DIR/other.conf"
check_exit "reserve of a conf file's address fails" 1 "$IPAM" reserve r5 --host-address 10.233.60.1 --local-address 10.233.60.2
check_match "and names the conf file" "$T_STDERR" 'other\.conf'
rm -f "$CTNET_NIXOS_CONF_DIR/other.conf"
check_eq "failed reserves change no state" "$(snapshot_state)" "$before"
check_exit "a bridge reservation" 0 "$IPAM" reserve b9 --pool 10.233.200.0/24 --single --local-address 10.233.200.50
check_eq "bridge reservation keeps the prefix" "$(addr_of b9 LOCAL_ADDRESS)" "10.233.200.50/24"
check_exit "the bridge address .1 cannot be reserved" 1 "$IPAM" reserve b8 --pool 10.233.200.0/24 --single --local-address 10.233.200.1

# JSON.
check "alloc --json parses" python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["name"]=="c2" and d["host_address"]=="10.233.2.1" and d["local_address"]=="10.233.2.2", d' < <("$IPAM" alloc c2 --json)
check "show --json parses" python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["static"] is True and d["single"] is False' < <("$IPAM" show r1 --json)
check "list --json is an array of all leases" python3 -c 'import json,sys,os; d=json.load(sys.stdin); assert len(d)==len(os.listdir(sys.argv[1])), len(d)' "$S/lease" < <("$IPAM" list --json)
check_match "list prints a table with a header" "$("$IPAM" list | head -n1)" '^NAME +POOL +HOST +LOCAL'

# IPv6: one ULA /48 per state dir, kept across calls, pairs tied to the v4 pair.
out=$("$IPAM" alloc v1 --ipv6)
ula=$(cat "$S/ula6")
check_match "ula6 is an fd00::/8 /48" "$ula" '^fd[0-9a-f]{2}:[0-9a-f]{1,4}:[0-9a-f]{1,4}::/48$'
check "the v6 pair lies inside the ULA" python3 -c '
import ipaddress,sys
net=ipaddress.ip_network(sys.argv[1]); d=dict(l.split("=",1) for l in sys.argv[2].splitlines())
h=ipaddress.ip_address(d["HOST_ADDRESS6"]); lo=ipaddress.ip_address(d["LOCAL_ADDRESS6"])
assert h in net and lo in net and h != lo and h in ipaddress.ip_network("fd00::/8")
assert int(h) & 0xffffffff == int(ipaddress.ip_address(d["HOST_ADDRESS"])), (h, d)' "$ula" "$out"
"$IPAM" alloc v2 --ipv6 >/dev/null
check_eq "the ULA is the same on the next call" "$(cat "$S/ula6")" "$ula"
check_eq "v2 has a v6 address from the same /48" "$(addr_of v2 LOCAL_ADDRESS6 | cut -d: -f1-3)" "$(echo "$ula" | cut -d: -f1-3)"
check_exit "adding --ipv6 to an existing lease" 0 "$IPAM" alloc c2 --ipv6
check_match "gives it v6 addresses" "$(addr_of c2 LOCAL_ADDRESS6)" '^fd'
check_eq "and keeps its v4 pair" "$(addr_of c2 HOST_ADDRESS)" "10.233.2.1"
"$IPAM" release v1
check_eq "release drops the v6 claims" "$(ls "$S/addr" | grep -c ':' )" "4"

# A lease survives a power loss whole: its claims' directory is synced, then the lease file
# before its rename and the lease directory after it (the calls in the order made).
durable_calls() { # strace -y output -> the calls that make lease $2 durable, one word each
	python3 - "$1" "$2" <<'PY'
import re, sys
name = sys.argv[2]
words = []
for line in open(sys.argv[1]):
    m = re.match(r'(?:\d+ +)?(\w+)\((.*)\) += 0', line)
    if not m:
        continue
    call, args = m.groups()
    if call == "symlinkat" and args.startswith('"%s"' % name):
        words.append("claim")
    elif call in ("fsync", "fdatasync"):
        path = re.match(r'\d+<(.*)>', args).group(1)
        if path.endswith("/ipam/addr"):
            words.append("sync-claims")
        elif re.search(r'/lease/\.%s\.\d+\.tmp$' % re.escape(name), path):
            words.append("sync-file")
        elif path.endswith("/ipam/lease"):
            words.append("sync-dir")
    elif call.startswith("rename") and args.endswith('"%s"' % name):
        words.append("rename")
print(" ".join(words))
PY
}
strace -f -y -e trace=symlinkat,fsync,fdatasync,rename,renameat,renameat2 -o "$T_TMP/strace.alloc" \
	"$IPAM" alloc durable1 >/dev/null
check_eq "alloc: claims synced, lease synced before its rename, its directory after" \
	"$(durable_calls "$T_TMP/strace.alloc" durable1)" "claim claim sync-claims sync-file rename sync-dir"
strace -f -y -e trace=symlinkat,fsync,fdatasync,rename,renameat,renameat2 -o "$T_TMP/strace.reserve" \
	"$IPAM" reserve durable2 --host-address 10.233.250.1 --local-address 10.233.250.2 >/dev/null
check_eq "reserve: the same" \
	"$(durable_calls "$T_TMP/strace.reserve" durable2)" "claim claim sync-claims sync-file rename sync-dir"

finish
