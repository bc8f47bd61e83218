#!/usr/bin/env bash
# ctnet exec NAME -- CMD: runs inside the container's namespace (named, a pid's, run's),
# returns CMD's status, CMD gets the signals; --shared, unknown and stale containers refused.
. "$(dirname "$0")/lib.sh"
PY=$(command -v /usr/bin/python3 || command -v python3)

nsid() { readlink /proc/self/ns/net; }
host_ns=$(nsid)

# --- test_exec_runs_inside ---
check "up web --create-netns" $CTNET up web --create-netns
check_eq "CMD runs in web's namespace" "$($CTNET exec web -- readlink /proc/self/ns/net)" "$(ip netns exec web readlink /proc/self/ns/net)"
check_match "  not the host's" "$($CTNET exec web -- readlink /proc/self/ns/net)" "^net:\[[0-9]+\]$"
[ "$($CTNET exec web -- readlink /proc/self/ns/net)" != "$host_ns" ] && pass "  differs from the host's ($host_ns)" || fail "  exec ran in the host namespace"
field() { $CTNET status web --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)[0][sys.argv[1]].split("/")[0])' "$1"; }
local_addr=$(field local_address)
check_eq "status names web's address" "$local_addr" "10.233.1.2"
check_match "CMD sees the container's address on eth0" "$($CTNET exec web -- ip -4 -o addr show dev eth0)" "inet ${local_addr//./\\.}/"
check "CMD reaches the host through the container's link" $CTNET exec web -- ping -c1 -W"$T_CONN" "$(field host_address)"
check_eq "stdin and stdout pass through" "$(echo hello | $CTNET exec web -- cat)" "hello"

# --- test_exec_returns_the_status ---
check_exit "exit status 0" 0 $CTNET exec web -- true
check_exit "exit status 42 comes back" 42 $CTNET exec web -- sh -c 'exit 42'
check_exit "CMD not found: 127" 127 $CTNET exec web -- /nonexistent/cmd
check_match "  message names it" "$T_STDERR" 'execute "/nonexistent/cmd"'
check_exit "killed by SIGTERM: 143" 143 $CTNET exec web -- sh -c 'kill -TERM $$'

# --- test_exec_passes_signals ---
for sig in TERM HUP INT; do
	rm -f "$T_TMP/ready"
	# Python restores the default action, which a background job may have inherited as ignored.
	$CTNET exec web -- "$PY" -c "import signal,time,os
signal.signal(signal.SIG$sig, signal.SIG_DFL)
open('$T_TMP/ready','w').close(); time.sleep(20)" &
	p=$!
	wait_for test -e "$T_TMP/ready"
	kill -$sig $p
	wait $p 2>/dev/null
	rc=$?
	want=$((128 + $(kill -l $sig)))
	check_eq "SIG$sig to ctnet exec reaches CMD (exit $want)" "$rc" "$want"
done

# --- test_exec_pid_and_run_namespaces ---
mkns pidns
ip netns exec pidns sleep 60 &
sleeper=$!
# Until the process is inside (ip netns exec enters, then execs sleep).
wait_for sh -c '[ "$(readlink /proc/$1/ns/net)" = "$(ip netns exec pidns readlink /proc/self/ns/net)" ]' - "$sleeper"
check "up byp --pid" $CTNET up byp --pid $sleeper
check_eq "exec into a --pid container" "$($CTNET exec byp -- readlink /proc/self/ns/net)" "$(readlink /proc/$sleeper/ns/net)"
rm -f "$T_TMP/r1ns"
$CTNET run r1 -- sh -c "readlink /proc/self/ns/net >$T_TMP/r1ns; sleep 30" &
runner=$!
wait_for test -s "$T_TMP/r1ns"
check_match "ctnet run's CMD is in its own namespace" "$(cat "$T_TMP/r1ns")" "^net:"
check_eq "exec into a ctnet run container: the namespace of run's CMD" "$($CTNET exec r1 -- readlink /proc/self/ns/net)" "$(cat "$T_TMP/r1ns")"
kill -TERM $runner; wait $runner 2>/dev/null

# --- test_exec_refusals ---
check "up sh1 --shared" $CTNET up sh1 --shared
check_exit "--shared container refused" 1 $CTNET exec sh1 -- true
check_match "  message says why" "$T_STDERR" 'shares the host.s network namespace'
check_exit "unknown container refused" 1 $CTNET exec nosuch -- true
check_match "  message names it" "$T_STDERR" 'no container "nosuch"'
check_exit "missing -- is a usage error" 2 $CTNET exec web true
check_exit "no CMD is a usage error" 2 $CTNET exec web --
check_exit "bad name refused" 1 $CTNET exec 'a;b' -- true
kill $sleeper; wait $sleeper 2>/dev/null
check_exit "container whose process is gone refused" 1 $CTNET exec byp -- true
check_match "  message says it is gone" "$T_STDERR" 'gone'
# A /run/netns/NAME made again after up is another namespace: never entered.
umount /run/netns/web && rm -f /run/netns/web && ip netns add web
check_exit "re-made /run/netns/web refused" 1 $CTNET exec web -- true
check_match "  message says replaced" "$T_STDERR" 'not the namespace up plumbed'
if command -v setpriv >/dev/null; then
	check_exit "non-root caller refused" 1 setpriv --reuid 65534 --regid 65534 --clear-groups --inh-caps=-all $CTNET exec sh1 -- true
fi
finish
