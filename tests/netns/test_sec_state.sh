#!/usr/bin/env bash
# A state dir that cannot be written: read-only (a read-only bind mount, the run dir still
# writable) or full (a tiny tmpfs filled with a file). Every command that changes things
# (ctnet up/repair/down/apply/run/gc, ctnet-ipam, ctnet-nat, ctnet-cni) must find that out before
# its first kernel change: it fails, says which path and why, and the kernel (ip -j link,
# addresses, routes, nft -j list ruleset), /run/netns and the state and run dirs are as they
# were. Once the state dir is writable again, gc finishes what an interrupted run left and
# a fresh up works.
. "$(dirname "$0")/lib.sh"
REL_CHECK=$(dirname "$0")/rel_check.py

small=$T_SANDBOX/small
mkdir -p "$small"
mount -t tmpfs -o size=1m,mode=0755 tmpfs "$small"
export CTNET_STATE_DIR=$small/state
ST=$CTNET_STATE_DIR

mk_upstream
# Everything a refused command must leave as it was, in one python3 (one start per snapshot:
# the lib.sh helpers each start their own): links (with aliases), addresses and routes (the
# kernel's own fe80:: ones left out), the whole nft ruleset, /run/netns, and every file of
# the state and run dirs (content, or a link's target; lock files are the lock's business).
cat >"$T_TMP/snap.py" <<'PY'
import hashlib, json, os, subprocess, sys
def j(*cmd):
    out = subprocess.run(cmd, capture_output=True, text=True).stdout
    return [x for line in out.splitlines() if line.strip() for x in json.loads(line)]
print("links", sorted((l["ifname"], l.get("ifalias", "")) for l in j("ip", "-j", "link", "show")))
print("addrs", sorted((l["ifname"], a["local"], a["prefixlen"]) for l in j("ip", "-j", "addr", "show")
                      for a in l.get("addr_info", []) if not a["local"].startswith("fe80:")))
print("routes", sorted(json.dumps(r, sort_keys=True) for r in j("ip", "-4", "-j", "route", "show", "table", "all")
                       + j("ip", "-6", "-j", "route", "show", "table", "all") if not r.get("dst", "").startswith("fe80:")))
nft = json.loads(subprocess.run(["nft", "-j", "list", "ruleset"], capture_output=True, text=True).stdout or '{"nftables":[]}')
print("nft", json.dumps([x for x in nft["nftables"] if "metainfo" not in x], sort_keys=True))
print("netns", sorted(os.listdir("/run/netns")))
for base in sys.argv[1:]:
    for root, dirs, files in sorted(os.walk(base)):
        for f in sorted(files + [d for d in dirs if os.path.islink(os.path.join(root, d))]):
            p = os.path.join(root, f)
            if f.endswith(".lock") or f == "lock":
                continue
            what = os.readlink(p) if os.path.islink(p) else hashlib.md5(open(p, "rb").read()).hexdigest()
            print(os.path.relpath(p, base), what)
PY
snapshot_all() { python3 "$T_TMP/snap.py" "$CTNET_STATE_DIR" "$CTNET_RUN_DIR"; }

# A world with something to lose: two containers by hand (one forwarding), two by apply.
apply_dir=$T_TMP/apply
mkdir -p "$apply_dir"
for n in ap1 ap2; do printf 'PRIVATE_NETWORK=1\nHOST_PORT=tcp:%s:80\n' "$((9000 + ${n#ap}))" >"$apply_dir/$n.conf"; done
check "setup: up c1 with a forward" $CTNET up c1 --create-netns --forward tcp:8080:80
check "setup: up c2" $CTNET up c2 --create-netns --ipv6
check "setup: apply brings up ap1 and ap2" $CTNET apply "$apply_dir"
# The apply dir as the next apply would see it: ap2 gone, ap3 new, ap1 changed in place.
rm "$apply_dir/ap2.conf"
printf 'PRIVATE_NETWORK=1\n' >"$apply_dir/ap3.conf"
printf 'PRIVATE_NETWORK=1\nHOST_PORT=tcp:9001:80,tcp:9011:81\n' >"$apply_dir/ap1.conf"
cni_conf='{"cniVersion":"1.0.0","name":"rostate","type":"ctnet-cni","subnet":"10.99.0.0/24"}'
mkns cnins
mkns cnins2

# refused WHEN WHAT REGEX CMD...: CMD exits 1 naming the path (and REGEX, the cause), and
# nothing changed anywhere.
refused() {
	local when=$1 what=$2 re=$3; shift 3
	local before after
	# Full stays full: a command that wrongly freed space would let the next ones pass.
	[ -n "${FULL:-}" ] && dd if=/dev/zero of="$small/fill.$RANDOM" bs=4k 2>/dev/null
	before=$(snapshot_all)
	check_exit "$when: $what fails" 1 "$@"
	check_match "$when: $what names the path and the cause" "$T_STDERR" "$ST[^ ]*\"?: $re"
	after=$(snapshot_all)
	if [ "$before" == "$after" ]; then
		pass "$when: $what changed nothing (links, addresses, routes, nft, netns, state, records)"
	else
		fail "$when: $what changed: $(diff <(echo "$before") <(echo "$after") | head -c 600 | tr '\n' ' ')"
	fi
}

