#!/usr/bin/env bash
# The Kubernetes node path: containerd's CRI plugin calls ctnet-cni exactly as on a
# kubelet-driven node. tests/netns/cri_client.py speaks the CRI gRPC API (RunPodSandbox with a
# port mapping, PodSandboxStatus, StopPodSandbox, RemovePodSandbox) to a containerd started in
# this test's world (private /etc/containerd, /var/lib/containerd, /run/containerd,
# /etc/cni/net.d, /opt/cni/bin, /var/lib/cni) from examples/containerd/config.toml and
# ctnet.conflist. The sandbox ("pause") image is built offline with umoci: busybox that asks
# upstream who it is and serves the answer on port 80, so the pod's port mapping can be checked.
# Checked: the pod's address comes from ctnet-cni, the attachment stores the sandbox id and the
# pod's name and namespace, the mapping answers from upstream and 127.0.0.1, outbound traffic is
# masqueraded, stop and remove leave nothing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/rt_lib.sh"
for p in containerd ctr umoci; do
	command -v $p >/dev/null || { echo "SKIP: $p not installed"; exit 77; }
done
/usr/bin/python3 -c 'import grpc' 2>/dev/null || { echo "SKIP: python3-grpcio not installed"; exit 77; }
CRI="/usr/bin/python3 $(dirname "$0")/cri_client.py /run/containerd/containerd.sock"

rt_private_dirs /etc/containerd /var/lib/containerd /run/containerd /etc/cni/net.d /opt/cni/bin /var/lib/cni
CD= UP_PID= SID=
trap 'kill $UP_PID 2>/dev/null; [ -n "$SID" ] && { $CRI stop $SID; $CRI remove $SID; } >/dev/null 2>&1; [ -n "$CD" ] && { kill $CD; wait $CD; }; rt_cgroup_cleanup; _t_cleanup' EXIT
mk_upstream
ip netns exec upstream socat TCP-LISTEN:80,fork,reuseaddr SYSTEM:'echo $SOCAT_PEERADDR' &
UP_PID=$!
links0=$(snapshot_links)

# The example config; here the plugins come from /opt/cni/bin (the built ctnet-cni, and
# Debian's loopback, which the CRI plugin adds for lo), the sandbox image is ours, and
# restrict_oom_score_adj because this machine's bounding set lacks CAP_SYS_RESOURCE (the CRI
# plugin gives the sandbox oom_score_adj -998 otherwise, and runc fails to start it).
sed 's|bin_dir = "/usr/lib/cni"|bin_dir = "/opt/cni/bin"|' "$RT_REPO/examples/containerd/config.toml" \
	>/etc/containerd/config.toml
printf '[plugins."io.containerd.internal.v1.opt"]\n  path = "/var/lib/containerd/opt"\n' >>/etc/containerd/config.toml
printf '[plugins."io.containerd.grpc.v1.cri"]\n  sandbox_image = "localhost/pause:1"\n  restrict_oom_score_adj = true\n' >>/etc/containerd/config.toml
cp "$RT_REPO/examples/containerd/ctnet.conflist" /etc/cni/net.d/10-ctnet.conflist
ln -s "$CTNET_BIN/ctnet-cni" /opt/cni/bin/ctnet-cni
ln -s /usr/lib/cni/loopback /opt/cni/bin/loopback

# The sandbox image, offline. The CRI plugin runs it with a read-only root (and /dev/shm
# read-only): the answer comes from a CGI script that asks upstream on each request.
PAUSE_CMD='exec httpd -f -p 80 -h /www'
L=$T_TMP/layout B=$T_TMP/bundle
umoci init --layout "$L" && umoci new --image "$L:1" && umoci unpack --image "$L:1" "$B" >/dev/null &&
	rt_rootfs "$B/rootfs" && mkdir -p "$B/rootfs/www/cgi-bin" &&
	printf '#!/bin/sh\necho "Content-Type: text/plain"\necho\nnc -w 3 192.0.2.2 80 </dev/null\n' \
		>"$B/rootfs/www/cgi-bin/out" && chmod 0755 "$B/rootfs/www/cgi-bin/out" && umoci repack --image "$L:1" "$B" &&
	umoci config --image "$L:1" --config.entrypoint /bin/sh --config.entrypoint -c \
		--config.entrypoint "$PAUSE_CMD" && (cd "$L" && tar -cf "$T_TMP/pause.tar" .)

containerd --config /etc/containerd/config.toml >"$T_TMP/containerd.log" 2>&1 &
CD=$!
wait_for ctr version
check "ctr image import of the sandbox image into k8s.io" \
	ctr -n k8s.io image import --base-name localhost/pause "$T_TMP/pause.tar"

SID=$($CRI run web default uid-web "/$RT_CG/pod-web" 8083:80 2>"$T_TMP/cri.err")
check_match "RunPodSandbox with a port mapping returns a sandbox id" "$SID" '^[0-9a-f]{64}$'
[ -n "$SID" ] || { cat "$T_TMP/cri.err"; tail -20 "$T_TMP/containerd.log"; }
ST=$($CRI status "$SID" 2>&1)
POD_IP=$(echo "$ST" | python3 -c 'import json,sys; print(json.load(sys.stdin)["ip"])' 2>/dev/null)
check_eq "PodSandboxStatus: ready" "$(echo "$ST" | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])' 2>&1)" "SANDBOX_READY"
check_eq "PodSandboxStatus: the pod's address is ctnet's lease" "$POD_IP" \
	"$($IPAM list --json | python3 -c 'import json,sys; print(",".join(l["local_address"].split("/")[0] for l in json.load(sys.stdin)))')"
check_match "the pod's address comes from ctnet's pool" "$POD_IP" '^10\.233\.[0-9]+\.[0-9]+$'
ATT=$(ls /run/ctnet/cni 2>/dev/null | grep '^cni-')
check_eq "the attachment stores the sandbox id, the pod's name and namespace" \
	"$(sed -n 's/^CONTAINER_ID=//p; s/^POD_NAME=//p; s/^POD_NAMESPACE=//p' "/run/ctnet/cni/$ATT" 2>/dev/null | tr '\n' ' ')" \
	"$SID web default "
check_eq "port mapping 8083 from upstream reaches the pod; it saw upstream's masqueraded answer" \
	"$(rt_http upstream 192.0.2.1 8083 /cgi-bin/out)" "192.0.2.1"
check_eq "port mapping from the host's 127.0.0.1:8083" "$(rt_http 127.0.0.1 8083 /cgi-bin/out)" "192.0.2.1"

check "StopPodSandbox" $CRI stop "$SID"
check_eq "after stop: PodSandboxStatus not ready" \
	"$($CRI status "$SID" 2>&1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])' 2>&1)" "SANDBOX_NOTREADY"
rt_nothing_left "after StopPodSandbox"
check_eq "after stop: no attachment file left" "$(ls /run/ctnet/cni 2>/dev/null | grep '^cni-')" ""
check "RemovePodSandbox" $CRI remove "$SID"
check_eq "after remove: no sandbox container left" "$(ctr -n k8s.io containers ls -q)" ""
SID=
check_eq "after remove: the pod's namespace is gone" "$(ls /run/netns)" "upstream"
check_eq "host links as before" "$(snapshot_links)" "$links0"
kill $CD; wait $CD; CD=
check "containerd's cgroups removed" rt_cgroup_cleanup
finish
