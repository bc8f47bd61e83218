#!/usr/bin/env bash
# The Kubernetes node path: containerd's CRI plugin calls ctnet-cni exactly as on a
# kubelet-driven node. tests/netns/cri_client.py speaks the CRI gRPC API (RunPodSandbox with a
# port mapping, PodSandboxStatus, StopPodSandbox, RemovePodSandbox) to a containerd started in
# this test's world (private /etc/containerd, /var/lib/containerd, /run/containerd,
# /etc/cni/net.d, /var/lib/cni, /opt; the built programs where the package puts them, by an
# overlay on /usr/sbin and /usr/lib/cni) from examples/containerd/config.toml copied unchanged,
# with examples/cni/10-ctnet.conflist, unchanged, beside Debian podman's
# 87-podman-bridge.conflist in /etc/cni/net.d. The sandbox ("pause") image is built offline
# with umoci and imported as containerd's default sandbox image: busybox that serves, by CGI,
# what upstream says of it on port 80, so each pod's port mapping can be checked.
# Checked: two pods, each with its own hostPort (8083, 8091), get addresses from ctnet-cni
# (not podman's list), the attachment stores the sandbox id and the pod's name and namespace,
# each mapping answers from upstream and 127.0.0.1, outbound traffic is masqueraded; stop
# releases the lease and leaves no file, remove leaves nothing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/rt_lib.sh"
for p in containerd ctr umoci; do
	command -v $p >/dev/null || { echo "SKIP: $p not installed"; exit 77; }
done
/usr/bin/python3 -c 'import grpc' 2>/dev/null || { echo "SKIP: python3-grpcio not installed"; exit 77; }
CRI="/usr/bin/python3 $(dirname "$0")/cri_client.py /run/containerd/containerd.sock"

rt_private_dirs /etc/containerd /var/lib/containerd /run/containerd /etc/cni/net.d /var/lib/cni /opt
CD= UP_PID= SIDS=
trap 'kill $UP_PID 2>/dev/null; for s in $SIDS; do $CRI stop $s; $CRI remove $s; done >/dev/null 2>&1; [ -n "$CD" ] && { kill $CD; wait $CD; }; rt_cgroup_cleanup; _t_cleanup' EXIT
rt_install_ctnet
mk_upstream
ip netns exec upstream socat -t$T_IDLE TCP-LISTEN:80,fork,reuseaddr SYSTEM:'echo $SOCAT_PEERADDR' &
UP_PID=$!
links0=$(snapshot_links)

cp "$RT_REPO/examples/containerd/config.toml" /etc/containerd/config.toml
rt_cni_lists /etc/cni/net.d

# The sandbox image, offline. The CRI plugin runs it with a read-only root (and /dev/shm
# read-only): the answer comes from a CGI script that asks upstream on each request.
PAUSE_CMD='exec httpd -f -p 80 -h /www'
L=$T_TMP/layout B=$T_TMP/bundle
umoci init --layout "$L" && umoci new --image "$L:3.6" && umoci unpack --image "$L:3.6" "$B" >/dev/null &&
	rt_rootfs "$B/rootfs" && mkdir -p "$B/rootfs/www/cgi-bin" &&
	printf '#!/bin/sh\necho "Content-Type: text/plain"\necho\nnc -w 3 192.0.2.2 80 </dev/null\n' \
		>"$B/rootfs/www/cgi-bin/out" && chmod 0755 "$B/rootfs/www/cgi-bin/out" && umoci repack --image "$L:3.6" "$B" &&
	umoci config --image "$L:3.6" --config.entrypoint /bin/sh --config.entrypoint -c \
		--config.entrypoint "$PAUSE_CMD" && (cd "$L" && tar -cf "$T_TMP/pause.tar" .)

containerd --config /etc/containerd/config.toml >"$T_TMP/containerd.log" 2>&1 &
CD=$!
wait_for ctr version
check "ctr image import of the sandbox image into k8s.io (as containerd's default, registry.k8s.io/pause:3.6)" \
	ctr -n k8s.io image import --base-name registry.k8s.io/pause "$T_TMP/pause.tar"

