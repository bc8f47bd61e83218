#!/usr/bin/env bash
# Hostile input through every CLI: shell/nft metacharacters, newlines, huge values,
# non-UTF-8, unsafe config and state paths. Each must fail with one clear "PROG: ..." line
# and a non-zero exit, and leave the kernel (ip -j, nft -j) and the state dir unchanged.
. "$(dirname "$0")/lib.sh"

mkns c1
# Some real state first, so "unchanged" means something.
$CTNET up ctok --create-netns --forward tcp:8080:80 >/dev/null || fail "setup: up ctok"
snap() { echo "$(snapshot_links)|$(snapshot_addrs)|$(snapshot_routes)|$(snapshot_nft)|$(snapshot_state)|$(ls /run/netns)|$(ls "$CTNET_RUN_DIR/containers")"; }
before=$(snap)
# same WHAT: kernel and state as before; on failure, only the lines that differ.
same() {
	local now; now=$(snap)
	if [ "$now" == "$before" ]; then pass "$1"; else fail "$1: $(diff <(echo "$before" | tr '|' '\n') <(echo "$now" | tr '|' '\n') | grep '^[<>]' | head -5 | tr '\n' ' ' | cut -c1-600)"; fi
}

huge=$(head -c 100000 /dev/zero | tr '\0' x)
values=('a;rm -rf /' 'x$(id)' '`id`' 'a b' $'a\nb' 'a"b' "a'b" 'x } ; flush ruleset ; {' '@x' '\x41'
	$'\xff\xfe' $'caf\xc3\xa9' '../../etc' '-x' '' "$huge" '10.233.1.2; drop' 'eth0 ' $'ve-\t1')
