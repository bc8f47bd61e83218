#!/usr/bin/env bash
# ctnet watch puts back what others remove: ctnet's nft table after `nft flush ruleset` (20
# times, time to recovery measured), a deleted table, set element, host route, container
# address, ip_forward=0, route_localnet=0 on the container's device; it backs off from a tool that deletes the table in a loop (and says
# so) while still serving other damage, heals once the loop stops; it does not fight
# concurrent ups and downs (nothing resurrected); asleep when idle; SIGTERM exits 0.
# Nothing here is timed: each repair must happen (within T_WAIT, a hang guard); bench/watch.sh
# measures how fast.
# The systemd units pass systemd-analyze verify.
. "$(dirname "$0")/lib.sh"

mk_upstream
WEB_PID= WPID=
trap 'kill $WEB_PID $WPID 2>/dev/null; _t_cleanup' EXIT

$CTNET up web --create-netns --forward tcp:8080:80 >/dev/null || { fail "first up"; finish; }
ip netns exec web socat -t$T_IDLE TCP-LISTEN:80,fork,reuseaddr SYSTEM:'echo web80' &
WEB_PID=$!
wait_port web 80
# fwd [PORT [CONNECT-TIMEOUT]]: one exchange with the forward from upstream; a connect
# timeout only where the caller tries again (a poll), never for a one-shot check.
fwd() { ip netns exec upstream timeout $T_CONN socat -T$T_IDLE -t$T_IDLE - TCP:192.0.2.1:"${1:-8080}"${2:+,connect-timeout=$2} </dev/null 2>/dev/null; }
# recover SECONDS: until the forward answers; prints the milliseconds it took (or "timeout").
fwd_ok() { [ "$(fwd 8080 0.5)" = web80 ]; }
recover() { until_true "$1" fwd_ok; }
pct() { # pct P values...: the P-th percentile (nearest rank)
	local p=$1; shift
	printf '%s\n' "$@" | sort -n | awk -v p="$p" '{v[NR]=$1} END {i=int((p*NR+99)/100); if (i<1) i=1; print v[i]}'
}
LOG=$T_TMP/watch.log
repairs() { grep -c "^ctnet watch: repaired $1" "$LOG"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

check_eq "forward works before the watcher" "$(fwd)" "web80"
check_exit "status: no watcher yet" 0 $CTNET status
check_eq "status says nothing of a watcher" "$(grep -c watcher "$T_TMP/out")" "0"

$CTNET watch >"$LOG" 2>&1 &
WPID=$!
check "watcher says it is ready" until_true "$T_WAIT" grep -q "^ctnet watch: ready" "$LOG"
check_match "status: watcher running with its pid" "$($CTNET status)" "watcher: running \(pid $WPID\)"
check_exit "a second watcher is refused" 1 $CTNET watch
check_match "the refusal names the first" "$T_STDERR" "another ctnet watch is running \(pid $WPID\)"
check_eq "nothing repaired at start (nothing broken)" "$(grep -c repaired "$LOG")" "0"

# --- 20 x nft flush ruleset: traffic back each time ---
# The probe times from the moment `nft flush ruleset` returned to the first answer of the
# forward, connecting from the upstream namespace every 2 ms (no process per attempt).
cat >"$T_TMP/probe.py" <<'PY'
import ctypes, os, socket, subprocess, sys, time
libc = ctypes.CDLL(None, use_errno=True)
host, up = os.open("/proc/self/ns/net", os.O_RDONLY), os.open("/run/netns/upstream", os.O_RDONLY)
def answer():
    libc.setns(up, 0x40000000)
    s = socket.socket()
    libc.setns(host, 0x40000000)
    s.settimeout(0.2)
    try:
        s.connect(("192.0.2.1", 8080))
        return s.recv(16).strip() == b"web80"
    except OSError:
        return False
    finally:
        s.close()
for i in range(int(sys.argv[1])):
    subprocess.run(["nft", "flush", "ruleset"], check=True)
    t0 = time.monotonic()
    while not answer():
        if time.monotonic() - t0 > float(sys.argv[2]):
            print("timeout", flush=True)
            break
        time.sleep(0.002)
    else:
        print(round((time.monotonic() - t0) * 1000), flush=True)
    time.sleep(1.1)  # apart: separate reloads, not one fight
PY
times=() lost=0
for t in $(python3 "$T_TMP/probe.py" 20 "$T_WAIT"); do
	if [ "$t" = timeout ]; then lost=$((lost + 1)); else times+=("$t"); fi
done
check_eq "20 x nft flush ruleset: the forward answers again every time" "$lost ${#times[@]}" "0 20"
[ ${#times[@]} -gt 0 ] && echo "# recovery after nft flush ruleset, 1 container: p50 $(pct 50 "${times[@]}") ms, p95 $(pct 95 "${times[@]}") ms, max $(pct 100 "${times[@]}") ms"
check_eq "each flush: one NAT repair logged" "$(repairs nft)" "20"
check_eq "no back-off for separate reloads" "$(grep -c '^ctnet watch: fight' "$LOG")" "0"
check "nft check: in sync after the flushes" $NAT check
# The rebuild ran in a child: the watcher itself never mapped libnftables (whose select()
# aborts on a descriptor above 1023, and which tripled its memory).
check_eq "the watcher did not load libnftables for the restores" "$(grep -c libnftables /proc/$WPID/maps)" "0"

# --- other damage, one at a time ---
nft delete table inet ctnet
t=$(recover "$T_WAIT"); check_match "nft delete table inet ctnet: forward back ($t ms)" "$t" "^[0-9]+$"
nft delete element inet ctnet fwd4 '{ tcp . 8080 }'
t=$(until_true "$T_WAIT" sh -c "nft list map inet ctnet fwd4 | grep -q 8080"); check_match "deleted set element put back ($t ms)" "$t" "^[0-9]+$"
check_eq "and the forward answers" "$(fwd)" "web80"

n0=$(repairs "container web")
ip route del 10.233.1.2 dev ve-web
t=$(until_true "$T_WAIT" sh -c "ip route show 10.233.1.2 | grep -q ve-web"); check_match "deleted host route put back ($t ms)" "$t" "^[0-9]+$"
check "the repair is logged, naming it" until_true "$T_WAIT" grep -q "repaired container web: host route 10.233.1.2 dev ve-web missing" "$LOG"
check_eq "and the forward answers" "$(fwd)" "web80"

ip -n web addr del 10.233.1.2/32 dev eth0
t=$(until_true "$T_WAIT" sh -c "ip -n web -4 addr show dev eth0 | grep -q 10.233.1.2/32"); check_match "deleted container address put back ($t ms)" "$t" "^[0-9]+$"
check "the repair is logged" until_true "$T_WAIT" grep -q "repaired container web: container address 10.233.1.2 missing" "$LOG"
check_eq "and the forward answers" "$(recover "$T_WAIT" >/dev/null && fwd)" "web80"

ip link set ve-web down
t=$(until_true "$T_WAIT" sh -c "ip -j link show ve-web | grep -q '\"UP\"'"); check_match "host link set down: up again ($t ms)" "$t" "^[0-9]+$"

ip link del ve-web
t=$(until_true "$T_WAIT" sh -c "ip -j link show ve-web | grep -q '\"UP\"'"); check_match "host link deleted: made again ($t ms)" "$t" "^[0-9]+$"
check "the repair is logged" until_true "$T_WAIT" grep -q "repaired container web: host link ve-web missing" "$LOG"
check_eq "and the forward answers" "$(recover "$T_WAIT" >/dev/null && fwd)" "web80"

sysctl -qw net.ipv4.ip_forward=0
t=$(until_true "$T_WAIT" sh -c '[ "$(cat /proc/sys/net/ipv4/ip_forward)" = 1 ]'); check_match "ip_forward=0 switched back ($t ms)" "$t" "^[0-9]+$"
check "the sysctl repair is logged" until_true "$T_WAIT" grep -q "repaired sysctl: net.ipv4.ip_forward was off" "$LOG"
check_eq "and the forward answers" "$(fwd)" "web80"

# --- route_localnet of the container's device (its forward is reachable at 127.0.0.1) ---
# lo_fwd [CONNECT-TIMEOUT]: a short one only where no answer is expected.
lo_fwd() { timeout $T_CONN socat -T$T_IDLE -t$T_IDLE - TCP:127.0.0.1:8080${1:+,connect-timeout=$1} </dev/null 2>/dev/null; }
check_eq "a 127.0.0.1 forward works" "$(lo_fwd)" "web80"
kill -STOP $WPID # held, so that the damage can be seen before it is repaired
sysctl -qw net.ipv4.conf.ve-web.route_localnet=0
check_eq "route_localnet=0 on ve-web breaks the 127.0.0.1 forward" "$(lo_fwd 0.5)" ""
kill -CONT $WPID
t=$(until_true "$T_WAIT" sh -c '[ "$(cat /proc/sys/net/ipv4/conf/ve-web/route_localnet)" = 1 ]'); check_match "route_localnet of ve-web switched back ($t ms)" "$t" "^[0-9]+$"
check "the repair is logged, naming the device" until_true "$T_WAIT" grep -q "repaired container web: sysctl net.ipv4.conf.ve-web.route_localnet was off" "$LOG"
check_eq "and the 127.0.0.1 forward works again" "$(lo_fwd)" "web80"
check_eq "all.route_localnet stays 0" "$(cat /proc/sys/net/ipv4/conf/all/route_localnet)" "0"

# --- a tool that deletes the table in a loop (every 50 ms until told to stop) ---
r0=$(repairs nft)
rm -f "$T_TMP/stop"
( while [ ! -e "$T_TMP/stop" ]; do nft delete table inet ctnet 2>/dev/null; sleep 0.05; done ) &
LOOP=$! l0=$SECONDS
check "the fight is logged, naming the table" until_true "$T_WAIT" grep -q "^ctnet watch: fight nft table inet ctnet: keeps being removed" "$LOG"
f0=$SECONDS
# Meanwhile other damage is still served: the route comes back while the loop goes on.
ip route del 10.233.1.2 dev ve-web
t=$(until_true "$T_WAIT" sh -c "ip route show 10.233.1.2 | grep -q ve-web"); check_match "during the fight: a deleted route is still repaired ($t ms)" "$t" "^[0-9]+$"
check "the loop was still deleting the table meanwhile" kill -0 $LOOP
sleep 3
touch "$T_TMP/stop"
wait $LOOP
secs=$((SECONDS - l0)) fsecs=$((SECONDS - f0 + 1)) r1=$(repairs nft)
check_eq "one fight line" "$(grep -c '^ctnet watch: fight nft' "$LOG")" "1"
# Without back-off every deletion is restored (~20 a second). Once the fight is on, a restore
# comes only as a back-off (1 s, doubling) ends: over S seconds at most ceil(log2(S + 1)), plus
# the one under way when the loop stopped. (Before it, how many restores make 5 in quick
# succession depends on how fast this machine deletes: not counted.)
after=$(sed -n '/^ctnet watch: fight nft/,$p' "$LOG" | grep -c '^ctnet watch: repaired nft')
max=$(python3 -c "import math; print(math.ceil(math.log2($fsecs + 1)) + 1)")
echo "# table deleted every 50 ms for $secs s: $((r1 - r0)) restores, $after of them in the $fsecs s after the fight line (no back-off: one per deletion)"
check "backed off: at most $max restores in the $fsecs s of the fight ($after)" test "$after" -le "$max"
t=$(recover "$T_WAIT"); check_match "after the loop stops: healed ($t ms)" "$t" "^[0-9]+$"

# --- concurrent up/down while flushing: nothing comes back after its down ---
( end=$((SECONDS + 6)); while [ $SECONDS -lt $end ]; do nft flush ruleset; sleep 0.3; done ) &
LOOP=$!
for i in 1 2 3 4 5; do
	$CTNET up "tmp$i" --create-netns --forward "tcp:$((9000 + i)):80" >/dev/null || fail "concurrent up tmp$i"
	$CTNET down "tmp$i" || fail "concurrent down tmp$i"
done
wait $LOOP
t=$(recover "$T_WAIT"); check_match "after the flush loop: web healed ($t ms)" "$t" "^[0-9]+$"
sleep 1.5
check_eq "no record of a downed container" "$(ls "$CTNET_RUN_DIR/containers" | grep -c tmp)" "0"
check_eq "no link of a downed container" "$(ip -o link | grep -c 've-tmp')" "0"
check_eq "no namespace of a downed container" "$(ls /run/netns | grep -c tmp)" "0"
check_eq "no NAT state of a downed container" "$($NAT list --json | grep -c tmp)" "0"
check_eq "no nft element of a downed container" "$(nft list ruleset | grep -cE '900[1-5]')" "0"
check "nft check: in sync" $NAT check

# --- idle: no CPU while nothing changes ---
# Event-driven: asleep except for the sysctls' 1 s check (they have no events). Counted in
# wakeups, which a busy or emulated machine does not inflate: a busy poll would be thousands.
wakeups() { awk '/^voluntary_ctxt_switches/ {n += $2} END {print n}' /proc/$WPID/task/*/status; }
sleep 1
c0=$(cpu_ticks $WPID) w0=$(wakeups); sleep 10; c1=$(cpu_ticks $WPID) w1=$(wakeups)
hz=$(getconf CLK_TCK)
echo "# idle over 10 s: $((w1 - w0)) wakeups, $((c1 - c0)) ticks of 1/$hz s CPU; peak RSS $(awk '/VmHWM/{print $2, $3}' /proc/$WPID/status)"
check "idle: at most 2 wakeups a second over 10 s ($((w1 - w0)); a busy poll would be thousands)" test $((w1 - w0)) -le 20

# --- SIGHUP reloads; a down with the watcher running stays down ---
kill -HUP $WPID
check "SIGHUP: reload logged" until_true "$T_WAIT" grep -q "^ctnet watch: reload" "$LOG"
check "still running after SIGHUP" kill -0 $WPID
$CTNET down web
sleep 1
check_eq "down with the watcher running: link stays gone" "$(ip -o link | grep -c 've-web')" "0"
check_eq "down with the watcher running: record stays gone" "$(ls "$CTNET_RUN_DIR/containers")" ""

# --- SIGTERM: exit 0 (how fast: bench/watch.sh) ---
t0=$(t_now_ms)
kill -TERM $WPID
wait $WPID
rc=$?
echo "# SIGTERM: exited after $(($(t_now_ms) - t0)) ms"
WPID=
check_eq "SIGTERM: exit 0" "$rc" "0"
check_exit "status after exit: not running" 0 $CTNET status
check_eq "status no longer names a watcher" "$(grep -c watcher "$T_TMP/out")" "0"

# --- --json log lines ---
$CTNET up web --create-netns --forward tcp:8080:80 >/dev/null
socat -u UNIX-RECV:"$T_TMP/notify" OPEN:"$T_TMP/notify.txt",creat,append &
NPID=$!
until_true "$T_WAIT" test -S "$T_TMP/notify" >/dev/null
NOTIFY_SOCKET=$T_TMP/notify $CTNET watch --json >"$T_TMP/json.log" 2>&1 &
WPID=$!
until_true "$T_WAIT" grep -q '"ready"' "$T_TMP/json.log" >/dev/null
check "sd_notify: READY=1 sent to \$NOTIFY_SOCKET" until_true "$T_WAIT" grep -q "READY=1" "$T_TMP/notify.txt"
ip route del 10.233.1.2 dev ve-web
check "--json: the repair as a JSON line" until_true "$T_WAIT" sh -c "grep '\"repaired\"' '$T_TMP/json.log' | python3 -c 'import json,sys; o=json.loads(sys.stdin.readline()); assert o[\"object\"]==\"container web\" and \"host route\" in o[\"message\"]'"
kill -TERM $WPID; wait $WPID; WPID=
kill $NPID 2>/dev/null
$CTNET down web

# --- the systemd units ---
UNITS=$(cd "$(dirname "$0")/../../units" && pwd)
if command -v systemd-analyze >/dev/null; then
	mkdir -p "$T_TMP/units"
	for u in "$UNITS"/ctnet-watch.service "$UNITS"/ctnet-restore.service; do
		sed "s|/usr/sbin/|$CTNET_BIN/|; s|/usr/local/sbin/|$CTNET_BIN/|" "$u" >"$T_TMP/units/${u##*/}"
	done
	check "units pass systemd-analyze verify" systemd-analyze verify --man=no "$T_TMP"/units/ctnet-watch.service "$T_TMP"/units/ctnet-restore.service
	check_match "ctnet-watch.service is Type=notify" "$(cat "$UNITS/ctnet-watch.service")" "Type=notify"
	check_match "ctnet-restore.service follows nftables.service" "$(cat "$UNITS/ctnet-restore.service")" "(PartOf=nftables.service.*After=nftables.service|After=nftables.service.*PartOf=nftables.service)"
	sed 's|^ExecStart=.*|ExecStart=/nonexistent/ctnet watch|' "$T_TMP/units/ctnet-watch.service" >"$T_TMP/units/broken.service"
	check_fails "a broken unit fails the verify (the check can fail)" systemd-analyze verify --man=no "$T_TMP/units/broken.service"
else
	echo "SKIP systemd-analyze not installed: units not verified"
fi
finish
