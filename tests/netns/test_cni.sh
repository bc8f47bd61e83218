#!/usr/bin/env bash
# ctnet-cni called exactly as a CNI runtime calls a plugin (environment + config on stdin):
# result shapes checked against the spec, real traffic (ping, masquerade to an upstream, port
# mappings), a conflist chaining ctnet-cni with Debian's tuning plugin, IPv6, bridge mode and
# ipMasq:false.
. "$(dirname "$0")/lib.sh"

CNI=$CTNET_BIN/ctnet-cni
# Our own CNI_PATH: ctnet-cni next to Debian's plugins, the way a runtime finds them by "type".
CNI_DIR=$T_TMP/cni-bin
mkdir -p "$CNI_DIR"
ln -s "$CNI" "$CNI_DIR/ctnet-cni"
ln -s /usr/lib/cni/tuning "$CNI_DIR/tuning"

# The spec's result shape (1.0.0, or 0.3.x/0.4.0 with "version" in ips); prints "ok" or why not.
cat >"$T_TMP/shape.py" <<'PY'
import ipaddress, json, re, sys
want_version, n_ips = sys.argv[1], int(sys.argv[2])
try:
    r = json.load(open(sys.argv[3]))
    assert isinstance(r, dict), "not an object"
    assert r.get("cniVersion") == want_version, "cniVersion %r" % r.get("cniVersion")
    ifs, ips, routes = r["interfaces"], r["ips"], r["routes"]
    assert isinstance(ifs, list) and ifs, "interfaces"
    for i in ifs:
        assert isinstance(i["name"], str) and 0 < len(i["name"]) <= 15, "interface name %r" % i
        assert re.fullmatch(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}", i["mac"]), "mac %r" % i
        assert isinstance(i.get("sandbox", ""), str), "sandbox"
    assert isinstance(ips, list) and len(ips) == n_ips, "%d ips, expected %d" % (len(ips), n_ips)
    for ip in ips:
        iface = ip["interface"]
        assert isinstance(iface, int) and 0 <= iface < len(ifs), "interface index %r" % iface
        assert ifs[iface].get("sandbox"), "ips[].interface must point at the container side"
        a = ipaddress.ip_interface(ip["address"])
        ipaddress.ip_address(ip["gateway"])
        if want_version.startswith("0."):
            assert ip["version"] == str(a.version), "version %r" % ip.get("version")
        else:
            assert "version" not in ip, "1.0.0 results carry no version"
    assert isinstance(routes, list) and len(routes) == n_ips, "routes"
    for rt in routes:
        ipaddress.ip_network(rt["dst"])
        ipaddress.ip_address(rt["gw"])
    assert isinstance(r.get("dns", {}), dict), "dns"
    print("ok")
except Exception as e:
    print("bad result: %s: %s" % (type(e).__name__, e))
PY
# jq-like field access: jget FILE PYEXPR (r is the document)
jget() { python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print($2)" "$1"; }

# cni CMD ID IFNAME NETNS CONFIG: one plugin call; stdout in $T_TMP/out, exit status returned.
cni() {
	printf '%s' "$5" | env CNI_COMMAND="$1" CNI_CONTAINERID="$2" CNI_IFNAME="$3" CNI_NETNS="$4" \
		CNI_PATH="$CNI_DIR" CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAME=web" "$CNI" >"$T_TMP/out" 2>"$T_TMP/err"
}

mk_upstream
ip netns exec upstream socat -t$T_IDLE TCP-LISTEN:80,fork,reuseaddr SYSTEM:'echo $SOCAT_PEERADDR' &
UP_PID=$!
trap 'kill $UP_PID $SRV_PID $SRV2_PID 2>/dev/null; _t_cleanup' EXIT
SRV_PID= SRV2_PID=
links0=$(snapshot_links)

ID1=$(printf 'f%.0s' {1..8})0123456789abcdef0123456789abcdef0123456789abcdef0123456789 # 64+ chars
ID1=${ID1:0:64}
CONF='{"cniVersion":"1.0.0","name":"ctnet","type":"ctnet-cni","subnet":"10.233.0.0/16","ipMasq":true,
 "dns":{"nameservers":["192.0.2.53"]},
 "runtimeConfig":{"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"},
   {"hostPort":8090,"containerPort":80,"protocol":"TCP","hostIP":"192.0.2.1"}]}}'

