#!/usr/bin/env bash
# ctnet up/down/status end to end: privateNetwork and shared modes, idempotency, rollback.
. "$(dirname "$0")/lib.sh"

mk_upstream
ip netns exec upstream socat -t$T_IDLE TCP-LISTEN:80,fork,reuseaddr SYSTEM:'echo $SOCAT_PEERADDR' &
UP_PID=$!
trap 'kill $UP_PID 2>/dev/null; _t_cleanup' EXIT
links0=$(snapshot_links); addrs0=$(snapshot_addrs); routes0=$(snapshot_routes)

# --- private mode, allocated addresses, a forward ---
out=$($CTNET up web --create-netns --forward tcp:8080:80)
check_eq "up prints nixos-container keys" "$(echo "$out" | grep -E '^(HOST|LOCAL)_ADDRESS=')" \
	"HOST_ADDRESS=10.233.1.1
LOCAL_ADDRESS=10.233.1.2"
check_match "up prints HOST_PORT" "$out" "HOST_PORT=tcp:8080:80"
check "netns /run/netns/web usable by ip netns exec" ip netns exec web true
check_eq "host side ve-web up with 10.233.1.1/32" \
	"$(ip -j addr show dev ve-web | python3 -c 'import json,sys; a=json.load(sys.stdin)[0]; print(a["operstate"] != "DOWN", [(x["local"],x["prefixlen"]) for x in a["addr_info"] if x["family"]=="inet"])')" \
	"True [('10.233.1.1', 32)]"
check_eq "container eth0 has 10.233.1.2/32" \
	"$(ip -n web -j addr show dev eth0 | python3 -c 'import json,sys; print([(x["local"],x["prefixlen"]) for x in json.load(sys.stdin)[0]["addr_info"] if x["family"]=="inet"])')" \
	"[('10.233.1.2', 32)]"
check_eq "container default route via host" "$(ip -n web -j route show default | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["gateway"])')" "10.233.1.1"
check "host pings container" ping -c1 -W"$T_CONN" 10.233.1.2
check_eq "IPv4-only container: IPv6 off on the host side (no per-link IPv6 routes)" "$(cat /proc/sys/net/ipv6/conf/ve-web/disable_ipv6)" "1"
check_eq "no IPv6 route names ve-web" "$(ip -6 -j route show table all | python3 -c 'import json,sys; print(sum(1 for r in json.load(sys.stdin) if r.get("dev")=="ve-web"))')" "0"
check "container pings host" ip netns exec web ping -c1 -W"$T_CONN" 10.233.1.1
check_eq "upstream sees the host's address (masquerade)" \
	"$(ip netns exec web timeout $T_CONN socat -T$T_IDLE -t$T_IDLE - TCP:192.0.2.2:80 </dev/null)" "192.0.2.1"
ip netns exec web socat -t$T_IDLE TCP-LISTEN:80,fork,reuseaddr SYSTEM:'echo web' &
WEB_PID=$!
wait_port web 80
check_eq "forward upstream -> host:8080 -> web:80" "$(ip netns exec upstream timeout $T_CONN socat -T$T_IDLE -t$T_IDLE - TCP:192.0.2.1:8080 </dev/null)" "web"
check_eq "forward 127.0.0.1:8080 -> web:80" "$(timeout $T_CONN socat -T$T_IDLE -t$T_IDLE - TCP:127.0.0.1:8080 </dev/null)" "web"
check_eq "status shows web up" "$($CTNET status --json | python3 -c 'import json,sys; print([(c["name"],c["mode"],c["state"]) for c in json.load(sys.stdin)])')" "[('web', 'private', 'up')]"
check_match "status table names the container" "$($CTNET status)" "web +private +up +ve-web +10.233.1.1"

# --- up twice: same state; different settings: refused ---
out2=$($CTNET up web --create-netns --forward tcp:8080:80)
check_eq "up twice prints the same lease" "$(echo "$out2" | grep ADDRESS)" "$(echo "$out" | grep ADDRESS)"
check_eq "up twice: still one ve-web" "$(ip -br link | grep -c '^ve-web')" "1"
check_exit "up with another ifname while up: refused" 1 $CTNET up web --create-netns --ifname eth1 --forward tcp:8080:80
check_match "refusal says already up and names the field" "$T_STDERR" "already up; ifname cannot change"

# --- rollback: host port taken by web ---
state0=$(snapshot_state); nft0=$(snapshot_nft)
check_exit "second container wanting tcp:8080 fails" 1 $CTNET up api --create-netns --forward tcp:8080:81
check_match "error names the owner" "$T_STDERR" "web"
check_eq "rollback: no ve-api link" "$(ip -br link | grep -c '^ve-api' || true)" "0"
check_eq "rollback: no lease, no record" "$(snapshot_state)" "$state0"
check_eq "rollback: nft unchanged" "$(snapshot_nft)" "$nft0"
check_eq "rollback: no /run/netns/api" "$(ls /run/netns | grep -c '^api$' || true)" "0"

