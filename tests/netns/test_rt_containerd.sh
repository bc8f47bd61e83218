#!/usr/bin/env bash
# containerd 1.6 (Debian 12) and `ctr run --cni` inside this test's world: /etc/containerd,
# /var/lib/containerd, /run/containerd, /etc/cni/net.d, /var/lib/cni and /opt are private
# mounts, and the built programs sit where the package puts them (an overlay on /usr/sbin and
# /usr/lib/cni). The daemon runs from examples/containerd/config.toml copied unchanged;
# /etc/cni/net.d holds examples/cni/10-ctnet.conflist, unchanged, beside Debian podman's
# 87-podman-bridge.conflist, and /opt/cni/bin/ctnet-cni links to /usr/lib/cni/ctnet-cni as the
# config says. The image is built offline: umoci, a busybox-static root, `ctr image import`.
# ctr has no -p: checked are the address (ctnet's, not podman's 10.88.0.x), outbound
# masquerade to an upstream namespace, the container answering at its address, the
# attachment naming ctr's container, and nothing left (files included) after the task ends.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/rt_lib.sh"
for p in containerd ctr umoci; do
	command -v $p >/dev/null || { echo "SKIP: $p not installed"; exit 77; }
done

rt_private_dirs /etc/containerd /var/lib/containerd /run/containerd /etc/cni/net.d /var/lib/cni /opt
CD= UP_PID= CTR=
trap 'kill $UP_PID $CTR 2>/dev/null; [ -n "$CD" ] && { ctr -n ctnet-test task kill -s SIGKILL web >/dev/null 2>&1; kill $CD; wait $CD; }; rt_cgroup_cleanup; _t_cleanup' EXIT
rt_install_ctnet
mk_upstream
ip netns exec upstream socat -t$T_IDLE TCP-LISTEN:80,fork,reuseaddr SYSTEM:'echo $SOCAT_PEERADDR' &
UP_PID=$!
links0=$(snapshot_links)

cp "$RT_REPO/examples/containerd/config.toml" /etc/containerd/config.toml
rt_cni_lists /etc/cni/net.d
mkdir -p /opt/cni/bin && ln -s /usr/lib/cni/ctnet-cni /opt/cni/bin/ctnet-cni
containerd --config /etc/containerd/config.toml >"$T_TMP/containerd.log" 2>&1 &
CD=$!
wait_for ctr version
check "containerd answers on /run/containerd/containerd.sock" ctr version

# The image, offline: an OCI layout with one layer holding a busybox root.
L=$T_TMP/layout B=$T_TMP/bundle
umoci init --layout "$L" && umoci new --image "$L:bb" && umoci unpack --image "$L:bb" "$B" >/dev/null &&
	rt_rootfs "$B/rootfs" && umoci repack --image "$L:bb" "$B" &&
	umoci config --image "$L:bb" --config.cmd /bin/sh && (cd "$L" && tar -cf "$T_TMP/bb.tar" .)
check "ctr image import of the umoci image" ctr -n ctnet-test image import --base-name localhost/bb "$T_TMP/bb.tar"

# The container asks upstream who it is, then serves the answer on port 80.
ctr -n ctnet-test run --rm --cni --cgroup "/$RT_CG/web" localhost/bb:bb web /bin/sh -c "$RT_CMD" \
	>"$T_TMP/ctr.log" 2>&1 &
CTR=$!
# The attachment, once its ADD finished.
up_addr() { $CTNET status --json 2>/dev/null | python3 -c 'import json,sys
for c in json.load(sys.stdin):
    if c["state"] == "up": print(c["local_address"].split("/")[0])' 2>/dev/null; }
has_up_addr() { [ -n "$(up_addr)" ]; }
wait_for has_up_addr
ADDR=$(up_addr)
ATT=$(ls /run/ctnet/cni 2>/dev/null | grep '^cni-')
check_match "ctr run --cni: the container's address is ctnet's (10-ctnet.conflist, not podman's list)" \
	"$ADDR" '^10\.233\.[0-9]+\.[0-9]+$'
check_eq "ctr run --cni: Debian's podman list was not used (no cni-podman0 bridge)" \
	"$(ip -o link show cni-podman0 2>/dev/null)" ""
check_eq "the attachment stores ctr's container id (namespace-name)" \
	"$(sed -n 's/^CONTAINER_ID=//p' "/run/ctnet/cni/$ATT" 2>/dev/null)" "ctnet-test-web"
check_eq "the container reached upstream, masqueraded; it answers at its address from the host" \
	"$(rt_http "$ADDR" 80 /out)" "192.0.2.1"
check "ctr task kill web" ctr -n ctnet-test task kill -s SIGKILL web
# ctr run returns after the task exits and CNI DEL ran.
wait_for gone "$CTR"
check_eq "ctr run returned after the kill" "$(kill -0 $CTR 2>/dev/null; echo $?)" "1"
wait $CTR 2>/dev/null; CTR=
rt_nothing_left "ctr: after the task ended"
check_eq "ctr: the container is gone (--rm)" "$(ctr -n ctnet-test containers ls -q)" ""
check_eq "host links as before" "$(snapshot_links)" "$links0"
kill $CD; wait $CD; CD=
check "containerd's cgroups removed" rt_cgroup_cleanup
finish