# --- VERSION ---
cni VERSION "" "" "" '{"cniVersion":"1.0.0"}'
check_eq "VERSION exits 0" "$?" "0"
check_eq "VERSION lists 0.4.0, 1.0.0 and 1.1.0" \
	"$(jget "$T_TMP/out" '",".join(v for v in r["supportedVersions"] if v in ("0.4.0","1.0.0","1.1.0"))')" "0.4.0,1.0.0,1.1.0"
check_eq "VERSION answers in the requested version" "$(jget "$T_TMP/out" 'r["cniVersion"]')" "1.0.0"

# --- ADD: result shape, links, addresses, traffic ---
mkns c1
cni ADD "$ID1" eth0 /run/netns/c1 "$CONF"
check_eq "ADD exits 0 (64-char container id)" "$?" "0"
cp "$T_TMP/out" "$T_TMP/add1.json"
check_eq "ADD result has the spec's shape" "$(python3 "$T_TMP/shape.py" 1.0.0 1 "$T_TMP/add1.json")" "ok"
ADDR1=$(jget "$T_TMP/add1.json" 'r["ips"][0]["address"].split("/")[0]')
GW1=$(jget "$T_TMP/add1.json" 'r["ips"][0]["gateway"]')
check_match "ADD: address from the subnet" "$ADDR1" '^10\.233\.[0-9]+\.[0-9]+$'
check_eq "ADD: container side is CNI_IFNAME with the sandbox path" \
	"$(jget "$T_TMP/add1.json" '[(i["name"], i["sandbox"]) for i in r["interfaces"] if "sandbox" in i]')" "[('eth0', '/run/netns/c1')]"
check_eq "ADD: result MAC is the container's real MAC" \
	"$(jget "$T_TMP/add1.json" '[i["mac"] for i in r["interfaces"] if "sandbox" in i][0]')" \
	"$(ip -n c1 -j link show eth0 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])')"
HOSTIF1=$(jget "$T_TMP/add1.json" '[i["name"] for i in r["interfaces"] if "sandbox" not in i][0]')
check_eq "ADD: host interface exists" "$(ip -j link show "$HOSTIF1" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["ifname"])')" "$HOSTIF1"
check_eq "ADD: dns passed through from the config" "$(jget "$T_TMP/add1.json" 'r["dns"]["nameservers"]')" "['192.0.2.53']"
check_eq "ADD: container address on eth0 inside" \
	"$(ip -n c1 -j addr show eth0 | python3 -c 'import json,sys; print([a["local"] for a in json.load(sys.stdin)[0]["addr_info"] if a["family"]=="inet"])')" "['$ADDR1']"
check_eq "ADD: default route inside via the gateway" \
	"$(ip -n c1 -j route show default | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["gateway"])')" "$GW1"
check "ping the container from the host" ping -c1 -W"$T_CONN" "$ADDR1"
check_eq "container reaches upstream, masqueraded as the host" \
	"$(ip netns exec c1 timeout $T_CONN socat -T$T_IDLE -t$T_IDLE - TCP:192.0.2.2:80 </dev/null)" "192.0.2.1"
ip netns exec c1 socat -t$T_IDLE TCP-LISTEN:80,fork,reuseaddr SYSTEM:'echo hello-from-c1' &
SRV_PID=$!
wait_port c1 80
check_eq "portMappings: upstream reaches the container on hostPort 8080" \
	"$(ip netns exec upstream timeout $T_CONN socat -T$T_IDLE -t$T_IDLE - TCP:192.0.2.1:8080 </dev/null)" "hello-from-c1"
