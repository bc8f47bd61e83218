#!/usr/bin/env python3
"""ctnet benchmark: one container's private network up and down, four ways.

Run through bench/run.sh, which puts this process in a throwaway network namespace (the
"host") with private /run/netns and a scratch tmpfs. Approaches, interleaved per container
with a rotating order so noise hits all alike:
  ctnet  `ctnet up NAME --netns PATH --forward tcp:P:80` / `ctnet down NAME`
  shell  NixOS container@'s ip commands, one process each, plus an nft masquerade and DNAT rule
         per container in a table of the shell's own, removed by handle
  cni    Debian's bridge + host-local + portmap plugins invoked as a CNI runtime does
  lb     lower bound: the same kernel operations in `ip -batch` (host), `ip -n NS -batch`
         (inside) and one `nft -f` of element adds into a set/map table like ctnet's
Each at several numbers of containers already present. Wall-clock time around the processes,
each timed operation started on an idle machine (quiesce()).
"""
import argparse
import hashlib
import json
import math
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time

BIN = os.environ.get("CTNET_BIN", "")
SCRATCH = os.environ.get("BENCH_SCRATCH", "")
CNI_PATH = "/usr/lib/cni"
IP = shutil.which("ip") or "/usr/sbin/ip"
NFT = shutil.which("nft") or "/usr/sbin/nft"
TRUE = shutil.which("true") or "/usr/bin/true"
SOCAT = shutil.which("socat") or "socat"
IPTABLES_RESTORE = shutil.which("iptables-restore") or "/usr/sbin/iptables-restore"

# Port and address ranges per approach, so no two approaches ever collide.
PORT_BASE = {"ctnet": 10000, "shell": 11000, "cni": 12000, "lb": 13000, "modules": 14000}
BG_PORT = {"ctnet": 20000, "shell": 30000, "lb": 40000, "cni": 50000}
UPSTREAM = "192.0.2.2"
HOST_UPLINK = "192.0.2.1"
MASQ_PORT = 9000


class BenchError(Exception):
    pass


# ---------------------------------------------------------------- process running and timing

_errfile = tempfile.TemporaryFile()


def run(argv, data=None, check=True, env=None):
    """Runs argv to completion; returns (stdout bytes, exit code, rusage of the child).

    os.wait4 gives this child's own rusage (peak RSS included), which subprocess.run hides.
    """
    _errfile.seek(0)
    _errfile.truncate()
    p = subprocess.Popen(argv, stdin=subprocess.PIPE if data is not None else subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=_errfile, env=env)
    if data is not None:
        try:
            p.stdin.write(data)
            p.stdin.close()
        except BrokenPipeError:  # it exited early; its status and stderr say why
            pass
    out = p.stdout.read()
    p.stdout.close()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = rc = os.waitstatus_to_exitcode(status)
    if check and rc != 0:
        _errfile.seek(0)
        err = _errfile.read().decode(errors="replace").strip()
        raise BenchError("'%s' exited %d: %s %s" % (" ".join(argv), rc, err[-600:],
                                                    out.decode(errors="replace")[-600:]))
    return out, rc, ru


GNU_TIME = "/usr/bin/time"
_rssfile = os.path.join(SCRATCH or "/tmp", "rss.out")


class Op:
    """Times one logical operation made of one or more processes.

    With rss=True each process runs under GNU time, which reports its peak RSS: a child of
    this (large) Python process would inherit Python's RSS high-water mark through fork and
    exec, so wait4's ru_maxrss would measure Python, not the program.
    """

    def __init__(self, rss=False):
        self.rss_mode = rss
        self.rss = 0      # peak RSS (KiB) of the largest process, in rss mode
        self.cpu = 0.0    # user+sys seconds of all processes (and their children)
        self.procs = 0
        self.ns = 0

    def run(self, argv, data=None, check=True, env=None):
        if self.rss_mode:
            argv = [GNU_TIME, "-f", "%M", "-o", _rssfile, "--"] + list(argv)
        out, rc, ru = run(argv, data, check, env)
        if self.rss_mode:
            with open(_rssfile) as f:
                self.rss = max(self.rss, int(f.read().split()[-1]))
        self.cpu += ru.ru_utime + ru.ru_stime
        self.procs += 1
        return out, rc

    def __enter__(self):
        quiesce()
        self.t0 = time.perf_counter_ns()
        return self

    def __exit__(self, *exc):
        self.ns = time.perf_counter_ns() - self.t0
        return False


