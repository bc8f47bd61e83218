#!/usr/bin/env bash
# ctnet oci-hook: state JSON on stdin; and a real OCI runtime (runc) using ctnet as its
# createRuntime/poststop hooks with a busybox rootfs.
. "$(dirname "$0")/lib.sh"

mk_upstream
ip netns exec upstream socat -t$T_IDLE TCP-LISTEN:80,fork,reuseaddr SYSTEM:'echo $SOCAT_PEERADDR' &
UP_PID=$!
trap 'kill $UP_PID 2>/dev/null; _t_cleanup' EXIT
links0=$(snapshot_links)

# --- the hook by hand, with a process in its own namespace ---
mkns box
ip netns exec box sleep 300 &
BOX=$!
wait_for sh -c '[ "$(readlink /proc/$1/ns/net)" = "$(ip netns exec box readlink /proc/self/ns/net)" ]' - "$BOX"
state='{"ociVersion":"1.0.2","id":"box1","status":"creating","pid":'$BOX',"bundle":"/x","annotations":{"ctnet.forward":"tcp:8081:80"}}'
check "oci-hook up" sh -c "echo '$state' | $CTNET oci-hook up"
check_eq "hook up: container reachable" "$(ping -c1 -W"$T_CONN" 10.233.1.2 >/dev/null && echo ok)" "ok"
check_match "hook up: forward from annotation" "$($CTNET status box1 --json)" "tcp:8081:80"
check "oci-hook down" sh -c "echo '$state' | $CTNET oci-hook down"
check_eq "hook down: nothing left" "$(snapshot_links)" "$links0"
kill $BOX

# --- bad state documents: spec'd errors, nothing changed ---
state0=$(snapshot_state)
check_exit "malformed JSON" 1 sh -c "echo '{\"id\":' | $CTNET oci-hook up"
check_exit "missing pid" 1 sh -c "echo '{\"id\":\"a\"}' | $CTNET oci-hook up"
check_exit "hostile id" 1 sh -c "echo '{\"id\":\"a;rm -rf\",\"pid\":1}' | $CTNET oci-hook up"
check_exit "unknown ctnet annotation" 1 sh -c "echo '{\"id\":\"a\",\"pid\":$$,\"annotations\":{\"ctnet.evil\":\"1\"}}' | $CTNET oci-hook up"
check_exit "bad verb" 2 $CTNET oci-hook sideways
check_eq "bad state: nothing changed" "$(snapshot_state)" "$state0"

# --- runc with a busybox rootfs ---
if ! command -v runc >/dev/null || [ ! -x /bin/busybox ]; then
	fail "runc and busybox-static are needed (tools/deps.sh installs them)"
	finish
fi
b=$T_TMP/bundle
mkdir -p "$b/rootfs/bin" "$b/rootfs/proc" "$b/rootfs/sys" "$b/rootfs/dev" "$b/rootfs/tmp"
cp /bin/busybox "$b/rootfs/bin/"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$b/rootfs/bin/$a"; done
(cd "$b" && runc spec)
env_json=$(printf '"CTNET_STATE_DIR=%s","CTNET_RUN_DIR=%s","CTNET_NIXOS_CONF_DIR=%s","PATH=/usr/sbin:/usr/bin:/sbin:/bin"' \
	"$CTNET_STATE_DIR" "$CTNET_RUN_DIR" "$CTNET_NIXOS_CONF_DIR")
python3 - "$b/config.json" "$CTNET" "$env_json" <<'PY'
import json, sys
path, ctnet, env = sys.argv[1], sys.argv[2], json.loads("[" + sys.argv[3] + "]")
c = json.load(open(path))
c["process"]["terminal"] = False
# reach upstream through ctnet's NAT, then serve one request on port 80 for the forward
c["process"]["args"] = ["/bin/sh", "-c",
    "ip addr show dev eth0; echo GOT $(nc -w 3 192.0.2.2 80 </dev/null); "
    "echo from-runc | nc -l -p 80 -w 10; echo served"]
c["root"]["readonly"] = False
c["annotations"] = {"ctnet.forward": "tcp:8082:80"}
c["hooks"] = {
    "createRuntime": [{"path": ctnet, "args": ["ctnet", "oci-hook", "up"], "env": env}],
    "poststop": [{"path": ctnet, "args": ["ctnet", "oci-hook", "down"], "env": env}],
}
json.dump(c, open(path, "w"), indent=1)
PY
runc --root "$T_TMP/runc" run -b "$b" ctr1 >"$T_TMP/runc.out" 2>&1 &
RUNC=$!
wait_for grep -q '^GOT' "$T_TMP/runc.out"
sleep 0.5
check_eq "runc container: upstream sees the host's address" "$(grep '^GOT' "$T_TMP/runc.out")" "GOT 192.0.2.1"
check_match "runc container has eth0 from ctnet" "$(cat "$T_TMP/runc.out")" "inet 10\.233\.[0-9]+\.2/32"
check_eq "forward reaches the runc container" "$(ip netns exec upstream timeout $T_CONN socat -T$T_IDLE -t$T_IDLE - TCP:192.0.2.1:8082 </dev/null)" "from-runc"
wait $RUNC
check_eq "runc exited 0" "$?" "0"
runc --root "$T_TMP/runc" delete -f ctr1 2>/dev/null
check_eq "runc: poststop removed everything (links)" "$(snapshot_links)" "$links0"
check_eq "runc: no record" "$($CTNET status --json)" "[]"
check_eq "runc: no lease" "$($IPAM list --json)" "[]"
finish
