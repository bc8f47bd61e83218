#!/usr/bin/env bash
# ctnet-cni lifecycle and bad input: DEL twice, DEL of what was never added, DEL after the
# namespace is gone, GC with cni.dev/valid-attachments, STATUS failing, and bad configs and
# environments answered with the spec's error object and code, changing nothing.
. "$(dirname "$0")/lib.sh"

CNI=$CTNET_BIN/ctnet-cni
CONF='{"cniVersion":"1.1.0","name":"ctnet","type":"ctnet-cni"}'

# cni CMD ID IFNAME NETNS CONFIG: stdout in $T_TMP/out; returns the exit status.
# CNI_ARGS from $ARGS (unset: none).
cni() {
	printf '%s' "$5" | env CNI_COMMAND="$1" CNI_CONTAINERID="$2" CNI_IFNAME="$3" CNI_NETNS="$4" \
		${ARGS+CNI_ARGS="$ARGS"} CNI_PATH=/usr/lib/cni "$CNI" >"$T_TMP/out" 2>"$T_TMP/err"
}
# The spec's error object: prints its code, or why it is not one.
cat >"$T_TMP/errshape.py" <<'PY'
import json, sys
try:
    r = json.load(open(sys.argv[1]))
    assert set(r) <= {"cniVersion", "code", "msg", "details"}, "extra keys %s" % sorted(r)
    assert isinstance(r["cniVersion"], str) and r["cniVersion"], "cniVersion"
    assert isinstance(r["code"], int), "code"
    assert isinstance(r["msg"], str) and r["msg"], "msg"
    assert isinstance(r.get("details", ""), str), "details"
    print(r["code"])
except Exception as e:
    print("not an error object: %s: %s" % (type(e).__name__, e))
PY
names() { $CTNET status --json | python3 -c 'import json,sys; print(sorted(c["name"] for c in json.load(sys.stdin)))'; }
# Everything a failed call must leave alone: state and run dirs, nft, links.
snap() {
	snapshot_state
	(cd "$CTNET_RUN_DIR" 2>/dev/null && find . -type f | sort | xargs -r md5sum)
	snapshot_nft
	snapshot_links
}

links0=$(snapshot_links)

# --- DEL: idempotent, and fine when never added ---
mkns d1
check_eq "ADD" "$(cni ADD d1 eth0 /run/netns/d1 "$CONF"; echo $?)" "0"
check_eq "DEL" "$(cni DEL d1 eth0 /run/netns/d1 "$CONF"; echo $?)" "0"
check_eq "DEL again succeeds" "$(cni DEL d1 eth0 /run/netns/d1 "$CONF"; echo $?)" "0"
check_eq "DEL of an attachment never added succeeds" "$(cni DEL never eth0 /run/netns/d1 "$CONF"; echo $?)" "0"
check_eq "DEL without CNI_NETNS succeeds" "$(cni DEL never eth0 "" "$CONF"; echo $?)" "0"
check_eq "after DELs: nothing left" "$(snapshot_links) $(names)" "$links0 []"
check_eq "after DELs: no file in the run dir, lock files included" \
	"$(cd "$CTNET_RUN_DIR" && find . -type f | sort | tr '\n' ' ')" ""

# --- DEL after the namespace was deleted ---
mkns d2
cni ADD d2 eth0 /run/netns/d2 "$CONF"
ADDR=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ips"][0]["address"].split("/")[0])' "$T_TMP/out")
ip netns del d2
check_eq "DEL after the netns is gone exits 0" "$(cni DEL d2 eth0 /run/netns/d2 "$CONF"; echo $?)" "0"
check_eq "  no record, no lease" "$(names) $($IPAM list --json)" "[] []"
check_eq "  address left the masquerade set" \
	"$(nft -j list set inet ctnet masq4 | python3 -c 'import json,sys; print([x for x in json.load(sys.stdin)["nftables"] if "set" in x][0]["set"].get("elem", []))')" "[]"
check_eq "  host link gone" "$(snapshot_links)" "$links0"
mkns d2b
cni ADD d2b eth0 /run/netns/d2b "$CONF"
check_match "the freed address can be handed out again" "$(cat "$T_TMP/out")" "\"$ADDR/32\""
cni DEL d2b eth0 /run/netns/d2b "$CONF"

