#!/usr/bin/env bash
# ctnet up on a running container converges: every broken piece is repaired (and named on
# stderr), forwards/MTU/MAC change in place on the same link, other changes are refused with
# the old state intact; status exits 1 with a stale container; a reboot keeps the leases.
. "$(dirname "$0")/lib.sh"

mk_upstream
ip netns exec upstream socat -t$T_IDLE TCP-LISTEN:80,fork,reuseaddr SYSTEM:'echo $SOCAT_PEERADDR' &
UP_PID=$!
trap 'kill $UP_PID $WEB_PID $WEB2_PID 2>/dev/null; _t_cleanup' EXIT
WEB_PID= WEB2_PID=

UP=(web --create-netns --forward tcp:8080:80)
$CTNET up "${UP[@]}" >/dev/null || { fail "first up"; finish; }
ip netns exec web socat -t$T_IDLE TCP-LISTEN:80,fork,reuseaddr SYSTEM:'echo web80' &
WEB_PID=$!
ip netns exec web socat -t$T_IDLE TCP-LISTEN:81,fork,reuseaddr SYSTEM:'echo web81' &
WEB2_PID=$!
wait_port web 80; wait_port web 81
ifx() { ip -j link show "$1" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["ifindex"])' 2>/dev/null; }
fwd() { ip netns exec upstream timeout $T_CONN socat -T$T_IDLE -t$T_IDLE - TCP:192.0.2.1:"$1" </dev/null 2>/dev/null; }
out_web() { ip netns exec web timeout $T_CONN socat -T$T_IDLE -t$T_IDLE - TCP:192.0.2.2:80 </dev/null 2>/dev/null; }
check_eq "forward works at the start" "$(fwd 8080)" "web80"
ifindex0=$(ifx ve-web)
[ -n "$ifindex0" ] || fail "ve-web has an ifindex"

# repair CASE BREAK EXPECTED-STDERR: break something, repeat the same up, check.
repair() {
	local what=$1 breaker=$2 want=$3
	eval "$breaker"
	check_exit "$what: repeat up exits 0" 0 $CTNET up "${UP[@]}"
	check_match "$what: stderr names the repair" "$T_STDERR" "$want"
	check_eq "$what: forward answers again" "$(fwd 8080)" "web80"
	check_eq "$what: outbound works again" "$(out_web)" "192.0.2.1"
	check_eq "$what: same host link" "$(ifx ve-web)" "$ifindex0"
}
repair "host route deleted" "ip route del 10.233.1.2 dev ve-web" "repaired host route 10.233.1.2 dev ve-web missing"
repair "container default route deleted" "ip -n web route del default" "repaired container default route via 10.233.1.1 missing"
repair "container address removed" "ip -n web addr del 10.233.1.2/32 dev eth0" "repaired container address 10.233.1.2 missing"
repair "host address removed" "ip addr del 10.233.1.1/32 dev ve-web" "repaired host address 10.233.1.1 missing"
repair "ip_forward=0" "sysctl -qw net.ipv4.ip_forward=0" "repaired sysctl net.ipv4.ip_forward was off"
repair "NAT element deleted" "nft delete element inet ctnet fwd4 '{ tcp . 8080 }'" "repaired 1 NAT element missing"
repair "whole table flushed" "nft flush ruleset" "NAT elements? missing"
repair "host link down" "ip link set ve-web down" "repaired host link ve-web down"
repair "container link down" "ip -n web link set eth0 down" "repaired container link eth0 down"

check_exit "nothing broken: repeat up exits 0" 0 $CTNET up "${UP[@]}"
check_eq "nothing broken: nothing reported" "$T_STDERR" ""

# --- in-place changes: same link, flows on unchanged forwards survive ---
exec 7< <(ip netns exec upstream socat -T30 - TCP:192.0.2.1:8080 2>/dev/null)
wait_for sh -c 'conntrack -L -p tcp --dport 8080 2>/dev/null | grep -q ESTABLISHED'
ct0=$(conntrack -L -p tcp --dport 8080 2>/dev/null | grep -c ESTABLISHED)
check_exit "add a forward in place" 0 $CTNET up web --create-netns --forward tcp:8080:80 --forward tcp:8081:81
check_match "stderr names the forward change" "$T_STDERR" "changed forward \+tcp:8081:81"
check_eq "new forward answers" "$(fwd 8081)" "web81"
check_eq "old forward still answers" "$(fwd 8080)" "web80"
check_eq "same host link after a forward change" "$(ifx ve-web)" "$ifindex0"
check_eq "established flow on the unchanged forward survives" \
	"$(conntrack -L -p tcp --dport 8080 2>/dev/null | grep -c ESTABLISHED)" "$ct0"
