#!/usr/bin/env bash
# The host never learns from its containers, and keeps its own IPv6 (issue 28), with real
# router advertisements and real traffic:
#  - in a "host" whose net.ipv6.conf.default.accept_ra is 2 (SLAAC while routing), an --ipv6
#    container's router advertisement with high preference (raw socket, as a tenant can send
#    it) gives the host no route and no address, and the host still reaches the upstream;
#    ve-*, vb-*, extra veths and ctnet's bridges carry accept_ra=0 and the other per-link
#    sysctls whatever `default` says; an up of a running container puts a changed one back;
#  - doctor reports a route learned from a container's link (injected by hand) as blocking,
#    with a fix that works, and explains an uplink that ignores router advertisements (with
#    addresses from them: degrades; the IPv4 default route's link without: a note);
#  - the uplink (accept_ra=1) keeps the default route its upstream's RA gave through `up
#    --ipv6` (which switches IPv6 forwarding on) and takes the next RA; a later switch back
#    on keeps that; `down` of the last IPv6 container leaves forwarding and accept_ra as found;
#  - the first datagram through an IPv6 forward sent right after `up` arrives (here DAD would
#    last 10 s: before ctnet set accept_dad=0, the host sent no neighbour solicitation for it
#    and dropped it).
. "$(dirname "$0")/lib.sh"

RA="python3 $(cd "$(dirname "$0")" && pwd)/ra_send.py"
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; _t_cleanup' EXIT
c6() { cat "/proc/sys/net/ipv6/conf/$1"; } # c6 IF/KNOB
# learned IF: the host's IPv6 routes through IF that a router advertisement gave, as JSON lines
learned() { ip -6 -j route show dev "$1" proto ra 2>/dev/null | python3 -c 'import json,sys; [print(json.dumps(r, sort_keys=True)) for r in json.load(sys.stdin)]'; }
# expires IF: seconds left of IF's learned default route (0: none)
expires() { ip -6 -j route show default dev "$1" proto ra | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r[0].get("expires",0) if r else 0)'; }
ra_in() { awk '$1=="Icmp6InRouterAdvertisements"{print $2}' "/proc/net/dev_snmp6/$1" 2>/dev/null || echo 0; }
# until CMD... succeeds, 10 s at most (a wait for the kernel, not a bound on speed)
until_ok() { for _ in $(seq 100); do "$@" && return 0; sleep 0.1; done; return 1; }
dj() { $CTNET doctor --json 2>/dev/null; }
# finding CODE FIELD [SEV]: FIELD of the first finding with CODE (and severity SEV)
finding() { dj | python3 -c 'import json,sys
for f in json.load(sys.stdin)["findings"]:
    if f["code"]==sys.argv[1] and (len(sys.argv)<4 or f["severity"]==sys.argv[3]): print(f.get(sys.argv[2],"")); break' "$@"; }

# --- the world: an upstream router with a network beyond it ---
mk_upstream
ip -n upstream -6 addr add 2001:db8:1::1/64 dev eth0 nodad # the prefix its RA announces
ip -n upstream -6 addr add 2001:db8:ff::1/128 dev lo      # beyond: reached by the default route
# A router: its neighbour advertisements carry the router flag (one without it would make the
# host drop the default route through it, rt6_clean_tohost).
ip netns exec upstream sysctl -qw net.ipv6.conf.all.forwarding=1
sysctl -qw net.ipv6.conf.default.accept_ra=2               # new links inherit "even when forwarding"
sysctl -qw net.ipv6.conf.default.dad_transmits=10          # DAD of a new link: 10 s
fwd0=$(c6 all/forwarding) dfwd0=$(c6 default/forwarding) ra0=$(c6 up0/accept_ra)
check_eq "world: the host does not forward IPv6 yet, up0 takes RAs (accept_ra=1)" "$fwd0 $dfwd0 $ra0" "0 0 1"

check "upstream sends a router advertisement" ip netns exec upstream $RA eth0 600 --prefix 2001:db8:1::/64
check "the uplink learns its default route from it" until_ok test -n "$(learned up0)"
check "the host reaches the upstream's network through that route" ping -6 -c1 -W3 2001:db8:ff::1

# --- the first datagram through an IPv6 forward, sent right after up ---
mkns dg
ip netns exec dg python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); s.bind(("::", 7000)); s.settimeout(10)
try: print(s.recvfrom(64)[0].decode())
except OSError: print("none")' >"$T_TMP/dg.out" 2>&1 &
DGL=$!
PIDS+=($DGL)
wait_port dg 7000 || fail "listener in dg did not start"
check "up dg --ipv6 with a UDP forward" $CTNET up dg --netns /run/netns/dg --ipv6 --forward udp:7000:7000
ip netns exec upstream python3 -c '
import socket; socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).sendto(b"first", ("2001:db8::1", 7000))'
wait $DGL
check_eq "the first datagram after up arrives" "$(cat "$T_TMP/dg.out")" "first"

