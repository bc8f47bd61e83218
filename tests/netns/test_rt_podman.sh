#!/usr/bin/env bash
# podman 4.3 (Debian 12), rootful, CNI backend, inside this test's world: /etc/containers,
# /etc/cni/net.d, /var/lib/containers, /run/containers, /var/lib/cni, /run/libpod, /opt/cni/bin
# are private mounts, and the built programs sit where the package puts them (an overlay on
# /usr/sbin and /usr/lib/cni). examples/podman/containers.conf, examples/podman/hooks.d and
# examples/cni/10-ctnet.conflist are copied unchanged, beside Debian's 87-podman-bridge.conflist;
# a containers.conf.d file says what this machine needs (cgroupfs without systemd, vfs
# storage, ulimits within ours). ctnet-cni runs through a wrapper that logs what podman sends.
# Containers on a busybox rootfs (--rootfs, no image pull), each asking an upstream namespace
# who it is (masquerade) and serving the answer on port 80:
#   web  -p 8080:80; web2 --ip 10.233.5.2 -p 8085:80: both answer from upstream and 127.0.0.1,
#        conmon's reservation of the ports is a note of `ctnet doctor`, not a blocker;
#   network reload (also after `nft flush ruleset`), restart, stop/start: the ports answer
#        again, web2 keeps its address;
#   --ip refused (a host side, an address taken), a port already held (by a ctnet forward, by
#        a host process): podman fails with ctnet's message, nothing is left of the attempt;
#   hooked: --network none with the hooks.d OCI hook and ctnet.forward=tcp:8081:80.
# After stop and rm (podman's cleanup runs CNI DEL) nothing is left: links, leases, records,
# NAT elements, attachment and lock files.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/rt_lib.sh"
command -v podman >/dev/null || { echo "SKIP: podman not installed"; exit 77; }

rt_private_dirs /etc/containers /etc/cni/net.d /var/lib/containers /run/containers /var/lib/cni \
	/run/libpod /opt/cni/bin
NAMES="web web2 hooked bad held held2"
trap 'kill $UP_PID $HOLD_PID $DNS_PID 2>/dev/null; wait $DNS_PID 2>/dev/null; podman rm -f -t 0 $NAMES >/dev/null 2>&1; rt_cgroup_cleanup; _t_cleanup' EXIT
HOLD_PID= DNS_PID=
rt_install_ctnet
mk_upstream
ip netns exec upstream socat -t$T_IDLE TCP-LISTEN:80,fork,reuseaddr SYSTEM:'echo $SOCAT_PEERADDR' &
UP_PID=$!
links0=$(snapshot_links)

