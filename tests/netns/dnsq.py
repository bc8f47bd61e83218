#!/usr/bin/env python3
"""A raw DNS query for the tests: dnsq.py SERVER NAME [A|AAAA|PTR|NS] [--tcp] [--timeout S].

Prints one line: the rcode name, then the answers' addresses (A/AAAA) or names, e.g.
"NOERROR 10.233.1.2" or "NXDOMAIN"; "TIMEOUT" when nothing answered, "REFUSED-CONN" when the
port was closed (ICMP unreachable / RST). Exit 0 whenever it printed a line."""
import random
import socket
import struct
import sys

TYPES = {"A": 1, "NS": 2, "PTR": 12, "AAAA": 28, "SOA": 6}
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


def qname(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def read_name(msg, off):
    labels, jumped, end = [], False, off
    while True:
        n = msg[off]
        if n & 0xC0 == 0xC0:
            if not jumped:
                end = off + 2
            off = ((n & 0x3F) << 8) | msg[off + 1]
            jumped = True
            continue
        off += 1
        if n == 0:
            break
        labels.append(msg[off:off + n].decode(errors="replace"))
        off += n
    return ".".join(labels), (end if jumped else off)


def parse(msg, qid):
    rid, flags, qd, an = struct.unpack("!HHHH", msg[:8])
    if rid != qid:
        return "BADID"
    off = 12
    for _ in range(qd):
        _, off = read_name(msg, off)
        off += 4
    out = [RCODES.get(flags & 0xF, "RCODE%d" % (flags & 0xF))]
    for _ in range(an):
        _, off = read_name(msg, off)
        rtype, _, _, rdlen = struct.unpack("!HHIH", msg[off:off + 10])
        off += 10
        rdata = msg[off:off + rdlen]
        if rtype == 1:
            out.append(socket.inet_ntop(socket.AF_INET, rdata))
        elif rtype == 28:
            out.append(socket.inet_ntop(socket.AF_INET6, rdata))
        elif rtype in (2, 5, 12):
            out.append(read_name(msg, off)[0])
        off += rdlen
    return " ".join(out)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    tcp = "--tcp" in sys.argv
    timeout = 2.0
    for i, a in enumerate(sys.argv):
        if a == "--timeout":
            timeout = float(sys.argv[i + 1])
            args.remove(sys.argv[i + 1])
    server, name = args[0], args[1]
    qtype = TYPES[args[2] if len(args) > 2 else "A"]
    qid = random.randrange(65536)
    q = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + qname(name) + struct.pack("!HH", qtype, 1)
    fam = socket.AF_INET6 if ":" in server else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.connect((server, 53))
        if tcp:
            s.sendall(struct.pack("!H", len(q)) + q)
            hdr = b""
            while len(hdr) < 2:
                chunk = s.recv(2 - len(hdr))
                if not chunk:
                    print("CLOSED")
                    return
                hdr += chunk
            (n,) = struct.unpack("!H", hdr)
            msg = b""
            while len(msg) < n:
                chunk = s.recv(n - len(msg))
                if not chunk:
                    break
                msg += chunk
        else:
            s.send(q)
            msg = s.recv(4096)
        print(parse(msg, qid))
    except socket.timeout:
        print("TIMEOUT")
    except ConnectionRefusedError:
        print("REFUSED-CONN")
    except OSError as e:
        print("ERROR %s" % e.strerror)


if __name__ == "__main__":
    main()
