#!/usr/bin/env bash
# Containers brought up at the same moment, as a runtime does at boot, and apply's teardown at
# scale (reports, does not assert):
#   1. bursts of B containers (default 30 and 100) started together, each one process chain:
#      ctnet      `ctnet up bI --create-netns --forward tcp:PORT:80`
#      cni        `ip netns add`, then Debian's /usr/lib/cni bridge (host-local) ADD and portmap
#                 ADD with its prevResult, as a runtime calls them (bench/cni.sh); no lock
#      netavark   `ip netns add`, then Debian's `netavark setup NETNS` with podman's network
#                 options JSON on stdin (static IPs, as podman's in-process IPAM passes them),
#                 under one flock, as podman holds its network lock across each netavark call
#      per-container wall time (p50, p99, max) and the burst's total wall time; all three in
#      the same sandbox, in a rotated order per burst, each torn down (untimed) before the
#      next; every container pinged, and one forward per burst checked with traffic.
#   2. `ctnet apply DIR` of N nixos-container .conf files (default 1,000), then `ctnet apply`
#      of an empty DIR: both times and remove / bring-up. Each apply under `timeout 600`.
# bench/burst.sh [--quick] [--bursts 30,100] [--n N] [--only ctnet,cni,netavark]
#   --quick: bursts 10,30 and N=200. Results: bench/burst-results.json.
# Like bench/apply.sh it re-executes itself under `unshare -m -n`: its own network namespace
# plays the host, /run/netns and all state live on private tmpfs mounts; the root network
# namespace is never touched.
set -eu
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${CTNET_BIN:=$(cd "$here/.." && pwd)/build}"
export CTNET_BIN
BURSTS=30,100 N=1000 ONLY=ctnet,cni,netavark
usage() { echo "usage: bench/burst.sh [--quick] [--bursts 30,100] [--n N] [--only ctnet,cni,netavark]" >&2; exit 2; }
while [ $# -gt 0 ]; do
	case $1 in
	--quick) BURSTS=10,30 N=200 ;;
	--bursts) [ $# -ge 2 ] || usage; BURSTS=$2; shift ;;
	--n) [ $# -ge 2 ] || usage; N=$2; shift ;;
	--only) [ $# -ge 2 ] || usage; ONLY=$2; shift ;;
	-h | --help) sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) usage ;;
	esac
	shift
done
if [ -z "${CTNET_BENCH_SANDBOX:-}" ]; then
	[ "$(id -u)" -eq 0 ] || { echo "bench/burst.sh: needs root (unshare -n, veth, nft)" >&2; exit 1; }
	unshare -m -n true 2>/dev/null || { echo "bench/burst.sh: cannot create namespaces here (unshare -m -n failed)" >&2; exit 1; }
	[ -x "$CTNET_BIN/ctnet" ] || { echo "bench/burst.sh: $CTNET_BIN/ctnet missing (make)" >&2; exit 1; }
	export CTNET_BENCH_SANDBOX=1
	exec unshare -m -n --propagation private -- bash "$0" --bursts "$BURSTS" --n "$N" --only "$ONLY"
fi