# --- GC: removes this network's attachments not in cni.dev/valid-attachments ---
for i in 1 2 3; do mkns g$i; cni ADD "gc-$i" eth0 /run/netns/g$i "$CONF"; done
mkns o1
cni ADD other-1 eth0 /run/netns/o1 '{"cniVersion":"1.1.0","name":"othernet","type":"ctnet-cni"}'
check_eq "GC setup: four attachments" "$(names | tr -cd ',' | wc -c)" "3"
GCCONF='{"cniVersion":"1.1.0","name":"ctnet","type":"ctnet-cni","cni.dev/valid-attachments":[{"containerID":"gc-2","ifname":"eth0"},{"containerID":"elsewhere","ifname":"eth0"}]}'
check_eq "GC exits 0" "$(cni GC "" "" "" "$GCCONF"; echo $?)" "0"
check_eq "GC kept the valid attachment and the other network's" \
	"$(ls "$CTNET_RUN_DIR/cni" | while read -r f; do sed -n 's/^CONTAINER_ID=//p' "$CTNET_RUN_DIR/cni/$f"; done | sort | tr '\n' ' ')" "gc-2 other-1 "
check_eq "GC removed the others' containers" "$(names | tr -cd ',' | wc -c)" "1"
check_eq "GC removed their host links" "$(ip -j link show | python3 -c 'import json,sys; print(sum(1 for l in json.load(sys.stdin) if l.get("ifalias","").startswith("ctnet:cni-")))')" "2"
check "GC left gc-2 working (ping)" ping -c1 -W"$T_CONN" "$(ip -n g2 -j addr show eth0 | python3 -c 'import json,sys; print([a["local"] for a in json.load(sys.stdin)[0]["addr_info"] if a["family"]=="inet"][0])')"
check_eq "GC without valid-attachments is refused (code 7)" \
	"$(cni GC "" "" "" "$CONF"; python3 "$T_TMP/errshape.py" "$T_TMP/out")" "7"
cni DEL gc-2 eth0 /run/netns/g2 "$CONF"
cni DEL other-1 eth0 /run/netns/o1 '{"cniVersion":"1.1.0","name":"othernet","type":"ctnet-cni"}'
check_eq "after GC and DELs: nothing left" "$(snapshot_links) $(names)" "$links0 []"

# --- concurrency: parallel ADDs get distinct addresses; parallel DELs leave nothing ---
for i in $(seq 8); do mkns p$i; done
for i in $(seq 8); do
	printf '%s' "$CONF" | env CNI_COMMAND=ADD CNI_CONTAINERID=par$i CNI_IFNAME=eth0 CNI_NETNS=/run/netns/p$i "$CNI" >"$T_TMP/par$i" 2>&1 &
done
wait
check_eq "8 parallel ADDs: 8 distinct addresses" \
	"$(for i in $(seq 8); do python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ips"][0]["address"])' "$T_TMP/par$i"; done | sort -u | wc -l)" "8"
for i in $(seq 8); do
	printf '%s' "$CONF" | env CNI_COMMAND=DEL CNI_CONTAINERID=par$i CNI_IFNAME=eth0 CNI_NETNS=/run/netns/p$i "$CNI" &
done
wait
check_eq "8 parallel DELs: nothing left" "$(snapshot_links) $(names) $($IPAM list --json)" "$links0 [] []"

# --- a failed ADD undoes itself: host port taken by another attachment ---
PM='{"cniVersion":"1.0.0","name":"ctnet","type":"ctnet-cni","runtimeConfig":{"portMappings":[{"hostPort":8080,"containerPort":80}]}}'
cni ADD owner eth0 /run/netns/p1 "$PM"
before=$(snap)
cni ADD thief eth0 /run/netns/p2 "$PM"
check_eq "ADD with a host port already mapped fails with an error object" "$? $(python3 "$T_TMP/errshape.py" "$T_TMP/out")" "1 999"
check_match "  naming the port and its owner (with the runtime's id)" "$(cat "$T_TMP/err")" 'forward tcp:8080:80: host port taken by container "cni-[0-9a-f]+" \(cni:ctnet id owner\)'
check_eq "  and leaves nothing behind" "$(snap)" "$before"
cni DEL owner eth0 /run/netns/p1 "$PM"

