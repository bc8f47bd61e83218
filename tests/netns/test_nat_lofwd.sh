#!/usr/bin/env bash
# Loopback forwards by socket (issue 33): the BPF cgroup hooks of ctnet-nat rewrite the host's
# own connections to 127.0.0.1:PORT and [::1]:PORT to the container, TCP and UDP, with
# getpeername / recvfrom answering what the client asked; no route_localnet anywhere; a
# container's own [::1]:PORT untouched; a neighbour's 127.0.0.1 still dropped; the map
# follows forward changes; nothing pinned once no forward is left; nft flush ruleset does
# not break them; a bpffs unmount is repaired by restore; without cgroup v2, IPv4 takes the
# old path and a forward pinned to ::1 is refused naming why.
#
# The programs attach to a cgroup of this test's own (never the machine's root) and are
# pinned in this world's private bpffs (lib.sh mounts it); clients run inside that cgroup.
. "$(dirname "$0")/lib.sh"

CGROOT=
for d in /sys/fs/cgroup /sys/fs/cgroup/unified; do
	[ "$(stat -fc %T "$d" 2>/dev/null)" = cgroup2fs ] && { CGROOT=$d; break; }
done
if [ -z "$CGROOT" ] || ! bpftool version >/dev/null 2>&1; then
	echo "SKIP: no cgroup v2 mount or no bpftool here"
	exit 77
fi
CG=$CGROOT/ctnet-test.$$
mkdir "$CG" || { echo "SKIP: cannot create a cgroup under $CGROOT"; exit 77; }
NOCG=$CTNET_CGROUP # lib.sh's: a directory that is no cgroup v2
export CTNET_CGROUP=$CG
PIN=/sys/fs/bpf/ctnet
CLIENT=$(dirname "$0")/lofwd_client.py

PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do pkill -P "$p" 2>/dev/null; kill "$p" 2>/dev/null; done
	"$NAT" flush >/dev/null 2>&1
	rmdir "$CG" 2>/dev/null
	_t_cleanup
}
trap cleanup EXIT

