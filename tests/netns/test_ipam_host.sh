#!/usr/bin/env bash
# Allocation skips pairs already in use on the host: a "VPN" interface with an address in the
# pool and a route for another part of it. Given addresses (reserve, up flags, a nixos conf)
# that clash are errors naming the interface, and leave nothing behind.
. "$(dirname "$0")/lib.sh"

ip link add vpn0 type veth peer name vpn0p && ip link set vpn0 up && ip link set vpn0p up
ip addr add 10.233.1.2/24 dev vpn0      # pair 1: .2 is the host's, .1 routed via vpn0
ip route add 10.233.2.0/24 dev vpn0     # pair 2: routed via vpn0
addr_of() { sed -n "s/^$2=//p" <<<"$1"; }

out=$($IPAM alloc a)
check_eq "alloc skips the pair of vpn0's address and the routed pair" "$(addr_of "$out" HOST_ADDRESS) $(addr_of "$out" LOCAL_ADDRESS)" "10.233.3.1 10.233.3.2"
out=$($CTNET up web --create-netns)
check_eq "ctnet up allocates past them too" "$(addr_of "$out" LOCAL_ADDRESS)" "10.233.4.2"
check "the container works" ping -c1 -W"$T_CONN" 10.233.4.2
$IPAM release a
ip route del 10.233.2.0/24 dev vpn0
out=$($IPAM alloc b)
check_eq "the pair is handed out again once the route is gone" "$(addr_of "$out" LOCAL_ADDRESS)" "10.233.2.2"

check_exit "reserve of vpn0's address fails" 1 $IPAM reserve s --host-address 10.233.1.5 --local-address 10.233.1.2
check_match "the error names the interface" "$T_STDERR" "10.233.1.[25] is .*interface vpn0"
check_exit "up with addresses inside vpn0's route fails" 1 $CTNET up api --create-netns --host-address 10.233.1.9 --local-address 10.233.1.10
check_match "the error names the interface" "$T_STDERR" "inside route 10.233.1.0/24 via interface vpn0"
check_eq "nothing left behind (no ve-api, no record)" "$(ip -br link | grep -c '^ve-api'; ls "$CTNET_RUN_DIR/containers" | grep -c '^api$')" "0
0"
mkdir -p "$CTNET_NIXOS_CONF_DIR"
printf 'PRIVATE_NETWORK=1\nHOST_ADDRESS=10.233.9.1\nLOCAL_ADDRESS=10.233.1.2\n' >"$CTNET_NIXOS_CONF_DIR/conf1.conf"
check_exit "up --config with a clashing address fails" 1 $CTNET up conf1 --create-netns --config "$CTNET_NIXOS_CONF_DIR/conf1.conf"
check_match "the error names the interface" "$T_STDERR" "interface vpn0"
check "up with free given addresses works" $CTNET up ok1 --create-netns --host-address 10.233.20.1 --local-address 10.233.20.2
check "and up again (its own ve-ok1 is no clash)" $CTNET up ok1 --create-netns --host-address 10.233.20.1 --local-address 10.233.20.2
finish