check_eq "portMappings: hostIP 192.0.2.1:8090 reaches the container" \
	"$(ip netns exec upstream timeout $T_CONN socat -T$T_IDLE -t$T_IDLE - TCP:192.0.2.1:8090 </dev/null)" "hello-from-c1"
check_eq "portMappings: both forwards recorded for ctnet status" \
	"$($CTNET status --json | python3 -c 'import json,sys; print(sorted(f["spec"] for c in json.load(sys.stdin) for f in c["forwards"]))')" "['tcp:8080:80', 'tcp:8090:80']"
check_match "ctnet status knows the attachment under its derived name" \
	"$($CTNET status --json | python3 -c 'import json,sys; print([c["name"] for c in json.load(sys.stdin)])')" "^\['cni-[0-9a-f]{16}'\]$"

# --- CHECK ---
CONF_PREV=$(python3 -c 'import json,sys; c=json.loads(sys.argv[1]); c["prevResult"]=json.load(open(sys.argv[2])); print(json.dumps(c))' "$CONF" "$T_TMP/add1.json")
cni CHECK "$ID1" eth0 /run/netns/c1 "$CONF_PREV"
check_eq "CHECK with prevResult exits 0" "$?" "0"
ip -n c1 addr del "$ADDR1/32" dev eth0
cni CHECK "$ID1" eth0 /run/netns/c1 "$CONF_PREV"
check_eq "CHECK fails when the container lost its address" "$?" "1"
check_match "CHECK failure is an error object naming the address" "$(jget "$T_TMP/out" 'r["code"], r["msg"]')" "container address $ADDR1 missing"
ip -n c1 addr add "$ADDR1/32" dev eth0
ip -n c1 route add default via "$GW1" dev eth0 onlink 2>/dev/null

# --- STATUS ---
cni STATUS "" "" "" '{"cniVersion":"1.1.0","name":"ctnet","type":"ctnet-cni"}'
check_eq "STATUS exits 0 with a usable state dir" "$?" "0"
check_eq "STATUS prints nothing on success" "$(cat "$T_TMP/out")" ""

# --- DEL ---
kill $SRV_PID; SRV_PID=
cni DEL "$ID1" eth0 /run/netns/c1 "$CONF_PREV"
check_eq "DEL exits 0" "$?" "0"
check_eq "DEL: host link gone" "$(snapshot_links)" "$links0"
check_eq "DEL: no record" "$($CTNET status --json)" "[]"
check_eq "DEL: no lease" "$($IPAM list --json)" "[]"
check_eq "DEL: eth0 gone from the container" "$(ip -n c1 -j link show | python3 -c 'import json,sys; print([l["ifname"] for l in json.load(sys.stdin)])')" "['lo']"
check_eq "DEL: no forward left in nft" "$(nft -j list map inet ctnet fwd4 | python3 -c 'import json,sys; print([x for x in json.load(sys.stdin)["nftables"] if "map" in x][0]["map"].get("elem", []))')" "[]"
check_eq "DEL: no attachment file left" "$(ls "$CTNET_RUN_DIR/cni")" ""

# --- 0.4.0 config: ips carry "version", CHECK allowed ---
CONF04='{"cniVersion":"0.4.0","name":"ctnet","type":"ctnet-cni"}'
cni ADD c04 eth1 /run/netns/c1 "$CONF04"
check_eq "0.4.0 ADD exits 0" "$?" "0"
check_eq "0.4.0 result shape (ips with version)" "$(python3 "$T_TMP/shape.py" 0.4.0 1 "$T_TMP/out")" "ok"
check_eq "CNI_IFNAME eth1 is the container side's name" "$(ip -n c1 -j link show eth1 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["ifname"])')" "eth1"
cni CHECK c04 eth1 /run/netns/c1 "$CONF04"
check_eq "0.4.0 CHECK exits 0" "$?" "0"
cni DEL c04 eth1 /run/netns/c1 "$CONF04"
check_eq "0.4.0 DEL exits 0" "$?" "0"

