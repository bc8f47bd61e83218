#!/usr/bin/env python3
"""ctnet data-plane benchmark: what every connection and every packet pays (bench/README.md).

Run through bench/run.sh (part "dataplane"), in a sandbox of its own. Each layout gets a world
of its own, so no layout's rules ever see another's packets:
  h-L  the host: uplink up0 (192.0.2.1/24, fd00:2::1/64) and the NAT rules of layout L
  u-L  upstream (192.0.2.2-5, fd00:2::2-5), the client of forwarded connections
  w-L  the container "web" (10.233.0.2, fd00:1::2): connrate's server on port 80, iperf3
  c-L  a second container (10.233.0.6) for hairpin connections
Layouts: ctnet (`ctnet up`, the background by `ctnet-nat add`), pm (CNI portmap: the real
plugin for web, the background's iptables-nft chains generated and checked equal to what the
plugin writes), rule (one nft DNAT rule and one masquerade rule per container, the
NixOS-iptables / nspawn-fallback shape), plain (routing only, no NAT: the reference).
Containers of ctnet are made by `ctnet up`, of the others by `ctnet-netd up` (the same links).
"""
import argparse
import contextlib
import ctypes
import hashlib
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench as B  # noqa: E402  (run, Op, quiesce, median, pct, BenchError)

BIN = B.BIN
CONNRATE = os.path.join(BIN, "bench", "connrate")
NAT = os.path.join(BIN, "ctnet-nat")
NETD = os.path.join(BIN, "ctnet-netd")
CTNET = os.path.join(BIN, "ctnet")
IPERF3 = "/usr/bin/iperf3"
CNI = "/usr/lib/cni"
IP, NFT = B.IP, B.NFT
SCRATCH = B.SCRATCH

LAYOUTS = {"ctnet": "ctnet (nft sets/maps)",
           "ctnet0": "ctnet, no other forwards (twin)",
           "ctnetnr": "ctnet without its anti-spoofing chain (A/B)",
           "pm": "CNI portmap (iptables-nft)",
           "rule": "nft rule per forward", "plain": "plain routing, no NAT",
           "lobpf": "ctnet, loopback forwards by BPF (socket)"}
HOST4, HOST6 = "192.0.2.1", "fd00:2::1"
UP4 = ["192.0.2.%d" % i for i in range(2, 6)]
UP6 = ["fd00:2::%d" % i for i in range(2, 6)]
WEB = {"host": "10.233.0.1", "local": "10.233.0.2", "host6": "fd00:1::1", "local6": "fd00:1::2"}
CLI = {"host": "10.233.0.5", "local": "10.233.0.6", "host6": "fd00:1::5", "local6": "fd00:1::6"}
PORT, IPERF_PORT = 8080, 5201
CNI_NET = "benchnet"

# path: (client namespace role, destination, sources, proto); plain goes to the container itself
PATHS = {
    "tcp4": ("u", HOST4, UP4, "tcp"),
    "udp4": ("u", HOST4, UP4, "udp"),
    "tcp6": ("u", HOST6, UP6, "tcp"),
    "hairpin4": ("c", HOST4, [CLI["local"]], "tcp"),
    "localhost4": ("h", "127.0.0.1", ["127.0.0.1"], "tcp"),
    "localhost6": ("h", "::1", ["::1"], "tcp"),
}
PATH_LABEL = {"tcp4": "TCP conn/s, upstream -> forward", "udp4": "UDP req/s, upstream -> forward",
              "tcp6": "TCP conn/s over IPv6", "hairpin4": "TCP conn/s hairpin (container -> host addr)",
              "localhost4": "TCP conn/s host -> 127.0.0.1", "localhost6": "TCP conn/s host -> [::1]"}
TWIN_PATHS = ("tcp4", "udp4", "tcp6")  # the targets' paths, also run ctnet beside ctnet0
# [::1] only by socket: the kernel cannot DNAT ::1 (ctnet's output-hook path, portmap).
NAT_PATHS = [p for p in PATHS if p != "localhost6"]
SUPPORTS = {"ctnet": NAT_PATHS, "ctnet0": NAT_PATHS, "ctnetnr": ["tcp4"], "pm": NAT_PATHS,
            "rule": ["tcp4", "udp4", "tcp6", "hairpin4"], "plain": ["tcp4", "udp4", "tcp6"],
            "lobpf": ["localhost4", "localhost6"]}

# ---------------------------------------------------------------- namespaces

_libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET = 0x40000000
_home = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)


def _setns(fd):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise B.BenchError("setns: %s" % os.strerror(e))


@contextlib.contextmanager
def inside(ns):
    """Runs the block (and every process it starts) in network namespace ns: setns() of this
    thread, so timed commands pay no `ip netns exec` (a process, a mount namespace)."""
    if ns is None:
        yield
        return
    fd = os.open("/run/netns/" + ns, os.O_RDONLY | os.O_CLOEXEC)
    try:
        _setns(fd)
        yield
    finally:
        _setns(_home)
        os.close(fd)


def sysctl(key, value):
    with open("/proc/sys/" + key.replace(".", "/"), "w") as f:
        f.write(str(value))


_procs = []