# --- the uplink keeps its router advertisements through up --ipv6 ---
check_eq "up --ipv6 switched IPv6 forwarding on" "$(c6 all/forwarding)" "1"
check_eq "up0 keeps taking RAs while forwarding (accept_ra 1 -> 2)" "$(c6 up0/accept_ra)" "2"
check "up0 kept its learned default route" test -n "$(learned up0)"
before=$(expires up0)
check "upstream sends the next RA (lifetime 9000)" ip netns exec upstream $RA eth0 9000 --prefix 2001:db8:1::/64
check "up0's learned default route is refreshed by it (expires $before -> > 600)" until_ok test "$(expires up0)" -gt 600

# --- the host never learns from a container ---
check "up evil --ipv6" $CTNET up evil --create-netns --ipv6
for k in accept_ra accept_redirects autoconf accept_dad disable_ipv6; do
	check_eq "ve-evil: net.ipv6.conf.ve-evil.$k=0 (default.accept_ra is 2)" "$(c6 ve-evil/$k)" "0"
done
for k in accept_redirects accept_source_route; do
	check_eq "ve-evil: net.ipv4.conf.ve-evil.$k=0" "$(cat /proc/sys/net/ipv4/conf/ve-evil/$k)" "0"
done
n0=$(ra_in ve-evil)
check "evil sends a router advertisement with high preference and a prefix" \
	ip netns exec evil $RA eth0 1800 --pref high --prefix 2001:db8:bad::/64
check "the host received it on ve-evil" until_ok test "$(ra_in ve-evil)" -gt "$n0"
check_eq "no route through ve-evil learned from it" "$(learned ve-evil)" ""
check_eq "every IPv6 default route of the host goes through up0" \
	"$(ip -6 -j route show default | python3 -c 'import json,sys; print(sorted({r.get("dev") for r in json.load(sys.stdin)}))')" "['up0']"
check_eq "no address from the container's prefix on the host" "$(ip -6 -br addr | grep -c 2001:db8:bad)" "0"
check "the host still reaches the upstream's network" ping -6 -c1 -W3 2001:db8:ff::1

# --- doctor: a route learned from a container's link ---
check_eq "doctor: nothing learned from a container yet" "$(finding route-from-container code)" ""
ip -6 route add default via fe80::1 dev ve-evil proto ra metric 1
check_exit "doctor exits 1 with a route learned from ve-evil (injected)" 1 $CTNET doctor
check_eq "doctor: route-from-container blocks, names evil" "$(finding route-from-container container blocks)" "evil"
fix=$(finding route-from-container fix)
check_match "doctor: its fix deletes that route, then repairs evil" "$fix" "^ip -6 route del default via fe80::1 dev ve-evil; ctnet repair evil"
check "doctor's fix works" bash -c "${fix%%;*}"
check_eq "doctor: the route is gone from its findings" "$(finding route-from-container code)" ""

# --- up of a running container puts a changed sysctl back ---
echo 2 >/proc/sys/net/ipv6/conf/ve-evil/accept_ra
check "up evil again" $CTNET up evil --create-netns --ipv6
check_eq "up put net.ipv6.conf.ve-evil.accept_ra back to 0" "$(c6 ve-evil/accept_ra)" "0"
echo 1 >/proc/sys/net/ipv4/conf/ve-evil/accept_redirects
check_match "ctnet repair evil names the changed sysctl" "$($CTNET repair evil 2>&1)" "net.ipv4.conf.ve-evil.accept_redirects is 1"
check_eq "repair put net.ipv4.conf.ve-evil.accept_redirects back to 0" "$(cat /proc/sys/net/ipv4/conf/ve-evil/accept_redirects)" "0"