exec 7<&-
check_exit "mtu in place" 0 $CTNET up web --create-netns --forward tcp:8080:80 --forward tcp:8081:81 --mtu 1400
check_match "stderr names the mtu change" "$T_STDERR" "changed mtu 0 -> 1400"
check_eq "container link mtu 1400" "$(ip -n web -j link show eth0 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["mtu"])')" "1400"
check_eq "host link mtu 1400" "$(ip -j link show ve-web | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["mtu"])')" "1400"
check_exit "mac in place" 0 $CTNET up web --create-netns --forward tcp:8080:80 --forward tcp:8081:81 --mtu 1400 --mac 02:00:00:00:00:42
check_eq "container mac changed" "$(ip -n web -j link show eth0 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])')" "02:00:00:00:00:42"
check_eq "same host link after mtu and mac" "$(ifx ve-web)" "$ifindex0"
check_eq "forward answers right after the mac change (neighbour forgotten)" "$(fwd 8080)" "web80"
check_exit "remove a forward in place" 0 $CTNET up web --create-netns --forward tcp:8080:80 --mtu 1400 --mac 02:00:00:00:00:42
check_match "stderr names the removal" "$T_STDERR" "changed forward -tcp:8081:81"
check_eq "removed forward is gone from nft" "$(nft -j list map inet ctnet fwd4 | grep -c 8081)" "0"
check_eq "record has the new spec" "$(grep -c '^FORWARD=' "$CTNET_RUN_DIR/containers/web") $(grep '^MTU=' "$CTNET_RUN_DIR/containers/web")" "1 MTU=1400"

# --- fields that cannot change in place: refused, nothing changed ---
state0=$(snapshot_state); nft0=$(snapshot_nft); rec0=$(cat "$CTNET_RUN_DIR/containers/web")
for change in "--bridge br0 --pool 10.233.200.0/24" "--ipv6" "--ifname eth9" "--host-address 10.233.9.1 --local-address 10.233.9.2"; do
	# shellcheck disable=SC2086
	check_exit "refused: $change" 1 $CTNET up web --create-netns --forward tcp:8080:80 --mtu 1400 --mac 02:00:00:00:00:42 $change
	check_match "refusal names the field ($change)" "$T_STDERR" "cannot change on a running container \(ctnet down web first\)"
done
check_exit "refused: another netns" 1 $CTNET up web --netns /proc/1/ns/net
check_match "refusal names the namespace" "$T_STDERR" "network namespace cannot change"
check_eq "refusals changed no state" "$(snapshot_state)" "$state0"
check_eq "refusals changed no nft" "$(snapshot_nft)" "$nft0"
check_eq "refusals changed no record" "$(cat "$CTNET_RUN_DIR/containers/web")" "$rec0"
check_eq "forward still answers after refusals" "$(fwd 8080)" "web80"

# --- a container's first forward: route_localnet on its device is a change, not a repair ---
$CTNET up plain --create-netns >/dev/null
check_exit "first forward added in place" 0 $CTNET up plain --create-netns --forward tcp:8095:80
check_match "its route_localnet is named as a change" "$T_STDERR" "changed sysctl net.ipv4.conf.ve-plain.route_localnet on for its first forward"
check_eq "and not as a repair" "$(echo "$T_STDERR" | grep -c 'repaired')" "0"
$CTNET down plain

# --- status exit code ---
check_exit "status exits 0 when all are up" 0 $CTNET status
$CTNET up gone --create-netns >/dev/null
umount /run/netns/gone && rm -f /run/netns/gone
check_exit "status exits 1 with a stale container" 1 $CTNET status
check_match "status names it stale" "$($CTNET status 2>/dev/null)" "gone +private +stale"

