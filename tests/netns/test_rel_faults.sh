#!/usr/bin/env bash
# ctnet under faults: kill -9 of up/down at random instants, a full state dir, nft flushed
# and links deleted behind ctnet's back, temp files left by a killed writer.
# REL_KILLS: kill -9 iterations (make check: 40, make stress: 200).
. "$(dirname "$0")/lib.sh"
REL_CHECK=$(dirname "$0")/rel_check.py
KILLS=${REL_KILLS:-40}

residue() { local out; if out=$(python3 "$REL_CHECK" residue upstream 2>&1); then pass "$1"; else fail "$1: $out"; fi; }
consistent() { local what=$1 out; shift; if out=$(python3 "$REL_CHECK" consistent "$@" 2>&1); then pass "$what ($out)"; else fail "$what: $out"; fi; }
n_elems() { nft -j list table inet ctnet 2>/dev/null | python3 -c 'import json,sys; print(sum(len(x.get("set",x.get("map",{})).get("elem",[])) for x in json.load(sys.stdin)["nftables"]))' 2>/dev/null || echo 0; }

mk_upstream

# --- kill -9 of up/down at random instants ---
twice=0
for i in $(seq "$KILLS"); do
	name="ctk$((RANDOM % 8))"
	case $((RANDOM % 3)) in
	0) $CTNET down "$name" >/dev/null 2>&1 & ;;
	1) $CTNET up "$name" --create-netns --forward "tcp:$((30000 + RANDOM % 8)):80" >/dev/null 2>&1 & ;;
	*) $CTNET up "$name" --create-netns --ipv6 >/dev/null 2>&1 & ;;
	esac
	pid=$!
	# ctnet up takes ~5-60 ms here: kill anywhere in it, or not at all.
	sleep "0.0$((RANDOM % 60 / 10))$((RANDOM % 10))"
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	if ! out=$(python3 "$REL_CHECK" unique 2>&1); then twice=$((twice + 1)); echo "after kill $i: $out"; fi
done
check_eq "$KILLS kill -9 of up/down: no address ever owned twice" "$twice" "0"
check "gc after the kills" $CTNET gc
consistent "after $KILLS kills and gc: records, leases, links, nft elements and netns agree"
check "gc again is a no-op" $CTNET gc
check_match "second gc removes nothing" "$($CTNET gc)" "gc: removed 0"
failed=0
for n in $(seq 0 7); do $CTNET down "ctk$n" 2>"$T_TMP/err" || { failed=$((failed + 1)); cat "$T_TMP/err"; }; done
check_eq "every killed name goes down" "$failed" "0"
residue "kills: zero residue after down"
failed=0
for n in $(seq 0 7); do $CTNET up "ctk$n" --create-netns >/dev/null 2>"$T_TMP/err" || { failed=$((failed + 1)); cat "$T_TMP/err"; }; done
check_eq "every killed name comes up again" "$failed" "0"
seq 0 7 | sed 's/^/ctk/' >"$T_TMP/expect"
consistent "all 8 up after the kills" --expect "$T_TMP/expect"
for n in $(seq 0 7); do $CTNET down "ctk$n" || fail "down ctk$n after kills"; done
residue "kills: zero residue after all down"

# --- temp files of a killed writer never confuse readers, gc removes them ---
$CTNET up cttmp --create-netns >/dev/null || fail "up cttmp"
sleep 0 & dead=$!; wait $dead
for d in "$CTNET_RUN_DIR/containers" "$CTNET_STATE_DIR/ipam/lease" "$CTNET_STATE_DIR/nat/containers"; do
	printf 'NAME=half\nMODE=pri' >"$d/.cthalf.$dead.tmp"
	printf 'garbage\n' >"$d/.cttmp.$dead.tmp"
