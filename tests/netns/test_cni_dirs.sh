#!/usr/bin/env bash
# ctnet-cni with "stateDir" and "runDir" in the network config and NO CTNET_* variables in its
# environment (podman's cleanup runs DEL that way): ADD uses the config's dirs, stores the
# runtime's container id and K8S_POD_NAME/K8S_POD_NAMESPACE with the attachment, a port
# mapping answers, DEL leaves nothing. The default dirs (/var/lib/ctnet, /run/ctnet) are
# private empty mounts here and must stay empty. CTNET_CNI_PLUGIN picks another plugin binary
# (tests/netns/test_deb.sh runs this against the packaged one).
. "$(dirname "$0")/lib.sh"

CNI=${CTNET_CNI_PLUGIN:-$CTNET_BIN/ctnet-cni}
SD=$T_SANDBOX/cfg-state RD=$T_SANDBOX/cfg-run
for d in /var/lib/ctnet /run/ctnet; do mkdir -p "$d" && mount -t tmpfs -o mode=0755 tmpfs "$d"; done

mk_upstream
ip netns exec upstream socat -t$T_IDLE TCP-LISTEN:80,fork,reuseaddr SYSTEM:'echo $SOCAT_PEERADDR' &
UP_PID=$! SRV_PID=
trap 'kill $UP_PID $SRV_PID 2>/dev/null; umount /var/lib/ctnet /run/ctnet 2>/dev/null; _t_cleanup' EXIT
links0=$(snapshot_links)
nft0=$(snapshot_nft)

CONF='{"cniVersion":"1.0.0","name":"dirs","type":"ctnet-cni","stateDir":"'$SD'","runDir":"'$RD'",
 "runtimeConfig":{"portMappings":[{"HostPort":8080,"ContainerPort":80,"Protocol":"tcp","HostIP":""}]}}'
ID=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
# The plugin with only what a runtime sets: no CTNET_STATE_DIR, CTNET_RUN_DIR, ... but the
# sandbox's CTNET_CGROUP and CTNET_CONF (lib.sh): its loopback forwards never attach to the
# machine's root cgroup, and no /etc/ctnet/ctnet.conf of the machine is read.
cni() {
	printf '%s' "$5" | env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin CTNET_CGROUP="$CTNET_CGROUP" CTNET_CONF="$CTNET_CONF" \
		CNI_COMMAND="$1" CNI_CONTAINERID="$2" \
		CNI_IFNAME="$3" CNI_NETNS="$4" CNI_PATH=/usr/lib/cni \
		CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-7" "$CNI" >"$T_TMP/out" 2>"$T_TMP/err"
}
jget() { python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print($2)" "$1"; }
in_dirs() { CTNET_STATE_DIR=$SD CTNET_RUN_DIR=$RD "$@"; }

mkns c1
cni ADD "$ID" eth0 /run/netns/c1 "$CONF"
check_eq "ADD without CTNET_* exits 0" "$?" "0"
ADDR=$(jget "$T_TMP/out" 'r["ips"][0]["address"].split("/")[0]' 2>/dev/null)
check_match "ADD: an address from the pool" "$ADDR" '^10\.233\.[0-9]+\.[0-9]+$'
check_eq "ADD: the lease is in the config's stateDir" \
	"$(in_dirs $IPAM list --json | python3 -c 'import json,sys; print([l["local_address"].split("/")[0] for l in json.load(sys.stdin)])' 2>&1)" "['$ADDR']"
ATT=$(ls "$RD/cni" 2>/dev/null | grep '^cni-')
check_match "ADD: the attachment is in the config's runDir" "$ATT" '^cni-[0-9a-f]{16}$'
check_eq "ADD: the attachment stores the runtime's container id" \
	"$(sed -n 's/^CONTAINER_ID=//p' "$RD/cni/$ATT" 2>/dev/null)" "$ID"
check_eq "ADD: the attachment stores K8S_POD_NAME and K8S_POD_NAMESPACE" \
	"$(sed -n 's/^POD_NAME=//p; s/^POD_NAMESPACE=//p' "$RD/cni/$ATT" 2>/dev/null | tr '\n' ' ')" "web-7 shop "
check_eq "ADD: nothing in the default state dirs" "$(find /var/lib/ctnet /run/ctnet -mindepth 1 | wc -l)" "0"
check_eq "container reaches upstream, masqueraded as the host" \
	"$(ip netns exec c1 timeout $T_CONN socat -T$T_IDLE -t$T_IDLE - TCP:192.0.2.2:80 </dev/null)" "192.0.2.1"
ip netns exec c1 socat -t$T_IDLE TCP-LISTEN:80,fork,reuseaddr SYSTEM:'echo hello-from-c1' &
SRV_PID=$!
wait_port c1 80
check_eq "port mapping with Go-style keys (HostPort, as containerd's CRI sends): upstream reaches the container on 8080" \
	"$(ip netns exec upstream timeout $T_CONN socat -T$T_IDLE -t$T_IDLE - TCP:192.0.2.1:8080 </dev/null)" "hello-from-c1"
check_eq "port mapping: 127.0.0.1:8080 from the host reaches the container" \
	"$(timeout $T_CONN socat -T$T_IDLE -t$T_IDLE - TCP:127.0.0.1:8080 </dev/null)" "hello-from-c1"
kill $SRV_PID; SRV_PID=

# DEL after the namespace is gone, again without CTNET_*: everything goes.
ip netns del c1
# ... and with a port mapping it cannot parse (a DEL refused on it would leave everything behind).
cni DEL "$ID" eth0 "" '{"cniVersion":"1.0.0","name":"dirs","type":"ctnet-cni","stateDir":"'$SD'","runDir":"'$RD'",
 "runtimeConfig":{"portMappings":[{"hostPort":0,"containerPort":80}]}}'
check_eq "DEL without CTNET_*, with an unusable portMappings entry, exits 0" "$?" "0"
check_eq "DEL: no lease left" "$(in_dirs $IPAM list --json)" "[]"
check_eq "DEL: no record left" "$(in_dirs $CTNET status --json)" "[]"
check_eq "DEL: no attachment file left" "$(ls "$RD/cni" | grep '^cni-')" ""
check_eq "DEL: host links as before" "$(snapshot_links)" "$links0"
check_eq "DEL: no forward left in nft" "$(nft -j list map inet ctnet fwd4 | python3 -c 'import json,sys; print([x for x in json.load(sys.stdin)["nftables"] if "map" in x][0]["map"].get("elem", []))')" "[]"
check_eq "DEL: no masqueraded address left in nft" "$(nft -j list set inet ctnet masq4 2>/dev/null | python3 -c 'import json,sys; print([x for x in json.load(sys.stdin)["nftables"] if "set" in x][0]["set"].get("elem", []))')" "[]"
check_eq "DEL: nothing in the default state dirs" "$(find /var/lib/ctnet /run/ctnet -mindepth 1 | wc -l)" "0"

cni ADD "$ID" eth0 /run/netns/c1 '{"cniVersion":"1.0.0","name":"dirs","type":"ctnet-cni","stateDir":"relative/dir"}'
check_eq "stateDir must be an absolute path (code 7)" "$? $(jget "$T_TMP/out" 'r["code"]')" "1 7"
finish