# --- down, twice ---
kill $WEB_PID 2>/dev/null
# The route to the container and the host address go explicitly before the link (so the
# kernel skips a walk of the whole FIB): IPv4 announces no route removed by a link delete.
web_local=$(echo "$out" | sed -n 's/^LOCAL_ADDRESS=//p')
mon_mark() { # ADDR: until the monitor shows a marker route to ADDR (then removed)
	local end=$((SECONDS + T_WAIT))
	while [ $SECONDS -lt $end ]; do
		ip route replace "$1/32" dev lo
		grep -q "$1" "$T_TMP/mon" && break
		sleep 0.1
	done
	ip route del "$1/32" dev lo
}
ip -o monitor route >"$T_TMP/mon" 2>&1 & mon=$!
mon_mark 198.18.0.1 # listening
check "down web" $CTNET down web
mon_mark 198.18.0.2 # has seen everything down did
kill $mon; wait $mon 2>/dev/null
check_eq "down deletes the route to the container before the link" \
	"$(grep -c "^Deleted $web_local dev ve-web " "$T_TMP/mon")" 1
check_eq "down deletes the host address (and so its local route)" \
	"$(grep -cE "^Deleted local [0-9.]+ dev ve-web " "$T_TMP/mon")" 1
check "down web again (idempotent)" $CTNET down web
check "down of a never-seen name" $CTNET down nosuch
check_eq "down: links back to before" "$(snapshot_links)" "$links0"
check_eq "down: addresses back to before" "$(snapshot_addrs)" "$addrs0"
check_eq "down: routes back to before" "$(snapshot_routes)" "$routes0"
check_eq "down: /run/netns/web removed" "$(ls /run/netns | grep -c '^web$' || true)" "0"
check_eq "down: no leases" "$($IPAM list --json)" "[]"
check_eq "down: no nft elements" "$(nft -j list table inet ctnet | python3 -c 'import json,sys; print(sum(len(x.get("set",x.get("map",{})).get("elem",[])) for x in json.load(sys.stdin)["nftables"]))')" "0"
check_eq "down: status empty" "$($CTNET status --json)" "[]"

# --- IPv6 keeps IPv6 on the host side (and turns on IPv6 forwarding: after the snapshots) ---
check "up v6 with --ipv6" $CTNET up v6c --create-netns --ipv6
check_eq "IPv6 container: IPv6 on on the host side" "$(cat /proc/sys/net/ipv6/conf/ve-v6c/disable_ipv6)" "0"
check "ping6 the IPv6 container" ping -6 -c1 -W"$T_CONN" "$($CTNET status v6c --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["local_address6"].split("/")[0])')"
check "down v6c" $CTNET down v6c

# --- --netns PATH and --pid, given addresses ---
mkns c1
check "up --netns with given addresses" $CTNET up c1 --netns /run/netns/c1 --host-address 10.233.50.1 --local-address 10.233.50.2
check "ping c1" ping -c1 -W"$T_CONN" 10.233.50.2
ip netns exec c1 sleep 300 &
SLEEPER=$!
mkns c2
ip netns exec c2 sleep 300 &
SLEEPER2=$!
wait_for sh -c '[ "$(readlink /proc/$1/ns/net)" = "$(ip netns exec c2 readlink /proc/self/ns/net)" ]' - "$SLEEPER2"
check "up --pid" $CTNET up c2 --pid $SLEEPER2
check "ping c2 (via --pid)" ping -c1 -W"$T_CONN" "$($CTNET status c2 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["local_address"])')"
check "down c2" $CTNET down c2
kill $SLEEPER $SLEEPER2 2>/dev/null

# --- up's output is for a shell to source: values it would read differently are quoted ---
mkns q1
qpath="$T_TMP/ns dir/q#1 \$(touch sourced-ran)"
mkdir -p "$T_TMP/ns dir" && touch "$qpath" && mount --bind /run/netns/q1 "$qpath"
out=$($CTNET up q1 --netns "$qpath")
printf '%s\n' "$out" >"$T_TMP/q1.env"
check_eq "up output sourced by sh: NETNS is the path with its space, # and \$(...)" \
	"$(cd "$T_TMP" && sh -c '. ./q1.env; printf %s "$NETNS"' 2>/dev/null)" "$qpath"