bg() { "$@" >/dev/null 2>&1 & PIDS+=($!); }
# incg CMD...: CMD in the test's cgroup (where the programs are attached).
incg() { bash -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$CG" "$@"; }
# client [NS] tcp|udp ADDR PORT: lofwd_client.py's two lines joined, from the cgroup.
client() {
	local ns=
	[ $# -eq 4 ] && { ns=$1; shift; }
	if [ -n "$ns" ]; then
		incg ip netns exec "$ns" timeout $T_CONN python3 "$CLIENT" "$@" $T_IDLE 2>/dev/null | tr '\n' ' '
	else
		incg timeout $T_CONN python3 "$CLIENT" "$@" $T_IDLE 2>/dev/null | tr '\n' ' '
	fi
}
map_n() { bpftool map dump pinned "$PIN/lofwd_map" -j 2>/dev/null | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))' 2>/dev/null || echo none; }
localnets() { cat /proc/sys/net/ipv4/conf/*/route_localnet | sort -u | tr '\n' ' '; }
pinned() { ls "$PIN" 2>/dev/null | tr '\n' ' '; }
# socat's $SOCAT_PEERADDR of the host's fd42::1:1, written out in full
V6PEER='c1v6 \[fd42:0000:0000:0000:0000:0000:0001:0001\] $'


mkct c1 1
# A neighbour on a host-facing link that routes 127.0.0.0/8 at the host (CVE-2020-8558).
mkns nbr
ip link add up1 type veth peer name eth0 netns nbr
ip addr add 198.51.100.1/24 dev up1
ip link set up1 up
ip -n nbr addr add 198.51.100.2/24 dev eth0
ip -n nbr link set eth0 up
ip -n nbr route add 127.0.0.0/8 via 198.51.100.1
ip netns exec nbr sysctl -qw net.ipv4.conf.all.route_localnet=1

bg ip netns exec c1 socat -t$T_IDLE TCP4-LISTEN:80,fork,reuseaddr SYSTEM:'echo c1 $SOCAT_PEERADDR'
bg ip netns exec c1 socat -t$T_IDLE TCP6-LISTEN:80,ipv6only=1,fork,reuseaddr SYSTEM:'echo c1v6 $SOCAT_PEERADDR'
bg ip netns exec c1 socat UDP4-LISTEN:53,fork,reuseaddr SYSTEM:'echo c1udp'
bg ip netns exec c1 socat UDP6-LISTEN:53,ipv6only=1,fork,reuseaddr SYSTEM:'echo c1udp6'
# The container's own [::1]:8080: its own service, never the forward.
bg ip netns exec c1 socat -t$T_IDLE TCP6-LISTEN:8080,bind=[::1],fork,reuseaddr SYSTEM:'echo c1-own-loopback'
for w in "c1 80" "c1 53" "c1 8080"; do wait_port $w || fail "server $w did not start"; done
# wait_port sees either family; each of these listens on one
for f in "-lnt4 :80" "-lnt6 :80" "-lnu4 :53" "-lnu6 :53"; do
	wait_for bash -c "ip netns exec c1 ss -H ${f% *} | grep -q '${f#* } '" || fail "c1: no listener ss ${f% *} ${f#* }"
done

check "add c1 with tcp:8080:80 and udp:5353:53 (programs attached to $CG)" \
	"$NAT" add c1 --address 10.233.1.2 --address6 fd42::1:2 --iface ve-c1 --forward tcp:8080:80 --forward udp:5353:53
check_eq "programs and maps pinned" "$(pinned)" \
	"connect4 connect6 getpeername4 getpeername6 lofwd_cfg lofwd_map lofwd_sks recvmsg4 recvmsg6 sendmsg4 sendmsg6 "
check_match "the links are cgroup links on the test's cgroup" \
	"$(bpftool cgroup show "$CG" 2>/dev/null | awk 'NR>1 {print $2}' | sort | tr '\n' ' ')" \
	"^cgroup_inet4_connect cgroup_inet4_getpeername cgroup_inet6_connect cgroup_inet6_getpeername cgroup_udp4_recvmsg cgroup_udp4_sendmsg cgroup_udp6_recvmsg cgroup_udp6_sendmsg $"
check_eq "map: tcp and udp, IPv4 and IPv6 (4 elements)" "$(map_n)" 4

check_eq "TCP 127.0.0.1:8080 reaches c1:80, getpeername says 127.0.0.1 8080" \
	"$(client tcp 127.0.0.1 8080)" "peer 127.0.0.1 8080 c1 10.233.1.1 "
check_match "TCP [::1]:8080 reaches c1's [fd42::1:2]:80, getpeername says ::1 8080" \
	"$(client tcp ::1 8080)" "^peer ::1 8080 $V6PEER"
check_eq "UDP 127.0.0.1:5353 reaches c1:53, the answer comes from 127.0.0.1 5353" \
	"$(client udp 127.0.0.1 5353)" "from 127.0.0.1 5353 c1udp "
check_eq "UDP [::1]:5353 reaches c1:53, the answer comes from ::1 5353" \
	"$(client udp ::1 5353)" "from ::1 5353 c1udp6 "
# socat's UDP6-LISTEN,fork listens again only after its child took the last peer
wait_for bash -c "ip netns exec c1 ss -Hlnu6 | grep -q ':53 '"
check_eq "UDP over a connected socket (socat) to [::1]:5353 gets c1's answer" \
	"$(echo ping | incg timeout $T_CONN socat -T$T_IDLE -t$T_IDLE - UDP6:[::1]:5353 2>/dev/null)" "c1udp6"
check_eq "TCP ::ffff:127.0.0.1:8080 (an IPv6 socket asking for IPv4) reaches c1, getpeername says so" \
	"$(client tcp ::ffff:127.0.0.1 8080)" "peer ::ffff:127.0.0.1 8080 c1 10.233.1.1 "
check_eq "route_localnet is 0 on every interface" "$(localnets)" "0 "
check_eq "c1's own [::1]:8080 (a client in c1, in the cgroup) is untouched" \
	"$(client c1 tcp ::1 8080)" "peer ::1 8080 c1-own-loopback "
check_eq "a neighbour sending to 127.0.0.1:8080 via the host is dropped" \
	"$(ip netns exec nbr timeout $T_CONN socat -T$T_IDLE - TCP4:127.0.0.1:8080 </dev/null 2>/dev/null)" ""
check "ctnet-nat check: in sync (map and programs included)" "$NAT" check

# nft flush ruleset takes ctnet's tables; the socket hooks do not need them.
nft flush ruleset
check_eq "after nft flush ruleset: 127.0.0.1:8080 still reaches c1" "$(client tcp 127.0.0.1 8080)" \
	"peer 127.0.0.1 8080 c1 10.233.1.1 "
check_match "after nft flush ruleset: [::1]:8080 still reaches c1" "$(client tcp ::1 8080)" \
	"^peer ::1 8080 $V6PEER"
check "restore after the flush" "$NAT" restore
check_eq "route_localnet still 0 everywhere after restore" "$(localnets)" "0 "

# A bpffs unmount: the pins go, the links with them (nothing else holds them).
umount /sys/fs/bpf
check_eq "bpffs unmounted: 127.0.0.1:8080 no longer reaches c1 (test can fail)" \
	"$(client tcp 127.0.0.1 8080)" ""
check_exit "check reports the missing programs" 1 "$NAT" check
check_match "check names them" "$(cat "$T_TMP/out")" "missing BPF programs for loopback forwards"
check "restore mounts bpffs again and reloads" "$NAT" restore
check_eq "after restore: bpffs mounted at /sys/fs/bpf" "$(stat -fc %T /sys/fs/bpf)" "bpf_fs"
check_eq "after restore: map refilled (4 elements)" "$(map_n)" 4
check_match "after restore: [::1]:8080 reaches c1 again" "$(client tcp ::1 8080)" "^peer ::1 8080 $V6PEER"
progs_on_cg() { bpftool cgroup show "$CG" 2>/dev/null | awk 'NR>1' | wc -l; }
check_eq "one set of programs on the cgroup (8)" "$(progs_on_cg)" 8

# The same while another mount namespace keeps a copy of the bpffs (a service's PrivateTmp=,
# an `ip netns exec`): its links outlive the unmount here and would keep rewriting from their
# stale map beside restore's; restore detaches this namespace's old links first.
unshare -m --propagation private sleep 600 &
HOLD=$!
PIDS+=("$HOLD")
check "a copy of the mounts is held elsewhere" until_true "$T_WAIT" test -e /proc/$HOLD/ns/mnt
umount /sys/fs/bpf
check "restore with the old bpffs held elsewhere" "$NAT" restore
check_eq "after it: still one set of programs on the cgroup (8), not two" "$(progs_on_cg)" 8
check_match "after it: [::1]:8080 reaches c1" "$(client tcp ::1 8080)" "^peer ::1 8080 $V6PEER"
kill "$HOLD"
wait "$HOLD" 2>/dev/null

# ctnet watch repairs the same: a mount change (no nftables event) starts its NAT pass.
"$CTNET" watch >"$T_TMP/watch.log" 2>&1 &
WPID=$!
PIDS+=("$WPID")
check "watcher ready" until_true "$T_WAIT" grep -q "^ctnet watch: ready" "$T_TMP/watch.log"
umount /sys/fs/bpf
check "watch mounts bpffs again and reloads the programs and the map" \
	until_true "$T_WAIT" bash -c "[ \"\$(bpftool map dump pinned $PIN/lofwd_map -j 2>/dev/null | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')\" = 4 ]"
check_match "watch logged the repair" "$(cat "$T_TMP/watch.log")" "repaired nft"
check_match "after watch's repair: [::1]:8080 reaches c1" "$(client tcp ::1 8080)" "^peer ::1 8080 $V6PEER"
kill "$WPID"
wait "$WPID" 2>/dev/null

# ctnet doctor names missing programs (a container of ctnet's own, with a loopback forward).
check "ctnet up web with tcp:8090:80" "$CTNET" up web --create-netns --forward tcp:8090:80
check_exit "doctor: nothing blocks while the programs are there" 0 "$CTNET" doctor web
umount /sys/fs/bpf
check_exit "doctor exits 1 once bpffs is gone" 1 "$CTNET" doctor web
check_match "doctor's finding lofwd-missing names the fix" "$("$CTNET" doctor web --json 2>/dev/null)" \
	'"code": ?"lofwd-missing".*"fix": ?"ctnet-nat restore"'
check "restore" "$NAT" restore
check_exit "doctor: nothing blocks after restore" 0 "$CTNET" doctor web
check "ctnet down web" "$CTNET" down web
check_eq "map: web's elements gone again (4 left)" "$(map_n)" 4

# The map follows forward changes, element by element.
check "forward add c1 tcp:9000-9002:80-82" "$NAT" forward add c1 tcp:9000-9002:80-82
check_eq "map: 4 + 3 ports x 2 families" "$(map_n)" 10
check "forward del c1 tcp:9000-9002" "$NAT" forward del c1 tcp:9000-9002:80-82
check "forward del c1 tcp:8080" "$NAT" forward del c1 tcp:8080:80
check_eq "map: only udp:5353 left (2 elements)" "$(map_n)" 2
check_eq "the removed forward no longer answers on 127.0.0.1:8080" "$(client tcp 127.0.0.1 8080)" ""
check "forward add c1 tcp:8080 --host-ip ::1 (IPv6 loopback only)" "$NAT" forward add c1 tcp:8080:80 --host-ip ::1
check_eq "map: + [::1]:8080 only (3 elements)" "$(map_n)" 3
check_match "[::1]:8080 --host-ip ::1 reaches c1" "$(client tcp ::1 8080)" "^peer ::1 8080 $V6PEER"
check "forward add c1 tcp:7000:80 --host-ip 127.0.0.2 (one loopback address only)" \
	"$NAT" forward add c1 tcp:7000:80 --host-ip 127.0.0.2
check_eq "127.0.0.2:7000 reaches c1, getpeername says 127.0.0.2" "$(client tcp 127.0.0.2 7000)" \
	"peer 127.0.0.2 7000 c1 10.233.1.1 "
check_eq "127.0.0.1:7000 does not (the forward is pinned to 127.0.0.2)" "$(client tcp 127.0.0.1 7000)" ""
check "ctnet-nat check: in sync with a pinned loopback forward" "$NAT" check
check "del c1" "$NAT" del c1
check_eq "no forward left: nothing pinned" "$(pinned)" ""
check_eq "no forward left: no program on the cgroup" "$(bpftool cgroup show "$CG" 2>/dev/null | awk 'NR>1' | wc -l)" 0
check_eq "no forward left: BPF not recorded" "$(ls "$CTNET_STATE_DIR/nat/lofwd" 2>/dev/null)" ""

# No cgroup v2 at --cgroup: IPv4 the old way, IPv6 loopback refused with the cause.
check "without cgroup v2: add c1 with tcp:8080:80 (old IPv4 path)" \
	"$NAT" --cgroup "$NOCG" add c1 --address 10.233.1.2 --address6 fd42::1:2 --iface ve-c1 --forward tcp:8080:80
check_eq "without cgroup v2: nothing pinned" "$(pinned)" ""
check_eq "without cgroup v2: route_localnet on ve-c1 (the old path)" "$(cat /proc/sys/net/ipv4/conf/ve-c1/route_localnet)" 1
check_match "without cgroup v2: 127.0.0.1:8080 reaches c1 by output-hook DNAT" \
	"$(timeout $T_CONN socat -T$T_IDLE -t$T_IDLE - TCP4:127.0.0.1:8080 </dev/null 2>/dev/null)" "^c1 "
check_exit "without cgroup v2: forward --host-ip ::1 is refused" 1 \
	env CTNET_CGROUP="$NOCG" "$NAT" forward add c1 tcp:8081:80 --host-ip ::1
check_match "the refusal names IPv6 loopback and the cgroup" "$T_STDERR" \
	"tcp:8081:80 on ::1: loopback forwards over IPv6 need the BPF .*is not a cgroup v2 directory"
check_eq "the refused forward is not recorded" \
	"$("$NAT" list --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["containers"][0]["forwards"]))')" 1
check "del c1 (old path)" env CTNET_CGROUP="$NOCG" "$NAT" del c1
check_eq "route_localnet back to 0" "$(localnets)" "0 "

finish
