# Sourced by the runtime tests (test_rt_*.sh) after lib.sh: the runtime's own world.
#
# Every directory a runtime keeps state in is a private tmpfs in this test's mount namespace,
# never the machine's; ctnet's default dirs too, so example files that name no dirs work
# unchanged. Runtimes create cgroups: rt_cgroup_run puts a command into cgroups of this test
# (ctnet-t-PID in each hierarchy), and the EXIT trap removes them.
RT_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RT_CG=ctnet-t-$$
# Debian's podman package ships /etc/cni/net.d/87-podman-bridge.conflist (and a copy under
# /usr/share/doc); runtime tests put it beside ctnet's list, as on a host with podman. Its
# known content when neither is on this machine.
RT_PODMAN_LIST=$T_TMP/87-podman-bridge.conflist
rt_save_podman_list() {
	local f
	for f in /etc/cni/net.d/87-podman-bridge.conflist /usr/share/doc/podman/examples/cni/net.d/87-podman-bridge.conflist; do
		[ -f "$f" ] && { cp "$f" "$RT_PODMAN_LIST"; return; }
	done
	cat >"$RT_PODMAN_LIST" <<'EOJ'
{
  "cniVersion": "0.4.0",
  "name": "podman",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni-podman0",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "routes": [{ "dst": "0.0.0.0/0" }],
        "ranges": [
          [
            {
              "subnet": "10.88.0.0/16",
              "gateway": "10.88.0.1"
            }
          ]
        ]
      }
    },
    {
      "type": "portmap",
      "capabilities": {
        "portMappings": true
      }
    },
    {
      "type": "firewall"
    },
    {
      "type": "tuning"
    }
  ]
}
EOJ
}
rt_private_dirs() {
	local d
	rt_save_podman_list
	for d in "$@" /var/lib/ctnet /run/ctnet /etc/nixos-containers; do
		mkdir -p "$d" && mount -t tmpfs -o mode=0755 tmpfs "$d" || { fail "private mount $d"; finish; }
	done
	# ctnet's programs and the runtimes' plugins use the default dirs, now private.
	unset CTNET_STATE_DIR CTNET_RUN_DIR CTNET_NIXOS_CONF_DIR
}

# The built programs where the Debian package puts them (/usr/sbin/ctnet*, and ctnet-cni in
# /usr/lib/cni, Debian's CNI_PATH), so that units and examples run as shipped, byte for byte:
# an overlay on each directory in this test's mount namespace, whose upper layer (in the
# test's tmpfs) holds links to $CTNET_BIN. The machine's directories are never written.
rt_install_ctnet() {
	local d p ov
	for d in /usr/sbin /usr/lib/cni; do
		[ -d "$d" ] || { echo "SKIP: $d missing (containernetworking-plugins not installed?)"; exit 77; }
		ov=$T_SANDBOX/overlay$d
		mkdir -p "$ov/upper" "$ov/work"
		mount -t overlay overlay -o "lowerdir=$d,upperdir=$ov/upper,workdir=$ov/work" "$d" ||
			{ fail "overlay on $d"; finish; }
	done
	for p in ctnet ctnet-ipam ctnet-netd ctnet-nat; do ln -sf "$CTNET_BIN/$p" /usr/sbin/$p; done
	ln -sf "$CTNET_BIN/ctnet-cni" /usr/lib/cni/ctnet-cni
}

# rt_cni_lists DIR: the CNI directory as a Debian host with podman and ctnet has it: Debian's
# 87-podman-bridge.conflist and examples/cni/10-ctnet.conflist, both copied unchanged.
rt_cni_lists() {
	cp "$RT_PODMAN_LIST" "$1/87-podman-bridge.conflist" &&
		cp "$RT_REPO/examples/cni/10-ctnet.conflist" "$1/10-ctnet.conflist"
}

# The files in DIR, dot files included (lock files, temp files), one line.
rt_files() {
	ls -A "$1" 2>/dev/null | tr '\n' ' '
}

# What a failed attempt must leave as it was: ctnet's state dir, its run dirs' files (lock
# files included) and the links.
rt_snapshot() {
	CTNET_STATE_DIR=/var/lib/ctnet snapshot_state
	rt_files /run/ctnet/cni
	rt_files /run/ctnet/containers
	snapshot_links
}