done
check_eq "temp files: status lists only cttmp" "$($CTNET status --json | python3 -c 'import json,sys; print([c["name"] for c in json.load(sys.stdin)])')" "['cttmp']"
check_eq "temp files: ipam list only cttmp" "$($IPAM list --json | python3 -c 'import json,sys; print([c["name"] for c in json.load(sys.stdin)])')" "['cttmp']"
check_eq "temp files: nat list only cttmp" "$($NAT list --json | python3 -c 'import json,sys; d=json.load(sys.stdin); d=d.get("containers",d) if isinstance(d,dict) else d; print([c["name"] for c in d])')" "['cttmp']"
# A killed ctnet-cni or apply leaves its temp file in launch's other directories: gc sweeps
# them too (it once swept a fixed list that missed both). PID 999999 exists on no host
# whose pid_max is the default 32768 (elsewhere: the dead PID above).
stale=999999
kill -0 "$stale" 2>/dev/null && stale=$dead
for d in "$CTNET_RUN_DIR/cni" "$CTNET_RUN_DIR/apply-index"; do
	mkdir -p -m 0755 "$d"
	printf 'half' >"$d/.x.$stale.tmp"
done
if gc_out=$($CTNET gc 2>&1); then pass "temp files: gc succeeds"; else fail "temp files: gc exited $?: $gc_out"; fi
check_eq "temp files: gc removed the dead writer's temp files" "$(find "$CTNET_STATE_DIR" "$CTNET_RUN_DIR" -name '*.tmp' | wc -l)" "0"
for d in cni apply-index; do
	check_eq "temp files: gc removed .x.$stale.tmp in $d" "$(ls -A "$CTNET_RUN_DIR/$d")" ""
	check_match "temp files: gc says so for $d" "$gc_out" "removed 1 temp file of killed writers in $d"$'\n'
done
check "temp files: down cttmp" $CTNET down cttmp
residue "temp files: zero residue"

# --- a forward change killed after the new entry, before the old claims went: the claim of
# a port its owner no longer forwards (down frees only the ports listed) is gc's to remove ---
$CTNET up ctport --create-netns --forward tcp:9101:80 >/dev/null || fail "up ctport"
ln -s ctport "$CTNET_STATE_DIR/nat/ports/tcp-9102"
check_match "stray claim: gc removes it" "$($CTNET gc)" "removed 1 host-port claim of interrupted forward changes"
check_eq "stray claim: gone, the forwarded port's claim kept" "$(ls "$CTNET_STATE_DIR/nat/ports")" "tcp-9101"
check "stray claim: down ctport" $CTNET down ctport
residue "stray claim: zero residue"

# --- nft flushed and links deleted behind ctnet's back ---
$CTNET up ctf1 --create-netns --forward tcp:8081:80 >/dev/null || fail "up ctf1"
$CTNET up ctf2 --create-netns >/dev/null || fail "up ctf2"
elems=$(n_elems)
nft flush ruleset
check_eq "after nft flush: status says ctf1 degraded" "$($CTNET status ctf1 --json | python3 -c 'import json,sys; c=json.load(sys.stdin)[0]; print(c["state"])')" "degraded"
check_match "after nft flush: status names the reason" "$($CTNET status)" "ctf1 .*degraded.*\(.*(NAT|nft).*\)"
check_exit "after nft flush: status ctf1 exits 1" 1 $CTNET status ctf1
check "after nft flush: gc repairs" $CTNET gc
check_eq "after gc: nft elements back" "$(n_elems)" "$elems"
check_eq "after gc: both containers still up" "$($CTNET status --json | python3 -c 'import json,sys; print(sorted((c["name"],c["state"]) for c in json.load(sys.stdin)))')" "[('ctf1', 'up'), ('ctf2', 'up')]"
nft flush ruleset
check "after another flush: ctnet-nat restore repairs" $NAT restore
check_eq "after restore: nft elements back" "$(n_elems)" "$elems"
check "after restore: ctnet-nat check clean" $NAT check
printf 'ctf1\nctf2\n' >"$T_TMP/expect"
consistent "after flush + repair: consistent" --expect "$T_TMP/expect"

