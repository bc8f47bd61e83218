#!/usr/bin/env bash
# ctnet-cni vs Debian's bridge + host-local + portmap plugins, both called as a CNI runtime
# calls them (environment + config on stdin, one process per plugin call, portmap chained with
# prevResult, DEL in reverse), each with one port mapping: wall time of ADD and of DEL per
# container (median and p90 over ITERATIONS containers, interleaved so both see the same
# machine). Reports, does not assert.
#   bench/cni.sh [ITERATIONS]      (CTNET_BIN: build dir, default build/)
# Re-executes itself under `unshare -m -n`: its own netns is the host, /run/netns and all
# state are private tmpfs mounts; the root network namespace is never touched.
set -eu
: "${CTNET_BIN:=$(cd "$(dirname "$0")/.." && pwd)/build}"
export CTNET_BIN ITER=${1:-50}

if [ -z "${CTNET_BENCH_SANDBOX:-}" ]; then
	[ "$(id -u)" -eq 0 ] || { echo "bench/cni.sh: needs root (unshare -n, veth, nft)" >&2; exit 1; }
	for p in bridge host-local portmap; do
		[ -x /usr/lib/cni/$p ] || { echo "bench/cni.sh: /usr/lib/cni/$p missing (containernetworking-plugins)" >&2; exit 1; }
	done
	command -v iptables >/dev/null || { echo "bench/cni.sh: iptables missing (tools/deps.sh)" >&2; exit 1; }
	export CTNET_BENCH_SANDBOX=1
	exec unshare -m -n --propagation private -- bash "$0" "$@"
fi
scratch=$(mktemp -d /tmp/ctnet-bench-cni.XXXXXX)
mount -t tmpfs -o mode=0755 tmpfs "$scratch"
# Loopback forwards by BPF: never on the machine's cgroups nor in its bpffs (a private
# bpffs; a CTNET_CGROUP that is no cgroup v2: the output-hook path).
mount -t bpf -o mode=0700 bpf /sys/fs/bpf 2>/dev/null || true
mkdir -p "$scratch/no-cgroup2"
export CTNET_CGROUP=$scratch/no-cgroup2
mkdir -p /run/netns
mount -t tmpfs -o mode=0755 tmpfs /run/netns
trap 'for n in /run/netns/*; do umount "$n" 2>/dev/null; done; umount /run/netns; umount "$scratch"; rmdir "$scratch"' EXIT
export CTNET_STATE_DIR=$scratch/state CTNET_RUN_DIR=$scratch/run CTNET_NIXOS_CONF_DIR=$scratch/nixos
export SCRATCH=$scratch
ip link set lo up

python3 - <<'PY'
import json, os, statistics, subprocess, time
ITER, SCRATCH = int(os.environ["ITER"]), os.environ["SCRATCH"]
CTNET_CNI = os.path.join(os.environ["CTNET_BIN"], "ctnet-cni")
DEB = "/usr/lib/cni"

def call(binary, cmd, cid, nspath, conf):
    env = dict(os.environ, CNI_COMMAND=cmd, CNI_CONTAINERID=cid, CNI_NETNS=nspath,
               CNI_IFNAME="eth0", CNI_PATH=DEB)
    r = subprocess.run([binary], input=json.dumps(conf).encode(), env=env, capture_output=True)
    if r.returncode:
        raise SystemExit("%s %s failed: %s %s" % (binary, cmd, r.stdout.decode(), r.stderr.decode()))
    return json.loads(r.stdout) if r.stdout.strip() else None

def ports(i):
    return {"portMappings": [{"hostPort": 20000 + i, "containerPort": 80, "protocol": "tcp"}]}

def ctnet_add(i, cid, ns):
    conf = {"cniVersion": "1.0.0", "name": "ctnet", "type": "ctnet-cni", "ipMasq": True,
            "runtimeConfig": ports(i)}
    return call(CTNET_CNI, "ADD", cid, ns, conf)

def ctnet_del(i, cid, ns, res):
    conf = {"cniVersion": "1.0.0", "name": "ctnet", "type": "ctnet-cni", "ipMasq": True,
            "runtimeConfig": ports(i), "prevResult": res}
    call(CTNET_CNI, "DEL", cid, ns, conf)

BR = {"cniVersion": "1.0.0", "name": "debnet", "type": "bridge", "bridge": "cni0",
      "isGateway": True, "ipMasq": True,
      "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.242.0.0/16"}]],
               "routes": [{"dst": "0.0.0.0/0"}], "dataDir": os.path.join(SCRATCH, "host-local")}}

def pm(i, prev):
    return {"cniVersion": "1.0.0", "name": "debnet", "type": "portmap", "snat": True,
            "capabilities": {"portMappings": True}, "runtimeConfig": ports(i), "prevResult": prev}

def deb_add(i, cid, ns):
    res = call(os.path.join(DEB, "bridge"), "ADD", cid, ns, BR)
    return call(os.path.join(DEB, "portmap"), "ADD", cid, ns, pm(i, res))

def deb_del(i, cid, ns, res):
    call(os.path.join(DEB, "portmap"), "DEL", cid, ns, pm(i, res))
    call(os.path.join(DEB, "bridge"), "DEL", cid, ns, dict(BR, prevResult=res))

approaches = [("ctnet-cni", ctnet_add, ctnet_del),
              ("bridge+host-local+portmap", deb_add, deb_del)]
times = {n: {"ADD": [], "DEL": []} for n, _, _ in approaches}
for i in range(-1, ITER):  # i = -1: untimed warm-up (tables, cni0, page cache)
    for n, add, dele in approaches:
        cid = "%s%d" % (n.split("+")[0].replace("-", ""), i + 1)
        subprocess.run(["ip", "netns", "add", cid], check=True)
        ns = "/run/netns/" + cid
        t0 = time.perf_counter(); res = add(i + 1, cid, ns); t1 = time.perf_counter()
        dele(i + 1, cid, ns, res); t2 = time.perf_counter()
        subprocess.run(["ip", "netns", "del", cid], check=True)
        if i >= 0:
            times[n]["ADD"].append((t1 - t0) * 1000)
            times[n]["DEL"].append((t2 - t1) * 1000)

def q(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(p * len(v)))]

print("ADD/DEL wall time per container, %d containers each, one port mapping, ms" % ITER)
print("%-28s %9s %9s %9s %9s %9s" % ("", "ADD med", "ADD p90", "DEL med", "DEL p90", "ADD+DEL"))
med = {}
for n, _, _ in approaches:
    a, d = times[n]["ADD"], times[n]["DEL"]
    med[n] = statistics.median(a) + statistics.median(d)
    print("%-28s %9.2f %9.2f %9.2f %9.2f %9.2f" % (n, statistics.median(a), q(a, 0.9),
          statistics.median(d), q(d, 0.9), med[n]))
c, b = med["ctnet-cni"], med["bridge+host-local+portmap"]
print("ratio (Debian plugins / ctnet-cni), ADD+DEL medians: %.1fx" % (b / c))
PY
