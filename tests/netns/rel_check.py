#!/usr/bin/env python3
"""Cross-checks ctnet's state dir, the kernel (ip -j, nft -j) and /run/netns for the
reliability tests (tests/netns/test_rel_*.sh).

  rel_check.py residue [IGNORE_NETNS...]   nothing of any container left anywhere
  rel_check.py unique                      no address owned twice (holds at any instant)
  rel_check.py consistent [--expect FILE]  state and kernel agree (after gc); with --expect,
                                           the set of containers up is exactly FILE's names
Prints one line: "ok: SUMMARY" (exit 0) or the problems found (exit 1).
"""
import ipaddress
import json
import os
import subprocess
import sys

STATE = os.environ["CTNET_STATE_DIR"]
RUN = os.environ["CTNET_RUN_DIR"]


def kv_file(path):
    kv = {"FORWARD": []}
    with open(path, "rb") as f:
        for raw in f.read().decode("utf-8", "replace").splitlines():
            if not raw or raw.startswith("#") or "=" not in raw:
                continue
            k, v = raw.split("=", 1)
            if k == "FORWARD":
                kv["FORWARD"].append(v)
            else:
                kv[k] = v
    return kv


def listdir(path):
    try:
        return sorted(os.listdir(path))
    except FileNotFoundError:
        return []


def addr(s):
    return str(ipaddress.ip_address(s.split("/")[0]))


def collect():
    w = {}
    rdir = f"{RUN}/containers"
    w["records"] = {n: kv_file(f"{rdir}/{n}") for n in listdir(rdir) if not n.startswith(".")}
    ldir = f"{STATE}/ipam/lease"
    w["leases"] = {n: kv_file(f"{ldir}/{n}") for n in listdir(ldir) if not n.startswith(".")}
    ndir = f"{STATE}/nat/containers"
    w["nat"] = {n: kv_file(f"{ndir}/{n}") for n in listdir(ndir) if not n.startswith(".")}
    adir = f"{STATE}/ipam/addr"
    w["claims"] = {a: os.readlink(f"{adir}/{a}") for a in listdir(adir) if not a.startswith(".")}
    pdir = f"{STATE}/nat/ports"
    w["ports"] = {p: os.readlink(f"{pdir}/{p}") for p in listdir(pdir) if not p.startswith(".")}
    w["tmpfiles"] = []
    for base in (STATE, RUN):
        for root, _dirs, files in os.walk(base):
            w["tmpfiles"] += [f"{root}/{f}" for f in files if f.endswith(".tmp")]
    links = json.loads(subprocess.run(["ip", "-j", "-d", "link", "show"], check=True,
                                      capture_output=True, text=True).stdout)
    w["links"] = {}  # ifname -> container (from the ctnet:NAME alias)
    w["ifnames"] = {l["ifname"] for l in links}
    for l in links:
        alias = l.get("ifalias", "")
        if alias.startswith("ctnet:"):
            w["links"][l["ifname"]] = alias[len("ctnet:"):]
    addrs = json.loads(subprocess.run(["ip", "-j", "addr", "show"], check=True,
                                      capture_output=True, text=True).stdout)
    w["addrs"] = [(l["ifname"], a["local"]) for l in addrs for a in l.get("addr_info", [])
                  if l["ifname"] in w["links"] and not a["local"].startswith("fe80:")]
    routes = []
    for fam in ("-4", "-6"):
        out = subprocess.run(["ip", fam, "-j", "route", "show", "table", "all"], check=True,
                             capture_output=True, text=True).stdout
        routes += [r for r in json.loads(out) if r.get("dev") in w["links"] and
                   not r.get("dst", "").startswith("fe80:") and r.get("type") not in
                   ("local", "multicast", "broadcast", "anycast") and
                   r.get("protocol") != "kernel"]
    w["routes"] = routes
    w["elems"] = {}
    out = subprocess.run(["nft", "-j", "list", "table", "inet", "ctnet"], capture_output=True,
                         text=True)
    if out.returncode == 0:
        for x in json.loads(out.stdout)["nftables"]:
            s = x.get("set") or x.get("map")
            if not s:
                continue
            elems = []
            for e in s.get("elem", []):
                if isinstance(e, list):  # map: [key, value]
                    k, v = e
                else:
                    k, v = e, None
                if isinstance(k, dict) and "elem" in k:
                    k = k["elem"]["val"]
                if isinstance(k, dict) and "concat" in k:
                    k = tuple(k["concat"])
                if isinstance(v, dict) and "concat" in v:
                    v = tuple(v["concat"])
                elems.append((k, v))
            w["elems"][s["name"]] = elems
    w["netns"] = listdir("/run/netns")
    return w


def residue(ignore):
    w = collect()
    bad = []
    for key in ("records", "leases", "nat", "claims", "ports", "links", "tmpfiles"):
        if w[key]:
            bad.append(f"{key}: {sorted(w[key])[:8]}")
    if w["addrs"]:
        bad.append(f"addresses: {w['addrs'][:8]}")
    if w["routes"]:
        bad.append(f"routes: {w['routes'][:4]}")
    for s, el in w["elems"].items():
        if el:
            bad.append(f"nft set {s}: {el[:4]}")
    ns = [n for n in w["netns"] if n not in ignore]
    if ns:
        bad.append(f"/run/netns: {ns[:8]}")
    return bad, "no residue"