# A deleted host link is a fault of a container whose namespace is still there (its
# processes may be in it): degraded, kept by gc, repaired in that namespace by up; it is
# gone only with its namespace.
ctf2_state() { $CTNET status --json | python3 -c 'import json,sys; print([(c["state"],c.get("reason")) for c in json.load(sys.stdin) if c["name"]=="ctf2"])'; }
ip link del ve-ctf2
check_eq "link deleted: status says ctf2 degraded" "$(ctf2_state)" "[('degraded', 'host link ve-ctf2 missing')]"
check_match "link deleted: gc keeps ctf2" "$($CTNET gc)" "^gc: removed 0$"
check_eq "link deleted: ctf2 still degraded after gc" "$(ctf2_state)" "[('degraded', 'host link ve-ctf2 missing')]"
check "link deleted: up repairs ctf2 in place" $CTNET up ctf2 --create-netns
check_eq "link deleted: ctf2 up again" "$(ctf2_state)" "[('up', None)]"
printf 'ctf1
ctf2
' >"$T_TMP/expect"
consistent "link deleted and repaired: consistent" --expect "$T_TMP/expect"
ip netns del ctf2
check_match "namespace deleted: gc removes ctf2, keeping its lease" "$($CTNET gc)" "removed container ctf2 \(namespace gone\), lease kept"
check_match "namespace deleted: the lease is still ctf2's" "$($IPAM list --json)" '"ctf2"'
check "namespace deleted: gc --leases" $CTNET gc --leases
echo ctf1 >"$T_TMP/expect"
consistent "namespace deleted: gc --leases removed ctf2's lease, NAT entries and netns" --expect "$T_TMP/expect"
ip netns del ctf1
check "netns deleted: gc --leases" $CTNET gc --leases
residue "netns deleted: gc --leases leaves zero residue"

# --- state dir on a tiny tmpfs that fills up ---
small=$T_SANDBOX/small
mkdir -p "$small"
mount -t tmpfs -o size=256k,mode=0755 tmpfs "$small"
export CTNET_STATE_DIR=$small/state CTNET_RUN_DIR=$small/run
$CTNET up ctfull1 --create-netns >/dev/null || fail "up ctfull1 on the small tmpfs"
lease1=$(cat "$small/state/ipam/lease/ctfull1")
dd if=/dev/zero of="$small/fill" bs=4k 2>/dev/null
state0=$(snapshot_state); links0=$(snapshot_links); addrs0=$(snapshot_addrs); routes0=$(snapshot_routes); nft0=$(snapshot_nft)
check_exit "full state dir: up fails" 1 $CTNET up ctfull2 --create-netns --forward tcp:8090:80
check_match "full state dir: one clear line naming the cause" "$T_STDERR" "^ctnet: .*(No space left on device|Disk quota)[^$'\n']*$"
check_eq "full state dir: state files unchanged" "$(snapshot_state)" "$state0"
check_eq "full state dir: no temp file left" "$(find "$small" -name '*.tmp' | wc -l)" "0"
check_eq "full state dir: earlier lease intact" "$(cat "$small/state/ipam/lease/ctfull1")" "$lease1"
check_eq "full state dir: links unchanged" "$(snapshot_links)" "$links0"
check_eq "full state dir: addresses unchanged" "$(snapshot_addrs)" "$addrs0"
check_eq "full state dir: routes unchanged" "$(snapshot_routes)" "$routes0"
check_eq "full state dir: nft unchanged" "$(snapshot_nft)" "$nft0"
check_eq "full state dir: no /run/netns/ctfull2" "$(ls /run/netns | grep -c '^ctfull2$')" "0"
rm -f "$small/fill"
check "space back: up works" $CTNET up ctfull2 --create-netns
check "down ctfull1" $CTNET down ctfull1
check "down ctfull2" $CTNET down ctfull2
residue "small tmpfs: zero residue"
finish