# --- inside the sandbox: this netns is the "host" ---
scratch=$(mktemp -d /tmp/ctnet-bench-burst.XXXXXX)
mount -t tmpfs -o mode=0755 tmpfs "$scratch"
# Loopback forwards by BPF: never on the machine's cgroups nor in its bpffs (a private
# bpffs; a CTNET_CGROUP that is no cgroup v2: the output-hook path).
mount -t bpf -o mode=0700 bpf /sys/fs/bpf 2>/dev/null || true
mkdir -p "$scratch/no-cgroup2"
export CTNET_CGROUP=$scratch/no-cgroup2
mkdir -p /run/netns
mount -t tmpfs -o mode=0755 tmpfs /run/netns
srv_pid=
cleanup() {
	# Only what this script started: the forward check's server, if one is left.
	[ -n "$srv_pid" ] && kill "$srv_pid" 2>/dev/null
	for ns in /run/netns/*; do [ -e "$ns" ] && umount "$ns" 2>/dev/null; done
	umount /run/netns 2>/dev/null; umount "$scratch" 2>/dev/null; rmdir "$scratch" 2>/dev/null
	return 0
}
trap cleanup EXIT
export CTNET_STATE_DIR=$scratch/state CTNET_RUN_DIR=$scratch/run CTNET_NIXOS_CONF_DIR=$scratch/none
C=$CTNET_BIN/ctnet
CNI=/usr/lib/cni
NV=${NETAVARK:-}
if [ -z "$NV" ]; then
	for p in /usr/libexec/podman/netavark /usr/lib/podman/netavark "$(command -v netavark || true)"; do
		[ -n "$p" ] && [ -x "$p" ] && { NV=$p; break; }
	done
fi
NVCONF=$scratch/netavark NVLOCK=$scratch/netavark.lock
mkdir -p "$NVCONF"
R=$scratch/results # what the report below reads
mkdir -p "$R"

# The uplink, as bench/run.sh makes it: veth up0 (192.0.2.1/24) to an "upstream" namespace
# (192.0.2.2/24) from which one forward per burst is checked with a connection.
ip link set lo up
ip netns add upstream
ip -n upstream link set lo up
ip link add up0 type veth peer name eth0 netns upstream
ip addr add 192.0.2.1/24 dev up0
ip link set up0 up
ip -n upstream addr add 192.0.2.2/24 dev eth0
ip -n upstream link set eth0 up
# What a host running containers has; every system below would set it itself.
sysctl -qw net.ipv4.ip_forward=1

# Times are bash's $EPOCHREALTIME (the clock of date +%s%N, without a fork): seconds.micro.
export LC_ALL=C
log() { echo "burst: $*" >&2; }

# --- the three systems: SYS_up I DIR (timed), SYS_addr I DIR, SYS_down I DIR (untimed) ---
port() { case $1 in ctnet) echo $((21000 + $2)) ;; cni) echo $((22000 + $2)) ;; netavark) echo $((23000 + $2)) ;; esac; }

ctnet_up() { $C up "b$1" --create-netns --forward "tcp:$(port ctnet "$1"):80" >"$2/o$1" 2>"$2/e$1"; }
ctnet_addr() { sed -n 's/^LOCAL_ADDRESS=//p' "$2/o$1" | cut -d/ -f1; }
ctnet_down() { $C down "b$1" >/dev/null 2>&1; ip netns del "b$1" 2>/dev/null || true; }
ctnet_ns() { echo "b$1"; }

BRCONF='{"cniVersion":"1.0.0","name":"debnet","type":"bridge","bridge":"cni0","isGateway":true,"ipMasq":true,"ipam":{"type":"host-local","ranges":[[{"subnet":"10.242.0.0/16"}]],"routes":[{"dst":"0.0.0.0/0"}],"dataDir":"'$scratch/host-local'"}}'
pmconf() { # I PREVRESULT
	printf '{"cniVersion":"1.0.0","name":"debnet","type":"portmap","snat":true,"capabilities":{"portMappings":true},"runtimeConfig":{"portMappings":[{"hostPort":%d,"containerPort":80,"protocol":"tcp"}]},"prevResult":%s}' \
		"$(port cni "$1")" "$2"
}
cnienv() { env CNI_COMMAND="$1" CNI_CONTAINERID="k$2" CNI_NETNS="/run/netns/k$2" CNI_IFNAME=eth0 CNI_PATH=$CNI "${@:3}"; }
cni_up() {
	local res
	ip netns add "k$1" 2>"$2/e$1" &&
		res=$(cnienv ADD "$1" $CNI/bridge <<<"$BRCONF" 2>>"$2/e$1") &&
		printf '%s' "$res" >"$2/r$1" &&
		pmconf "$1" "$res" | cnienv ADD "$1" $CNI/portmap >"$2/o$1" 2>>"$2/e$1"
}
cni_addr() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ips"][0]["address"].split("/")[0])' "$2/r$1"; }
cni_down() {
	local res
	res=$(cat "$2/r$1" 2>/dev/null) || res='{}'
	pmconf "$1" "$res" | cnienv DEL "$1" $CNI/portmap >/dev/null 2>&1 || true
	printf '%s' "${BRCONF%\}},\"prevResult\":$res}" | cnienv DEL "$1" $CNI/bridge >/dev/null 2>&1 || true
	ip netns del "k$1" 2>/dev/null || true
}
cni_ns() { echo "k$1"; }

nvaddr() { echo "10.89.$(($1 / 250)).$(($1 % 250 + 2))"; }
nvconf() { # the network options podman passes (podman's IPAM chose the address)
	cat <<EOF
{"container_id":"$(printf '%064x' "$1")","container_name":"v$1",
 "port_mappings":[{"host_ip":"","container_port":80,"host_port":$(port netavark "$1"),"range":1,"protocol":"tcp"}],
 "networks":{"bench":{"static_ips":["$(nvaddr "$1")"],"interface_name":"eth0"}},
 "network_info":{"bench":{"name":"bench","id":"$(printf '%064x' 4242)","driver":"bridge","network_interface":"podman1",
  "subnets":[{"subnet":"10.89.0.0/16","gateway":"10.89.0.1"}],"ipv6_enabled":false,"internal":false,"dns_enabled":false,
  "ipam_options":{"driver":"host-local"}}}}
EOF
}
netavark_up() {
	ip netns add "v$1" 2>"$2/e$1" &&
		flock "$NVLOCK" "$NV" --config "$NVCONF" setup "/run/netns/v$1" <"$2/c$1" >"$2/o$1" 2>>"$2/e$1"
}
netavark_addr() { nvaddr "$1"; }
netavark_down() {
	flock "$NVLOCK" "$NV" --config "$NVCONF" teardown "/run/netns/v$1" <"$2/c$1" >/dev/null 2>&1 || true
	ip netns del "v$1" 2>/dev/null || true
}
netavark_ns() { echo "v$1"; }

# --- which systems can run here ---
avail() { # SYS: prints nothing if it can run, else why not
	case $1 in
	ctnet) [ -x "$C" ] || echo "$C missing" ;;
	cni) for p in bridge host-local portmap; do [ -x $CNI/$p ] || { echo "$CNI/$p missing (containernetworking-plugins)"; return; }; done
		command -v iptables >/dev/null || echo "iptables missing" ;;
	netavark) [ -n "$NV" ] && [ -x "$NV" ] || { echo "netavark not installed (apt-get install netavark)"; return; }
		command -v iptables >/dev/null || echo "iptables missing" ;;
	*) echo "unknown system" ;;
	esac
}

links() { ip -o link show | wc -l; }
settle() { # [LINKS]: until at most LINKS links are left (<= 10 s), then until the CPUs are quiet (<= 5 s)
	local want=${1:-} a b
	[ -n "$want" ] && for _ in $(seq 1 100); do [ "$(links)" -le "$want" ] && break; sleep 0.1; done
	for _ in $(seq 1 25); do
		a=$(awk '/^cpu /{print $5, $2+$3+$4+$5+$6+$7+$8}' /proc/stat); sleep 0.2
		b=$(awk '/^cpu /{print $5, $2+$3+$4+$5+$6+$7+$8}' /proc/stat)
		# idle share of the window >= 90 %
		awk -v a="$a" -v b="$b" 'BEGIN { split(a, x); split(b, y); d = y[2] - x[2];
			exit !(d > 0 && (y[1] - x[1]) / d >= 0.9) }' && break
	done
	return 0
}

fwd_check() { # SYS DIR: a connection from upstream to 192.0.2.1:PORT of container 1 reaches it
	local sys=$1 ns out
	ns=$(${sys}_ns 1)
	ip netns exec "$ns" socat TCP-LISTEN:80,reuseaddr,fork SYSTEM:'echo burst-ok' 2>/dev/null &
	srv_pid=$!
	out=
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		out=$(ip netns exec upstream socat -T 2 - "TCP:192.0.2.1:$(port "$sys" 1),connect-timeout=1" </dev/null 2>/dev/null) || true
		[ "$out" = burst-ok ] && break
		sleep 0.2
	done
	kill "$srv_pid" 2>/dev/null; wait "$srv_pid" 2>/dev/null || true
	srv_pid=
	[ "$out" = burst-ok ] && echo 1 || echo 0
}

burst() { # SYS B
	local sys=$1 B=$2 d i n t0 t1 bad pids=()
	d=$R/$sys-$B
	mkdir -p "$d"
	[ "$sys" = netavark ] && for i in $(seq 1 "$B"); do nvconf "$i" >"$d/c$i"; done
	rm -f "$scratch/gate"; mkfifo "$scratch/gate"
	# Held open read-write: the jobs' opens never block, their reads do until the release.
	exec 7<>"$scratch/gate"
	for i in $(seq 1 "$B"); do
		(
			set +e
			: >"$d/ready$i"
			read -r _ <"$scratch/gate"
			s=$EPOCHREALTIME
			"${sys}_up" "$i" "$d"
			rc=$?
			e=$EPOCHREALTIME
			echo "$s $e $rc" >"$d/t$i"
		) 7>&- &
		pids+=($!)
	done
	for _ in $(seq 1 600); do
		n=$(find "$d" -maxdepth 1 -name 'ready*' | wc -l)
		[ "$n" -ge "$B" ] && break
		sleep 0.05
	done
	sleep 0.5 # every job is now blocked in its read
	t0=$EPOCHREALTIME
	printf '%*s' "$B" '' | tr ' ' '\n' >&7 # one newline per job: all released at once
	wait "${pids[@]}" || true
	t1=$EPOCHREALTIME
	exec 7>&-
	echo "$t0" >"$d/start"
	echo "$t1" >"$d/waited"
	# Checks, untimed: every container's address answers a ping, one forward answers.
	bad=0
	for i in $(seq 1 "$B"); do
		a=$(${sys}_addr "$i" "$d" 2>/dev/null) || a=
		if [ -z "$a" ] || ! ping -c1 -W1 "$a" >/dev/null 2>&1; then bad=$((bad + 1)); fi
	done
	echo "$bad" >"$d/unreachable"
	fwd_check "$sys" "$d" >"$d/forward"
	for i in $(seq 1 "$B"); do "${sys}_down" "$i" "$d"; done
}

# --- 1. bursts ---
IFS=, read -r -a bursts <<<"$BURSTS"
IFS=, read -r -a want <<<"$ONLY"
systems=()
for s in "${want[@]}"; do
	why=$(avail "$s")
	if [ -n "$why" ]; then
		log "$s: not run: $why"
		echo "$why" >"$R/unavailable-$s"
		continue
	fi
	# One untimed container first: the bridge, the tables and chains exist before any burst,
	# as on a host that ran containers before (a probe failing here means the system cannot run).
	w=$R/warm-$s
	mkdir -p "$w"
	[ "$s" = netavark ] && nvconf 1 >"$w/c1"
	rc=0
	"${s}_up" 1 "$w" || rc=$?
	if [ $rc -eq 0 ]; then
		"${s}_down" 1 "$w"
		systems+=("$s")
	else
		why="its first setup failed (exit $rc): $(head -c 300 "$w/o1" 2>/dev/null) $(head -c 300 "$w/e1" 2>/dev/null)"
		"${s}_down" 1 "$w"
		log "$s: not run: $why"
		echo "$why" >"$R/unavailable-$s"
	fi
done
settle
base=$(links)
settle "$base"
nsys=${#systems[@]}
bi=0
for B in "${bursts[@]}"; do
	for j in $(seq 0 $((nsys - 1))); do
		s=${systems[$(((j + bi) % nsys))]}
		log "$B x $s"
		burst "$s" "$B"
		settle "$base"
		echo $(($(links) - base)) >"$R/$s-$B/leftover_links"
	done
	bi=$((bi + 1))
done

# --- 2. ctnet apply: N from nothing, then all removed ---
D=$scratch/d
mkdir -p "$D"
for i in $(seq 1 "$N"); do printf 'PRIVATE_NETWORK=1\nHOST_PORT=tcp:%d:80\n' $((30000 + i)) >"$D/c$i.conf"; done
settle "$base"
log "ctnet apply: $N from nothing"
t0=$EPOCHREALTIME; rc=0; timeout 600 "$C" apply "$D" >"$R/apply-up.out" 2>"$R/apply-up.err" || rc=$?; t1=$EPOCHREALTIME
echo "$t0 $t1 $rc" >"$R/apply-up"
running=$(find "$CTNET_RUN_DIR/containers" -maxdepth 1 -type f ! -name ".*" 2>/dev/null | wc -l)
bad=0
for i in $(seq 1 10 "$N"); do
	a=$(sed -n 's/^LOCAL_ADDRESS=//p' "$CTNET_RUN_DIR/containers/c$i" 2>/dev/null | cut -d/ -f1)
	if [ -z "$a" ] || ! ping -c1 -W1 "$a" >/dev/null 2>&1; then bad=$((bad + 1)); fi
done
echo "$running $bad" >"$R/apply-check"
rm -f "$D"/*.conf
settle
log "ctnet apply: empty DIR"
t0=$EPOCHREALTIME; rc=0; timeout 600 "$C" apply "$D" >"$R/apply-rm.out" 2>"$R/apply-rm.err" || rc=$?; t1=$EPOCHREALTIME
echo "$t0 $t1 $rc" >"$R/apply-rm"
echo "$(find "$CTNET_RUN_DIR/containers" -maxdepth 1 -type f ! -name ".*" 2>/dev/null | wc -l) $(find /run/netns -mindepth 1 -maxdepth 1 ! -name upstream | wc -l)" >"$R/apply-left"

# --- report ---
rev=$(git -C "$here/.." describe --always --dirty 2>/dev/null || echo unknown)
export R BURSTS N rev NV
export SYSTEMS="${systems[*]}" WANT="$ONLY"
V_CNI=$(dpkg-query -W -f '${Version}' containernetworking-plugins 2>/dev/null || echo unknown)
V_NV=$([ -n "$NV" ] && "$NV" --version 2>/dev/null || echo none)
export V_CNI V_NV
python3 - "$here/burst-results.json" <<'PY'
import json, math, os, sys
R = os.environ["R"]
bursts = [int(b) for b in os.environ["BURSTS"].split(",")]
want = os.environ["WANT"].split(",")
ran = os.environ["SYSTEMS"].split()

def rd(p):
    with open(os.path.join(R, p)) as f:
        return f.read().strip()

def q(v, p):  # nearest rank
    v = sorted(v)
    return v[max(0, math.ceil(p * len(v)) - 1)] if v else None

def f(x, d=1):
    return "-" if x is None else "%.*f" % (d, x)

what = {"ctnet": "ctnet up --create-netns --forward",
        "cni": "ip netns add + bridge/host-local + portmap ADD",
        "netavark": "ip netns add + netavark setup (flock, as podman)"}
out = {"ctnet_rev": os.environ["rev"], "nproc": os.cpu_count(), "kernel": os.uname().release,
       "cni_plugins_version": os.environ["V_CNI"], "netavark": os.environ["NV"] or None,
       "netavark_version": os.environ["V_NV"], "bursts": {}, "unavailable": {}}
for s in want:
    if s not in ran:
        try:
            out["unavailable"][s] = rd("unavailable-" + s)
        except OSError:
            out["unavailable"][s] = "not run"
print("Bursts: B containers started at the same moment; per-container wall time p50 / p99 / max and")
print("the burst's total wall time (release -> last container up), ms; spread: release -> last job")
print("started (2 CPUs wake B jobs while the first already run). %d CPUs." % os.cpu_count())
print("%-6s %-9s %9s %9s %9s %10s %7s %7s %8s %8s  %s" % ("B", "system", "p50", "p99", "max", "total", "spread",
                                                        "failed", "no ping", "forward", "what"))
for b in bursts:
    out["bursts"][str(b)] = {}
    for s in want:
        if s not in ran:
            print("%-6d %-9s %s" % (b, s, "not run: " + out["unavailable"][s][:80]))
            out["bursts"][str(b)][s] = {"available": False, "reason": out["unavailable"][s]}
            continue
        d = "%s-%d/" % (s, b)
        t0 = float(rd(d + "start"))
        per, starts, ends, failed = [], [], [], 0
        for i in range(1, b + 1):
            try:
                st, en, rc = rd(d + "t%d" % i).split()
                st, en, rc = float(st), float(en), int(rc)
            except (OSError, ValueError):
                failed += 1
                continue
            if rc:
                failed += 1
            per.append((en - st) * 1000.0)
            starts.append(st)
            ends.append(en)
        total = (max(ends) - t0) * 1000.0 if ends else None
        r = {"available": True, "n": b, "failed": failed, "unreachable": int(rd(d + "unreachable")),
             "forward_ok": rd(d + "forward") == "1", "leftover_links": int(rd(d + "leftover_links")),
             "p50_ms": q(per, 0.5), "p99_ms": q(per, 0.99), "max_ms": max(per) if per else None,
             "total_ms": total, "release_spread_ms": (max(starts) - t0) * 1000.0 if starts else None,
             "p50_from_release_ms": q([(e - t0) * 1000.0 for e in ends], 0.5),
             "p99_from_release_ms": q([(e - t0) * 1000.0 for e in ends], 0.99),
             "per_container_ms": [round(x, 3) for x in per]}
        out["bursts"][str(b)][s] = r
        print("%-6d %-9s %9s %9s %9s %10s %7s %7d %8d %8s  %s" % (
            b, s, f(r["p50_ms"]), f(r["p99_ms"]), f(r["max_ms"]), f(total), f(r["release_spread_ms"], 0), failed,
            r["unreachable"],
            "ok" if r["forward_ok"] else "FAILED", what[s]))
    ref = out["bursts"][str(b)].get("ctnet")
    for s in want:
        o = out["bursts"][str(b)].get(s)
        if s != "ctnet" and ref and ref.get("available") and o and o.get("available") and \
                None not in (ref["p50_ms"], o["p50_ms"]):
            print("ratio %s / ctnet at %d: p50 %.1fx, p99 %.1fx, total %.1fx" % (
                s, b, o["p50_ms"] / ref["p50_ms"], o["p99_ms"] / ref["p99_ms"], o["total_ms"] / ref["total_ms"]))

def ap(name):
    t0, t1, rc = rd(name).split()
    return {"ms": round((float(t1) - float(t0)) * 1000.0, 1), "rc": int(rc), "timeout": rc == "124"}

def last(name):  # apply's summary line ("N up, 0 updated, ...")
    lines = rd(name).splitlines()
    return lines[-1] if lines else ""

n = int(os.environ["N"])
up, rm = ap("apply-up"), ap("apply-rm")
running, bad = (int(x) for x in rd("apply-check").split())
left_recs, left_ns = (int(x) for x in rd("apply-left").split())
ratio = rm["ms"] / up["ms"] if up["rc"] == 0 and rm["rc"] == 0 and up["ms"] > 0 else None
out["apply"] = {"n": n, "bringup_ms": up["ms"], "bringup_rc": up["rc"], "bringup_timeout": up["timeout"],
                "running_after_bringup": running, "unreachable_sampled": bad,
                "remove_ms": rm["ms"], "remove_rc": rm["rc"], "remove_timeout": rm["timeout"],
                "left_records": left_recs, "left_netns": left_ns, "ratio_remove_bringup": ratio,
                "bringup_summary": last("apply-up.out"), "remove_summary": last("apply-rm.out")}

def st(x):
    return "TIMEOUT (600 s)" if x["timeout"] else ("exit %d" % x["rc"] if x["rc"] else "ok")

print()
print("ctnet apply, %d nixos-container .conf files (one forward each):" % n)
print("  bring-up from nothing:  %10.1f ms  %s; %d running, %d of %d sampled unreachable" % (
    up["ms"], st(up), running, bad, (n + 9) // 10))
print("  remove all (empty DIR): %10.1f ms  %s; %d records and %d namespaces left" % (
    rm["ms"], st(rm), left_recs, left_ns))
print("  ratio remove / bring-up: %s" % ("%.2fx" % ratio if ratio is not None else "n/a"))
print("  apply's summaries: %s | %s" % (out["apply"]["bringup_summary"], out["apply"]["remove_summary"]))
with open(sys.argv[1], "w") as f:
    json.dump(out, f, indent=1)
    f.write("\n")
PY