# One line (plus at most the "Try --help" line of a usage error), naming the program.
check_one() {
	local what=$1 want_prog=$2; shift 2
	"$@" >"$T_TMP/out" 2>"$T_TMP/err"
	local rc=$? first
	first=$(head -n 1 "$T_TMP/err")
	if [ $rc -eq 0 ]; then fail "$what: exit 0"; return; fi
	if [ $rc -ne 1 ] && [ $rc -ne 2 ]; then fail "$what: exit $rc (crash?): $(head -c 300 "$T_TMP/err")"; return; fi
	# getopt's own usage message names the subcommand ("up: invalid option").
	if [[ "$first" != "$want_prog: "* && ! ( $rc -eq 2 && "$first" == *option* ) ]] || [ "$(grep -vc '^Try ' "$T_TMP/err")" -gt $((rc == 2 ? 2 : 1)) ] || [ ${#first} -gt 400 ]; then
		fail "$what: stderr not one clear line: $(head -c 300 "$T_TMP/err" | cat -v)"; return
	fi
	pass "$what: exit $rc, \"$(printf '%s' "${first:0:90}" | cat -v)\""
}
i=0
for v in "${values[@]}"; do
	i=$((i + 1))
	check_one "ctnet up NAME=#$i" ctnet $CTNET up "$v" --create-netns
	check_one "ctnet up --forward #$i" ctnet $CTNET up ctx --create-netns --forward "$v"
	check_one "ctnet up --host-address #$i" ctnet $CTNET up ctx --create-netns --host-address "$v" --local-address 10.233.9.2
	check_one "ctnet up --bridge #$i" ctnet $CTNET up ctx --create-netns --bridge "$v" --pool 10.5.0.0/24
	check_one "ctnet up --mac #$i" ctnet $CTNET up ctx --create-netns --mac "$v"
	check_one "ctnet up --netns #$i" ctnet $CTNET up ctx --netns "$v"
	check_one "ctnet down #$i" ctnet $CTNET down "$v"
	check_one "ctnet status #$i" ctnet $CTNET status "$v"
	check_one "ctnet-ipam alloc #$i" ctnet-ipam $IPAM alloc "$v"
	check_one "ctnet-ipam alloc --pool #$i" ctnet-ipam $IPAM alloc ctx --pool "$v"
	check_one "ctnet-netd up --host-ifname #$i" ctnet-netd $NETD up ctx --netns /run/netns/c1 --host-address 10.233.9.1 --local-address 10.233.9.2 --host-ifname "$v"
	check_one "ctnet-netd up NAME #$i" ctnet-netd $NETD up "$v" --netns /run/netns/c1 --host-address 10.233.9.1 --local-address 10.233.9.2
	check_one "ctnet-nat add --iface #$i" ctnet-nat $NAT add ctx --address 10.233.9.2 --iface "$v"
	check_one "ctnet-nat add --forward #$i" ctnet-nat $NAT add ctx --address 10.233.9.2 --iface ve-ctx --forward "$v"
	check_one "ctnet-nat forward add --host-ip #$i" ctnet-nat $NAT forward add ctok tcp:9000:90 --host-ip "$v"
done
same "hostile values: kernel and state unchanged"

# --- config files that are not plain root-owned files ---
cfg=$T_TMP/cfg
mkdir -p "$cfg"
printf 'PRIVATE_NETWORK=1\nHOST_ADDRESS=10.233.60.1\nLOCAL_ADDRESS=10.233.60.2\n' >"$cfg/good.conf"
mkfifo "$cfg/fifo.conf"
cp "$cfg/good.conf" "$cfg/world.conf"; chmod 0666 "$cfg/world.conf"
cp "$cfg/good.conf" "$cfg/group.conf"; chmod 0620 "$cfg/group.conf"
cp "$cfg/good.conf" "$cfg/nobody.conf"; chown 65534 "$cfg/nobody.conf"
ln -s "$cfg/world.conf" "$cfg/link-to-world.conf"
head -c 200000 /dev/zero | tr '\0' '#' >"$cfg/huge.conf"
printf 'PRIVATE_NETWORK=1\nHOST_ADDRESS=$(reboot)\n' >"$cfg/subst.conf"
printf 'PRIVATE_NETWORK=1\nLOCAL_ADDRESS=10.233.60.2\0\n' >"$cfg/nul.conf"
for f in fifo.conf world.conf group.conf nobody.conf link-to-world.conf huge.conf subst.conf nul.conf /dev/zero /dev/null "$cfg"; do
	p=$f; [[ $p == /* ]] || p=$cfg/$f
	check_one "ctnet up --config $f" ctnet timeout 10 $CTNET up ctcfg --create-netns --config "$p"
done
same "bad configs: kernel and state unchanged"

# --- unsafe state and run dirs ---
evil=$T_SANDBOX/evil
mkdir -p "$evil/real" "$evil/world" "$evil/group"
chmod 0777 "$evil/world"; chmod 0775 "$evil/group"
ln -s "$evil/real" "$evil/link"
for d in link world group; do
	check_one "state dir $d: up refused" ctnet env CTNET_STATE_DIR="$evil/$d" $CTNET up ctsd --create-netns
	check_one "state dir $d: ipam refused" ctnet-ipam env CTNET_STATE_DIR="$evil/$d" $IPAM alloc ctsd
	check_one "state dir $d: nat refused" ctnet-nat env CTNET_STATE_DIR="$evil/$d" $NAT add ctsd --address 10.233.9.2 --iface ve-ctsd
	check_one "run dir $d: up refused" ctnet env CTNET_RUN_DIR="$evil/$d" $CTNET up ctsd --create-netns
done
check_eq "unsafe dirs: nothing written there" "$(find "$evil" -mindepth 2 | wc -l)" "0"
# A record swapped for a symlink is not followed.
ln -s /etc/passwd "$CTNET_RUN_DIR/containers/ctsym"
check_one "status of a symlinked record" ctnet $CTNET status ctsym
rm -f "$CTNET_RUN_DIR/containers/ctsym"
same "unsafe dirs: kernel and state unchanged"
check "ctok still works after all that" ip netns exec ctok true
check "down ctok" $CTNET down ctok
finish
