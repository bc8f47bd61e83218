#!/usr/bin/env bash
# systemd-nspawn joining the namespace ctnet@.service makes, every line as shipped: the
# unit's ExecStart/ExecStop (units/ctnet@.service) with examples/nspawn/web.conf as
# /etc/nixos-containers/web.conf, and the container started by the ExecStart of the example
# drop-in (examples/nspawn/systemd-nspawn@web.service.d/ctnet.conf), %i being web as systemd
# makes it. The built programs sit at /usr/sbin (an overlay in this test's mount namespace),
# /var/lib/machines and nspawn's settings dirs are private. Without a system bus (no systemd
# as PID 1 here) nspawn also gets --register=no. The container boots a busybox root whose
# /sbin/init asks upstream who it is and serves the answer on port 80.
# Checked: outbound masquerade, the forward from upstream and from 127.0.0.1, nspawn stopping
# on SIGTERM; and the lease across stop and start: ExecStop keeps it (another container
# started meanwhile does not get web's address, web comes back with it), `ctnet down web`
# (the explicit destroy) releases it and leaves nothing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/rt_lib.sh"
command -v systemd-nspawn >/dev/null || { echo "SKIP: systemd-nspawn not installed (systemd-container)"; exit 77; }

rt_private_dirs /run/systemd/nspawn /etc/systemd/nspawn /var/lib/machines
NSPAWN=
trap 'kill $UP_PID 2>/dev/null; [ -n "$NSPAWN" ] && { kill -KILL $NSPAWN; wait $NSPAWN; } 2>/dev/null; rt_cgroup_cleanup; _t_cleanup' EXIT
rt_install_ctnet
mk_upstream
ip netns exec upstream socat -t$T_IDLE TCP-LISTEN:80,fork,reuseaddr SYSTEM:'echo $SOCAT_PEERADDR' &
UP_PID=$!
links0=$(snapshot_links)

UNIT=$RT_REPO/units/ctnet@.service
DROPIN=$RT_REPO/examples/nspawn/systemd-nspawn@web.service.d/ctnet.conf
# exec_line FILE KEY: the last non-empty KEY= line of a unit file, %i expanded to web.
exec_line() {
	local l
	l=$(grep "^$2=." "$1" | tail -n 1)
	l=${l#"$2="}
	echo "${l//%i/web}"
}
unit_start() { check "ctnet@web.service ExecStart: $(exec_line "$UNIT" ExecStart)" $(exec_line "$UNIT" ExecStart); }
unit_stop() { check "ctnet@web.service ExecStop: $(exec_line "$UNIT" ExecStop)" $(exec_line "$UNIT" ExecStop); }
lease_of() { $IPAM show "$1" --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["local_address"].split("/")[0])' 2>/dev/null; }

cp "$RT_REPO/examples/nspawn/web.conf" /etc/nixos-containers/web.conf
R=/var/lib/machines/web
rt_rootfs "$R"
mkdir -p "$R/sbin"
# PID 1 (--boot): nspawn stops it with SIGRTMIN+3 (37 with glibc) or SIGTERM.
cat >"$R/sbin/init" <<'EOI'
#!/bin/sh
nc -w 3 192.0.2.2 80 </dev/null >/www/out
httpd -f -p 80 -h /www &
p=$!
trap 'kill $p; exit 0' TERM INT 37
while :; do wait $p; sleep 1; done
EOI
chmod 0755 "$R/sbin/init"

NSCMD=$(exec_line "$DROPIN" ExecStart)
check_match "the drop-in's ExecStart joins /run/netns/web and has no -U (systemd 252)" "$NSCMD" \
	'^systemd-nspawn .*--network-namespace-path=/run/netns/web( |$)'
nspawn_start() {
	: >"$T_TMP/nspawn.log"
	echo pending >"$R/www/out"
	rt_cgroup_run $NSCMD --register=no >"$T_TMP/nspawn.log" 2>&1 &
	NSPAWN=$!
	wait_port web 80 || fail "$1: nothing listens on web's port 80: $(head -c 300 "$T_TMP/nspawn.log")"
	wait_for sh -c '[ "$(cat "$1")" != pending ]' - "$R/www/out"
}
nspawn_stop() {
	kill -TERM $NSPAWN
	wait_for gone $NSPAWN
	check_eq "$1: nspawn stopped on SIGTERM (the container's init halted)" "$(kill -0 $NSPAWN 2>/dev/null; echo $?)" "1"
	wait $NSPAWN 2>/dev/null; NSPAWN=
}

unit_start
check "ExecStart made /run/netns/web" test -e /run/netns/web
ADDR=$(lease_of web)
nspawn_start "first start"
check_eq "nspawn container reaches upstream, masqueraded as the host" "$(cat "$R/www/out")" "192.0.2.1"
check_eq "forward tcp:8080:80 from upstream reaches the nspawn container" \
	"$(rt_http upstream 192.0.2.1 8080 /out)" "192.0.2.1"
check_eq "forward from the host's 127.0.0.1:8080 reaches the nspawn container" \
	"$(rt_http 127.0.0.1 8080 /out)" "192.0.2.1"
check_match "ctnet status shows web with its forward" "$($CTNET status web --json)" '"tcp:8080:80"'
nspawn_stop "first stop"
unit_stop
check_eq "after stop: /run/netns/web gone" "$(ls /run/netns)" "upstream"
check_eq "after stop: host links as before" "$(snapshot_links)" "$links0"

# --- the lease across stop and start (what a clean shutdown and reboot also do) ---
check_eq "after stop: web's lease is kept ($ADDR)" "$(lease_of web)" "$ADDR"
$CTNET up other --create-netns >/dev/null || fail "ctnet up other"
check_match "another container started meanwhile gets another address" "$(lease_of other)" "^10\.233\."
check "  not web's" test "$(lease_of other)" != "$ADDR"
unit_start
check_eq "web started again: the same address" "$($CTNET status web --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["local_address"].split("/")[0])')" "$ADDR"
nspawn_start "second start"
check_eq "after the second start: the forward answers" "$(rt_http upstream 192.0.2.1 8080 /out)" "192.0.2.1"
nspawn_stop "second stop"
unit_stop
$CTNET down other || fail "ctnet down other"
check "the explicit destroy: ctnet down web" $CTNET down web
rt_nothing_left "after ctnet down web"
check "after stop: nspawn's cgroups removed" rt_cgroup_cleanup
finish
