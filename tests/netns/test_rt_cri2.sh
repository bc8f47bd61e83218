#!/usr/bin/env bash
# Two Kubernetes nodes, pod to pod without NAT: the Kubernetes network model with ctnet-cni
# and BIRD. Each node is a network namespace on a fabric bridge (this test's namespace is
# the fabric and plays the internet at 192.168.100.254) with a mount namespace of its own
# (containerd's, CNI's and ctnet's directories, /etc/ctnet, /run/netns) where a containerd runs
# from examples/kubernetes/ (config.toml and ctnet-cni.template, copied unchanged). As kubelet
# does, the test passes each node its pod CIDR through the CRI's UpdateRuntimeConfig; containerd
# renders the template with {{.PodCIDR}}, and ctnet-cni allocates from it. Each node's
# /etc/ctnet/ctnet.conf names its POOL (its pod CIDR) and the cluster CIDRs; each node runs BIRD
# with the configuration `ctnet bird-config` prints, announcing its pod CIDR to the other.
# Checked: pods get addresses of their node's pod CIDR; each node learns the other's pod CIDR
# from BIRD (proto bird); a pod reaches the pod of the other node and is seen there with its
# own address, both ways; to the internet it is masqueraded; stopping and removing the pods
# leaves nothing.
# Needs: containerd, ctr, umoci, python3-grpcio, bird2; kernel: veth, bridge, nftables.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/rt_lib.sh"
for p in containerd ctr umoci bird birdc; do
	command -v $p >/dev/null || { echo "SKIP: $p not installed"; exit 77; }
done
/usr/bin/python3 -c 'import grpc' 2>/dev/null || { echo "SKIP: python3-grpcio not installed"; exit 77; }
CRI_PY="/usr/bin/python3 $RT_REPO/tests/netns/cri_client.py /run/containerd/containerd.sock"

declare -A NODE BIRD_PID SIDS
INET_PID=
cleanup() {
	local n s
	for n in 1 2; do
		for s in ${SIDS[$n]:-}; do innode $n $CRI_PY stop $s; innode $n $CRI_PY remove $s; done >/dev/null 2>&1
		[ -n "${BIRD_PID[$n]:-}" ] && kill "${BIRD_PID[$n]}" 2>/dev/null
		[ -n "${NODE[$n]:-}" ] && { kill "${NODE[$n]}"; wait "${NODE[$n]}"; } 2>/dev/null
	done
	[ -n "$INET_PID" ] && kill $INET_PID 2>/dev/null
	rt_cgroup_cleanup
	_t_cleanup
}
trap cleanup EXIT
rt_install_ctnet

# innode N CMD...: CMD in node N's network and mount namespaces, with ctnet's default dirs.
innode() {
	local n=$1
	shift
	env -u CTNET_STATE_DIR -u CTNET_RUN_DIR -u CTNET_NIXOS_CONF_DIR -u CTNET_CONF \
		nsenter -t "${NODE[$n]}" -m -n -- "$@"
}

# The fabric, and the internet: whoever connects to 192.168.100.254:80 is told its address.
ip link add fab type bridge
ip addr add 192.168.100.254/24 dev fab
ip link set fab up
printf '#!/bin/sh\nprintf "HTTP/1.0 200 OK\\r\\n\\r\\n%%s\\n" "$SOCAT_PEERADDR"\n' >"$T_TMP/inet.sh"
socat -t$T_IDLE TCP-LISTEN:80,bind=192.168.100.254,fork,reuseaddr EXEC:"sh $T_TMP/inet.sh" &
INET_PID=$!

