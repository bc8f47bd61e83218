# Sourced by the runtime tests (test_rt_*.sh) after lib.sh: the runtime's own world.
#
# Every directory a runtime keeps state in is a private tmpfs in this test's mount namespace,
# never the machine's; ctnet's default dirs too, so example files that name no dirs work
# unchanged. Runtimes create cgroups: rt_cgroup_run puts a command into cgroups of this test
# (ctnet-t-PID in each hierarchy), and the EXIT trap removes them.
RT_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RT_CG=ctnet-t-$$
rt_private_dirs() {
	local d
	for d in "$@" /var/lib/ctnet /run/ctnet /etc/nixos-containers; do
		mkdir -p "$d" && mount -t tmpfs -o mode=0755 tmpfs "$d" || { fail "private mount $d"; finish; }
	done
	# ctnet's programs and the runtimes' plugins use the default dirs, now private.
	unset CTNET_STATE_DIR CTNET_RUN_DIR CTNET_NIXOS_CONF_DIR
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

# nothing_left WHAT: no ve-/vb- link, no lease, no record, no NAT element.
rt_nothing_left() {
	check_eq "$1: no ctnet link left" "$(ip -o link | grep -cE ' (ve|vb)-')" "0"
	check_eq "$1: no lease left" "$($IPAM list --json)" "[]"
	check_eq "$1: no record left" "$($CTNET status --json)" "[]"
	check_eq "$1: no forward left in nft" "$(rt_nft_elems map fwd4)" "[]"
	check_eq "$1: no masqueraded address left in nft" "$(rt_nft_elems set masq4)" "[]"
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