def start(ns, argv, ready=None):
    """A long-running process in ns, ended by its PID at the end of the run."""
    with inside(ns):
        p = subprocess.Popen(argv, stdout=subprocess.PIPE if ready else subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    _procs.append(p)
    if ready:
        line = p.stdout.readline().decode().strip()
        if line != ready:
            raise B.BenchError("%s did not start (said %r)" % (" ".join(argv), line))
    return p


# lobpf: loopback forwards by BPF, attached to a cgroup of the bench's own (never the
# machine's root) that its clients are moved into; the other ctnet layouts point
# CTNET_CGROUP at a directory that is no cgroup v2 (the output-hook DNAT path).
_cgroup = []


def bench_cgroup():
    """The bench's cgroup under the cgroup v2 mount (made once), or None without one."""
    if not _cgroup:
        for root in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
            try:
                if subprocess.run(["stat", "-fc", "%T", root], capture_output=True,
                                  text=True).stdout.strip() == "cgroup2fs":
                    d = os.path.join(root, "ctnet-bench.%d" % os.getpid())
                    os.mkdir(d)
                    _cgroup.append(d)
                    break
            except OSError:
                continue
        else:
            _cgroup.append(None)
    return _cgroup[0]


def stop_all():
    for p in _procs:
        if p.poll() is None:
            p.terminate()
    for p in _procs:
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    if _cgroup and _cgroup[0]:
        # detach (unpin) before the cgroup goes
        subprocess.run([NAT, "flush"], env=dict(os.environ, CTNET_STATE_DIR=os.path.join(SCRATCH, "lobpf", "state"),
                                               CTNET_BPF_DIR="/sys/fs/bpf/ctnet-lobpf"),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            os.rmdir(_cgroup[0])
        except OSError:
            pass


# ---------------------------------------------------------------- the CNI portmap layout

def cni_chain(prefix, cid):
    """libcni's FormatChainName: "CNI-" + prefix + hex(sha512(network + id)), 28 bytes."""
    return ("CNI-%s%s" % (prefix, hashlib.sha512((CNI_NET + cid).encode()).hexdigest()))[:28]


def pm_rules(cid, addr, subnet, port, v6, insert=False):
    """iptables-save lines the portmap plugin (containernetworking-plugins 1.1.1) writes for one
    container with one TCP mapping port -> 80 (snat on): checked against the plugin in verify_pm."""
    dn = cni_chain("DN-", cid)
    to = "[%s]:80" % addr if v6 else "%s:80" % addr
    chains = [":%s - [0:0]" % dn]
    rules = ["-A %s -s %s -p tcp -m tcp --dport %d -j CNI-HOSTPORT-SETMARK" % (dn, subnet, port)]
    if not v6:
        rules.append("-A %s -s 127.0.0.1/32 -p tcp -m tcp --dport %d -j CNI-HOSTPORT-SETMARK"
                     % (dn, port))
    rules += ["-A %s -p tcp -m tcp --dport %d -j DNAT --to-destination %s" % (dn, port, to),
              '%s CNI-HOSTPORT-DNAT -p tcp -m comment --comment "dnat name: \\"%s\\" id: \\"%s\\""'
              " -m multiport --dports %d -j %s" % ("-I" if insert else "-A", CNI_NET, cid, port, dn)]
    return chains, rules


def bridge_masq_rules(cid, addr, subnet):
    """What the bridge plugin's ipMasq adds per container (IPv4), as bench.py's CNI background."""
    ch = cni_chain("", cid)
    com = '"name: \\"%s\\" id: \\"%s\\""' % (CNI_NET, cid)
    return [":%s - [0:0]" % ch], [
        "-A POSTROUTING -s %s/32 -m comment --comment %s -j %s" % (addr, com, ch),
        "-A %s -d %s -m comment --comment %s -j ACCEPT" % (ch, subnet, com),
        "-A %s ! -d 224.0.0.0/4 -m comment --comment %s -j MASQUERADE" % (ch, com)]


def pm_conf(cid, mappings, prev):
    return {"cniVersion": "1.0.0", "name": CNI_NET, "type": "portmap", "snat": True,
            "capabilities": {"portMappings": True},
            "runtimeConfig": {"portMappings": [
                {"hostPort": hp, "containerPort": cp, "protocol": pr} for pr, hp, cp in mappings]},
            "prevResult": prev}


def pm_prev(netns_path, addr, addr6):
    ips = [{"address": addr + "/16", "interface": 1}]
    if addr6:
        ips.append({"address": addr6 + "/64", "interface": 1})
    return {"cniVersion": "1.0.0", "interfaces": [{"name": "ve-web"},
                                                  {"name": "eth0", "sandbox": netns_path}],
            "ips": ips}


def pm_call(op, cmd, cid, conf):
    env = dict(os.environ, CNI_COMMAND=cmd, CNI_CONTAINERID=cid, CNI_NETNS="/run/netns/w-pm",
               CNI_IFNAME="eth0", CNI_PATH=CNI)
    (op.run if op else lambda *a, **k: B.run(*a, **k)[:2])(
        [os.path.join(CNI, "portmap")], json.dumps(conf).encode(), env=env)


def iptables_lines(v6):
    out, _, _ = B.run(["ip6tables-save" if v6 else "iptables-save", "-t", "nat"])
    return [l for l in out.decode().split("\n") if l.startswith(("-A", ":"))]


# ---------------------------------------------------------------- worlds

class World:
    def __init__(self, layout):
        self.layout = layout
        # ctnet0: a second ctnet world that never gets a background, measured in the same
        # minutes as ctnet at each level: on a shared machine load drifts between levels, so
        # "ctnet @5,000 vs @0" is taken against it.
        # ctnetnr: ctnet with the raw anti-spoofing chain deleted, for the throughput A/B only.
        self.kind = "ctnet" if layout in ("ctnet0", "ctnetnr", "lobpf") else layout
        self.h, self.u, self.w, self.c = ("%s-%s" % (r, layout) for r in "huwc")
        nocg = os.path.join(SCRATCH, "no-cgroup2")
        os.makedirs(nocg, exist_ok=True)
        self.cgroup = bench_cgroup() if layout == "lobpf" else None
        self.env = dict(os.environ, CTNET_STATE_DIR=os.path.join(SCRATCH, layout, "state"),
                        CTNET_RUN_DIR=os.path.join(SCRATCH, layout, "run"),
                        CTNET_CGROUP=self.cgroup or nocg, CTNET_BPF_DIR="/sys/fs/bpf/ctnet-" + layout)
        self.offset = {}  # connrate tuple offset per client namespace
        self.bg = 0

    def ns_of(self, role):
        return {"h": self.h, "u": self.u, "w": self.w, "c": self.c}[role]

    def build(self):
        for ns in (self.h, self.u, self.w, self.c):
            B.run([IP, "netns", "add", ns])
        B.ip_batch(["link set lo up",
                    "link add up0 type veth peer name eth0 netns %s" % self.u,
                    "addr add %s/24 dev up0" % HOST4,
                    "addr add %s/64 dev up0 nodad" % HOST6, "link set up0 up"], ns=self.h)
        B.ip_batch(["link set lo up"] + ["addr add %s/24 dev eth0" % a for a in UP4] +
                   ["addr add %s/64 dev eth0 nodad" % a for a in UP6] + ["link set eth0 up"] +
                   (["route add 10.233.0.0/16 via %s" % HOST4, "route add fd00:1::/64 via %s" % HOST6]
                    if self.kind == "plain" else []), ns=self.u)
        with inside(self.h):
            sysctl("net.ipv4.ip_forward", 1)
            sysctl("net.ipv6.conf.all.forwarding", 1)
            # Flows of a finished request leave conntrack soon: a tuple reused later (connrate
            # walks 200,000 in order) must be a new flow that walks the NAT rules again.
            if self.kind == "ctnet":
                self.ctnet_up("web", self.w, WEB, ["tcp:%d:80" % PORT, "udp:%d:80" % PORT,
                                                  "tcp:%d:%d" % (IPERF_PORT, IPERF_PORT)])
                self.ctnet_up("cli", self.c, CLI, [])
                if self.layout == "ctnetnr":
                    B.nft_f("flush chain inet ctnet antispoof\ndelete chain inet ctnet antispoof\n")
            else:
                for name, ns, a in (("web", self.w, WEB), ("cli", self.c, CLI)):
                    B.run([NETD, "up", name, "--netns", "/run/netns/" + ns, "--host-address",
                           a["host"], "--local-address", a["local"], "--host-address6", a["host6"],
                           "--local-address6", a["local6"]], env=self.env)
            getattr(self, "rules_" + self.kind)()
            # Flows of a finished request leave conntrack soon: a tuple reused later (connrate
            # walks 200,000 in order) must be a new flow that walks the NAT rules again.
            for k in ("tcp_timeout_close", "tcp_timeout_time_wait", "udp_timeout", "udp_timeout_stream"):
                if os.path.exists("/proc/sys/net/netfilter/nf_conntrack_" + k):
                    sysctl("net.netfilter.nf_conntrack_" + k, 1)
        self.server = start(self.w, [CONNRATE, "serve", "80", "-t", "2"], ready="ready")
        start(self.w, [IPERF3, "-s", "-p", str(IPERF_PORT)])
        start(self.u, [IPERF3, "-s", "-p", str(IPERF_PORT)])

    def ctnet_up(self, name, ns, a, fwds):
        argv = [CTNET, "up", name, "--netns", "/run/netns/" + ns, "--host-address", a["host"],
                "--local-address", a["local"], "--host-address6", a["host6"],
                "--local-address6", a["local6"]]
        for f in fwds:
            argv += ["--forward", f]
        B.run(argv, env=self.env)

    # --- per-layout rules for web and cli (run inside h)
    def rules_ctnet(self):
        pass

    def rules_plain(self):
        pass

    def rules_rule(self):
        B.nft_f("""table ip rulenat {
  chain prerouting { type nat hook prerouting priority dstnat; fib daddr type local jump fwds; }
  chain fwds { }
  chain postrouting { type nat hook postrouting priority srcnat; }
}
table ip6 rulenat6 {
  chain prerouting { type nat hook prerouting priority dstnat; fib daddr type local jump fwds; }
  chain fwds { }
  chain postrouting { type nat hook postrouting priority srcnat; }
}
""")
        B.nft_f("add rule ip rulenat postrouting ip saddr %s masquerade\n" % CLI["local"])
        self.rule_web(add=True)

    def rule_web(self, add):
        """web's rules at the end of the chains, as the newest container's are."""
        if not add:
            for fam, tbl in (("ip", "rulenat"), ("ip6", "rulenat6")):
                for chain in ("fwds", "postrouting"):
                    out, _, _ = B.run([NFT, "-a", "list", "chain", fam, tbl, chain])
                    for l in out.decode().split("\n"):
                        if "# handle " in l and (WEB["local"] in l or WEB["local6"] in l):
                            B.run([NFT, "delete", "rule", fam, tbl, chain, "handle",
                                   l.rsplit("# handle ", 1)[1].strip()])
        B.nft_f("add rule ip rulenat fwds tcp dport %d dnat to %s:80\n"
                "add rule ip rulenat fwds udp dport %d dnat to %s:80\n"
                "add rule ip rulenat fwds tcp dport %d dnat to %s:%d\n"
                "add rule ip rulenat postrouting ip saddr %s masquerade\n"
                "add rule ip6 rulenat6 fwds tcp dport %d dnat to [%s]:80\n"
                "add rule ip6 rulenat6 postrouting ip6 saddr %s masquerade\n"
                % (PORT, WEB["local"], PORT, WEB["local"], IPERF_PORT, WEB["local"], IPERF_PORT,
                   WEB["local"], PORT, WEB["local6"], WEB["local6"]))

    def rules_pm(self):
        self.verify_pm()
        self.pm_web(add=True)
        masq = [bridge_masq_rules(cid, a["local"], "10.233.0.0/16") for cid, a in
                (("web", WEB), ("cli", CLI))]
        B.run(["iptables-restore", "--noflush"],
              ("\n".join(["*nat"] + [l for c, r in masq for l in c] + [l for c, r in masq for l in r]
                         + ["COMMIT", ""])).encode())

    def pm_web(self, add):
        conf = pm_conf("web", [("tcp", PORT, 80), ("udp", PORT, 80), ("tcp", IPERF_PORT, IPERF_PORT)],
                       pm_prev("/run/netns/" + self.w, WEB["local"], WEB["local6"]))
        pm_call(None, "ADD" if add else "DEL", "web", conf)

    def pm_check_last(self):
        """web's jumps are the last of CNI-HOSTPORT-DNAT (IPv4 and IPv6), as the newest's are."""
        for v6 in (False, True):
            jumps = [l for l in iptables_lines(v6) if l.startswith("-A CNI-HOSTPORT-DNAT ")]
            if not jumps or 'id: \\"web\\"' not in jumps[-1]:
                raise B.BenchError("portmap: web's jump is not the last of CNI-HOSTPORT-DNAT: %r"
                                   % jumps[-1:])

    def verify_pm(self):
        """The generated background equals what the plugin writes: one probe container through
        the real plugin (IPv4 and IPv6), its rules compared line by line with pm_rules()."""
        cid, a4, a6, port = "pmprobe", "10.100.0.2", "fd00:100::2", 19999
        conf = pm_conf(cid, [("tcp", port, 80)], pm_prev("/run/netns/" + self.w, a4, a6))
        before = {v6: set(iptables_lines(v6)) for v6 in (False, True)}
        pm_call(None, "ADD", cid, conf)
        for v6, addr, sub in ((False, a4, "10.100.0.0/16"), (True, a6, "fd00:100::/64")):
            got = set(iptables_lines(v6)) - before[v6]
            chains, rules = pm_rules(cid, addr, sub, port, v6)
            want = set(chains + rules)
            # the plugin's first ADD also creates the CNI-HOSTPORT-* chains and the jumps to them
            got = {l for l in got if cni_chain("DN-", cid) in l or ("id: \\\"%s\\\"" % cid) in l}
            if got != want:
                raise B.BenchError("generated portmap rules differ from the plugin's (%s): only "
                                   "plugin %s; only generated %s" % ("IPv6" if v6 else "IPv4",
                                                                     sorted(got - want),
                                                                     sorted(want - got)))
        pm_call(None, "DEL", cid, conf)
        self.pm_verified = True

    # --- background: n other containers, one TCP forward each (IPv4 and IPv6)
    def add_background(self, hi, jobs):
        lo, self.bg = self.bg, hi
        if hi <= lo or self.kind == "plain" or self.layout in ("ctnet0", "ctnetnr"):
            return
        with inside(self.h):
            if self.kind == "ctnet":
                # The records `ctnet-nat add` would write (nat/store.c's format, as bench/nat.sh
                # does), loaded by one `ctnet-nat restore`; `check` then proves the kernel's
                # table equals the records. (5,000 `ctnet-nat add` processes take minutes.)
                d = os.path.join(self.env["CTNET_STATE_DIR"], "nat")
                for i in range(lo, hi):
                    with open(os.path.join(d, "containers", "bg%d" % i), "w") as f:
                        f.write("ADDRESS=%s\nADDRESS6=%s\nIFACE=vbg%d\nFORWARD=tcp:%d:80\n"
                                % (bg_addr(i), bg_addr6(i), i, 20000 + i))
                    os.symlink("bg%d" % i, os.path.join(d, "ports", "tcp-%d" % (20000 + i)))
                B.run([NAT, "restore"], env=self.env)
                B.run([NAT, "check"], env=self.env)
            elif self.kind == "rule":
                lines = []
                for i in range(lo, hi):
                    lines += ["add rule ip rulenat fwds tcp dport %d dnat to %s:80" % (20000 + i, bg_addr(i)),
                              "add rule ip rulenat postrouting ip saddr %s masquerade" % bg_addr(i),
                              "add rule ip6 rulenat6 fwds tcp dport %d dnat to [%s]:80" % (20000 + i, bg_addr6(i)),
                              "add rule ip6 rulenat6 postrouting ip6 saddr %s masquerade" % bg_addr6(i)]
                B.nft_f("\n".join(lines) + "\n")
                self.rule_web(add=False)
            elif self.kind == "pm":
                for v6 in (False, True):
                    ch, ru = [], []
                    for i in range(lo, hi):
                        # -I: before web's jumps, which stay last as the newest container's
                        c, r = pm_rules("bg%d" % i, bg_addr6(i) if v6 else bg_addr(i),
                                        "fd00:100::/64" if v6 else "10.100.0.0/16", 20000 + i, v6,
                                        insert=True)
                        ch += c
                        ru += r
                        if not v6:
                            c, r = bridge_masq_rules("bg%d" % i, bg_addr(i), "10.100.0.0/16")
                            ch += c
                            ru += r
                    B.run(["ip6tables-restore" if v6 else "iptables-restore", "--noflush"],
                          ("\n".join(["*nat"] + ch + ru + ["COMMIT", ""])).encode())
                self.pm_check_last()

    # --- measurements
    def connrate_job(self, path, seconds, threads):
        """(namespace, argv, parse): one connrate cell; parse(stdout, rc) -> its JSON."""
        role, dest, srcs, proto = PATHS[path]
        if self.kind == "plain":
            dest, port = (WEB["local6"] if path.endswith("6") else WEB["local"]), 80
        else:
            port = PORT
        ns = self.ns_of(role)
        argv = [CONNRATE, proto, dest, str(port), "-t", str(threads), "-s", str(seconds),
                "-b", ",".join(srcs), "-o", str(self.offset.get(ns, 0))]
        if self.cgroup:  # the client in the cgroup the programs are attached to
            # The source an unbound socket gets once its destination is the container (a
            # socket bound to 127.0.0.1 itself could not leave the host: see ctnet-nat(8)).
            src = WEB["host6"] if path == "localhost6" else WEB["host"]
            argv[argv.index("-b") + 1] = src
            argv = ["sh", "-c", 'echo $$ >"$0/cgroup.procs" && exec "$@"', self.cgroup] + argv

        srv0 = task_cpu_ns(self.server.pid)

        def parse(out, rc):
            try:
                r = json.loads(out)
            except ValueError:
                raise B.BenchError("connrate %s %s:%d in %s: exit %d, %r" % (proto, dest, port, ns, rc, out))
            self.offset[ns] = r["next_offset"]
            # CPU per request, client and server: robust where rates are not (a shared
            # machine gives a cell more or less CPU; a request costs what it costs).
            r["server_cpu_s"] = (task_cpu_ns(self.server.pid) - srv0) / 1e9
            r["cpu_us_per_req"] = (r["cpu_s"] + r["server_cpu_s"]) * 1e6 / r["ok"] if r["ok"] else None
            return r
        return ns, argv, parse

    def connrate(self, path, seconds, threads):
        return together([self.connrate_job(path, seconds, threads)])[0]

    def iperf_job(self, direction, seconds):
        """direction out: web -> upstream (masquerade); in: upstream -> web (a forward)."""
        if direction == "out":
            ns, dest = self.w, UP4[0]
        else:
            ns, dest = self.u, WEB["local"] if self.kind == "plain" else HOST4
        argv = [IPERF3, "-c", dest, "-p", str(IPERF_PORT), "-t", str(seconds), "-O", "1", "-J"]

        def parse(out, rc):
            try:
                e = json.loads(out)["end"]
                rx, cpu = e["sum_received"], e["cpu_utilization_percent"]
                # sender + receiver CPU (iperf3's getrusage over the test) per KiB moved
                cpu_s = (cpu["host_total"] + cpu["remote_total"]) / 100 * rx["seconds"]
                return {"bps": rx["bits_per_second"], "cpu_ns_per_kib": cpu_s * 1e9 / (rx["bytes"] / 1024)}
            except (ValueError, KeyError, ZeroDivisionError):
                raise B.BenchError("iperf3 %s in %s: exit %d: %s" % (dest, ns, rc, out[-400:]))
        return ns, argv, parse

    def iperf(self, direction, seconds):
        return together([self.iperf_job(direction, seconds)])[0]

    def forward_add(self, k):
        """Adds one more forward (host port 40000+k); returns the Op (timed), then removes it."""
        port = 40000 + k
        op = B.Op()
        with inside(self.h):
            if self.kind == "ctnet":
                with op:
                    op.run([NAT, "forward", "add", "web", "tcp:%d:80" % port], env=self.env)
                B.run([NAT, "forward", "del", "web", "tcp:%d:80" % port], env=self.env)
            elif self.kind == "rule":
                with op:
                    op.run([NFT, "add", "rule", "ip", "rulenat", "fwds", "tcp", "dport", str(port),
                            "dnat", "to", "%s:80" % WEB["local"]])
                out, _, _ = B.run([NFT, "-a", "list", "chain", "ip", "rulenat", "fwds"])
                for l in out.decode().split("\n"):
                    if "dport %d " % port in l and "# handle " in l:
                        B.run([NFT, "delete", "rule", "ip", "rulenat", "fwds", "handle",
                               l.rsplit("# handle ", 1)[1].strip()])
            elif self.kind == "pm":
                cid = "fa%d" % k
                conf = pm_conf(cid, [("tcp", port, 80)],
                               pm_prev("/run/netns/" + self.w, WEB["local"], WEB["local6"]))
                with op:
                    pm_call(op, "ADD", cid, conf)
                pm_call(None, "DEL", cid, conf)
        return op


def task_cpu_ns(pid):
    """CPU time of every thread of pid so far, ns (schedstat: exact, softirqs in context)."""
    total = 0
    for t in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/schedstat" % (pid, t)) as f:
            total += int(f.read().split()[0])
    return total


def together(jobs):
    """Runs (namespace, argv, parse) jobs at the same time; returns what each parse returned.
    Side by side, two layouts share whatever the rest of the machine leaves them: the ratio of
    their rates is the ratio of their costs, however the load drifts."""
    procs = []
    for ns, argv, _ in jobs:
        with inside(ns):
            procs.append(subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL))
    outs = [p.communicate()[0] for p in procs]
    return [parse(out, p.returncode) for (_, _, parse), p, out in zip(jobs, procs, outs)]


def twin_idle(w, level):
    """At level 0 the twin is the same as ctnet: not measured twice."""
    return w.layout == "ctnet0" and level == 0


def bg_addr(i):
    return "10.%d.%d.%d" % (100 + i // 62500, (i // 250) % 250, i % 250 + 2)


def bg_addr6(i):
    return "fd00:100::%x" % (i + 2)


# ---------------------------------------------------------------- the run

def stats(xs):
    m = B.median(xs)
    return {"median": m, "min": min(xs), "max": max(xs), "spread": (max(xs) - min(xs)) / m if m else None,
            "samples": xs}


def main():
    ap = argparse.ArgumentParser(prog="bench/run.sh --part dataplane", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="levels 0,1000, 3 repetitions, 0.4 s windows")
    ap.add_argument("--dp-levels", help="other forwards present, default 0,1000,5000 (--quick 0,1000)")
    ap.add_argument("--dp-reps", type=int, help="repetitions per cell (default 5, --quick 3)")
    ap.add_argument("--dp-window", type=float, help="seconds per conn/s cell (default 0.5, --quick 0.4)")
    ap.add_argument("--dp-threads", type=int, default=4, help="connrate client threads")
    ap.add_argument("--dp-iperf", type=int, help="iperf3 seconds per cell after 1 s omitted "
                    "(default 3, --quick 2)")
    ap.add_argument("--dp-tp-reps", type=int, help="iperf3 side-by-side repetitions (default 5, --quick 2; the first 3 (2) also alone)")
    ap.add_argument("--dp-fwd-samples", type=int, help="forward adds per layout and level (default 10)")
    ap.add_argument("--dp-only", help="layouts, comma-separated: ctnet,pm,rule,plain")
    ap.add_argument("--output", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                     "results.json"))
    args, _ = ap.parse_known_args()
    if not SCRATCH or os.environ.get("CTNET_BENCH_SANDBOX") != "dataplane":
        print("dataplane: run me through bench/run.sh (it builds the sandbox)", file=sys.stderr)
        return 2
    levels = [int(x) for x in (args.dp_levels or ("0,1000" if args.quick else "0,1000,5000")).split(",")]
    reps = args.dp_reps or (3 if args.quick else 5)
    window = args.dp_window or (0.4 if args.quick else 0.5)
    iperf_s = args.dp_iperf or (2 if args.quick else 3)
    tp_reps = args.dp_tp_reps or (2 if args.quick else 5)
    tp_alone = min(tp_reps, 2 if args.quick else 3)  # alone cells; side by side every repetition
    fwd_n = args.dp_fwd_samples or (5 if args.quick else 10)
    names = args.dp_only.split(",") if args.dp_only else list(LAYOUTS)
    for x in (CONNRATE, NAT, NETD, CTNET):
        if not os.access(x, os.X_OK):
            print("dataplane: %s not built (make bench builds it)" % x, file=sys.stderr)
            return 1
    skipped = {}
    if not os.access(IPERF3, os.X_OK):
        skipped["throughput"] = "iperf3 missing (tools/deps.sh)"
    if "pm" in names and not os.access(os.path.join(CNI, "portmap"), os.X_OK):
        skipped["pm"] = "CNI portmap plugin missing (containernetworking-plugins)"
        names.remove("pm")
    if "lobpf" in names and not bench_cgroup():
        skipped["lobpf"] = "no cgroup v2 mount (loopback forwards by BPF need one)"
        names.remove("lobpf")
    for n in names:
        if n not in LAYOUTS:
            print("dataplane: unknown layout %s" % n, file=sys.stderr)
            return 2
    t_start = time.monotonic()
    print("dataplane: layouts %s, levels %s, %d repetitions, %.1f s per conn/s cell, %d client "
          "threads, iperf3 %d s" % (",".join(names), levels, reps, window, args.dp_threads, iperf_s),
          flush=True)
    worlds = [World(n) for n in names]
    res = {"levels": levels, "reps": reps, "tp_reps": tp_reps, "tp_alone": tp_alone, "iperf_s": iperf_s, "window_s": window, "threads": args.dp_threads,
           "layouts": {n: LAYOUTS[n] for n in names}, "skipped": skipped, "connrate": {},
           "throughput_bps": {}, "forward_add_ns": {},
           "side_by_side": {"connrate": {}, "throughput_bps": {}}, "cpu_us_per_req": {},
           "tp_cpu_ns_per_kib": {}, "errors": {}, "background_s": {}}
    try:
        for w in worlds:
            w.build()
        # Check every path works before timing anything: a short run must answer without errors.
        for w in worlds:
            for p in SUPPORTS[w.layout]:
                r = None
                for _ in range(30):  # IPv6 addresses and routes may need a moment
                    r = w.connrate(p, 0.2, 1)
                    if r["ok"] > 0 and r["errors"] == 0:
                        break
                    time.sleep(0.1)
                if not (r["ok"] > 0 and r["errors"] == 0):
                    raise B.BenchError("%s %s: the path does not work: %r" % (w.layout, p, r))
        print("dataplane: checked with traffic: every layout's paths answer (%s)"
              % ", ".join("%s: %s" % (w.layout, "/".join(SUPPORTS[w.layout])) for w in worlds),
              flush=True)
        for level in levels:
            t0 = time.monotonic()
            for w in worlds:
                w.add_background(level, 2)
            res["background_s"][str(level)] = time.monotonic() - t0
            print("dataplane: %d other forwards present (made in %.1f s)" % (level, time.monotonic() - t0),
                  flush=True)
            time.sleep(0.5)
            for w in worlds:  # after the background: web's forward still answers
                for p in SUPPORTS[w.layout]:
                    r = w.connrate(p, 0.1, 1)
                    if r["ok"] == 0:
                        raise B.BenchError("%s %s @%d: no answer: %r" % (w.layout, p, level, r))
            t0 = time.monotonic()
            twin = next((w for w in worlds if w.layout == "ctnet0" and not twin_idle(w, level)), None)
            ctw = next((w for w in worlds if w.layout == "ctnet"), None)
            for rep in range(reps):
                for p in PATHS:
                    ws = [w for w in worlds if p in SUPPORTS[w.layout] and w.layout not in ("ctnet0", "ctnetnr")]
                    k = rep % len(ws)
                    for w in ws[k:] + ws[:k]:
                        B.quiesce(limit=0.2)
                        r = w.connrate(p, window, args.dp_threads)
                        res["connrate"].setdefault(w.layout, {}).setdefault(p, {}).setdefault(
                            str(level), []).append(r["per_s"])
                        res["errors"].setdefault(w.layout, {}).setdefault(p, {}).setdefault(
                            str(level), []).append(r["errors"])
                        res["cpu_us_per_req"].setdefault(w.layout, {}).setdefault(p, {}).setdefault(
                            str(level), []).append(r["cpu_us_per_req"])
                    if twin and ctw and p in TWIN_PATHS:
                        # ctnet with N others and ctnet with none, side by side, start order rotated
                        pair = [ctw, twin][rep % 2:] + [ctw, twin][:rep % 2]
                        B.quiesce(limit=0.2)
                        rs = together([w.connrate_job(p, window, args.dp_threads) for w in pair])
                        by = {w.layout: r for w, r in zip(pair, rs)}
                        res["side_by_side"]["connrate"].setdefault(p, {}).setdefault(
                            str(level), []).append([by["ctnet"]["per_s"], by["ctnet0"]["per_s"]])
                        res["errors"].setdefault("side_by_side", {}).setdefault(p, {}).setdefault(
                            str(level), []).append(by["ctnet"]["errors"] + by["ctnet0"]["errors"])
            t1 = time.monotonic()
            if "throughput" not in skipped and level == levels[-1]:
                tw = [w for w in worlds if w.layout in ("ctnet", "ctnetnr", "plain")]
                for rep in range(tp_reps):
                    for d in ("out", "in"):
                        k = rep % len(tw)
                        order = tw[k:] + tw[:k]
                        if rep < tp_alone:
                            for w in order:
                                B.quiesce(limit=0.2)
                                t = w.iperf(d, iperf_s)
                                res["throughput_bps"].setdefault(w.layout, {}).setdefault(
                                    d, {}).setdefault(str(level), []).append(t["bps"])
                                res["tp_cpu_ns_per_kib"].setdefault(w.layout, {}).setdefault(
                                    d, {}).setdefault(str(level), []).append(t["cpu_ns_per_kib"])
                        if len(tw) > 1:
                            B.quiesce(limit=0.2)
                            bs = {w.layout: t["bps"] for w, t in
                                  zip(order, together([w.iperf_job(d, iperf_s) for w in order]))}
                            res["side_by_side"]["throughput_bps"].setdefault(d, {}).setdefault(
                                str(level), []).append(bs)
            t2 = time.monotonic()
            fw = [w for w in worlds if w.kind in ("ctnet", "rule", "pm") and w.layout != "ctnetnr"]
            for i in range(fwd_n):
                for w in fw:
                    if twin_idle(w, level):
                        continue
                    if w.kind == "pm" and i >= (1 if args.quick else 3):
                        continue  # the plugin takes seconds at 5,000: fewer samples
                    op = w.forward_add(i)
                    res["forward_add_ns"].setdefault(w.layout, {}).setdefault(str(level), []).append(op.ns)
            print("dataplane: level %d measured in %.1f s (conn/s %.1f s, throughput %.1f s, forward "
                  "add %.1f s)" % (level, time.monotonic() - t0, t1 - t0, t2 - t1, time.monotonic() - t2),
                  flush=True)
    finally:
        stop_all()
    res["wall_s"] = time.monotonic() - t_start
    report(res, [w.layout for w in worlds])
    save(res, args.output)
    print("dataplane: results in %s (key \"dataplane\"); total %.0f s" % (args.output, res["wall_s"]))
    return 0


def save(res, path):
    """Into results.json beside the setup part's results of the same run (BENCH_RUN_ID)."""
    doc = {}
    rid = os.environ.get("BENCH_RUN_ID")
    try:
        with open(path) as f:
            old = json.load(f)
        if rid and old.get("run_id") == rid:
            doc = old
    except (OSError, ValueError):
        pass
    doc["run_id"] = rid
    doc["dataplane"] = res
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)


