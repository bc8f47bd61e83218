#!/usr/bin/env python3
"""Raw frames a hostile container sends (AF_PACKET), for tests/netns/test_sec_nft.sh.

  frames.py arp IFACE ETHER_SRC SENDER_MAC SENDER_IP [COUNT [INTERVAL [TO_MAC TO_IP]]]
      ARP replies: ethernet source ETHER_SRC, sender hardware address SENDER_MAC, sender
      protocol address SENDER_IP; broadcast, target SENDER_IP ("gratuitous ARP"), or to
      TO_MAC for TO_IP. COUNT 0: until killed. Prints "sending" once the first is out.
"""
import socket
import sys
import time


def mac(text):
    return bytes.fromhex(text.replace(":", ""))


def arp(argv):
    ifc, src, sha, spa = argv[0], mac(argv[1]), mac(argv[2]), socket.inet_aton(argv[3])
    count = int(argv[4]) if len(argv) > 4 else 1
    gap = float(argv[5]) if len(argv) > 5 else 0.01
    dst, tip = b"\xff" * 6, spa
    if len(argv) > 7:
        dst, tip = mac(argv[6]), socket.inet_aton(argv[7])
    body = b"\x00\x01\x08\x00\x06\x04\x00\x02" + sha + spa + dst + tip
    frame = dst + src + b"\x08\x06" + body
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((ifc, 0))
    sent = 0
    while count == 0 or sent < count:
        s.send(frame)
        sent += 1
        if sent == 1:
            print("sending", flush=True)
        time.sleep(gap)


if __name__ == "__main__":
    if len(sys.argv) < 6 or sys.argv[1] != "arp":
        sys.exit(__doc__)
    arp(sys.argv[2:])