# --- a conflist: ctnet-cni then tuning, chained by hand as a runtime does ---
mkns c2
cat >"$T_TMP/10-ctnet.conflist" <<'EOF'
{"cniVersion":"1.0.0","name":"ctnet","plugins":[
 {"type":"ctnet-cni","subnet":"10.233.0.0/16","ipMasq":true,"capabilities":{"portMappings":true}},
 {"type":"tuning","mac":"02:42:ac:11:00:99","sysctl":{"net.ipv4.conf.eth0.rp_filter":"2"}}]}
EOF
# run_list CMD ID NETNS: each plugin in order (reverse for DEL) with the previous result
cat >"$T_TMP/chain.py" <<'PY'
import json, os, subprocess, sys
cmd, cid, netns, conflist, bindir = sys.argv[1:6]
nl = json.load(open(conflist))
plugins = nl["plugins"] if cmd != "DEL" else list(reversed(nl["plugins"]))
prev = json.load(open(sys.argv[6])) if len(sys.argv) > 6 else None
env = dict(os.environ, CNI_COMMAND=cmd, CNI_CONTAINERID=cid, CNI_NETNS=netns, CNI_IFNAME="eth0",
           CNI_PATH=bindir)
for p in plugins:
    conf = dict(p, name=nl["name"], cniVersion=nl["cniVersion"])
    if prev is not None:
        conf["prevResult"] = prev
    r = subprocess.run([os.path.join(bindir, p["type"])], input=json.dumps(conf).encode(),
                       env=env, capture_output=True)
    if r.returncode != 0:
        print("plugin %s %s failed: %s %s" % (p["type"], cmd, r.stdout.decode(), r.stderr.decode()))
        sys.exit(1)
    if cmd == "ADD":
        prev = json.loads(r.stdout)
if cmd == "ADD":
    print(json.dumps(prev))
PY
python3 "$T_TMP/chain.py" ADD chained1 /run/netns/c2 "$T_TMP/10-ctnet.conflist" "$CNI_DIR" >"$T_TMP/chain.json"
check_eq "conflist ADD (ctnet-cni -> tuning) exits 0" "$?" "0"
check_eq "chained result still has the spec's shape" "$(python3 "$T_TMP/shape.py" 1.0.0 1 "$T_TMP/chain.json")" "ok"
check_eq "tuning read ctnet-cni's prevResult and set the MAC it reports" \
	"$(jget "$T_TMP/chain.json" '[i["mac"] for i in r["interfaces"] if i.get("sandbox")][0]')" "02:42:ac:11:00:99"
check_eq "the MAC is set on eth0 in the container" \
	"$(ip -n c2 -j link show eth0 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])')" "02:42:ac:11:00:99"
check_eq "tuning's sysctl is set in the container" "$(ip netns exec c2 cat /proc/sys/net/ipv4/conf/eth0/rp_filter)" "2"
ADDR2=$(jget "$T_TMP/chain.json" 'r["ips"][0]["address"].split("/")[0]')
check "chained container answers ping" ping -c1 -W"$T_CONN" "$ADDR2"
check_eq "chained container reaches upstream" "$(ip netns exec c2 timeout $T_CONN socat -T$T_IDLE -t$T_IDLE - TCP:192.0.2.2:80 </dev/null)" "192.0.2.1"
python3 "$T_TMP/chain.py" CHECK chained1 /run/netns/c2 "$T_TMP/10-ctnet.conflist" "$CNI_DIR" "$T_TMP/chain.json"
check_eq "conflist CHECK with the final result as prevResult" "$?" "0"
python3 "$T_TMP/chain.py" DEL chained1 /run/netns/c2 "$T_TMP/10-ctnet.conflist" "$CNI_DIR" "$T_TMP/chain.json"
check_eq "conflist DEL (tuning, then ctnet-cni) exits 0" "$?" "0"
check_eq "conflist DEL: nothing left" "$(snapshot_links) $($CTNET status --json)" "$links0 []"