# --- doctor explains an uplink that ignores router advertisements ---
sysctl -qw net.ipv6.conf.up0.accept_ra=1
check_eq "doctor: up0 with accept_ra=1 while forwarding is named" \
	"$(finding uplink-ignores-ra object degrades)" "net.ipv6.conf.up0.accept_ra"
check_match "doctor: its fix is accept_ra=2" "$(finding uplink-ignores-ra fix)" "net.ipv6.conf.up0.accept_ra=2"
sysctl -qw net.ipv6.conf.up0.accept_ra=2

# --- forwarding switched off by someone, back on through a converge ---
sysctl -qw net.ipv6.conf.all.forwarding=0
check "up dg again (converge)" $CTNET up dg --netns /run/netns/dg --ipv6 --forward udp:7000:7000
check_eq "forwarding back on, up0 still accept_ra=2" "$(c6 all/forwarding) $(c6 up0/accept_ra)" "1 2"
check "up0 still has its learned default route" test -n "$(learned up0)"

# --- down of the last IPv6 container: the host as ctnet found it ---
check "down evil" $CTNET down evil
check_eq "one IPv6 container left: forwarding and up0 unchanged" "$(c6 all/forwarding) $(c6 up0/accept_ra)" "1 2"
check "down dg" $CTNET down dg
check_eq "last IPv6 container gone: all.forwarding, default.forwarding, up0 accept_ra as found" \
	"$(c6 all/forwarding) $(c6 default/forwarding) $(c6 up0/accept_ra)" "$fwd0 $dfwd0 $ra0"
check_eq "nothing recorded any more" "$(ls "$CTNET_STATE_DIR/nat/ipv6-forwarding" 2>/dev/null)" ""
check "up0 still has its learned default route" test -n "$(learned up0)"

# --- the other links ctnet makes ---
check "up v4 (IPv4 only)" $CTNET up v4 --create-netns
check_eq "ve-v4: accept_ra=0, IPv6 off" "$(c6 ve-v4/accept_ra) $(c6 ve-v4/disable_ipv6)" "0 1"
check "ctnet-netd bridge add brt" $NETD bridge add brt --address 10.233.200.1/24
check_eq "brt (made by ctnet): accept_ra, accept_redirects, autoconf, accept_dad all 0" \
	"$(c6 brt/accept_ra)$(c6 brt/accept_redirects)$(c6 brt/autoconf)$(c6 brt/accept_dad)" "0000"
check_eq "brt: net.ipv4.conf.brt.accept_redirects=0" "$(cat /proc/sys/net/ipv4/conf/brt/accept_redirects)" "0"
check "up bx on brt" $CTNET up bx --create-netns --bridge brt --local-address 10.233.200.5/24
check_eq "vb-bx: accept_ra=0" "$(c6 vb-bx/accept_ra)" "0"
check "up xv with an extra veth" $CTNET up xv --create-netns \
	--extra-veth xv1,host-address=10.233.210.1,local-address=10.233.210.2
check_eq "xv1 (extra veth, host end): accept_ra=0" "$(c6 xv1/accept_ra)" "0"
for c in v4 bx xv; do check "down $c" $CTNET down $c; done
check_eq "IPv4-only containers never switched IPv6 forwarding on" "$(c6 all/forwarding)" "0"

# --- doctor's note on an uplink without addresses from router advertisements ---
ip route add default via 192.0.2.2 # the uplink: the IPv4 default route's link
check "up n6 --ipv6" $CTNET up n6 --create-netns --ipv6
sysctl -qw net.ipv6.conf.up0.accept_ra=1
ip -6 addr flush dev up0 dynamic
check_eq "doctor: a note for the uplink that ignores RAs while forwarding" \
	"$(finding uplink-ignores-ra object note)" "net.ipv6.conf.up0.accept_ra"
check "down n6" $CTNET down n6

finish
