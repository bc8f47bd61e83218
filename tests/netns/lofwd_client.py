#!/usr/bin/env python3
"""One loopback-forward exchange as a client sees it (tests/netns/test_nat_lofwd.sh).

lofwd_client.py tcp|udp ADDR PORT [TIMEOUT]
TCP: connects, prints "peer ADDR PORT" (getpeername) and the first line the server sends.
UDP: sends "ping" unconnected (sendto), prints "from ADDR PORT" (recvfrom's source) and
the answer. Exit 1 with the error on stderr when nothing came back.
"""
import socket
import sys


def main():
    proto, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    timeout = float(sys.argv[4]) if len(sys.argv) > 4 else 5.0
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    try:
        if proto == "tcp":
            s = socket.socket(fam, socket.SOCK_STREAM)
            s.settimeout(timeout)
            s.connect((addr, port))
            peer = s.getpeername()
            data = s.makefile("r").readline().strip()
            print("peer %s %d" % (peer[0], peer[1]))
        else:
            s = socket.socket(fam, socket.SOCK_DGRAM)
            s.settimeout(timeout)
            s.sendto(b"ping\n", (addr, port))
            raw, peer = s.recvfrom(512)
            data = raw.decode(errors="replace").strip()
            print("from %s %d" % (peer[0], peer[1]))
        print(data)
    except OSError as e:
        print("error: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