# The sandbox image, offline, as in test_rt_cri.sh: busybox httpd; /cgi-bin/peer says who
# asks, /cgi-bin/fetch?ADDR asks ADDR's /cgi-bin/peer (or the internet's /) and says the answer.
L=$T_TMP/layout B=$T_TMP/bundle
umoci init --layout "$L" && umoci new --image "$L:3.6" && umoci unpack --image "$L:3.6" "$B" >/dev/null &&
	rt_rootfs "$B/rootfs" && mkdir -p "$B/rootfs/www/cgi-bin" &&
	printf '#!/bin/sh\necho "Content-Type: text/plain"\necho\necho "$REMOTE_ADDR" | sed "s/^\\[//; s/]\\$//; s/^::ffff://"\n' \
		>"$B/rootfs/www/cgi-bin/peer" &&
	printf '#!/bin/sh\necho "Content-Type: text/plain"\necho\nprintf "GET /cgi-bin/peer HTTP/1.0\\r\\n\\r\\n" | nc -w 3 "$QUERY_STRING" 80 | sed "1,/^\\r*$/d"\n' \
		>"$B/rootfs/www/cgi-bin/fetch" &&
	chmod 0755 "$B/rootfs/www/cgi-bin/peer" "$B/rootfs/www/cgi-bin/fetch" && umoci repack --image "$L:3.6" "$B" &&
	umoci config --image "$L:3.6" --config.entrypoint /bin/sh --config.entrypoint -c \
		--config.entrypoint 'exec httpd -f -p 80 -h /www' && (cd "$L" && tar -cf "$T_TMP/pause.tar" .)

# start_node N: namespace nodeN at 192.168.100.N on the fabric, pod CIDR 10.244.N.0/24.
cat >"$T_TMP/node.sh" <<'EOS'
n=$1 repo=$2
for d in /etc/containerd /var/lib/containerd /run/containerd /etc/cni/net.d /var/lib/cni /opt \
	/var/lib/ctnet /run/ctnet /etc/ctnet /etc/nixos-containers /run/netns; do
	mkdir -p $d && mount -t tmpfs -o mode=0755 tmpfs $d || exit 1
done
unset CTNET_STATE_DIR CTNET_RUN_DIR CTNET_NIXOS_CONF_DIR CTNET_CONF
cp "$repo/examples/kubernetes/config.toml" "$repo/examples/kubernetes/ctnet-cni.template" /etc/containerd/ &&
	printf 'POOL=10.244.%s.0/24\nCLUSTER_CIDR=10.244.0.0/16,10.96.0.0/12\n' "$n" >/etc/ctnet/ctnet.conf || exit 1
exec containerd --config /etc/containerd/config.toml >"$3" 2>&1
EOS
start_node() {
	local n=$1
	mkns node$n
	ip link add fab$n type veth peer name eth0 netns node$n
	ip link set fab$n master fab up
	ip -n node$n addr add 192.168.100.$n/24 dev eth0
	ip -n node$n link set eth0 up
	ip -n node$n route add default via 192.168.100.254
	# (not `ip netns exec`: its fresh /sys has no cgroup mounts, which runc needs)
	nsenter --net=/run/netns/node$n unshare -m --propagation private bash "$T_TMP/node.sh" $n "$RT_REPO" \
		"$T_TMP/containerd$n.log" &
	NODE[$n]=$!
}
start_node 1
start_node 2
for n in 1 2; do
	check "node $n: containerd answers" until_true "$T_WAIT" innode $n ctr version
	check "node $n: the sandbox image imported" \
		innode $n ctr -n k8s.io image import --base-name registry.k8s.io/pause "$T_TMP/pause.tar"
	check "node $n: UpdateRuntimeConfig with pod CIDR 10.244.$n.0/24" innode $n $CRI_PY podcidr 10.244.$n.0/24
	check "node $n: containerd rendered the template with the pod CIDR" until_true "$T_WAIT" \
		innode $n grep -q "\"10.244.$n.0/24\"" /etc/cni/net.d/10-containerd-net.conflist
done

# BIRD on each node, with what `ctnet bird-config` prints for it.
for n in 1 2; do
	peer=$((3 - n))
	innode $n ctnet bird-config --source 192.168.100.$n --neighbor 192.168.100.$peer \
		--announce 10.244.$n.0/24 >"$T_TMP/bird$n.conf" 2>"$T_TMP/bird$n.err"
	check_eq "node $n: ctnet bird-config exits 0" "$? $(cat "$T_TMP/bird$n.err")" "0 "
	check "node $n: bird parses it" bird -p -c "$T_TMP/bird$n.conf"
	ip netns exec node$n bird -f -c "$T_TMP/bird$n.conf" -s "$T_TMP/bird$n.ctl" -P "$T_TMP/bird$n.pid" \
		>"$T_TMP/bird$n.log" 2>&1 &
	BIRD_PID[$n]=$!