# --- a requested address (IP= in CNI_ARGS, runtimeConfig.ips) and MAC (MAC=) ---
PMC='{"cniVersion":"1.0.0","name":"ctnet","type":"ctnet-cni","capabilities":{"portMappings":true,"ips":true},"runtimeConfig":{"portMappings":[{"hostPort":8082,"containerPort":80}]}}'
IPS='{"cniVersion":"1.0.0","name":"ctnet","type":"ctnet-cni","capabilities":{"ips":true}}'
ip_of() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["ips"][0]["address"], r["ips"][0]["gateway"])' "$T_TMP/out" 2>&1; }
fwds() { $CTNET status --json | python3 -c 'import json,sys; print([f["spec"] for c in json.load(sys.stdin) for f in c["forwards"]])'; }
mkns s1; mkns s2
ARGS="IgnoreUnknown=1;K8S_POD_NAME=s1;IP=10.233.5.2;MAC=02:11:22:33:44:55" cni ADD s1 eth0 /run/netns/s1 "$PMC"
check_eq "IP=10.233.5.2: the result gives it, with its pair's host side as gateway" "$(ip_of)" "10.233.5.2/32 10.233.5.1"
check_eq "  a static lease of the pair" \
	"$($IPAM list --json | python3 -c 'import json,sys; print([(l["host_address"], l["local_address"], l["static"]) for l in json.load(sys.stdin)])')" \
	"[('10.233.5.1', '10.233.5.2', True)]"
check_eq "MAC=02:11:22:33:44:55: the container side has it" \
	"$(ip -n s1 -j link show eth0 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])')" "02:11:22:33:44:55"
before=$(snap)
ARGS="IP=10.233.5.1" cni ADD s2 eth0 /run/netns/s2 "$IPS"
check_eq "IP= of a pair's host side: exit 1, code 4" "$? $(python3 "$T_TMP/errshape.py" "$T_TMP/out")" "1 4"
check_match "  naming the address to ask for" "$(cat "$T_TMP/err")" 'IP 10\.233\.5\.1: the host side of pair 10\.233\.5\.1/10\.233\.5\.2; ask for 10\.233\.5\.2'
ARGS="IP=10.99.0.2" cni ADD s2 eth0 /run/netns/s2 "$IPS"
check_eq "IP= outside the subnet: exit 1, code 4" "$? $(python3 "$T_TMP/errshape.py" "$T_TMP/out")" "1 4"
ARGS="IP=fd00::2" cni ADD s2 eth0 /run/netns/s2 "$IPS"
check_eq "IP= of IPv6: exit 1, code 4" "$? $(python3 "$T_TMP/errshape.py" "$T_TMP/out")" "1 4"
ARGS="IP=10.233.5.2" cni ADD s2 eth0 /run/netns/s2 "$IPS"
check_eq "IP= taken by another attachment: exit 1" "$?" "1"
check_match "  naming the holder" "$(cat "$T_TMP/err")" 'IP 10\.233\.5\.2: .*taken by "cni-[0-9a-f]{16}"'
unset ARGS
cni ADD s2 eth0 /run/netns/s2 '{"cniVersion":"1.0.0","name":"ctnet","type":"ctnet-cni","runtimeConfig":{"ips":["10.233.5.2/16","10.233.6.2"]}}'
check_eq "runtimeConfig.ips with two addresses: exit 1, code 7" "$? $(python3 "$T_TMP/errshape.py" "$T_TMP/out")" "1 7"
check_eq "refused requests changed nothing (state, run dir with lock files, nft, links)" "$(snap)" "$before"
cni ADD s2 eth0 /run/netns/s2 '{"cniVersion":"1.0.0","name":"ctnet","type":"ctnet-cni","runtimeConfig":{"ips":["10.233.9.2/16","10.233.9.2"]}}'
check_eq "runtimeConfig.ips (the address repeated, a prefix): it is given" "$(ip_of)" "10.233.9.2/32 10.233.9.1"
cni DEL s2 eth0 /run/netns/s2 "$IPS"

# --- an ADD for an attachment that is up ---
ARGS="IgnoreUnknown=1;IP=10.233.5.2;MAC=02:11:22:33:44:55" cni ADD s1 eth0 /run/netns/s1 "$IPS"
check_eq "ADD again stating no ports (capabilities {\"ips\":true}, as podman rewrites them): exit 0" "$?" "0"
check_eq "  the forward is kept" "$(fwds)" "['tcp:8082:80']"
check_eq "  the address and MAC too" "$(ip_of) $(ip -n s1 -j link show eth0 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])')" \
	"10.233.5.2/32 10.233.5.1 02:11:22:33:44:55"