def _busy_ticks():
    """CPU time (USER_HZ ticks, all CPUs) spent on anything but idle, iowait and steal."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal ...
    return v[0] + v[1] + v[2] + v[5] + v[6]


QUIESCE = os.environ.get("BENCH_QUIESCE", "1") != "0"


def quiesce(settle=0.02, window=0.03, limit=0.5):
    """Waits until the kernel is done with the previous operation's deferred work.

    Deleting links and namespaces, adding addresses and bringing links up leave work to
    kworkers (namespace cleanup, RCU callbacks, the address-lifetime check, which walks every
    address of the namespace): at 5,000 containers that is milliseconds of CPU after the
    process has exited, and on a 2-CPU machine it lands in whatever is timed next. Each timed
    operation therefore starts after `settle` seconds and a `window` in which the machine was
    (nearly) idle: at most one 10 ms tick of CPU time. `limit` caps the wait on a machine that
    never idles. Same for every approach; BENCH_QUIESCE=0 turns it off.
    """
    if not QUIESCE:
        return
    deadline = time.monotonic() + limit
    time.sleep(settle)
    prev = _busy_ticks()
    while time.monotonic() < deadline:
        time.sleep(window)
        cur = _busy_ticks()
        if cur - prev <= 1:
            return
        prev = cur


def ip_batch(lines, ns=None):
    argv = [IP] + (["-n", ns] if ns else []) + ["-batch", "-"]
    run(argv, ("\n".join(lines) + "\n").encode())


def nft_f(text):
    run([NFT, "-f", "-"], text.encode())


def link_exists(name):
    try:
        socket.if_nametoindex(name)
        return True
    except OSError:
        return False


def wait_links_gone(names, timeout=30.0):
    deadline = time.monotonic() + timeout
    while any(link_exists(n) for n in names):
        if time.monotonic() > deadline:
            raise BenchError("links still present %ds after their namespace was deleted: %s"
                             % (timeout, [n for n in names if link_exists(n)]))
        time.sleep(0.002)


# ---------------------------------------------------------------- one container instance

class Inst:
    def __init__(self, approach, seq, variant, slot):
        self.approach = approach
        self.variant = variant  # "x": namespace exists at down; "g": namespace gone
        self.ns = "b%s%d%s" % (approach[:2], seq, variant)
        self.nspath = "/run/netns/" + self.ns
        self.slot = slot        # small index: ports and addresses
        self.port = PORT_BASE.get(approach, 15000) + slot
        self.host_if = None
        self.host_addr = None
        self.local_addr = None
        self.state = {}


def pair(octet2, slot):
    """Point-to-point pair (host, local) in 10.<octet2>.0.0/16 for a small slot number."""
    return "10.%d.%d.%d" % (octet2, slot // 64, (slot % 64) * 4 + 1), \
           "10.%d.%d.%d" % (octet2, slot // 64, (slot % 64) * 4 + 2)


# ---------------------------------------------------------------- approaches

class Ctnet:
    name = "ctnet"
    label = "ctnet (1 process)"

    def __init__(self):
        self.ctnet = os.path.join(BIN, "ctnet")

    def available(self):
        if not os.access(self.ctnet, os.X_OK):
            return "%s not built yet" % self.ctnet
        return None

    def setup(self):
        pass

    def up(self, it, op):
        it.cname = it.ns
        out, _ = op.run([self.ctnet, "up", it.cname, "--netns", it.nspath,
                         "--forward", "tcp:%d:80" % it.port])
        it.state["up_out"] = out

    def after_up(self, it):
        kv = dict(l.split("=", 1) for l in it.state["up_out"].decode().split("\n") if "=" in l)
        it.host_addr, it.local_addr = kv.get("HOST_ADDRESS"), kv.get("LOCAL_ADDRESS")
        it.host_if = kv.get("HOST_INTERFACE") or kv.get("HOST_IFNAME") or host_if_of_ns(it)

    def down(self, it, op):
        op.run([self.ctnet, "down", it.cname])

    def add_background(self, lo, hi, jobs):
        background_parallel([[self.ctnet, "up", "bg%d" % i, "--create-netns",
                              "--forward", "tcp:%d:80" % (BG_PORT["ctnet"] + i)]
                             for i in range(lo, hi)], jobs)


def host_if_of_ns(it):
    """The host end of the container's eth0 (its veth peer), found by ifindex."""
    out, _, _ = run([IP, "-n", it.ns, "-j", "link", "show", "dev", "eth0"])
    link = json.loads(out)[0].get("link_index")
    if link is None:
        return None
    return socket.if_indextoname(link)


class Modules:
    """ctnet-ipam alloc + ctnet-netd up + ctnet-nat add: the three programs chained by a script."""
    name = "modules"
    label = "ctnet-ipam+netd+nat (3 processes)"

    def available(self):
        for p in ("ctnet-ipam", "ctnet-netd", "ctnet-nat"):
            if not os.access(os.path.join(BIN, p), os.X_OK):
                return "%s not built" % p
        return None

    def setup(self):
        run([os.path.join(BIN, "ctnet-nat"), "init"])

    def up(self, it, op):
        it.cname = it.ns
        out, _ = op.run([os.path.join(BIN, "ctnet-ipam"), "alloc", it.cname])
        kv = dict(l.split("=", 1) for l in out.decode().split("\n") if "=" in l)
        it.host_addr, it.local_addr = kv["HOST_ADDRESS"], kv["LOCAL_ADDRESS"]
        op.run([os.path.join(BIN, "ctnet-netd"), "up", it.cname, "--netns", it.nspath,
                "--host-address", it.host_addr, "--local-address", it.local_addr])
        it.host_if = "ve-" + it.cname
        op.run([os.path.join(BIN, "ctnet-nat"), "add", it.cname, "--address", it.local_addr,
                "--iface", it.host_if, "--forward", "tcp:%d:80" % it.port])

    def after_up(self, it):
        pass

    def down(self, it, op):
        op.run([os.path.join(BIN, "ctnet-nat"), "del", it.cname])
        op.run([os.path.join(BIN, "ctnet-netd"), "down", it.cname])
        op.run([os.path.join(BIN, "ctnet-ipam"), "release", it.cname])

    def add_background(self, lo, hi, jobs):
        """Stand-in while the launcher is missing: the same state made by the modules."""
        ipam, netd, nat = (os.path.join(BIN, p) for p in ("ctnet-ipam", "ctnet-netd", "ctnet-nat"))
        ip_batch(["netns add bg%d" % i for i in range(lo, hi)])
        cmds = []
        for i in range(lo, hi):
            n = "bg%d" % i
            cmds.append(["sh", "-c", 'eval "$(%s alloc %s)" && %s up %s --netns /run/netns/%s '
                         '--host-address "$HOST_ADDRESS" --local-address "$LOCAL_ADDRESS" && '
                         '%s add %s --address "$LOCAL_ADDRESS" --iface ve-%s --forward tcp:%d:80'
                         % (ipam, n, netd, n, n, nat, n, n, BG_PORT["ctnet"] + i)])
        background_parallel(cmds, jobs)