cp "$RT_REPO/examples/podman/containers.conf" /etc/containers/containers.conf
rt_cni_lists /etc/cni/net.d
mkdir -p /etc/containers/containers.conf.d /etc/containers/oci/hooks.d
cp "$RT_REPO"/examples/podman/hooks.d/*.json /etc/containers/oci/hooks.d/
cat >/etc/containers/containers.conf.d/test.conf <<EOC
[containers]
log_driver = "k8s-file"
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
EOC
printf '[storage]\ndriver = "vfs"\ngraphroot = "/var/lib/containers/storage"\nrunroot = "/run/containers/storage"\n' \
	>/etc/containers/storage.conf
# What podman sends ctnet-cni: command, CNI_ARGS and the config, one block per call.
CNILOG=$T_TMP/cni.log
mv /usr/lib/cni/ctnet-cni /usr/lib/cni/ctnet-cni.real
cat >/usr/lib/cni/ctnet-cni <<EOW
#!/bin/sh
in=\$(cat)
printf '=== %s %s\n%s\n' "\$CNI_COMMAND" "\$CNI_ARGS" "\$in" >>$CNILOG
printf '%s' "\$in" | exec /usr/lib/cni/ctnet-cni.real
EOW
chmod 0755 /usr/lib/cni/ctnet-cni
check_eq "podman uses the CNI backend" "$(podman info --format '{{.Host.NetworkBackend}}' 2>&1)" "cni"
check_eq "podman sees ctnet's network and Debian's podman network" \
	"$(podman network ls --format '{{.Name}} {{.Driver}}' 2>&1 | sort | tr '\n' ' ')" "ctnet ctnet-cni podman bridge "

# A root of its own for each container: each writes what upstream saw into its /www/out.
for n in $NAMES; do rt_rootfs "$T_TMP/root-$n"; done
RUN=(podman run -d --stop-signal SIGKILL --cgroup-parent=/$RT_CG)
ctname() { $CTNET status --json | python3 -c 'import json,sys
for c in json.load(sys.stdin):
    if c.get("runtime_name") == sys.argv[1]: print(c["name"])' "$1"; }
# ctfield RUNTIME_NAME FIELD: local_address (no prefix) or forwards (their specs)
ctfield() { $CTNET status --json | python3 -c 'import json,sys
for c in json.load(sys.stdin):
    if c.get("runtime_name") != sys.argv[1]: continue
    v = c.get(sys.argv[2], "")
    print(" ".join(f["spec"] for f in v) if isinstance(v, list) else str(v).split("/")[0])' "$1" "$2"; }
# both_answer WHAT: web's 8080 and web2's 8085, from upstream and from 127.0.0.1
both_answer() {
	check_eq "$1: web's forward 8080 from upstream" "$(rt_http upstream 192.0.2.1 8080 /out)" "192.0.2.1"
	check_eq "$1: web's forward from the host's 127.0.0.1:8080" "$(rt_http 127.0.0.1 8080 /out)" "192.0.2.1"
	check_eq "$1: web2's forward 8085 from upstream" "$(rt_http upstream 192.0.2.1 8085 /out)" "192.0.2.1"
	check_eq "$1: web2 still has 10.233.5.2" "$(ctfield web2 local_address)" "10.233.5.2"
}

# ctnet dns (its dnsmasq, when installed): the CNI result then carries dns.
if command -v dnsmasq >/dev/null || [ -x /usr/sbin/dnsmasq ]; then
	printf 'nameserver 127.0.0.53\n' >"$T_TMP/resolv"
	"$CTNET" dns --resolv-file "$T_TMP/resolv" >"$T_TMP/dns.log" 2>&1 &
	DNS_PID=$!
	for _ in $(seq 100); do grep -q "ready:" "$T_TMP/dns.log" && break; sleep 0.1; done
fi

# --- two containers through ctnet-cni: -p, and --ip ---
check "podman run --network ctnet -p 8080:80 (web)" "${RUN[@]}" --name web --network ctnet -p 8080:80 \
	--rootfs "$T_TMP/root-web" /bin/sh -c "$RT_CMD"
check "podman run --network ctnet --ip 10.233.5.2 -p 8085:80 (web2)" "${RUN[@]}" --name web2 --network ctnet \
	--ip 10.233.5.2 -p 8085:80 --rootfs "$T_TMP/root-web2" /bin/sh -c "$RT_CMD"
check_eq "--ip: podman's view of web2's address" \
	"$(podman inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' web2)" "10.233.5.2"
check_eq "--ip: a static lease of 10.233.5.2 (ctnet-ipam)" \
	"$($IPAM show "$(ctname web2)" --json 2>&1 | python3 -c 'import json,sys; l=json.load(sys.stdin); print(l["local_address"].split("/")[0], l["static"])' 2>&1)" \
	"10.233.5.2 True"
both_answer "two containers"
ATT=$(ctname web)
check_eq "the attachment stores podman's container id" \
	"$(sed -n 's/^CONTAINER_ID=//p' "/run/ctnet/cni/$ATT")" "$(podman inspect -f '{{.Id}}' web)"
check_eq "the attachment stores the container's name (K8S_POD_NAME)" \
	"$(sed -n 's/^POD_NAME=//p' "/run/ctnet/cni/$ATT")" "web"
check_eq "ctnet status shows each forward" "$(ctfield web forwards) $(ctfield web2 forwards)" \
	"tcp:8080:80 tcp:8085:80"
if [ -n "$DNS_PID" ]; then
	GW=$(ctfield web host_address)
	LOCAL=$(ctfield web local_address)
	check_match "CNI dns: podman put ctnet dns's server (the gateway) and domain into resolv.conf" \
		"$(podman exec web cat /etc/resolv.conf | tr '\n' '|')" "nameserver $GW\|.*search .*containers|^search .*containers.*nameserver $GW"
	check_match "CNI dns: the container resolves its name at the gateway" \
		"$(podman exec web nslookup "$ATT.containers" "$GW" 2>&1 | tr '\n' ' ')" "Address: $LOCAL"
else
	fail "CNI dns: dnsmasq is not installed (tools/deps.sh installs dnsmasq-base)"
fi
# conmon holds each published port (podman's reservation); ctnet's DNAT takes the traffic.
check_exit "ctnet doctor exits 0 with podman's published ports" 0 $CTNET doctor
check_match "doctor: conmon's reservation of 8080 is a note naming conmon" \
	"$($CTNET doctor --json | python3 -c 'import json,sys
for f in json.load(sys.stdin)["findings"]:
    if f["code"] == "port-listener-shadowed" and f["object"] == "tcp port 8080": print(f["severity"], f["evidence"])')" \
	'^note pid [0-9]+ \(conmon\) listens on 0\.0\.0\.0:8080.*reservation'

# --- what podman does in a container's life ---
: >"$CNILOG"
check "podman network reload web web2" podman network reload web web2
check_match "reload: podman DELs, then ADDs with IP= and MAC= in CNI_ARGS and the port mappings" \
	"$(grep -A1 '^=== ADD' "$CNILOG" | tr '\n' ' ')" \
	'=== ADD [^ ]*K8S_POD_NAME=web;MAC=[0-9a-f:]+;IP=10\.233\.[0-9.]+ \{[^ ]*"portMappings":\[\{"hostPort":8080'
both_answer "after network reload"
nft flush ruleset
check "nft flush ruleset; podman network reload --all" podman network reload --all
both_answer "after nft flush ruleset and network reload"
mac=$(podman inspect -f '{{range .NetworkSettings.Networks}}{{.MacAddress}}{{end}}' web2)
check "podman network reload web2 (again)" podman network reload web2
check_eq "reload: web2 keeps its MAC (MAC= in CNI_ARGS)" \
	"$(podman inspect -f '{{range .NetworkSettings.Networks}}{{.MacAddress}}{{end}}' web2)" "$mac"
check "podman restart web web2" podman restart web web2
both_answer "after podman restart"
check "podman stop web web2" podman stop web web2
check_eq "stopped: CNI DEL took both attachments down (a DEL releases the lease)" \
	"$($CTNET status --json) $($IPAM list --json)" "[] []"
check "podman start web web2" podman start web web2
both_answer "after podman stop and start"

# refused WHAT REGEX NAME RUN-ARGS...: `podman run --network ctnet RUN-ARGS` fails, its
# stderr matching REGEX, and nothing of the attempt is left; the container is removed after.
refused() {
	local what=$1 re=$2 name=$3 before
	shift 3
	before=$(rt_snapshot)
	podman run -d --cgroup-parent=/$RT_CG --name "$name" --network ctnet "$@" \
		--rootfs "$T_TMP/root-$name" /bin/sh -c "$RT_CMD" >"$T_TMP/out" 2>"$T_TMP/err"
	check "$what: podman run fails" test $? -ne 0
	check_match "$what: the reason" "$(cat "$T_TMP/err")" "$re"
	check_eq "$what: nothing of it is left (state, run dir files, links)" "$(rt_snapshot)" "$before"
	podman rm -f -t 0 "$name" >/dev/null 2>&1
}

# --- --ip refused ---
refused "--ip 10.233.6.1 (a pair's host side)" \
	'IP 10\.233\.6\.1: the host side of pair 10\.233\.6\.1/10\.233\.6\.2; ask for 10\.233\.6\.2' bad --ip 10.233.6.1
refused "--ip 10.233.5.2 (web2's)" "IP 10\.233\.5\.2: .* taken by \"$(ctname web2)\"" bad --ip 10.233.5.2

# --- a port already held ---
$CTNET up other --create-netns --forward tcp:8090:80 >/dev/null || fail "ctnet up other --forward tcp:8090:80"
refused "-p 8090:80 held by a ctnet forward" 'forward tcp:8090:80: host port taken by container "other"' \
	held -p 8090:80
socat -t$T_IDLE TCP4-LISTEN:8091,reuseaddr,fork SYSTEM:'echo host' &
HOLD_PID=$!
wait_port host 8091 || fail "host listener on 8091 did not start"
refused "-p 8091:80 held by a host process (podman's own reservation)" 'address already in use' held2 -p 8091:80
kill $HOLD_PID; wait $HOLD_PID 2>/dev/null; HOLD_PID=
$CTNET down other || fail "ctnet down other"
both_answer "the failed runs left web and web2 alone"

check "podman stop web web2" podman stop web web2
check "podman rm web web2" podman rm web web2
rt_nothing_left "CNI: after stop and rm"

# --- the hooks.d OCI hook, --network none ---
check "podman run --network none with the ctnet hook" "${RUN[@]}" --name hooked --network none \
	--annotation ctnet.forward=tcp:8081:80 --rootfs "$T_TMP/root-hooked" /bin/sh -c "$RT_CMD"
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
