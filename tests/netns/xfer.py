#!/usr/bin/env python3
# A TCP transfer through a pair, timed (tests/netns/test_netd_impair.sh, bench/impair.sh).
#   xfer.py server ADDR 0 READY_FILE: on ADDR:5001, reads to EOF and answers the byte count
#   xfer.py client ADDR BYTES [PAUSE MARK]: sends BYTES (pausing PAUSE s after a quarter, once,
#     creating MARK) and prints "seconds bytes_received" from connect to the answer
import socket, sys, time, os
mode, addr, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
if mode == "server":
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, 5001)); s.listen(1)
    open(sys.argv[4], "w").close()
    c, _ = s.accept(); got = 0
    while True:
        b = c.recv(65536)
        if not b: break
        got += len(b)
    c.sendall(str(got).encode()); c.close()
else:
    pause = float(sys.argv[4]) if len(sys.argv) > 4 else 0
    c = socket.create_connection((addr, 5001), timeout=30)
    t = time.monotonic(); chunk = b"x" * 65536; sent = 0
    while sent < n:
        k = min(len(chunk), n - sent); c.sendall(chunk[:k]); sent += k
        if pause and sent >= n // 4 and not os.path.exists(sys.argv[5]):
            open(sys.argv[5], "w").close(); time.sleep(pause)
    c.shutdown(socket.SHUT_WR)
    got = c.recv(64).decode()
    print("%.3f %s" % (time.monotonic() - t, got))