cni() { printf '%s' "$cni_conf" | env CNI_COMMAND="$1" CNI_CONTAINERID="$2" CNI_NETNS="/run/netns/$3" \
	CNI_IFNAME=eth0 CNI_PATH=/nonexistent "$CTNET_BIN/ctnet-cni"; }

# every_command WHEN REGEX: each command that changes things, refused.
every_command() {
	local when=$1 re=$2
	refused "$when" "up of a new container" "$re" $CTNET up c3 --create-netns --forward tcp:8083:80
	refused "$when" "up changing a forward in place" "$re" $CTNET up c1 --create-netns --forward tcp:8081:80
	refused "$when" "repair" "$re" $CTNET repair c1
	refused "$when" "down" "$re" $CTNET down c1
	refused "$when" "down --keep-lease" "$re" $CTNET down --keep-lease c2
	refused "$when" "apply (remove, add, change)" "$re" $CTNET apply "$apply_dir"
	refused "$when" "run" "$re" $CTNET run r1 -- true
	refused "$when" "gc" "$re" $CTNET gc
	refused "$when" "ctnet-ipam alloc" "$re" $IPAM alloc i1
	refused "$when" "ctnet-ipam release" "$re" $IPAM release c2
	refused "$when" "ctnet-nat add" "$re" $NAT add n1 --address 10.233.77.2 --iface ve-c2
	refused "$when" "ctnet-nat del" "$re" $NAT del c1
	refused "$when" "ctnet-nat forward add" "$re" $NAT forward add c1 tcp:8089:89
	refused "$when" "ctnet-cni ADD" "$re" cni ADD roc1 cnins2
	refused "$when" "ctnet-cni DEL" "$re" cni DEL cnikeep cnins
	# What only reads still works.
	check "$when: status still answers (all up)" $CTNET status
	check "$when: ctnet-ipam list still answers" $IPAM list
	check "$when: ctnet-nat check finds no drift" $NAT check
}

check "setup: ctnet-cni ADD of an attachment" cni ADD cnikeep cnins

# --- read-only: a read-only bind mount over the state dir ---
mount --bind "$ST" "$ST"
mount -o remount,bind,ro "$ST"
every_command "read-only state dir" "Read-only file system"
umount "$ST"

# --- full: the tmpfs holding the state dir filled with a file ---
dd if=/dev/zero of="$small/fill" bs=4k 2>/dev/null
FULL=1
check_match "full: the file system is full" "$(df --output=avail "$small" | tail -n 1 | tr -d ' ')" "^0$"
every_command "full state dir" "No space left on device"

# --- what an interrupted run leaves, while the disk is full, and once space is back ---
# c2: an up killed before its commit (the record still says PENDING=1); c1: a down that
# took the links and stopped (STOPPING=release, its host link gone), as the read-only
# state dir left it before ctnet checked first.
printf 'PENDING=1\n' >>"$CTNET_RUN_DIR/containers/c2"
printf 'STOPPING=release\n' >>"$CTNET_RUN_DIR/containers/c1"
ip link del ve-c1
refused "full, interrupted runs left" "gc" "No space left on device" $CTNET gc
rm -f "$small"/fill*
FULL=
if out=$($CTNET gc 2>&1); then pass "space back: gc succeeds"; else fail "space back: gc exited $?: $out"; fi
check_match "space back: gc finished the interrupted up of c2" "$out" "removed container c2"
check_match "space back: gc finished the interrupted down of c1" "$out" "removed container c1"
for n in c1 c2; do
	check_eq "space back: no record of $n" "$(ls "$CTNET_RUN_DIR/containers" | grep -c "^$n\$")" "0"
	check_eq "space back: no lease of $n" "$(ls "$ST/ipam/lease" | grep -c "^$n\$")" "0"
	check_eq "space back: no NAT entry of $n" "$(ls "$ST/nat/containers" | grep -c "^$n\$")" "0"
	check_eq "space back: no link of $n" "$(ip -j link show | grep -c "\"ve-$n\"")" "0"
	check_eq "space back: no netns of $n" "$(ls /run/netns | grep -c "^$n\$")" "0"
done
check_eq "space back: no port claim of c1" "$(ls "$ST/nat/ports" | grep -c '^tcp-8080$')" "0"
check_eq "space back: no probe or temp file left" "$(find "$ST" "$CTNET_RUN_DIR" -name '.*.tmp' | wc -l)" "0"
out=$(python3 "$REL_CHECK" consistent 2>&1) && pass "space back: state and kernel agree ($out)" || fail "space back: $out"
check "space back: a fresh up works" $CTNET up c4 --create-netns --forward tcp:8080:80
check "space back: up of c2 again works" $CTNET up c2 --create-netns
ip netns exec c4 socat -t$T_IDLE TCP-LISTEN:80,fork,reuseaddr SYSTEM:'echo c4' &
SRV=$!
wait_port c4 80
check_eq "space back: upstream reaches c4 through its forward" "$(ip netns exec upstream timeout $T_CONN socat -T$T_IDLE -t$T_IDLE - TCP:192.0.2.1:8080 </dev/null)" "c4"
kill "$SRV"; wait "$SRV" 2>/dev/null
check "space back: apply works" $CTNET apply "$apply_dir"
check "space back: cni DEL works" cni DEL cnikeep cnins
for n in c2 c4; do check "space back: down $n" $CTNET down $n; done
finish