# A busybox-static root in DIR (os-release so that nspawn accepts it).
rt_rootfs() {
	mkdir -p "$1"/bin "$1"/usr/lib "$1"/etc "$1"/proc "$1"/sys "$1"/dev "$1"/run "$1"/tmp "$1"/var "$1"/www
	cp /bin/busybox "$1/bin/"
	local a
	for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "$1/bin/$a"; done
	echo 'ID=busybox' >"$1/usr/lib/os-release"
	echo 'root:x:0:0:root:/:/bin/sh' >"$1/etc/passwd"
	echo 'root:x:0:' >"$1/etc/group"
}

# rt_cgroup_run CMD...: CMD in this test's cgroups (created under each mounted hierarchy); it
# execs, so `rt_cgroup_run CMD &` leaves the PID of CMD itself in $! (use it only with &).
rt_cgroup_run() {
	local h
	for h in /sys/fs/cgroup/systemd /sys/fs/cgroup/unified /sys/fs/cgroup; do
		[ -e "$h/cgroup.procs" ] || continue
		mkdir -p "$h/$RT_CG"
	done
	exec sh -c 'for h in /sys/fs/cgroup/systemd /sys/fs/cgroup/unified /sys/fs/cgroup; do
		[ -d "$h/$0" ] && echo $$ >"$h/$0/cgroup.procs"; done; exec "$@"' "$RT_CG" "$@"
}

# Removes every cgroup below ctnet-t-PID in every hierarchy (deepest first); 0 when none is left.
# The container's last processes may still be exiting: up to 5 s.
rt_cgroup_cleanup() {
	local d i
	for i in $(seq 50); do
		for d in /sys/fs/cgroup/*/"$RT_CG" /sys/fs/cgroup/"$RT_CG"; do
			[ -d "$d" ] || continue
			find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
		done
		ls -d /sys/fs/cgroup/*/"$RT_CG" /sys/fs/cgroup/"$RT_CG" 2>/dev/null | grep -q . || return 0
		sleep 0.1
	done
	return 1
}

# The ctnet table's map/set elements: "[]" when empty.
rt_nft_elems() {
	nft -j list "$1" inet ctnet "$2" 2>/dev/null | python3 -c 'import json,sys
d=[x for x in json.load(sys.stdin)["nftables"] if "map" in x or "set" in x][0]
print((d.get("map") or d.get("set")).get("elem", []))'
}

# nothing_left WHAT: no ve-/vb- link, no lease, no record, no NAT element, no file in ctnet's
# run dirs (records, attachments, their lock files).
rt_nothing_left() {
	check_eq "$1: no ctnet link left" "$(ip -o link | grep -cE ' (ve|vb)-')" "0"
	check_eq "$1: no lease left" "$($IPAM list --json)" "[]"
	check_eq "$1: no record left" "$($CTNET status --json)" "[]"
	check_eq "$1: no forward left in nft" "$(rt_nft_elems map fwd4)" "[]"
	check_eq "$1: no masqueraded address left in nft" "$(rt_nft_elems set masq4)" "[]"
	check_eq "$1: no file left in /run/ctnet/cni and /run/ctnet/containers (lock files included)" \
		"$(rt_files /run/ctnet/cni)$(rt_files /run/ctnet/containers)" ""
}

# rt_http [NETNS] HOST PORT PATH: the body of an HTTP/1.0 GET (socat), retrying while it is
# empty (T_WAIT at most).
rt_http() {
	local in=() out="" end=$((SECONDS + T_WAIT))
	[ $# -eq 4 ] && { in=(ip netns exec "$1"); shift; }
	while [ $SECONDS -lt $end ]; do
		out=$(printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$3" "$1" |
			"${in[@]}" timeout 3 socat -t 2 - "TCP:$1:$2" 2>/dev/null | sed '1,/^\r*$/d')
		[ -n "$out" ] && break
		sleep 0.2
	done
	echo "$out"
}

# The container side of the runtime tests: ask upstream who we are, then serve that on port 80.
RT_CMD='nc -w 3 192.0.2.2 80 </dev/null >/www/out; exec httpd -f -p 80 -h /www'
