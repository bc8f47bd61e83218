#!/usr/bin/env bash
# containerd 1.6 (Debian 12) inside this test's world: /etc/containerd, /var/lib/containerd,
# /run/containerd, /etc/cni/net.d, /opt/cni/bin, /var/lib/cni are private mounts; the daemon
# runs from examples/containerd/config.toml (plus the opt plugin's path, inside our dirs).
# The image is built offline: umoci, a busybox-static root, `ctr image import`.
# `ctr run --cni` reads /etc/cni/net.d and /opt/cni/bin; ctr has no -p, so the published port
# comes from the network list itself (examples/containerd/ctr-web.conflist: a static
# runtimeConfig.portMappings, which libcni passes through when no capability is declared).
# Checked: outbound masquerade to an upstream namespace, the forward from upstream and
# 127.0.0.1, the attachment names ctr's container, nothing left after the task is killed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/rt_lib.sh"
for p in containerd ctr umoci; do
	command -v $p >/dev/null || { echo "SKIP: $p not installed"; exit 77; }
done

rt_private_dirs /etc/containerd /var/lib/containerd /run/containerd /etc/cni/net.d /opt/cni/bin /var/lib/cni
CD= UP_PID= CTR=
trap 'kill $UP_PID $CTR 2>/dev/null; [ -n "$CD" ] && { ctr -n ctnet-test task kill -s SIGKILL web >/dev/null 2>&1; kill $CD; wait $CD; }; rt_cgroup_cleanup; _t_cleanup' EXIT
mk_upstream
ip netns exec upstream socat TCP-LISTEN:80,fork,reuseaddr SYSTEM:'echo $SOCAT_PEERADDR' &
UP_PID=$!
links0=$(snapshot_links)

cp "$RT_REPO/examples/containerd/config.toml" /etc/containerd/config.toml
printf '[plugins."io.containerd.internal.v1.opt"]\n  path = "/var/lib/containerd/opt"\n' >>/etc/containerd/config.toml
cp "$RT_REPO/examples/containerd/ctr-web.conflist" /etc/cni/net.d/10-ctnet-web.conflist
ln -s "$CTNET_BIN/ctnet-cni" /opt/cni/bin/ctnet-cni
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

ctr -n ctnet-test run --rm --cni --cgroup "/$RT_CG/web" localhost/bb:bb web /bin/sh -c "$RT_CMD" \
	>"$T_TMP/ctr.log" 2>&1 &
CTR=$!
check_eq "ctr run --cni: forward 8082 from upstream reaches the container; it saw upstream's masqueraded answer" \
	"$(rt_http upstream 192.0.2.1 8082 /out)" "192.0.2.1"
check_eq "ctr run --cni: forward from the host's 127.0.0.1:8082" "$(rt_http 127.0.0.1 8082 /out)" "192.0.2.1"
ATT=$(ls /run/ctnet/cni 2>/dev/null | grep '^cni-')
check_eq "the attachment stores ctr's container id (namespace-name)" \
	"$(sed -n 's/^CONTAINER_ID=//p' "/run/ctnet/cni/$ATT" 2>/dev/null)" "ctnet-test-web"
check "ctr task kill web" ctr -n ctnet-test task kill -s SIGKILL web
# ctr run returns after the task exits and CNI DEL ran.
wait_for gone "$CTR"
check_eq "ctr run returned after the kill" "$(kill -0 $CTR 2>/dev/null; echo $?)" "1"
wait $CTR 2>/dev/null; CTR=
rt_nothing_left "ctr: after the task ended"
check_eq "ctr: no attachment file left" "$(ls /run/ctnet/cni 2>/dev/null | grep '^cni-')" ""
check_eq "ctr: the container is gone (--rm)" "$(ctr -n ctnet-test containers ls -q)" ""
check_eq "host links as before" "$(snapshot_links)" "$links0"
kill $CD; wait $CD; CD=
check "containerd's cgroups removed" rt_cgroup_cleanup
finish