check_eq "up output sourced by sh: runs nothing" "$(ls "$T_TMP/sourced-ran" 2>/dev/null)" ""
check_eq "up output sourced by sh: every key read back" \
	"$(cd "$T_TMP" && sh -c '. ./q1.env; printf "%s|%s|%s" "$NAME" "$HOST_IFNAME" "$LOCAL_ADDRESS"' 2>/dev/null)" \
	"q1|ve-q1|$($CTNET status q1 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["local_address"])')"
check "down q1" $CTNET down q1
umount "$qpath"
ip netns del q1

# --- down after the namespace vanished ---
ip netns del c1
check_eq "status reports c1 stale" "$($CTNET status --json | python3 -c 'import json,sys; print([c["state"] for c in json.load(sys.stdin) if c["name"]=="c1"])')" "['stale']"
check_exit "status c1 exits 1 when stale" 1 $CTNET status c1
check "down after the namespace vanished" $CTNET down c1
check_eq "nothing left of c1" "$($CTNET status --json)" "[]"

# --- shared mode ---
check "up --shared" $CTNET up host1 --shared
check_eq "shared: mode recorded" "$($CTNET status host1 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["mode"])')" "shared"
check_eq "shared: no links made" "$(snapshot_links)" "$links0"
check_exit "shared: forwards refused" 1 $CTNET up host2 --shared --forward tcp:80:80
check_match "shared: refusal is clear" "$T_STDERR" "forward"
check "down shared" $CTNET down host1
check_eq "shared: record gone" "$($CTNET status --json)" "[]"

# --- status over hundreds of records (the listing splits the work over two threads) ---
for i in $(seq 300); do $CTNET up "s$i" --shared >/dev/null || echo "up s$i failed"; done
mkns c9
check "one private container among them" $CTNET up c9 --netns /run/netns/c9 --forward tcp:18080:80 --forward udp:18081:81
ip netns del c9
st=$($CTNET status --json)
check_eq "status lists all 301" "$(echo "$st" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" "301"
check_eq "in name order" "$(echo "$st" | python3 -c 'import json,sys; n=[c["name"] for c in json.load(sys.stdin)]; print(n == sorted(n))')" "True"
check_eq "the 300 shared are up, the one whose namespace went is stale" \
	"$(echo "$st" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(sum(c["state"]=="up" for c in d), [c["name"] for c in d if c["state"]=="stale"])')" \
	"300 ['c9']"
check_eq "the table has 301 rows and a header" "$($CTNET status | wc -l)" "302"
# The table is built apart from the JSON (rows, not objects): every row must say the same.
check_eq "every table row agrees with the JSON entry" "$($CTNET status | tail -n +2 | python3 -c '
import json, sys
js = json.loads(sys.argv[1])
rows = [l.rstrip("\n") for l in sys.stdin]
bad = []
for c, row in zip(js, rows):
    want = [c["name"], c["mode"], c["state"], c.get("host_ifname", "-"), c.get("host_address", "-"),
            c.get("local_address", "-"), (c.get("runtime_name") or c.get("runtime_id") or "-")[:12],
            ",".join(f["spec"] for f in c["forwards"]) or "-"]
    got = row.split(None, 8)
    reason = " (%s)" % c["reason"] if "reason" in c else ""
    if got[:8] != want or not row.endswith(want[7] + reason):
        bad.append((row, want, reason))
print(len(js) == len(rows), bad[:2])
' "$st")" "True []"
for i in $(seq 300); do $CTNET down "s$i" >/dev/null; done
check "down c9" $CTNET down c9
check_eq "all gone" "$($CTNET status --json)" "[]"

# --- bad input changes nothing ---
state0=$(snapshot_state); nft0=$(snapshot_nft); links0=$(snapshot_links)
check_exit "bad name" 1 $CTNET up 'x;rm' --create-netns
check_exit "no namespace option" 1 $CTNET up x
check_exit "two namespace options" 1 $CTNET up x --create-netns --pid 1
check_exit "bad forward" 1 $CTNET up x --create-netns --forward tcp:0:80
check_exit "bad address" 1 $CTNET up x --create-netns --host-address 10.233.1 --local-address 10.233.1.2
check_exit "equal addresses" 1 $CTNET up x --create-netns --host-address 10.233.9.1 --local-address 10.233.9.1
check_exit "missing netns path" 1 $CTNET up x --netns /run/netns/nope
check_exit "unknown option is a usage error" 2 $CTNET up x --frobnicate
check_exit "unknown command is a usage error" 2 $CTNET frobnicate
check_eq "bad input: state unchanged" "$(snapshot_state)" "$state0"
check_eq "bad input: nft unchanged" "$(snapshot_nft)" "$nft0"
check_eq "bad input: links unchanged" "$(snapshot_links)" "$links0"
check_eq "bad input: no /run/netns/x" "$(ls /run/netns | grep -c '^x$' || true)" "0"
finish
