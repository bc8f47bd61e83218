#!/usr/bin/env bash
# podman 4.3 (Debian 12), rootful, CNI backend, inside this test's world: /etc/containers,
# /etc/cni/net.d, /var/lib/containers, /run/containers, /var/lib/cni, /run/libpod, /opt/cni/bin
# are private mounts. examples/podman/containers.conf and ctnet.conflist unchanged (the test adds
# a containers.conf.d file for what this machine needs: cgroupfs without systemd, vfs storage,
# ulimits within ours, the plugin from /opt/cni/bin), and examples/podman/hooks.d with the
# built ctnet. Two containers on a busybox rootfs (--rootfs, no image pull):
#   1. --network ctnet -p 8080:80 through ctnet-cni;
#   2. --network none with the hooks.d OCI hook and the annotation ctnet.forward=tcp:8081:80.
# Each: outbound masquerade to an upstream namespace, the forward from upstream and 127.0.0.1,
# nothing left after `podman stop` and `podman rm` (podman's own cleanup runs CNI DEL). With
# `ctnet dns` running, the CNI result's dns ends up in the container's resolv.conf, and the
# container resolves names at its gateway.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/rt_lib.sh"
command -v podman >/dev/null || { echo "SKIP: podman not installed"; exit 77; }

rt_private_dirs /etc/containers /etc/cni/net.d /var/lib/containers /run/containers /var/lib/cni \
	/run/libpod /opt/cni/bin
DNS_PID=
trap 'kill $UP_PID $DNS_PID 2>/dev/null; wait $DNS_PID 2>/dev/null; podman rm -f -t 0 web hooked >/dev/null 2>&1; rt_cgroup_cleanup; _t_cleanup' EXIT
mk_upstream
ip netns exec upstream socat TCP-LISTEN:80,fork,reuseaddr SYSTEM:'echo $SOCAT_PEERADDR' &
UP_PID=$!
links0=$(snapshot_links)

cp "$RT_REPO/examples/podman/containers.conf" /etc/containers/containers.conf
cp "$RT_REPO/examples/podman/ctnet.conflist" /etc/cni/net.d/ctnet.conflist
mkdir -p /etc/containers/containers.conf.d /etc/containers/oci/hooks.d
cat >/etc/containers/containers.conf.d/test.conf <<EOC
[containers]
log_driver = "k8s-file"
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[network]
cni_plugin_dirs = ["/opt/cni/bin"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
EOC
printf '[storage]\ndriver = "vfs"\ngraphroot = "/var/lib/containers/storage"\nrunroot = "/run/containers/storage"\n' \
	>/etc/containers/storage.conf
ln -s "$CTNET_BIN/ctnet-cni" /opt/cni/bin/ctnet-cni
for h in "$RT_REPO"/examples/podman/hooks.d/*.json; do
	sed "s|/usr/sbin/ctnet|$CTNET|" "$h" >/etc/containers/oci/hooks.d/"${h##*/}"
done
check_eq "podman uses the CNI backend" "$(podman info --format '{{.Host.NetworkBackend}}' 2>&1)" "cni"
check_match "podman sees the ctnet network" "$(podman network ls --format '{{.Name}} {{.Driver}}' 2>&1)" "ctnet ctnet-cni"

R1=$T_TMP/root1 R2=$T_TMP/root2
rt_rootfs "$R1"
rt_rootfs "$R2"
RUN=(podman run -d --stop-signal SIGKILL --cgroup-parent=/$RT_CG)

# ctnet dns (its dnsmasq, if installed): the CNI result then carries dns.
if command -v dnsmasq >/dev/null || [ -x /usr/sbin/dnsmasq ]; then
	printf 'nameserver 127.0.0.53\n' >"$T_TMP/resolv"
	"$CTNET" dns --resolv-file "$T_TMP/resolv" >"$T_TMP/dns.log" 2>&1 &
	DNS_PID=$!
	for _ in $(seq 100); do grep -q "ready:" "$T_TMP/dns.log" && break; sleep 0.1; done
fi

# --- 1. through ctnet-cni, -p 8080:80 ---
check "podman run --network ctnet -p 8080:80" "${RUN[@]}" --name web --network ctnet -p 8080:80 \
	--rootfs "$R1" /bin/sh -c "$RT_CMD"
check_eq "CNI: forward 8080 from upstream reaches the container; it saw upstream's masqueraded answer" \
	"$(rt_http upstream 192.0.2.1 8080 /out)" "192.0.2.1"
check_eq "CNI: forward from the host's 127.0.0.1:8080" "$(rt_http 127.0.0.1 8080 /out)" "192.0.2.1"
ATT=$(ls /run/ctnet/cni | grep '^cni-')
check_eq "CNI: the attachment stores podman's container id" \
	"$(sed -n 's/^CONTAINER_ID=//p' "/run/ctnet/cni/$ATT")" "$(podman inspect -f '{{.Id}}' web)"
check_eq "CNI: the attachment stores the container's name (K8S_POD_NAME)" \
	"$(sed -n 's/^POD_NAME=//p' "/run/ctnet/cni/$ATT")" "web"
check_match "CNI: ctnet status shows the attachment with the forward" "$($CTNET status --json)" '"tcp:8080:80"'
if [ -n "$DNS_PID" ]; then
	GW=$($CTNET status "$ATT" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["host_address"])')
	LOCAL=$($CTNET status "$ATT" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["local_address"])')
	check_match "CNI dns: podman put ctnet dns's server (the gateway) and domain into resolv.conf" \
		"$(podman exec web cat /etc/resolv.conf | tr '\n' '|')" "nameserver $GW\|.*search .*containers|^search .*containers.*nameserver $GW"
	check_match "CNI dns: the container resolves its name at the gateway" \
		"$(podman exec web nslookup "$ATT.containers" "$GW" 2>&1 | tr '\n' ' ')" "Address: $LOCAL"
else
	echo "# dnsmasq not installed: the CNI dns checks were not run"
fi
check "podman stop web" podman stop web
check "podman rm web" podman rm web
rt_nothing_left "CNI: after stop and rm"
check_eq "CNI: no attachment file left" "$(ls /run/ctnet/cni | grep '^cni-')" ""

# --- 2. the hooks.d OCI hook, --network none ---
check "podman run --network none with the ctnet hook" "${RUN[@]}" --name hooked --network none \
	--annotation ctnet.forward=tcp:8081:80 --rootfs "$R2" /bin/sh -c "$RT_CMD"
check_eq "hook: forward 8081 from upstream reaches the container; it saw upstream's masqueraded answer" \
	"$(rt_http upstream 192.0.2.1 8081 /out)" "192.0.2.1"
check_eq "hook: forward from the host's 127.0.0.1:8081" "$(rt_http 127.0.0.1 8081 /out)" "192.0.2.1"
check_eq "hook: ctnet names the container by podman's id" \
	"$($CTNET status --json | python3 -c 'import json,sys; print([c["name"] for c in json.load(sys.stdin)])')" \
	"['$(podman inspect -f '{{.Id}}' hooked)']"
check "podman stop hooked" podman stop hooked
check "podman rm hooked" podman rm hooked
rt_nothing_left "hook: after stop and rm"

check_eq "host links as before" "$(snapshot_links)" "$links0"
check "podman's cgroups removed" rt_cgroup_cleanup
finish