done
for n in 1 2; do
	peer=$((3 - n))
	check "node $n: learns 10.244.$peer.0/24 from BIRD (proto bird, via 192.168.100.$peer)" until_true "$T_WAIT" \
		sh -c "ip -n node$n route show 10.244.$peer.0/24 proto bird | grep -q 'via 192.168.100.$peer'"
done

# A pod on each node. The network may become ready a moment after the template was rendered.
run_pod() {
	local n=$1 sid end=$((SECONDS + T_WAIT))
	while [ $SECONDS -lt $end ]; do
		sid=$(innode $n $CRI_PY run pod$n default uid-pod$n "/$RT_CG/node$n-pod" 2>"$T_TMP/cri$n.err") && break
		sleep 0.5
	done
	echo "$sid"
}
pod_ip() { innode $1 $CRI_PY status "$2" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["ip"])' 2>/dev/null; }
for n in 1 2; do
	SIDS[$n]=$(run_pod $n)
	check_match "node $n: RunPodSandbox returns a sandbox id" "${SIDS[$n]}" '^[0-9a-f]{64}$'
	[ -n "${SIDS[$n]}" ] || { cat "$T_TMP/cri$n.err"; tail -20 "$T_TMP/containerd$n.log"; }
done
# ("none" when unknown: an empty answer below must never equal it)
IP1=$(pod_ip 1 "${SIDS[1]}") IP2=$(pod_ip 2 "${SIDS[2]}")
IP1=${IP1:-none} IP2=${IP2:-none}
check_match "pod 1's address is of node 1's pod CIDR" "$IP1" '^10\.244\.1\.[0-9]+$'
check_match "pod 2's address is of node 2's pod CIDR" "$IP2" '^10\.244\.2\.[0-9]+$'

check_eq "pod 1 -> pod 2 across nodes: pod 2 sees pod 1's own address (no NAT)" \
	"$(rt_http node1 "$IP1" 80 "/cgi-bin/fetch?$IP2")" "$IP1"
check_eq "pod 2 -> pod 1 across nodes: pod 1 sees pod 2's own address (no NAT)" \
	"$(rt_http node2 "$IP2" 80 "/cgi-bin/fetch?$IP1")" "$IP2"
check_eq "pod 1 -> the internet: masqueraded as node 1 (192.168.100.1)" \
	"$(rt_http node1 "$IP1" 80 "/cgi-bin/fetch?192.168.100.254")" "192.168.100.1"
check_match "node 1: its own pod CIDR is unreachable in the kernel, not sent out of the default route" \
	"$(ip -n node1 route show 10.244.1.0/24)" '^unreachable 10\.244\.1\.0/24 proto bird'
for n in 1 2; do
	innode $n ctnet doctor --json >"$T_TMP/doctor$n.json"
	check_eq "node $n: ctnet doctor exits 0 and names the other node's pod CIDR learned by bird" \
		"$? $(python3 -c 'import json,sys; f=json.load(open(sys.argv[1]))["findings"]; print(sorted(x["code"] for x in f if x["severity"] != "note"), any(sys.argv[2] in x["object"] + x["evidence"] and "bird" in x["evidence"] for x in f))' "$T_TMP/doctor$n.json" "10.244.$((3 - n)).0/24")" \
		"0 [] True"
done

for n in 1 2; do
	check_eq "node $n: StopPodSandbox and RemovePodSandbox" \
		"$(innode $n $CRI_PY stop "${SIDS[$n]:-none}" && innode $n $CRI_PY remove "${SIDS[$n]:-none}" && echo ok)" "ok"
	SIDS[$n]=
	check_eq "node $n: no lease, no record, no ctnet link left" \
		"$(innode $n ctnet-ipam list --json) $(innode $n ctnet status --json) $(ip -n node$n -o link | grep -cE ' (ve|vb)-')" "[] [] 0"
done
finish