# --- IPv6 ---
cni ADD v6box eth0 /run/netns/c2 '{"cniVersion":"1.0.0","name":"ctnet","type":"ctnet-cni","ipv6":true}'
check_eq "ipv6 ADD exits 0" "$?" "0"
check_eq "ipv6 result: two ips, two routes" "$(python3 "$T_TMP/shape.py" 1.0.0 2 "$T_TMP/out")" "ok"
ADDR6=$(jget "$T_TMP/out" '[i["address"] for i in r["ips"] if ":" in i["address"]][0].split("/")[0]')
check "ping6 the container" ping -6 -c1 -W"$T_CONN" "$ADDR6"
cni DEL v6box eth0 /run/netns/c2 '{"cniVersion":"1.0.0","name":"ctnet","type":"ctnet-cni","ipv6":true}'
check_eq "ipv6 DEL exits 0" "$?" "0"

# --- bridge mode ---
BRCONF='{"cniVersion":"1.0.0","name":"ctbr","type":"ctnet-cni","bridge":"cni-br0","subnet":"10.99.0.0/24"}'
cni ADD brbox eth0 /run/netns/c2 "$BRCONF"
check_eq "bridge ADD exits 0" "$?" "0"
check_eq "bridge result shape" "$(python3 "$T_TMP/shape.py" 1.0.0 1 "$T_TMP/out")" "ok"
check_eq "bridge: address with the subnet's prefix, bridge as gateway" \
	"$(jget "$T_TMP/out" 'r["ips"][0]["address"], r["ips"][0]["gateway"], r["interfaces"][0]["name"]' | tr -d "(),'")" "10.99.0.2/24 10.99.0.1 cni-br0"
check_eq "bridge: host side enslaved to cni-br0" \
	"$(ip -j link show master cni-br0 | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" "1"
check "ping the bridged container" ping -c1 -W"$T_CONN" 10.99.0.2
# The bridge deleted by another tool: the record names its gateway, so a repair makes it
# again (the plugin made it through ct_up, not on its own).
ip link del cni-br0
check_exit "bridge deleted: ctnet status says so" 1 $CTNET status
check_exit "bridge deleted: ctnet repair" 0 $CTNET repair "$($CTNET status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["name"])')"
check_eq "bridge deleted: made again with its gateway" \
	"$(ip -j addr show cni-br0 | python3 -c 'import json,sys; print([a["local"]+"/"+str(a["prefixlen"]) for a in json.load(sys.stdin)[0]["addr_info"] if a["family"]=="inet"])')" "['10.99.0.1/24']"
check "bridge deleted: ping the bridged container again" ping -c1 -W"$T_CONN" 10.99.0.2
cni DEL brbox eth0 /run/netns/c2 "$BRCONF"
check_eq "bridge DEL exits 0, bridge has no ports left" \
	"$? $(ip -j link show master cni-br0 | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" "0 0"
check_eq "bridge DEL keeps the network's shared bridge" "$(ip -j link show cni-br0 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["ifname"])')" "cni-br0"
ip link del cni-br0

# --- ipMasq:false: plumbed, but no NAT entry ---
cni ADD nomasq eth0 /run/netns/c2 '{"cniVersion":"1.0.0","name":"ctnet","type":"ctnet-cni","ipMasq":false}'
check_eq "ipMasq:false ADD exits 0" "$?" "0"
A=$(jget "$T_TMP/out" 'r["ips"][0]["address"].split("/")[0]')
check "ipMasq:false: container still answers ping" ping -c1 -W"$T_CONN" "$A"
check_eq "ipMasq:false: address not in ctnet's masquerade set" \
	"$(nft -j list set inet ctnet masq4 | python3 -c 'import json,sys; print([x for x in json.load(sys.stdin)["nftables"] if "set" in x][0]["set"].get("elem", []))')" "[]"
cni DEL nomasq eth0 /run/netns/c2 '{"cniVersion":"1.0.0","name":"ctnet","type":"ctnet-cni","ipMasq":false}'
check_eq "ipMasq:false DEL exits 0" "$?" "0"
check_eq "all gone at the end" "$(snapshot_links) $($CTNET status --json) $($IPAM list --json)" "$links0 [] []"
finish