def consistent(expect):
    w = collect()
    bad = []
    recs = w["records"]
    local_of = {}  # container address -> record
    host_ifs = {}
    for n, r in recs.items():
        if r.get("NAME") != n:
            bad.append(f"record {n}: NAME={r.get('NAME')}")
        if r.get("MODE") == "shared":
            continue
        hif = r.get("HOST_IFNAME")
        host_ifs[hif] = n
        if w["links"].get(hif) != n:
            bad.append(f"record {n}: host link {hif} missing (alias {w['links'].get(hif)})")
        for k in ("LOCAL_ADDRESS", "LOCAL_ADDRESS6", "HOST_ADDRESS", "HOST_ADDRESS6"):
            if k in r:
                a = addr(r[k])
                if a in local_of:
                    bad.append(f"address {a} owned by records {local_of[a]} and {n}")
                local_of[a] = n
        if r.get("LEASE") == "1" and n not in w["leases"]:
            bad.append(f"record {n}: LEASE=1 but no lease file")
        if n not in w["nat"]:
            bad.append(f"record {n}: no NAT state")
        if r.get("CREATED_NETNS") == "1" and n not in w["netns"]:
            bad.append(f"record {n}: /run/netns/{n} missing")
    for ifn, n in w["links"].items():
        if n not in recs:
            bad.append(f"link {ifn} of {n}: no record")
        elif recs[n].get("HOST_IFNAME") != ifn:
            bad.append(f"link {ifn} of {n}: record says {recs[n].get('HOST_IFNAME')}")
    owners = {}
    for n, l in w["leases"].items():
        if n not in recs:
            bad.append(f"lease {n}: no record")
        for k in ("LOCAL_ADDRESS", "LOCAL_ADDRESS6", "HOST_ADDRESS", "HOST_ADDRESS6"):
            if k in l:
                a = addr(l[k])
                if a in owners:
                    bad.append(f"address {a} leased to {owners[a]} and {n}")
                owners[a] = n
                if w["claims"].get(a) != n:
                    bad.append(f"lease {n}: claim of {a} is {w['claims'].get(a)}")
    for n in w["nat"]:
        if n not in recs:
            bad.append(f"NAT state {n}: no record")
    seen = {}
    for ifn, a in w["addrs"]:
        if a in seen:
            bad.append(f"address {a} on {seen[a]} and {ifn}")
        seen[a] = ifn
    for s, el in w["elems"].items():
        for k, v in el:
            parts = list(k) if isinstance(k, tuple) else [k]
            parts += list(v) if isinstance(v, tuple) else ([v] if v is not None else [])
            for p in parts:
                if not isinstance(p, str):
                    continue
                try:
                    a = str(ipaddress.ip_address(p))
                except ValueError:
                    if s in ("ifaces", "spoof4", "spoof6") and p not in host_ifs:
                        bad.append(f"nft {s} element {k}: interface of no record")
                    continue
                if a not in local_of:
                    bad.append(f"nft {s} element {k} {v or ''}: address of no record")
    for n in w["netns"]:
        r = recs.get(n)
        if n.startswith("ct") and (not r or r.get("CREATED_NETNS") != "1"):
            bad.append(f"/run/netns/{n}: no record that created it")
    if w["tmpfiles"]:
        bad.append(f"temp files left: {w['tmpfiles'][:4]}")
    if expect is not None:
        want = set(expect)
        if set(recs) != want:
            bad.append(f"containers up: extra {sorted(set(recs) - want)[:8]}, "
                       f"missing {sorted(want - set(recs))[:8]}")
    summary = (f"{len(recs)} records, {len(w['leases'])} leases, {len(w['links'])} links, "
               f"{sum(len(e) for e in w['elems'].values())} nft elements")
    return bad, summary


def unique():
    """No address owned twice, at any instant (also before gc): leases, records, links."""
    w = collect()
    bad = []
    for what, src in (("lease", w["leases"]), ("record", w["records"])):
        owner = {}
        for n, f in src.items():
            for k in ("LOCAL_ADDRESS", "LOCAL_ADDRESS6", "HOST_ADDRESS", "HOST_ADDRESS6"):
                if k in f:
                    a = addr(f[k])
                    if a in owner and owner[a] != n:
                        bad.append(f"address {a} in {what}s of {owner[a]} and {n}")
                    owner[a] = n
    seen = {}
    for ifn, a in w["addrs"]:
        if a in seen:
            bad.append(f"address {a} on links {seen[a]} and {ifn}")
        seen[a] = ifn
    return bad, f"{len(w['leases'])} leases, {len(w['addrs'])} link addresses, all distinct"


def main():
    mode = sys.argv[1]
    if mode == "unique":
        bad, summary = unique()
    elif mode == "residue":
        bad, summary = residue(set(sys.argv[2:]))
    else:
        expect = None
        if len(sys.argv) > 3 and sys.argv[2] == "--expect":
            expect = [l.strip() for l in open(sys.argv[3]) if l.strip()]
        bad, summary = consistent(expect)
    if bad:
        print("; ".join(bad)[:1500])
        sys.exit(1)
    print("ok: " + summary)


main()