# --- a host port held by a container that is not running: the error says who and how ---
$CTNET up old --create-netns --forward tcp:7000:80 >/dev/null
rm -f "$CTNET_RUN_DIR/containers/old"   # its record lost (as after a reboot), NAT entry kept
check_exit "a port held by a container without a record: refused" 1 $CTNET up new1 --create-netns --forward tcp:7000:80
check_match "the error names the owner, says it is not running and how to free it" "$T_STDERR" \
	"host port taken by container \"old\", which is not running \(no record in this boot\): ctnet gc or ctnet-nat del frees the port"
$CTNET gc >/dev/null
check_exit "after gc the port is free" 0 $CTNET up new1 --create-netns --forward tcp:7000:80
$CTNET down new1; $IPAM release old >/dev/null 2>&1

# --- a CNI attachment whose runtime never sends DEL: gc leaves no file of it ---
mkns cnins
printf '{"cniVersion":"1.0.0","name":"ctnet","type":"ctnet-cni"}' | env CNI_COMMAND=ADD \
	CNI_CONTAINERID=c0ffee CNI_IFNAME=eth0 CNI_NETNS=/run/netns/cnins CNI_PATH=/usr/lib/cni \
	"$CTNET_BIN/ctnet-cni" >/dev/null || fail "CNI ADD"
cniname=$(ls "$CTNET_RUN_DIR/cni" | grep '^cni-')
check_match "CNI ADD made an attachment file" "$cniname" "^cni-[0-9a-f]{16}$"
check_match "status shows the runtime's container id" "$($CTNET status)" "$cniname .* c0ffee "
ip netns del cnins   # the runtime went away without DEL
gc_out=$($CTNET gc)
check_match "gc removes the container" "$gc_out" "removed container $cniname"
check_match "gc removes the attachment file" "$gc_out" "removed [0-9]+ CNI attachment files?"
check_eq "no file of it left in the run dir" "$(find "$CTNET_RUN_DIR" -name "*$cniname*")" ""
check_eq "no file of it left in the state dir" "$(find "$CTNET_STATE_DIR" -name "*$cniname*")" ""
$IPAM release "$cniname" >/dev/null 2>&1

# --- reboot: kernel state and the run dir gone, the state dir kept ---
$CTNET up db --create-netns >/dev/null
ip_of() { $IPAM show "$1" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["local_address"])'; }
a_web=$(ip_of web); a_gone=$(ip_of gone); a_db=$(ip_of db)
kill $WEB_PID $WEB2_PID 2>/dev/null; WEB_PID= WEB2_PID=
# A record of the previous boot survives (a run dir on disk): its boot id differs.
cp "$CTNET_RUN_DIR/containers/db" "$T_TMP/db.rec"
for n in web gone db; do ip link del "ve-$n" 2>/dev/null; umount "/run/netns/$n" 2>/dev/null; rm -f "/run/netns/$n"; done
nft flush ruleset
rm -rf "$CTNET_RUN_DIR"
mkdir -p "$CTNET_RUN_DIR/containers"
sed 's/^BOOT_ID=.*/BOOT_ID=00000000-0000-0000-0000-000000000000/' "$T_TMP/db.rec" >"$CTNET_RUN_DIR/containers/db"
check_match "status: the previous boot's record is stale (host rebooted)" "$($CTNET status 2>/dev/null)" "db .*stale.*host rebooted"
gc_out=$($CTNET gc)
check_match "gc keeps the leases" "$gc_out" "kept 3 leases of containers not running"
check_match "gc removes the old boot's record, keeping its lease" "$gc_out" "removed container db \(host rebooted\), lease kept"
check_eq "three leases remain" "$($IPAM list --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" "3"
# Back in another order: each gets its old addresses.
for n in db gone web; do $CTNET up "$n" --create-netns >/dev/null; done
check_eq "after the reboot: same addresses in another order" "$(ip_of web) $(ip_of gone) $(ip_of db)" "$a_web $a_gone $a_db"
check "and traffic works" ip netns exec db ping -c1 -W"$T_CONN" 10.233.1.1
for n in db gone web; do $CTNET down "$n"; done
check_eq "down releases the leases" "$($IPAM list --json)" "[]"
check_eq "no lock files left after gc" "$($CTNET gc >/dev/null; ls -A "$CTNET_RUN_DIR/containers")" ""
finish