# pod_ip SID / pod_state SID: from PodSandboxStatus
pod_ip() { $CRI status "$1" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["ip"])' 2>/dev/null; }
pod_state() { $CRI status "$1" 2>&1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])' 2>&1; }
leases() { $IPAM list --json | python3 -c 'import json,sys; print(" ".join(sorted(l["local_address"].split("/")[0] for l in json.load(sys.stdin))))'; }

SID1=$($CRI run web default uid-web "/$RT_CG/pod-web" 8083:80 2>"$T_TMP/cri.err")
check_match "RunPodSandbox web with hostPort 8083 returns a sandbox id" "$SID1" '^[0-9a-f]{64}$'
[ -n "$SID1" ] || { cat "$T_TMP/cri.err"; tail -20 "$T_TMP/containerd.log"; }
SID2=$($CRI run api default uid-api "/$RT_CG/pod-api" 8091:80 2>"$T_TMP/cri.err")
check_match "RunPodSandbox api with hostPort 8091 returns a sandbox id" "$SID2" '^[0-9a-f]{64}$'
SIDS="$SID1 $SID2"
IP1=$(pod_ip "$SID1") IP2=$(pod_ip "$SID2")
check_eq "PodSandboxStatus: both ready" "$(pod_state "$SID1") $(pod_state "$SID2")" "SANDBOX_READY SANDBOX_READY"
check_eq "PodSandboxStatus: the pods' addresses are ctnet's leases" \
	"$(printf '%s\n' "$IP1" "$IP2" | sort | tr '\n' ' ')" "$(leases) "
check_match "the pods' addresses come from ctnet's pool (10-ctnet.conflist, not podman's list)" \
	"$IP1 $IP2" '^10\.233\.[0-9]+\.[0-9]+ 10\.233\.[0-9]+\.[0-9]+$'
check_eq "Debian's podman list was not used (no cni-podman0 bridge)" "$(ip -o link show cni-podman0 2>/dev/null)" ""
ATT=$(grep -l "^CONTAINER_ID=$SID1\$" /run/ctnet/cni/cni-* 2>/dev/null)
check_eq "the attachment stores the sandbox id, the pod's name and namespace" \
	"$(sed -n 's/^CONTAINER_ID=//p; s/^POD_NAME=//p; s/^POD_NAMESPACE=//p' "$ATT" 2>/dev/null | tr '\n' ' ')" \
	"$SID1 web default "
check_eq "port mapping 8083 from upstream reaches web; it saw upstream's masqueraded answer" \
	"$(rt_http upstream 192.0.2.1 8083 /cgi-bin/out)" "192.0.2.1"
check_eq "port mapping from the host's 127.0.0.1:8083" "$(rt_http 127.0.0.1 8083 /cgi-bin/out)" "192.0.2.1"
check_eq "the second pod got its own hostPort: 8091 from upstream" "$(rt_http upstream 192.0.2.1 8091 /cgi-bin/out)" "192.0.2.1"
check_eq "ctnet forwards 8083 and 8091, one pod each" \
	"$($CTNET status --json | python3 -c 'import json,sys; print(sorted(f["spec"] for c in json.load(sys.stdin) for f in c["forwards"]))')" \
	"['tcp:8083:80', 'tcp:8091:80']"

check "StopPodSandbox web and api" sh -c "$CRI stop $SID1 && $CRI stop $SID2"
check_eq "after stop: PodSandboxStatus not ready" "$(pod_state "$SID1") $(pod_state "$SID2")" "SANDBOX_NOTREADY SANDBOX_NOTREADY"
rt_nothing_left "after StopPodSandbox (a pod's DEL releases its lease)"
check "RemovePodSandbox web and api" sh -c "$CRI remove $SID1 && $CRI remove $SID2"
check_eq "after remove: no sandbox container left" "$(ctr -n k8s.io containers ls -q)" ""
SIDS=
check_eq "after remove: the pods' namespaces are gone" "$(ls /run/netns)" "upstream"
check_eq "host links as before" "$(snapshot_links)" "$links0"
kill $CD; wait $CD; CD=
check "containerd's cgroups removed" rt_cgroup_cleanup
finish