before=$(snap)
ARGS="IP=10.233.6.2" cni ADD s1 eth0 /run/netns/s1 "$IPS"
check_eq "ADD again asking for another address: exit 1, code 4" "$? $(python3 "$T_TMP/errshape.py" "$T_TMP/out")" "1 4"
check_match "  saying why" "$(cat "$T_TMP/err")" 'which is up with 10\.233\.5\.2: IP 10\.233\.6\.2 cannot be given to it in place'
check_eq "  and changed nothing" "$(snap)" "$before"
cni ADD s1 eth0 /run/netns/s1 '{"cniVersion":"1.0.0","name":"ctnet","type":"ctnet-cni","capabilities":{"portMappings":true}}'
check_eq "ADD again with the portMappings capability and no mappings: the forward goes" "$? $(fwds)" "0 []"
check_eq "  the address stays (without IP=)" "$(ip_of)" "10.233.5.2/32 10.233.5.1"
cni ADD s1 eth0 /run/netns/s1 "$PMC"
check_eq "ADD again with a mapping: the forward is back" "$? $(fwds)" "0 ['tcp:8082:80']"
cni DEL s1 eth0 /run/netns/s1 "$PMC"
check_eq "DEL: the static lease is released, nothing left" "$($IPAM list --json) $(names) $(snapshot_links)" "[] [] $links0"
check_eq "  no file in the run dir, lock files included" "$(cd "$CTNET_RUN_DIR" && find . -type f | sort | tr '\n' ' ')" ""

