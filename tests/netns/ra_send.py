#!/usr/bin/env python3
"""Sends one IPv6 router advertisement out of IFACE, from a raw ICMPv6 socket, as any root
process in its own network namespace can (a container's tenant, or the test's "upstream").

ra_send.py IFACE LIFETIME [--pref high|medium|low] [--prefix 2001:db8:1::/64]

The source is IFACE's link-local address (the kernel takes router advertisements from
link-local sources only); the script first waits until duplicate address detection has
finished with it (10 s at most). Exit 0 when sent."""
import argparse
import ipaddress
import socket
import struct
import sys
import time

PREF = {"high": 1, "medium": 0, "low": 3}


def link_local(iface):
    """IFACE's link-local address once it is no longer tentative, or None."""
    with open("/proc/net/if_inet6") as f:
        for line in f:
            addr, _ix, _plen, scope, flags, name = line.split()
            if name == iface and int(scope, 16) == 0x20 and not int(flags, 16) & 0x40:
                return str(ipaddress.IPv6Address(bytes.fromhex(addr)))
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("iface")
    ap.add_argument("lifetime", type=int)
    ap.add_argument("--pref", choices=PREF, default="medium")
    ap.add_argument("--prefix")
    a = ap.parse_args()

    src = None
    for _ in range(100):
        src = link_local(a.iface)
        if src:
            break
        time.sleep(0.1)
    if not src:
        print(f"ra_send: no usable link-local address on {a.iface}", file=sys.stderr)
        return 1
    ix = socket.if_nametoindex(a.iface)
    with open(f"/sys/class/net/{a.iface}/address") as f:
        mac = bytes.fromhex(f.read().strip().replace(":", ""))
    # type 134, code 0, checksum (the kernel's), hop limit 64, flags: preference bits 4-3,
    # router lifetime, reachable time, retransmit timer; source link-layer address option.
    ra = struct.pack("!BBHBBHII", 134, 0, 0, 64, PREF[a.pref] << 3, a.lifetime, 0, 0)
    ra += struct.pack("!BB", 1, 1) + mac
    if a.prefix:
        net = ipaddress.IPv6Network(a.prefix)
        # prefix information: on-link and autonomous, valid/preferred lifetimes
        ra += struct.pack("!BBBBIII", 3, 4, net.prefixlen, 0xC0, 86400, 14400, 0)
        ra += net.network_address.packed
    s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 255)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ix)
    s.bind((src, 0, 0, ix))
    s.sendto(ra, ("ff02::1", 0, 0, ix))
    return 0


if __name__ == "__main__":
    sys.exit(main())