def report(res, layouts):
    levels = [str(l) for l in res["levels"]]
    cr = res["connrate"]
    print()
    print("Data plane: new flows per second (median of %d, [min-max]), %.1f s windows, %d client "
          "threads; columns = other forwards present" % (res["reps"], res["window_s"], res["threads"]))
    print("%-44s" % "path / layout" + "".join("%24s" % ("N=" + l) for l in levels))
    for p in PATHS:
        print(PATH_LABEL[p])
        for lay in layouts:
            if p not in cr.get(lay, {}):
                continue
            row = "  %-42s" % LAYOUTS[lay]
            for l in levels:
                xs = cr[lay][p].get(l)
                row += "%24s" % ("%.0f [%.0f-%.0f]" % (B.median(xs), min(xs), max(xs)) if xs else "-")
            print(row)
    cpu = res["cpu_us_per_req"]
    print()
    print("CPU per request, client + server, us (median [min-max]; exact CPU time, softirq work "
          "in context): what a flow costs, whatever share of the machine a cell got")
    for p in PATHS:
        print(PATH_LABEL[p].replace(" conn/s", "").replace(" req/s", "").replace(" ,", ","))
        for lay in layouts:
            if p not in cpu.get(lay, {}):
                continue
            row = "  %-42s" % LAYOUTS[lay]
            for l in levels:
                xs = [x for x in cpu[lay][p].get(l, []) if x]
                row += "%24s" % ("%.1f [%.1f-%.1f]" % (B.median(xs), min(xs), max(xs)) if xs else "-")
            print(row)
    errs = sum(e for lay in res["errors"].values() for p in lay.values() for l in p.values() for e in l)
    print("failed requests (timeouts, resets) over all cells: %d" % errs)
    tp = res["throughput_bps"]
    if tp:
        print()
        print("Bulk TCP throughput, iperf3 %d s, alone, Gbit/s (median of %d, [min-max])"
              % (res["iperf_s"], res["tp_alone"]))
        for d, label in (("out", "container -> upstream (masquerade)"),
                         ("in", "upstream -> container (forward)")):
            for lay in ("plain", "ctnet", "ctnetnr"):
                per = tp.get(lay, {}).get(d, {})
                if per:
                    print("  %-40s %-10s" % (label, lay) + "".join(
                        "  N=%s: %.2f [%.2f-%.2f]" % (l, B.median(xs) / 1e9, min(xs) / 1e9, max(xs) / 1e9)
                        for l, xs in per.items()))
        tc = res["tp_cpu_ns_per_kib"]
        print("  CPU (sender + receiver) per KiB, ns: " + "; ".join(
            "%s %s %s" % (d, lay, " ".join("@%s %.0f" % (l, B.median(xs)) for l, xs in tc[lay][d].items()))
            for d in ("out", "in") for lay in ("plain", "ctnet", "ctnetnr") if d in tc.get(lay, {})))
    fa = res["forward_add_ns"]
    if fa:
        print()
        print("Adding one forward, ms (median [min-max]): " + "; ".join(
            "%s %s" % (lay, " ".join("@%s %.2f [%.2f-%.2f]" % (l, B.median(xs) / 1e6, min(xs) / 1e6,
                                                             max(xs) / 1e6) for l, xs in per.items()))
            for lay, per in fa.items()))
    print()
    ratios, targets = {}, []
    lo, hi = levels[0], levels[-1]

    def med(d, *keys):
        for k in keys:
            d = d.get(k) if isinstance(d, dict) else None
            if d is None:
                return None
        return B.median(d) if d else None

    if hi != lo:
        for lay in layouts:
            for p in PATHS:
                a, b = med(cr, lay, p, hi), med(cr, lay, p, lo)
                if a and b:
                    ratios["%s %s conn/s @%s/@%s" % (lay, p, hi, lo)] = a / b
            a, b = med(fa, lay, hi), med(fa, lay, lo)
            if a and b:
                ratios["%s forward add @%s/@%s" % (lay, hi, lo)] = a / b
    if hi != lo:
        for lay in layouts:
            for p in PATHS:
                a = med({k: [x for x in v if x] for k, v in cpu.get(lay, {}).get(p, {}).items()}, hi)
                b = med({k: [x for x in v if x] for k, v in cpu.get(lay, {}).get(p, {}).items()}, lo)
                if a and b:
                    ratios["%s %s CPU per request @%s/@%s" % (lay, p, hi, lo)] = a / b
    for l in levels:
        for d in ("out", "in"):
            c, pl = med(res["tp_cpu_ns_per_kib"], "ctnet", d, l), med(res["tp_cpu_ns_per_kib"], "plain", d, l)
            if c and pl:
                ratios["ctnet/plain CPU per KiB %s @%s" % (d, l)] = c / pl
            c, nr = c, med(res["tp_cpu_ns_per_kib"], "ctnetnr", d, l)
            if c and nr:
                ratios["ctnet/ctnetnr CPU per KiB %s @%s" % (d, l)] = c / nr
        # Loopback forwards: by socket (BPF) against the output-hook DNAT.
        c, o = med(cr, "lobpf", "localhost4", l), med(cr, "ctnet", "localhost4", l)
        if c and o:
            ratios["lobpf/ctnet localhost4 conn/s @%s" % l] = c / o
        c = med({k: [x for x in v if x] for k, v in cpu.get("lobpf", {}).get("localhost4", {}).items()}, l)
        o = med({k: [x for x in v if x] for k, v in cpu.get("ctnet", {}).get("localhost4", {}).items()}, l)
        if c and o:
            ratios["lobpf/ctnet localhost4 CPU per request @%s" % l] = c / o
        for p in PATHS:
            c = med(cr, "ctnet", p, l)
            for lay in ("pm", "rule"):
                o = med(cr, lay, p, l)
                if c and o:
                    ratios["ctnet/%s %s conn/s @%s" % (lay, p, l)] = c / o
        for d in ("out", "in"):
            c, pl = med(tp, "ctnet", d, l), med(tp, "plain", d, l)
            if c and pl:
                ratios["ctnet/plain throughput %s @%s" % (d, l)] = c / pl
    for k, v in ratios.items():
        print("ratio %s: %.2f" % (k, v))
    print()

    def target(desc, value, ok):
        if value is None:
            return
        targets.append({"target": desc, "value": value, "met": bool(ok)})
        print("target %-58s %8.2f  %s" % (desc + ":", value, "met" if ok else "MISSED"))

    sbs = res["side_by_side"]

    def pair_ratio(pairs):
        return B.median([x / y for x, y in pairs if y]) if pairs else None

    if sbs["connrate"] or sbs["throughput_bps"]:
        print("Side by side (both at the same time, start order alternated; median of the "
              "per-repetition ratios [min-max]):")
    for p, per in sbs["connrate"].items():
        for l, pairs in per.items():
            rs = [x / y for x, y in pairs]
            ratios["side by side ctnet/ctnet0 %s conn/s @%s" % (p, l)] = B.median(rs)
            print("  %-52s %.2f [%.2f-%.2f]  (%.0f vs %.0f /s)" % (
                "ctnet @%s / ctnet with none, %s" % (l, p), B.median(rs), min(rs), max(rs),
                B.median([x for x, _ in pairs]), B.median([y for _, y in pairs])))
    for d, per in sbs["throughput_bps"].items():
        for l, runs in per.items():
            for a, b in (("ctnet", "plain"), ("ctnetnr", "plain"), ("ctnet", "ctnetnr")):
                rs = [r[a] / r[b] for r in runs if a in r and b in r]
                if not rs:
                    continue
                ratios["side by side %s/%s throughput %s @%s" % (a, b, d, l)] = B.median(rs)
                print("  %-52s %.3f [%.3f-%.3f]  (%.2f vs %.2f Gbit/s)" % (
                    "%s / %s, throughput %s @%s" % (a, b, d, l), B.median(rs), min(rs), max(rs),
                    B.median([r[a] for r in runs]) / 1e9, B.median([r[b] for r in runs]) / 1e9))
    a, b = med(fa, "ctnet", hi), med(fa, "ctnet0", hi)
    if a and b and hi != lo:
        ratios["ctnet/ctnet0 forward add @%s" % hi] = a / b
        print("ratio ctnet/ctnet0 forward add @%s: %.2f" % (hi, a / b))
    print()
    if hi != lo:
        # Side by side with the twin when it ran (the same seconds), else across levels.
        for p in TWIN_PATHS:
            v = ratios.get("side by side ctnet/ctnet0 %s conn/s @%s" % (p, hi),
                           ratios.get("ctnet %s conn/s @%s/@%s" % (p, hi, lo)))
            target("ctnet %s conn/s @%s >= 0.9x @%s" % (p, hi, lo), v, v is not None and v >= 0.9)
        for p in TWIN_PATHS:
            v = ratios.get("ctnet %s CPU per request @%s/@%s" % (p, hi, lo))
            target("ctnet %s CPU per request @%s <= 1.11x @%s (= rate 0.9x)" % (p, hi, lo), v,
                   v is not None and v <= 1 / 0.9)
        v = ratios.get("ctnet forward add @%s/@%s" % (hi, lo))
        target("ctnet forward add @%s <= 1.25x @%s" % (hi, lo), v, v is not None and v <= 1.25)
        v = ratios.get("ctnet/ctnet0 forward add @%s" % hi)
        target("ctnet forward add @%s <= 1.25x ctnet0's (same minutes)" % hi, v,
               v is not None and v <= 1.25)
    for d in ("out", "in"):
        for l in levels:
            v = ratios.get("side by side ctnet/plain throughput %s @%s" % (d, l),
                           ratios.get("ctnet/plain throughput %s @%s" % (d, l)))
            if v is not None:
                ov = (1 - v) * 100
                target("ctnet per-packet overhead %s @%s <= 5%% (%%)" % (d, l), ov, ov <= 5)
            v = ratios.get("side by side ctnet/ctnetnr throughput %s @%s" % (d, l))
            if v is not None:
                ov = (1 - v) * 100
                target("  of it anti-spoofing (ctnet vs without the chain) %s (%%)" % d, ov, ov <= 5)
            v = ratios.get("ctnet/plain CPU per KiB %s @%s" % (d, l))
            if v is not None:
                ov = (v - 1) * 100
                target("ctnet CPU per byte %s @%s <= plain + 5%% (%%)" % (d, l), ov, ov <= 5)
    res["ratios"] = ratios
    res["targets"] = targets


if __name__ == "__main__":
    try:
        sys.exit(main())
    except B.BenchError as e:
        stop_all()
        print("dataplane: %s" % e, file=sys.stderr)
        sys.exit(1)