# --- gc after a reboot: an attachment's lease goes, a container's by hand stays ---
# A reboot empties /run (records, attachment files) and the kernel; the leases stay.
mkns r1
cni ADD r1 eth0 /run/netns/r1 "$CONF"
$IPAM alloc byhand >/dev/null
ip netns del r1
rm -rf "${CTNET_RUN_DIR:?}"/*
check_eq "reboot: two leases without a record" "$($IPAM list --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" "2"
gc_out=$($CTNET gc 2>&1)
check_match "gc releases the lease of the CNI attachment (no DEL comes for it after a reboot)" "$gc_out" 'removed lease of cni-[0-9a-f]{16} \(no container record\)'
check_eq "  and keeps the one of a container that can come back under its name" \
	"$($IPAM list --json | python3 -c 'import json,sys; print([l["name"] for l in json.load(sys.stdin)])')" "['byhand']"
$IPAM release byhand

# --- STATUS: unusable state dir -> 50 ---
mkdir -m 0777 "$T_TMP/badstate"
check_eq "STATUS with a world-writable state dir: code 50" \
	"$(CTNET_STATE_DIR=$T_TMP/badstate cni STATUS "" "" "" "$CONF"; python3 "$T_TMP/errshape.py" "$T_TMP/out")" "50"
check_eq "STATUS failure exits 1" "$(CTNET_STATE_DIR=$T_TMP/badstate cni STATUS "" "" "" "$CONF"; echo $?)" "1"

# --- bad input: error code, exit 1, nothing changed ---
mkns b1
echo notanetns >"$T_TMP/file"
state0=$(snap)
V1='{"cniVersion":"1.0.0","name":"ctnet","type":"ctnet-cni"'
bad() { # bad WHAT CODE CMD ID IFNAME NETNS CONFIG
	local what=$1 code=$2; shift 2
	cni "$@"
	local rc=$?
	check_eq "$what: exit 1, error code $code" "$rc $(python3 "$T_TMP/errshape.py" "$T_TMP/out")" "1 $code"
}
bad "missing CNI_NETNS on ADD" 4 ADD b1 eth0 "" "$V1}"
bad "missing CNI_CONTAINERID" 4 ADD "" eth0 /run/netns/b1 "$V1}"
bad "missing CNI_COMMAND" 4 "" b1 eth0 /run/netns/b1 "$V1}"
bad "unknown CNI_COMMAND" 4 FROB b1 eth0 /run/netns/b1 "$V1}"
bad "hostile container id (shell)" 4 ADD 'a;rm -rf /' eth0 /run/netns/b1 "$V1}"
bad "hostile container id (path)" 4 ADD '../../etc/passwd' eth0 /run/netns/b1 "$V1}"
bad "hostile container id (newline)" 4 ADD $'a\nNETWORK=x' eth0 /run/netns/b1 "$V1}"
bad "container id of 300 bytes" 4 ADD "$(printf 'a%.0s' {1..300})" eth0 /run/netns/b1 "$V1}"
bad "hostile container id on DEL" 4 DEL '$(reboot)' eth0 /run/netns/b1 "$V1}"
bad "bad CNI_IFNAME" 4 ADD b1 'eth0/../x' /run/netns/b1 "$V1}"
bad "CNI_IFNAME too long" 4 ADD b1 abcdefghijklmnop /run/netns/b1 "$V1}"
bad "CNI_NETNS not a namespace" 4 ADD b1 eth0 "$T_TMP/file" "$V1}"
bad "CNI_NETNS missing file" 4 ADD b1 eth0 /run/netns/nope "$V1}"
bad "unknown cniVersion" 1 ADD b1 eth0 /run/netns/b1 '{"cniVersion":"9.9.9","name":"ctnet","type":"ctnet-cni"}'
bad "CHECK with a 0.3.1 config" 1 CHECK b1 eth0 /run/netns/b1 '{"cniVersion":"0.3.1","name":"ctnet","type":"ctnet-cni"}'
bad "GC with a 1.0.0 config" 1 GC "" "" "" "$V1,\"cni.dev/valid-attachments\":[]}"
bad "malformed JSON" 6 ADD b1 eth0 /run/netns/b1 '{"cniVersion":"1.0.0",'
bad "not an object" 6 ADD b1 eth0 /run/netns/b1 '[1,2]'
bad "duplicate keys" 6 ADD b1 eth0 /run/netns/b1 '{"cniVersion":"1.0.0","name":"a","name":"b","type":"x"}'
bad "missing name" 7 ADD b1 eth0 /run/netns/b1 '{"cniVersion":"1.0.0","type":"ctnet-cni"}'
bad "hostile network name" 7 ADD b1 eth0 /run/netns/b1 '{"cniVersion":"1.0.0","name":"a b;c","type":"ctnet-cni"}'
bad "subnet with host bits" 7 ADD b1 eth0 /run/netns/b1 "$V1,\"subnet\":\"10.233.0.1/16\"}"
bad "subnet /33" 7 ADD b1 eth0 /run/netns/b1 "$V1,\"subnet\":\"10.233.0.0/33\"}"
bad "subnet not an address" 7 ADD b1 eth0 /run/netns/b1 "$V1,\"subnet\":\"ten.0.0.0/8\"}"
bad "ipMasq not a boolean" 7 ADD b1 eth0 /run/netns/b1 "$V1,\"ipMasq\":\"yes\"}"
bad "hostPort out of range" 7 ADD b1 eth0 /run/netns/b1 "$V1,\"runtimeConfig\":{\"portMappings\":[{\"hostPort\":70000,\"containerPort\":80}]}}"
bad "sctp port mapping" 7 ADD b1 eth0 /run/netns/b1 "$V1,\"runtimeConfig\":{\"portMappings\":[{\"hostPort\":80,\"containerPort\":80,\"protocol\":\"sctp\"}]}}"
bad "bad hostIP" 7 ADD b1 eth0 /run/netns/b1 "$V1,\"runtimeConfig\":{\"portMappings\":[{\"hostPort\":80,\"containerPort\":80,\"hostIP\":\"1.2.3\"}]}}"
bad "portMappings with ipMasq:false" 7 ADD b1 eth0 /run/netns/b1 "$V1,\"ipMasq\":false,\"runtimeConfig\":{\"portMappings\":[{\"hostPort\":80,\"containerPort\":80}]}}"
bad "delegated ipam is an unsupported field" 2 ADD b1 eth0 /run/netns/b1 "$V1,\"ipam\":{\"type\":\"dhcp\"}}"
bad "host-local ipam without ranges is invalid" 7 ADD b1 eth0 /run/netns/b1 "$V1,\"ipam\":{\"type\":\"host-local\"}}"
bad "an unfilled {{.PodCIDR}} template is invalid" 7 ADD b1 eth0 /run/netns/b1 "$V1,\"ipam\":{\"type\":\"host-local\",\"ranges\":[[{\"subnet\":\"{{.PodCIDR}}\"}]]}}"
bad "clusterCIDRs with host bits are invalid" 7 ADD b1 eth0 /run/netns/b1 "$V1,\"clusterCIDRs\":[\"10.244.0.1/16\"]}"
bad "bad bridge name" 7 ADD b1 eth0 /run/netns/b1 "$V1,\"bridge\":\"br0;ip link del lo\"}"
bad "CHECK of an unknown attachment" 3 CHECK b1 eth0 /run/netns/b1 "$V1}"
python3 -c 'print("{\"cniVersion\":\"1.0.0\",\"pad\":\"" + "x" * (1 << 20) + "\"}")' >"$T_TMP/big"
check_eq "config over 1 MiB: exit 1, code 5" \
	"$(env CNI_COMMAND=ADD CNI_CONTAINERID=b1 CNI_IFNAME=eth0 CNI_NETNS=/run/netns/b1 "$CNI" <"$T_TMP/big" >"$T_TMP/out" 2>/dev/null; echo $?) $(python3 "$T_TMP/errshape.py" "$T_TMP/out")" "1 5"
check_match "error names the variable (stderr, one line)" "$(cni ADD 'x;y' eth0 /run/netns/b1 "$V1}"; cat "$T_TMP/err")" '^ctnet-cni: CNI_CONTAINERID "x;y": '
check_eq "error cniVersion is the config's" "$(cni ADD b1 eth0 "" '{"cniVersion":"0.4.0","name":"n","type":"t"}'; python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["cniVersion"])' "$T_TMP/out")" "0.4.0"
check_eq "bad input changed nothing (state, run dir, nft, links)" "$(snap)" "$state0"

# --- The subnet from containerd's template (host-local ranges), and the host config ---
ipof() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ips"][0]["address"])' "$T_TMP/out"; }
RANGES='{"cniVersion":"1.0.0","name":"k8s","type":"ctnet-cni","ipam":{"type":"host-local","ranges":[[{"subnet":"10.244.7.0/24"}]],"routes":[{"dst":"0.0.0.0/0"}]}}'
mkns r1
check_eq "ADD with the template's ranges exits 0" "$(cni ADD r1 eth0 /run/netns/r1 "$RANGES"; echo $?)" "0"
check_match "  the address is of the pod CIDR 10.244.7.0/24" "$(ipof)" '^10\.244\.7\.[0-9]+/'
check_match "  and in the container" "$(ip -n r1 -4 -o addr show dev eth0)" ' 10\.244\.7\.'
cni DEL r1 eth0 /run/netns/r1 "$RANGES"
printf 'POOL=10.60.0.0/16\nCLUSTER_CIDR=10.60.0.0/16\n' >"$T_TMP/ctnet.conf"
mkns r2
check_eq "ADD without a subnet, host config with POOL: exits 0" \
	"$(CTNET_CONF=$T_TMP/ctnet.conf cni ADD r2 eth0 /run/netns/r2 "$CONF"; echo $?)" "0"
check_match "  the address is of the host config's POOL" "$(ipof)" '^10\.60\.'
check_eq "  DEL" "$(CTNET_CONF=$T_TMP/ctnet.conf cni DEL r2 eth0 /run/netns/r2 "$CONF"; echo $?)" "0"
printf 'POOL=10.60.0.0/16\nCLUSTR=1\n' >"$T_TMP/bad.conf"
state1=$(snap)
check_eq "a host config with an unknown key: exit 1, code 7" \
	"$(CTNET_CONF=$T_TMP/bad.conf cni ADD r2 eth0 /run/netns/r2 "$CONF"; echo $? $(python3 "$T_TMP/errshape.py" "$T_TMP/out"))" "1 7"
check_match "  the error names the file, the line and the key" "$(cat "$T_TMP/err")" 'bad\.conf.* line 2: unknown key "CLUSTR"'
check_eq "  and changed nothing" "$(snap)" "$state1"
check_eq "VERSION works with a broken host config" \
	"$(CTNET_CONF=$T_TMP/bad.conf cni VERSION "" "" "" '{"cniVersion":"1.0.0"}'; echo $?)" "0"
check_exit "--help exits 0" 0 "$CNI" --help
check_exit "an argument is a usage error (2)" 2 "$CNI" ADD
finish
