#!/usr/bin/env bash
# systemd-nspawn joining the namespace ctnet@.service makes: the unit's ExecStart/ExecStop
# (units/ctnet@.service, %i=web) with examples/nspawn/web.conf as /etc/nixos-containers/web.conf,
# and nspawn with the --network-namespace-path= of the example drop-in. Without a system bus
# (no systemd as PID 1 here) nspawn runs with --keep-unit --register=no. Checked: outbound
# masquerade to an upstream namespace, the inbound forward from upstream and from 127.0.0.1,
# nothing left after the container stops and ExecStop ran.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/rt_lib.sh"
command -v systemd-nspawn >/dev/null || { echo "SKIP: systemd-nspawn not installed (systemd-container)"; exit 77; }

rt_private_dirs /run/systemd/nspawn /var/lib/machines
trap 'kill $UP_PID $NSPAWN 2>/dev/null; wait $NSPAWN 2>/dev/null; rt_cgroup_cleanup; _t_cleanup' EXIT
NSPAWN=
mk_upstream
ip netns exec upstream socat TCP-LISTEN:80,fork,reuseaddr SYSTEM:'echo $SOCAT_PEERADDR' &
UP_PID=$!
links0=$(snapshot_links)

unit_cmd() { # the unit's Exec line KEY for instance web, with the built programs
	sed -n "s/^$1=//p" "$RT_REPO/units/ctnet@.service" | sed "s|%i|web|g; s|/usr/sbin/|$CTNET_BIN/|g"
}
cp "$RT_REPO/examples/nspawn/web.conf" /etc/nixos-containers/web.conf
NSFLAG=$(grep -o -- '--network-namespace-path=[^ ]*' "$RT_REPO/examples/nspawn/systemd-nspawn@web.service.d/ctnet.conf" | sed 's/%i/web/')
check_eq "the example drop-in joins /run/netns/web" "$NSFLAG" "--network-namespace-path=/run/netns/web"

check "ctnet@web.service ExecStart: $(unit_cmd ExecStart | sed "s|$CTNET_BIN/||")" $(unit_cmd ExecStart)
check "ExecStart made /run/netns/web" test -e /run/netns/web

R=$T_TMP/rootfs
rt_rootfs "$R"
echo pending >"$R/www/out"
# The container: asks upstream who it is (nc), then serves the answer on port 80.
rt_cgroup_run systemd-nspawn --quiet --keep-unit --register=no --kill-signal=SIGKILL -D "$R" "$NSFLAG" \
	-- /bin/sh -c 'nc -w 3 192.0.2.2 80 </dev/null >/www/out; exec httpd -f -p 80 -h /www' >"$T_TMP/nspawn.log" 2>&1 &
NSPAWN=$!
wait_port web 80
wait_for sh -c '[ "$(cat "$1")" != pending ]' - "$R/www/out"
check_eq "nspawn container reaches upstream, masqueraded as the host" "$(cat "$R/www/out")" "192.0.2.1"
check_eq "forward tcp:8080:80 from upstream reaches the nspawn container" \
	"$(rt_http upstream 192.0.2.1 8080 /out)" "192.0.2.1"
check_eq "forward from the host's 127.0.0.1:8080 reaches the nspawn container" \
	"$(rt_http 127.0.0.1 8080 /out)" "192.0.2.1"
check_match "ctnet status shows web with its forward" "$($CTNET status web --json)" '"tcp:8080:80"'

kill $NSPAWN; wait $NSPAWN 2>/dev/null; NSPAWN=
check "ctnet@web.service ExecStop: $(unit_cmd ExecStop | sed "s|$CTNET_BIN/||")" $(unit_cmd ExecStop)
check_eq "after stop: /run/netns/web gone" "$(ls /run/netns)" "upstream"
check_eq "after stop: host links as before" "$(snapshot_links)" "$links0"
rt_nothing_left "after stop"
check "after stop: nspawn's cgroups removed" rt_cgroup_cleanup
finish