class Shell:
    """What NixOS's container@ service runs: one `ip` process per step, nft rules per container."""
    name = "shell"
    label = "shell (11 ip/nft processes)"
    table = "ip nixshell"

    def available(self):
        return None

    def setup(self):
        nft_f("table %s {\n chain prerouting { type nat hook prerouting priority dstnat; }\n"
              " chain postrouting { type nat hook postrouting priority srcnat; }\n}\n" % self.table)

    def up(self, it, op):
        it.host_addr, it.local_addr = pair(240, it.slot)
        h, l, ns = it.host_addr, it.local_addr, it.ns
        it.host_if = ve = "ve-s%d%s" % (it.slot, it.variant)
        for argv in (
                [IP, "link", "add", ve, "type", "veth", "peer", "name", "eth0", "netns", ns],
                [IP, "link", "set", ve, "up"],
                [IP, "addr", "add", h + "/32", "dev", ve],
                [IP, "route", "add", l + "/32", "dev", ve],
                [IP, "-n", ns, "link", "set", "lo", "up"],
                [IP, "-n", ns, "link", "set", "eth0", "up"],
                [IP, "-n", ns, "addr", "add", l + "/32", "dev", "eth0"],
                [IP, "-n", ns, "route", "add", h + "/32", "dev", "eth0"],
                [IP, "-n", ns, "route", "add", "default", "via", h],
                [NFT, "add", "rule", "ip", "nixshell", "postrouting", "ip", "saddr", l,
                 "masquerade", "comment", '"%s"' % ns],
                [NFT, "add", "rule", "ip", "nixshell", "prerouting", "tcp", "dport", str(it.port),
                 "dnat", "to", "%s:80" % l, "comment", '"%s"' % ns]):
            op.run(argv)

    def after_up(self, it):
        pass

    def down(self, it, op):
        # Handles found the way a script finds them: list the chain with -a, pick our comment.
        tag = 'comment "%s"' % it.ns
        for chain in ("postrouting", "prerouting"):
            out, _ = op.run([NFT, "-a", "list", "chain", "ip", "nixshell", chain])
            handles = [l.rsplit("# handle ", 1)[1].strip() for l in out.decode().split("\n")
                       if tag in l and "# handle " in l]
            for hd in handles:
                op.run([NFT, "delete", "rule", "ip", "nixshell", chain, "handle", hd])
        # As in NixOS's postStop: the link may already be gone with the namespace.
        op.run([IP, "link", "del", it.host_if], check=False)

    def add_background(self, lo, hi, jobs):
        lines = []
        for i in range(lo, hi):
            a = "10.250.%d.%d" % (i // 250, i % 250 + 2)
            lines.append('add rule %s postrouting ip saddr %s masquerade comment "bg%d"'
                         % (self.table, a, i))
            lines.append('add rule %s prerouting tcp dport %d dnat to %s:80 comment "bg%d"'
                         % (self.table, BG_PORT["shell"] + i, a, i))
        nft_f("\n".join(lines) + "\n")


class Cni:
    """Debian's containernetworking-plugins as a runtime calls them: bridge (which delegates to
    host-local) then portmap with prevResult and runtimeConfig.portMappings; DEL in reverse."""
    name = "cni"
    label = "CNI bridge+host-local+portmap"
    net = "benchnet"
    subnet = "10.242.0.0/16"

    def __init__(self):
        self.data_dir = os.path.join(SCRATCH, "cni")

    def available(self):
        for p in ("bridge", "host-local", "portmap"):
            if not os.access(os.path.join(CNI_PATH, p), os.X_OK):
                return "CNI plugin %s/%s missing (Debian package containernetworking-plugins)" \
                       % (CNI_PATH, p)
        if not shutil.which("iptables"):
            return "iptables missing (the bridge and portmap plugins need it)"
        return None

    def setup(self):
        os.makedirs(self.data_dir, exist_ok=True)

    def conf_bridge(self):
        return {"cniVersion": "1.0.0", "name": self.net, "type": "bridge", "bridge": "cni0",
                "isGateway": True, "ipMasq": True,
                "ipam": {"type": "host-local", "ranges": [[{"subnet": self.subnet}]],
                         "routes": [{"dst": "0.0.0.0/0"}], "dataDir": self.data_dir}}

    def conf_portmap(self, it, prev):
        return {"cniVersion": "1.0.0", "name": self.net, "type": "portmap",
                "capabilities": {"portMappings": True}, "snat": True,
                "runtimeConfig": {"portMappings": [
                    {"hostPort": it.port, "containerPort": 80, "protocol": "tcp"}]},
                "prevResult": prev}

    def env(self, it, cmd):
        e = dict(os.environ)
        e.update(CNI_COMMAND=cmd, CNI_CONTAINERID=it.ns, CNI_NETNS=it.nspath, CNI_IFNAME="eth0",
                 CNI_PATH=CNI_PATH)
        return e

    def up(self, it, op):
        env = self.env(it, "ADD")
        br = self.conf_bridge()
        out, _ = op.run([os.path.join(CNI_PATH, "bridge")], json.dumps(br).encode(), env=env)
        res = json.loads(out)
        pm = self.conf_portmap(it, res)
        out, _ = op.run([os.path.join(CNI_PATH, "portmap")], json.dumps(pm).encode(), env=env)
        it.state["result"] = json.loads(out)

    def after_up(self, it):
        res = it.state["result"]
        it.host_if = next(i["name"] for i in res["interfaces"]
                          if "sandbox" not in i and i["name"] != "cni0")
        it.local_addr = res["ips"][0]["address"].split("/")[0]
        it.host_addr = res["ips"][0].get("gateway")

    def down(self, it, op):
        env = self.env(it, "DEL")
        res = it.state["result"]
        pm = self.conf_portmap(it, res)
        op.run([os.path.join(CNI_PATH, "portmap")], json.dumps(pm).encode(), env=env)
        br = self.conf_bridge()
        br["prevResult"] = res
        op.run([os.path.join(CNI_PATH, "bridge")], json.dumps(br).encode(), env=env)

    def add_background(self, lo, hi, jobs):
        """What N earlier ADDs leave behind, written directly: host-local's reservation files
        and the iptables chains and jumps of the bridge (ipMasq) and portmap plugins. No links:
        the host already has the ctnet background containers' veths."""
        ipdir = os.path.join(self.data_dir, self.net)
        os.makedirs(ipdir, exist_ok=True)
        rules = ["*nat"]
        jumps = []
        last = None
        for i in range(lo, hi):
            cid = "cnibg%d" % i
            n = 256 + i  # 10.242.1.0 upwards
            a = "10.242.%d.%d" % (n // 256, n % 256)
            last = a
            with open(os.path.join(ipdir, a), "w") as f:
                f.write(cid + "\r\neth0")
            h = hashlib.sha512((self.net + cid).encode()).hexdigest()
            masq = "CNI-" + h[:24]
            # libcni's FormatChainName: sha512(network + id) for both; the DN- chain is cut at 28
            dn = ("CNI-DN-" + hashlib.sha512((self.net + cid).encode()).hexdigest())[:28]
            port = BG_PORT["cni"] + i
            com = '"name: \\"%s\\" id: \\"%s\\""' % (self.net, cid)
            rules += [":%s - [0:0]" % masq, ":%s - [0:0]" % dn]
            jumps += [
                "-A POSTROUTING -s %s/32 -m comment --comment %s -j %s" % (a, com, masq),
                "-A %s -d %s -m comment --comment %s -j ACCEPT" % (masq, self.subnet, com),
                "-A %s ! -d 224.0.0.0/4 -m comment --comment %s -j MASQUERADE" % (masq, com),
                "-A %s -s %s -p tcp -m tcp --dport %d -j CNI-HOSTPORT-SETMARK" % (dn, self.subnet, port),
                "-A %s -s 127.0.0.1/32 -p tcp -m tcp --dport %d -j CNI-HOSTPORT-SETMARK" % (dn, port),
                "-A %s -p tcp -m tcp --dport %d -j DNAT --to-destination %s:80" % (dn, port, a),
                '-A CNI-HOSTPORT-DNAT -p tcp -m comment --comment "dnat name: \\"%s\\" id: \\"%s\\""'
                " -m multiport --dports %d -j %s" % (self.net, cid, port, dn)]
        run([IPTABLES_RESTORE, "--noflush"], ("\n".join(rules + jumps + ["COMMIT", ""])).encode())
        if last:
            with open(os.path.join(ipdir, "last_reserved_ip.0"), "w") as f:
                f.write(last)


class LowerBound:
    """The same kernel work in as few processes as the tools allow: one ip -batch for the host
    side, one ip -n NS -batch inside (a batch cannot switch namespaces), one nft -f of element
    adds into a table shaped like ctnet's (sets and maps, fixed rules)."""
    name = "lb"
    label = "lower bound (ip -batch x2 + nft -f)"
    table = "inet lbnat"

    def available(self):
        return None

    def setup(self):
        nft_f("""table %s {
  set ifaces { type ifname; }
  set masq4 { type ipv4_addr; }
  set spoof4 { type ifname . ipv4_addr; counter; }
  map fwd4 { type inet_proto . inet_service : ipv4_addr . inet_service; counter; }
  chain antispoof {
    type filter hook prerouting priority raw; policy accept;
    iifname != @ifaces accept
    iifname . ip saddr @spoof4 accept
    meta nfproto ipv4 drop
  }
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    fib daddr type local meta nfproto ipv4 dnat ip to meta l4proto . th dport map @fwd4
  }
  chain output {
    type nat hook output priority -100; policy accept;
    fib daddr type local meta nfproto ipv4 dnat ip to meta l4proto . th dport map @fwd4
  }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr @masq4 oifname != @ifaces masquerade
  }
}
""" % self.table)

    @staticmethod
    def host_lines(ve, ns, h, l):
        return ["link add %s type veth peer name eth0 netns %s" % (ve, ns),
                "link set %s up" % ve, "addr add %s/32 dev %s" % (h, ve),
                "route add %s/32 dev %s" % (l, ve)]

    @staticmethod
    def inside_lines(h, l):
        return ["link set lo up", "link set eth0 up", "addr add %s/32 dev eth0" % l,
                "route add %s/32 dev eth0" % h, "route add default via %s" % h]

    def elements(self, verb, ve, l, port):
        t = self.table
        return ('%s element %s ifaces { "%s" }\n%s element %s masq4 { %s }\n'
                '%s element %s spoof4 { "%s" . %s }\n%s element %s fwd4 { tcp . %d : %s . 80 }\n'
                % (verb, t, ve, verb, t, l, verb, t, ve, l, verb, t, port, l))

    def up(self, it, op):
        it.host_addr, it.local_addr = pair(241, it.slot)
        it.host_if = "ve-l%d%s" % (it.slot, it.variant)
        h, l = it.host_addr, it.local_addr
        op.run([IP, "-batch", "-"], ("\n".join(self.host_lines(it.host_if, it.ns, h, l)) + "\n").encode())
        op.run([IP, "-n", it.ns, "-batch", "-"], ("\n".join(self.inside_lines(h, l)) + "\n").encode())
        op.run([NFT, "-f", "-"], self.elements("add", it.host_if, l, it.port).encode())

    def after_up(self, it):
        pass

    def down(self, it, op):
        if it.variant == "x":  # with the namespace gone the kernel already removed the pair
            op.run([IP, "-batch", "-"], ("link del %s\n" % it.host_if).encode())
        op.run([NFT, "-f", "-"], self.elements("delete", it.host_if, it.local_addr, it.port).encode())

    def add_background(self, lo, hi, jobs):
        chunks = []
        for i in range(lo, hi):
            a = "10.251.%d.%d" % (i // 250, i % 250 + 2)
            chunks.append(self.elements("add", "lbg%d" % i, a, BG_PORT["lb"] + i))
        nft_f("".join(chunks))


def background_parallel(cmds, jobs):
    """Runs the commands, `jobs` at a time; any failure stops the benchmark."""
    running = []
    cmds = list(cmds)
    while cmds or running:
        while cmds and len(running) < jobs:
            argv = cmds.pop(0)
            running.append((argv, subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                                   stderr=subprocess.PIPE)))
        argv, p = running.pop(0)
        _, err = p.communicate()
        if p.returncode != 0:
            for _, q in running:
                q.wait()
            raise BenchError("background '%s' exited %d: %s"
                             % (" ".join(argv), p.returncode, err.decode(errors="replace").strip()))


# ---------------------------------------------------------------- checks with real traffic

class Upstream:
    """A listener in the upstream namespace that answers with the peer address it sees:
    a container reaching it shows 192.0.2.1 only when it was masqueraded."""

    def __init__(self):
        self.p = subprocess.Popen(
            [IP, "netns", "exec", "upstream", SOCAT, "-T3",
             "TCP-LISTEN:%d,reuseaddr,fork" % MASQ_PORT, "SYSTEM:echo $SOCAT_PEERADDR"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self):
        self.p.terminate()
        self.p.wait()


def try_until(fn, what, tries=40):
    last = None
    for _ in range(tries):
        last = fn()
        if last[0]:
            return last[1]
        time.sleep(0.05)
    raise BenchError("check failed: %s: saw %r" % (what, last[1]))


def verify(app, it):
    """The container really is networked: masquerade out, forward in, by traffic."""
    if not it.host_if or not link_exists(it.host_if):
        raise BenchError("%s %s: host link %r missing after up" % (app.name, it.ns, it.host_if))

    def out_check():
        o, rc, _ = run([IP, "netns", "exec", it.ns, SOCAT, "-T2", "-",
                        "TCP:%s:%d,connect-timeout=1" % (UPSTREAM, MASQ_PORT)], b"", check=False)
        s = o.decode().strip()
        return s == HOST_UPLINK, "rc=%d out=%r" % (rc, s)
    try_until(out_check, "%s: %s reaches upstream masqueraded as %s" % (app.name, it.ns, HOST_UPLINK))

    token = "hello-from-" + it.ns
    srv = subprocess.Popen([IP, "netns", "exec", it.ns, SOCAT, "-T3", "TCP-LISTEN:80,reuseaddr",
                            "SYSTEM:echo " + token], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    try:
        def in_check():
            o, rc, _ = run([IP, "netns", "exec", "upstream", SOCAT, "-T2", "-",
                            "TCP:%s:%d,connect-timeout=1" % (HOST_UPLINK, it.port)], b"", check=False)
            s = o.decode().strip()
            return s == token, "rc=%d out=%r" % (rc, s)
        try_until(in_check, "%s: upstream -> %s:%d forwarded into %s"
                  % (app.name, HOST_UPLINK, it.port, it.ns))
    finally:
        srv.kill()
        srv.wait()


# ---------------------------------------------------------------- statistics and output

def pct(xs, p):
    s = sorted(xs)
    if not s:
        return None
    k = max(0, min(len(s) - 1, math.ceil(p / 100.0 * len(s)) - 1))  # nearest rank
    return s[k]


def median(xs):
    s = sorted(xs)
    if not s:
        return None
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def ms(ns_):
    return ns_ / 1e6


def main():
    ap = argparse.ArgumentParser(prog="bench/run.sh", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="levels 0 and 1000, 20 samples (under 3 minutes)")
    ap.add_argument("--samples", type=int, help="containers per approach and level (default 50)")
    ap.add_argument("--levels", help="containers already present, e.g. 0,1000,5000")
    ap.add_argument("--only", help="approaches, comma-separated: ctnet,shell,cni,lb,modules")
    ap.add_argument("--modules", action="store_true",
                    help="also time ctnet-ipam alloc + ctnet-netd up + ctnet-nat add")
    ap.add_argument("--bg-jobs", type=int, default=2,
                    help="parallel ctnet processes creating background containers")
    ap.add_argument("--output", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                     "results.json"))
    ap.add_argument("--part", choices=("setup", "dataplane", "watch", "apply", "doctor", "all"), default="all",
                    help="run.sh runs this part (setup), bench/dataplane.py (dataplane), bench/apply.sh (apply), bench/doctor.sh (doctor)")
    args, rest = ap.parse_known_args()
    bad, prev = [], ""
    for a in rest:  # the data-plane part's options (and their values) are dataplane.py's
        if not a.startswith("--dp-") and not (prev.startswith("--dp-") and "=" not in prev):
            bad.append(a)
        prev = a
    if bad:
        ap.error("unrecognized arguments: %s (data-plane options: bench/dataplane.py --help)"
                 % " ".join(bad))
    if not SCRATCH or not os.environ.get("CTNET_BENCH_SANDBOX"):
        print("bench: run me through bench/run.sh (it builds the sandbox)", file=sys.stderr)
        return 2
    samples = args.samples or (20 if args.quick else 50)
    levels = [int(x) for x in (args.levels or ("0,1000" if args.quick else "0,1000,5000")).split(",")]
    if samples < 1 or levels != sorted(levels) or levels[0] < 0:
        print("bench: --samples >= 1 and increasing --levels", file=sys.stderr)
        return 2
    t_start = time.monotonic()

    all_apps = [Ctnet(), Shell(), Cni(), LowerBound()] + ([Modules()] if args.modules else [])
    if args.only:
        want = args.only.split(",")
        bad = [w for w in want if w not in [a.name for a in [Ctnet(), Shell(), Cni(), LowerBound(), Modules()]]]
        if bad:
            print("bench: unknown approach %s" % bad, file=sys.stderr)
            return 2
        all_apps = [a for a in [Ctnet(), Shell(), Cni(), LowerBound(), Modules()] if a.name in want]
    apps, skipped = [], {}
    for a in all_apps:
        why = a.available()
        if why:
            skipped[a.name] = why
            print("bench: skipping %s: %s" % (a.label, why), flush=True)
        else:
            apps.append(a)
    if not apps:
        print("bench: nothing to run", file=sys.stderr)
        return 1
    # Background containers are ctnet's own; the module chain stands in while it is missing.
    bg_maker = Ctnet() if Ctnet().available() is None else Modules()
    if bg_maker.available():
        bg_maker = None
        if levels[-1] > 0:
            print("bench: no ctnet programs to create background containers; levels > 0 skipped")
            levels = [l for l in levels if l == 0]

    print("bench: %d samples per approach and level, levels %s, approaches %s; floor = spawning "
          "`true`; %s" % (samples, levels, ",".join(a.name for a in apps),
                          "each timed operation starts on an idle machine (quiesce)" if QUIESCE
                          else "no quiesce between operations (BENCH_QUIESCE=0)"), flush=True)
    for a in apps:
        a.setup()
    upstream = Upstream()

    results = {"run_id": os.environ.get("BENCH_RUN_ID"), "samples": samples, "levels": levels, "skipped": skipped, "quiesce": QUIESCE,
               "approaches": {a.name: a.label for a in apps}, "ops": {}, "rss_kib": {},
               "cpu_ms": {}, "procs": {}, "admin": {}, "background": {},
               "host": {"kernel": platform.release(), "cpus": os.cpu_count(),
                        "python": platform.python_version(),
                        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z")}}

    def record(level, key, op):
        results["ops"].setdefault(key, {}).setdefault(str(level), []).append(op.ns)
        results["cpu_ms"].setdefault(key, {}).setdefault(str(level), []).append(op.cpu * 1000)
        results["procs"][key] = op.procs

    def record_rss(level, key, op):
        results["rss_kib"].setdefault(key, {})[str(level)] = op.rss

    have_time = os.access(GNU_TIME, os.X_OK)
    if not have_time:
        print("bench: no %s (Debian package time): peak RSS not measured" % GNU_TIME)
    seq = 0
    present = 0
    try:
        # Warm-up, untimed: tables, the CNI bridge and chains, page cache, first-run costs.
        seq = run_samples(apps, 1, -1, seq, None, verify_first=False)
        for level in levels:
            if level > present:
                t0 = time.monotonic()
                if bg_maker:
                    bg_maker.add_background(present, level, args.bg_jobs)
                t1 = time.monotonic()
                for a in apps:
                    if a.name in ("shell", "lb", "cni"):
                        a.add_background(present, level, args.bg_jobs)
                t2 = time.monotonic()
                results["background"][str(level)] = {"ctnet_s": t1 - t0, "others_s": t2 - t1}
                print("bench: %d background containers present (ctnet ones made in %.1f s, "
                      "%.0f ms/container with %d jobs; other approaches' state in %.1f s)"
                      % (level, t1 - t0, (t1 - t0) * 1000 / (level - present), args.bg_jobs,
                         t2 - t1), flush=True)
                present = level
                time.sleep(1.0)  # let the kernel finish deferred work before timing
            if have_time:
                seq = run_samples(apps, 1, level, seq, record_rss, verify_first=False, rss=True)
            t0 = time.monotonic()
            seq = run_samples(apps, samples, level, seq, record, verify_first=True)
            print("bench: level %d done in %.1f s" % (level, time.monotonic() - t0), flush=True)
            admin_times(results, level, apps)
    finally:
        upstream.stop()

    results["wall_s"] = time.monotonic() - t_start
    report(results, apps)
    with open(args.output, "w") as f:
        json.dump(results, f, indent=1)
    print("bench: raw samples in %s; total %.0f s" % (args.output, results["wall_s"]))
    return 0


def run_samples(apps, samples, level, seq, record, verify_first, rss=False):
    for i in range(samples):
        seq += 1
        k = i % len(apps)
        order = apps[k:] + apps[:k]
        insts = [(a, Inst(a.name, seq, v, i * 2 + (v == "g"))) for a in order for v in "xg"]
        ref = Inst("ld", seq, "x", i)  # the `ip link del` reference
        ref.host_addr, ref.local_addr = pair(243, i)
        ref.host_if = "ve-r%d" % i
        ip_batch(["netns add " + it.ns for _, it in insts] + ["netns add " + ref.ns])
        floor = Op(rss)
        with floor:
            floor.run([TRUE])
        if record:
            record(level, "floor", floor)
        for a, it in insts:
            op = Op(rss)
            with op:
                a.up(it, op)
            a.after_up(it)
            if record:
                record(level, a.name + " up", op)
        if verify_first and i == 0:
            for a, it in insts:
                if it.variant == "x":
                    verify(a, it)
            print("bench: checked with traffic: %s (upstream -> 192.0.2.1:port forwarded into the "
                  "container; container -> upstream masqueraded)" % ", ".join(a.name for a in apps),
                  flush=True)
        # Namespace gone: deleted outside the timed region, and the kernel done with the links.
        gone = [it for _, it in insts if it.variant == "g"]
        ip_batch(["netns del " + it.ns for it in gone])
        wait_links_gone([it.host_if for it in gone if it.host_if])
        # The reference veth: the same pair, made untimed.
        ip_batch(LowerBound.host_lines(ref.host_if, ref.ns, ref.host_addr, ref.local_addr))
        ip_batch(LowerBound.inside_lines(ref.host_addr, ref.local_addr), ns=ref.ns)
        todo = [(a, it) for a, it in insts]
        todo.insert(len(todo) // 2, (None, ref))
        for a, it in todo:
            op = Op(rss)
            with op:
                if a is None:
                    op.run([IP, "link", "del", it.host_if])
                else:
                    a.down(it, op)
            if record:
                key = "ip link del" if a is None else \
                    "%s down (%s)" % (a.name, "ns exists" if it.variant == "x" else "ns gone")
                record(level, key, op)
            if it.variant == "x" and it.host_if and link_exists(it.host_if):
                raise BenchError("%s %s: host link %s still there after down"
                                 % (a.name if a else "ip", it.ns, it.host_if))
        ip_batch(["netns del " + it.ns for _, it in insts if it.variant == "x"] +
                 ["netns del " + ref.ns])
    return seq


def admin_times(results, level, apps):
    if not any(a.name == "ctnet" for a in apps):
        return
    cmds = {"ctnet-nat list": [os.path.join(BIN, "ctnet-nat"), "list"],
            "ctnet-nat list --json": [os.path.join(BIN, "ctnet-nat"), "list", "--json"],
            "ctnet status": [os.path.join(BIN, "ctnet"), "status"],
            "ctnet status --json": [os.path.join(BIN, "ctnet"), "status", "--json"]}
    for name, argv in cmds.items():
        xs = []
        for _ in range(5):
            op = Op()
            with op:
                out, rc = op.run(argv, check=False)
            if rc not in (0, 1):  # status exits 1 when a container is stale
                raise BenchError("%s exited %d" % (" ".join(argv), rc))
            xs.append(op.ns)
        results["admin"].setdefault(name, {})[str(level)] = xs


def report(results, apps):
    ops, levels = results["ops"], results["levels"]
    lv = [str(l) for l in levels]
    keys = ["floor"]
    for a in apps:
        keys += [a.name + " up", a.name + " down (ns exists)", a.name + " down (ns gone)"]
    keys.append("ip link del")
    labels = {"floor": "floor: spawn `true`", "ip link del": "ip link del (one veth, ns exists)"}
    w = 34
    print()
    print("Per-container wall time, ms (median / p95), %d samples; columns = containers present"
          % results["samples"])
    print("%-*s %6s" % (w, "operation", "procs") + "".join("%18s" % ("N=" + l) for l in lv))
    for k in keys:
        if k not in ops:
            continue
        row = "%-*s %6s" % (w, labels.get(k, k), results["procs"].get(k, ""))
        for l in lv:
            xs = ops[k].get(l, [])
            row += "%18s" % ("%.2f / %.2f" % (ms(median(xs)), ms(pct(xs, 95))) if xs else "-")
        print(row)
    print()
    rss = results["rss_kib"]
    if rss:
        print("Peak RSS of the largest process, KiB, by GNU time (one extra container per level):")
        print("  " + "; ".join("%s %s" % (k, " ".join("@%s:%d" % (l, v) for l, v in rss[k].items()))
                               for k in rss if k.endswith(" up") or k == "floor"))
    print("CPU (user+sys, all processes) per up, ms median @%s: " % lv[0]
          + ", ".join("%s %.1f" % (k, median(results["cpu_ms"][k][lv[0]]))
                      for k in results["cpu_ms"] if k.endswith(" up") and lv[0] in results["cpu_ms"][k]))
    for name, per in results["admin"].items():
        print("%s: " % name + ", ".join("@%s %.1f ms" % (l, ms(median(xs))) for l, xs in per.items()))
    print()

    def med(k, l):
        xs = ops.get(k, {}).get(str(l))
        return median(xs) if xs else None

    lines = []

    def ratio(label, a, b):
        if a is not None and b is not None and b > 0:
            r = a / b
            lines.append((label, r))
            print("ratio %s: %.2f" % (label, r))
            return r
        return None

    for l in levels:
        ratio("shell/ctnet up @%d" % l, med("shell up", l), med("ctnet up", l))
        ratio("cni/ctnet up @%d" % l, med("cni up", l), med("ctnet up", l))
        ratio("lowerbound/ctnet up @%d" % l, med("lb up", l), med("ctnet up", l))
        ratio("shell/ctnet down(ns exists) @%d" % l, med("shell down (ns exists)", l),
              med("ctnet down (ns exists)", l))
        ratio("ctnet down(ns gone)/shell down(ns gone) @%d" % l, med("ctnet down (ns gone)", l),
              med("shell down (ns gone)", l))
        ratio("ctnet down(ns gone)/shell down(ns exists) @%d" % l, med("ctnet down (ns gone)", l),
              med("shell down (ns exists)", l))
        ratio("ctnet down(ns exists)/ip link del @%d" % l, med("ctnet down (ns exists)", l),
              med("ip link del", l))
        ratio("cni/ctnet down(ns gone) @%d" % l, med("cni down (ns gone)", l),
              med("ctnet down (ns gone)", l))
        ratio("modules/ctnet up @%d" % l, med("modules up", l), med("ctnet up", l))
    hi = levels[-1]
    lo = levels[0]
    if hi != lo:
        for k in ("ctnet up", "ctnet down (ns exists)", "ctnet down (ns gone)", "shell up",
                  "shell down (ns exists)", "cni up", "lb up"):
            ratio("%s @%d/@%d" % (k, hi, lo), med(k, hi), med(k, lo))

    # Targets from issue 9, reported, not asserted.
    print()
    t = []

    def target(desc, value, ok):
        if value is None:
            return
        t.append({"target": desc, "value": value, "met": ok})
        print("target %-58s %8.2f  %s" % (desc + ":", value, "met" if ok else "MISSED"))

    s, c, lbv = med("shell up", lo), med("ctnet up", lo), med("lb up", lo)
    if c:
        target("ctnet up >= 8x faster than shell @%d (shell/ctnet)" % lo, s and s / c, s and s / c >= 8)
        cn = med("cni up", lo)
        target("ctnet up >= 20x faster than CNI @%d (cni/ctnet)" % lo, cn and cn / c, cn and cn / c >= 20)
        target("ctnet up within 1.5x of lower bound @%d (ctnet/lb)" % lo, lbv and c / lbv,
               lbv and c / lbv <= 1.5)
        d, ld = med("ctnet down (ns exists)", lo), med("ip link del", lo)
        target("ctnet down(ns exists) within 1.25x of ip link del @%d" % lo, d and ld and d / ld,
               d and ld and d / ld <= 1.25)
        g, sg = med("ctnet down (ns gone)", lo), med("shell down (ns gone)", lo)
        target("ctnet down(ns gone) >= 10x faster than shell down @%d" % lo, g and sg and sg / g,
               g and sg and sg / g >= 10)
        if hi != lo:
            for k in ("ctnet up", "ctnet down (ns exists)", "ctnet down (ns gone)"):
                a, b = med(k, hi), med(k, lo)
                target("%s cost @%d <= 1.25x @%d" % (k, hi, lo), a and b and a / b,
                       a and b and a / b <= 1.25)
        if "ctnet up" in rss:
            m = max(rss["ctnet up"].values())
            target("peak RSS of ctnet up <= 10 MiB (MiB)", m / 1024, m <= 10 * 1024)
        for name in ("ctnet-nat list", "ctnet status"):
            xs = results["admin"].get(name, {}).get(str(hi))
            if xs:
                target("%s @%d < 100 ms (ms)" % (name, hi), ms(median(xs)), ms(median(xs)) < 100)
    results["ratios"] = dict(lines)
    results["targets"] = t


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        print("bench: %s" % e, file=sys.stderr)
        sys.exit(1)
