#!/usr/bin/env bash
# ctnet apply DIR: new / changed / removed / unchanged files with real traffic; containers
# made by hand survive; a second apply changes nothing; --dry-run changes nothing; a bad
# file changes nothing and is named; apply races with up/down of other names.
. "$(dirname "$0")/lib.sh"

mk_upstream
ip netns exec upstream socat -t$T_IDLE TCP-LISTEN:80,fork,reuseaddr SYSTEM:'echo $SOCAT_PEERADDR' &
UP_PID=$!
PIDS=()
trap 'kill $UP_PID "${PIDS[@]}" 2>/dev/null; _t_cleanup' EXIT
D=$T_SANDBOX/containers
mkdir -p "$D"
conf() { local n=$1; shift; printf '%s\n' "$@" >"$D/$n.conf"; chmod 0644 "$D/$n.conf"; }
conf web PRIVATE_NETWORK=1 'HOST_PORT=tcp:8080:80'
conf db PRIVATE_NETWORK=1 HOST_ADDRESS=10.233.50.1 LOCAL_ADDRESS=10.233.50.2 'HOST_PORT=tcp:5432:5432'
conf sh PRIVATE_NETWORK=0
conf off PRIVATE_NETWORK=1 AUTO_START=0
fwd() { ip netns exec upstream timeout $T_CONN socat -T$T_IDLE -t$T_IDLE - TCP:192.0.2.1:"$1" </dev/null 2>/dev/null; }
ifx() { ip -j link show "$1" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["ifindex"])' 2>/dev/null; }
world() { echo "$(snapshot_links) $(snapshot_addrs) $(snapshot_routes) $(snapshot_nft) $(snapshot_state) $(ls /run/netns | tr '\n' ' ') $(cat "$CTNET_RUN_DIR"/containers/* 2>/dev/null | md5sum)"; }

# A container made by hand: apply never touches it.
$CTNET up hand --create-netns --forward tcp:9000:80 >/dev/null || fail "hand up"

# --- dry run: the plan, nothing changed ---
w0=$(world)
out=$($CTNET apply "$D" --dry-run)
check_match "dry run: + web" "$out" $'(^|\n)\\+ web(\n|$)'
check_match "dry run: + db, + sh" "$out" $'\\+ db\n.*\\+ sh'
check_match "dry run: AUTO_START=0 not started" "$out" "off \(AUTO_START=0: not started\)"
check_match "dry run: summary" "$out" "3 up, 0 updated, 0 removed, 0 unchanged, 0 failed \(dry run"
check_eq "dry run changed nothing" "$(world)" "$w0"
check_eq "dry run --json: the same plan as data" \
	"$($CTNET apply "$D" --dry-run --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print([(i["name"],i["op"]) for i in d["plan"]], d["summary"]["up"])')" \
	"[('db', 'up'), ('off', 'skip'), ('sh', 'up'), ('web', 'up')] 3"

# --- first apply ---
check_exit "apply brings the set up" 0 $CTNET apply "$D"
out=$($CTNET status --json | python3 -c 'import json,sys; print(sorted((c["name"],c["mode"],c["state"]) for c in json.load(sys.stdin)))')
check_eq "status: the set and the hand-made one" "$out" \
	"[('db', 'private', 'up'), ('hand', 'private', 'up'), ('sh', 'shared', 'up'), ('web', 'private', 'up')]"
check "web's namespace is /run/netns/web (nspawn --network-namespace-path)" ip netns exec web true
check_eq "db has its static addresses" "$(ip -n db -j addr show eth0 | python3 -c 'import json,sys; print([a["local"] for a in json.load(sys.stdin)[0]["addr_info"] if a["family"]=="inet"])')" "['10.233.50.2']"
for n in web db; do
	port=80; [ $n = db ] && port=5432
	ip netns exec $n socat -t$T_IDLE TCP-LISTEN:$port,fork,reuseaddr SYSTEM:"echo $n" &
	PIDS+=($!)
	wait_port $n $port
done
ip netns exec web socat -t$T_IDLE TCP-LISTEN:81,fork,reuseaddr SYSTEM:'echo web81' &
PIDS+=($!)
wait_port web 81
check_eq "web's forward answers from upstream" "$(fwd 8080)" "web"
check_eq "db's forward answers from upstream" "$(fwd 5432)" "db"
check_eq "web reaches upstream (masquerade)" "$(ip netns exec web timeout $T_CONN socat -T$T_IDLE -t$T_IDLE - TCP:192.0.2.2:80 </dev/null)" "192.0.2.1"

# --- second apply: nothing changes ---
w1=$(world)
check_exit "second apply" 0 $CTNET apply "$D"
check_match "second apply: all unchanged" "$(cat "$T_TMP/out")" "0 up, 0 updated, 0 removed, 3 unchanged, 0 failed"
check_eq "second apply: links, addresses, routes, nft, state, records identical" "$(world)" "$w1"

# --- a broken piece is repaired by apply ---
web_ip=$(sed -n 's/^LOCAL_ADDRESS=//p' "$CTNET_RUN_DIR/containers/web")
ip route del "$web_ip" dev ve-web
check_exit "apply after a deleted route" 0 $CTNET apply "$D"
check_match "apply names the repair" "$T_STDERR" "web: repaired host route ${web_ip%/*} dev ve-web missing"
check_eq "web's forward answers again" "$(fwd 8080)" "web"

# Every piece the host holds, broken by hand (what networkd, a firewall reload, a sysctl
# tool do): one apply repairs it, names it, and traffic works again. Apply's check of an
# unchanged file reads the host once (dumps) and enters no namespace.
host_ip=$(sed -n 's/^HOST_ADDRESS=//p' "$CTNET_RUN_DIR/containers/web")
breakage() { # what, command, expected repair text
	eval "$2"
	check_exit "apply after $1" 0 $CTNET apply "$D"
	check_match "apply names the repair ($1)" "$T_STDERR" "web: repaired $3"
	check_eq "web's forward answers again ($1)" "$(fwd 8080)" "web"
}
breakage "a deleted host address" "ip addr del ${host_ip%/*}/32 dev ve-web" "host address ${host_ip%/*} missing on ve-web"
breakage "host link down" "ip link set ve-web down" "host link ve-web down"
breakage "container link down (no carrier)" "ip -n web link set eth0 down" "container link eth0 down"
breakage "a flushed forward map" "nft flush map inet ctnet fwd4" "[0-9]+ NAT elements? missing in nft"
# What is the host's, not one container's, is repaired once for all.
hostbreak() { # what, command, expected repair text
	eval "$2"
	check_match "dry run: ~ host ($1)" "$($CTNET apply "$D" --dry-run)" "~ host: $3"
	check_exit "apply after $1" 0 $CTNET apply "$D"
	check_match "apply names the host's repair ($1)" "$T_STDERR" "host: repaired $3.*restored ctnet's table"
	check_fails "and no container repairs it again ($1)" grep -q "web: repaired" "$T_STDERR"
	check_eq "web's forward answers again ($1)" "$(fwd 8080)" "web"
	check_eq "db's forward answers again ($1)" "$(fwd 5432)" "db"
}
hostbreak "nft flush ruleset" "nft flush ruleset" "nft table of ctnet or one of its chains missing"
hostbreak "a deleted chain" "nft flush chain inet ctnet postrouting && nft delete chain inet ctnet postrouting" "nft table of ctnet or one of its chains missing"
hostbreak "ip_forward=0" "sysctl -qw net.ipv4.ip_forward=0" "sysctl net.ipv4.ip_forward off"
breakage "route_localnet=0 on ve-web" "sysctl -qw net.ipv4.conf.ve-web.route_localnet=0" "sysctl net.ipv4.conf.ve-web.route_localnet was off"
check_eq "the host's 127.0.0.1 forward works after the route_localnet repair" \
	"$(timeout $T_CONN socat -T$T_IDLE -t$T_IDLE - TCP:127.0.0.1:8080 </dev/null 2>/dev/null)" "web"
# Inside the container: --deep looks there too.
ip -n web route del default
check_exit "apply --deep after the container's default route went" 0 $CTNET apply "$D" --deep
check_match "apply --deep names the repair" "$T_STDERR" "web: repaired container default route via ${host_ip%/*} missing"
check_eq "web reaches upstream again" "$(ip netns exec web timeout $T_CONN socat -T$T_IDLE -t$T_IDLE - TCP:192.0.2.2:80 </dev/null)" "192.0.2.1"
w3=$(world)
check_exit "apply after the repairs" 0 $CTNET apply "$D"
check_match "then all unchanged" "$(cat "$T_TMP/out")" "0 up, 0 updated, 0 removed, 3 unchanged, 0 failed"
check_eq "and nothing changed" "$(world)" "$w3"

# --- the index: a file found unchanged is not read again, a changed one always is ---
IX=$CTNET_RUN_DIR/apply-index
ix_entries() { # NAME CONF-INODE per entry of the index
	python3 -c '
import sys
b = open(sys.argv[1], "rb").read()
i = b.index(b"\n") + 1
while i < len(b):
    j = b.index(b"\n", i)
    f = b[i:j].split()
    print(f[0].decode(), f[2].decode())
    i = j + 1 + int(f[-1]) + 1
' "$IX"/*
}
sleep 2.5 # a file changed in the last 2 s is never indexed (coarse timestamps)
check_exit "apply writes the index" 0 $CTNET apply "$D"
check_eq "index: the running unchanged files" "$(ix_entries | awk '{print $1}' | tr '\n' ' ')" "db sh web "
strace -f -e trace=open,openat -o "$T_TMP/strace" $CTNET apply "$D" >/dev/null
check_eq "the next apply opens no .conf the index vouches for" "$(grep -v "\"$CTNET_CONF\"" "$T_TMP/strace" | grep -c '\.conf"')" "1"
check_match "... only the one not running (AUTO_START=0)" "$(grep '\.conf"' "$T_TMP/strace")" "off\.conf"
check_eq "... nor their records (a stat each)" "$(grep -cE 'openat\([0-9]+, "(db|sh|web)"' "$T_TMP/strace")" "0"
check_match "... and all unchanged" "$($CTNET apply "$D")" "0 up, 0 updated, 0 removed, 3 unchanged, 0 failed"
# Broken while indexed: the repair reads the file as ever.
ip route del "$web_ip" dev ve-web
check_exit "apply after a deleted route (indexed)" 0 $CTNET apply "$D"
check_match "the repair is named" "$T_STDERR" "web: repaired host route ${web_ip%/*} dev ve-web missing"
check_eq "web's forward answers" "$(fwd 8080)" "web"
nft flush map inet ctnet fwd4
check_exit "apply after a flushed forward map (indexed)" 0 $CTNET apply "$D"
check_match "the NAT repair is named" "$T_STDERR" "web: repaired [0-9]+ NAT elements? missing in nft"
check_eq "web's forward answers again" "$(fwd 8080)" "web"
sysctl -qw net.ipv4.conf.ve-web.route_localnet=0
check_exit "apply after route_localnet=0 (indexed)" 0 $CTNET apply "$D"
check_match "the sysctl repair is named" "$T_STDERR" "web: repaired sysctl net.ipv4.conf.ve-web.route_localnet was off"
# A rollback to an older file (same inode and times, as a switch back to an older
# /nix/store path) after an index from before the change: the record no longer matches.
cp "$D/web.conf" "$T_SANDBOX/web-a.conf"
printf '%s\n' PRIVATE_NETWORK=1 'HOST_PORT="tcp:8080:80,tcp:8082:81"' >"$T_SANDBOX/web-b.conf"
ln -sf "$T_SANDBOX/web-a.conf" "$D/web.conf"
sleep 2.5
check_exit "apply of web as a symlink to A" 0 $CTNET apply "$D"
check_match "A: unchanged" "$(cat "$T_TMP/out")" "3 unchanged"
check_eq "the index holds web as A" "$(ix_entries | grep -c "^web $(stat -L -c %i "$D/web.conf")$")" "1"
cp "$IX"/* "$T_TMP/index-a"
ln -sf "$T_SANDBOX/web-b.conf" "$D/web.conf"
check_exit "apply of B" 0 $CTNET apply "$D"
check_match "B: 1 updated" "$(cat "$T_TMP/out")" "1 updated"
cp "$T_TMP/index-a" "$IX"/"$(ls "$IX")" # as if the last apply had died before its index
ln -sf "$T_SANDBOX/web-a.conf" "$D/web.conf"
check_exit "apply of A again, with A's old index" 0 $CTNET apply "$D"
check_match "A again: 1 updated, not trusted from the index" "$(cat "$T_TMP/out")" "1 updated"
check_eq "B's forward is gone" "$(nft -j list map inet ctnet fwd4 | grep -c 8082)" "0"
rm "$D/web.conf"
cp "$T_SANDBOX/web-a.conf" "$D/web.conf"
printf 'garbage\n' >"$IX"/"$(ls "$IX")"
check_exit "a corrupt index: every file is read" 0 $CTNET apply "$D"
check_match "... and all unchanged" "$(cat "$T_TMP/out")" "0 up, 0 updated, 0 removed, 3 unchanged, 0 failed"
ixf="$IX/$(ls "$IX")"
check "the index is written anew" grep -q '^ctnet-apply-index 2 ' "$ixf"
truncate -s -7 "$ixf"
check_exit "a truncated index: every file is read" 0 $CTNET apply "$D"
check_match "... and all unchanged" "$(cat "$T_TMP/out")" "0 up, 0 updated, 0 removed, 3 unchanged, 0 failed"

# --- changed file: in place, same link, established flow survives ---
ifx0=$(ifx ve-web)
exec 7< <(ip netns exec upstream socat -T30 - TCP:192.0.2.1:8080 2>/dev/null)
wait_for sh -c 'conntrack -L -p tcp --dport 8080 2>/dev/null | grep -q ESTABLISHED'
ct0=$(conntrack -L -p tcp --dport 8080 2>/dev/null | grep -c ESTABLISHED)
conf web PRIVATE_NETWORK=1 'HOST_PORT="tcp:8080:80,tcp:8081:81"'
check_match "dry run: ~ web: forward +tcp:8081:81" "$($CTNET apply "$D" --dry-run)" "~ web: forward \+tcp:8081:81"
check_exit "apply the change" 0 $CTNET apply "$D"
check_match "apply: 1 updated" "$(cat "$T_TMP/out")" "0 up, 1 updated, 0 removed, 2 unchanged, 0 failed"
check_eq "the new forward answers" "$(fwd 8081)" "web81"
check_eq "same host link (ifindex)" "$(ifx ve-web)" "$ifx0"
check_eq "the established flow on the unchanged forward survives" "$(conntrack -L -p tcp --dport 8080 2>/dev/null | grep -c ESTABLISHED)" "$ct0"
exec 7<&-

# --- bad input: nothing changes, the file is named ---
w2=$(world)
conf bad PRIVATE_NETWORK=1 'HOST_ADDRESS=$(id)'
check_exit "a file with shell syntax: exit 1" 1 $CTNET apply "$D"
check_match "the error names the file and line" "$T_STDERR" "bad.conf.* line 2"
rm "$D/bad.conf"
conf ww PRIVATE_NETWORK=1; chmod 0666 "$D/ww.conf"
check_exit "a world-writable file: exit 1" 1 $CTNET apply "$D"
check_match "the error names it" "$T_STDERR" "ww.conf.*writable by group or others"
rm "$D/ww.conf"
conf clash PRIVATE_NETWORK=1 'HOST_PORT=tcp:5432:5432'
check_exit "two files claiming one host port: exit 1" 1 $CTNET apply "$D"
check_match "the error names both" "$T_STDERR" "\"clash.conf\" and \"db.conf\" both forward host port tcp:5432"
conf clash PRIVATE_NETWORK=1 'HOST_PORT=tcp:5430-5433:80-83'
check_exit "a file whose port range overlaps another file's port: exit 1" 1 $CTNET apply "$D"
check_match "the error names both" "$T_STDERR" "\"clash.conf\" and \"db.conf\" both forward host port tcp:543[0-9]"
conf clash PRIVATE_NETWORK=1 HOST_ADDRESS=10.233.51.1 LOCAL_ADDRESS=10.233.50.2
check_exit "two files claiming one address: exit 1" 1 $CTNET apply "$D"
check_match "the error names both and the address" "$T_STDERR" "\"clash.conf\" and \"db.conf\" both claim address 10.233.50.2"
conf clash PRIVATE_NETWORK=1 'HOST_PORT=tcp:8999-9001:80-82'
check_exit "a file whose range covers a hand-made container's port: exit 1" 1 $CTNET apply "$D"
check_match "the error names the range and the running container" "$T_STDERR" "\"clash.conf\" and running container \"hand\" both forward host port tcp:8999-9001"
conf clash PRIVATE_NETWORK=1 'HOST_PORT=tcp:9000:80'
check_exit "a file claiming a hand-made container's port: exit 1" 1 $CTNET apply "$D"
check_match "the error names the running container" "$T_STDERR" "running container \"hand\""
rm "$D/clash.conf"
conf hand PRIVATE_NETWORK=1
check_exit "a file named like a hand-made container: exit 1" 1 $CTNET apply "$D"
check_match "the error names both" "$T_STDERR" "hand.conf\": the name is taken by container \"hand\" \(made by hand\)"
rm "$D/hand.conf"
check_eq "bad input changed nothing" "$(world)" "$w2"

# --- a CNI container is not apply's either ---
# (its record carries ORIGIN=cni:...; apply only ever removes ORIGIN=apply:DIR)
check_match "records carry their origin" "$(grep ^ORIGIN "$CTNET_RUN_DIR/containers/web")" "ORIGIN=apply:$D"

# --- races: apply while other names come and go ---
for i in 1 2 3; do conf "r$i" PRIVATE_NETWORK=1; done
( for i in $(seq 6); do $CTNET up "x$i" --create-netns >/dev/null && $CTNET down "x$i"; done ) &
RACE=$!
check_exit "apply racing with up/down of other names" 0 $CTNET apply "$D"
wait $RACE
check_eq "racers left nothing" "$($CTNET status --json | python3 -c 'import json,sys; print(sorted(c["name"] for c in json.load(sys.stdin) if c["name"].startswith("x")))')" "[]"
check_eq "every r container up" "$($CTNET status --json | python3 -c 'import json,sys; print(sorted(c["state"] for c in json.load(sys.stdin) if c["name"].startswith("r")))')" "['up', 'up', 'up']"

# --- removed files: their containers go (network, lease, NAT) ---
rm "$D/db.conf" "$D/r1.conf"
check_match "dry run: - db, - r1" "$($CTNET apply "$D" --dry-run)" $'- db\n.*- r1'
check_exit "apply after removing files" 0 $CTNET apply "$D"
check_match "2 removed" "$(cat "$T_TMP/out")" "0 up, 0 updated, 2 removed"
check_fails "db's link is gone" ip link show ve-db
check_eq "db's forward is gone from nft" "$(nft -j list map inet ctnet fwd4 | grep -c 5432)" "0"
check_eq "db's record is gone" "$(ls "$CTNET_RUN_DIR/containers" | grep -c '^db$')" "0"

# --- empty DIR: everything apply made goes; the hand-made one stays ---
rm -f "$D"/*.conf
check_exit "apply of an empty directory" 0 $CTNET apply "$D"
check_eq "only the hand-made container is left" "$($CTNET status --json | python3 -c 'import json,sys; print([c["name"] for c in json.load(sys.stdin)])')" "['hand']"
check_eq "hand's forward still answers setup" "$(ip -j link show ve-hand | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["ifname"])')" "ve-hand"
check_eq "leases: only hand's" "$($IPAM list --json | python3 -c 'import json,sys; print([l["name"] for l in json.load(sys.stdin)])')" "['hand']"
check_eq "no /run/netns of apply's left" "$(ls /run/netns | grep -vc -e upstream -e hand)" "0"

# --- a container re-made by hand between the plan and the run is not apply's to remove ---
# The plan reads records without a lock; the run takes the lock. While apply waits for it,
# the lock file is removed (as gc's sweep does, under the lock) and the container is taken
# down and brought up by hand on a new one; then apply gets the old one and goes on.
R=$T_SANDBOX/race
mkdir -p "$R"
printf 'PRIVATE_NETWORK=0\n' >"$R/rh.conf"
check_exit "race: apply brings rh up" 0 $CTNET apply "$R"
rm "$R/rh.conf"
exec 8<>"$CTNET_RUN_DIR/containers/.rh.lock"
flock 8
$CTNET apply "$R" >"$T_TMP/race.out" 2>"$T_TMP/race.err" 8<&- &
APID=$!
wait_for grep -q -- "-> FLOCK.* $APID " /proc/locks
check_match "race: apply planned the removal and waits for rh's lock" "$(grep -- "-> FLOCK" /proc/locks)" " $APID "
rm "$CTNET_RUN_DIR/containers/.rh.lock"
$CTNET down rh >/dev/null 8<&- && $CTNET up rh --shared >/dev/null 8<&- || fail "race: rh re-made by hand"
exec 8<&-
wait $APID
check_eq "race: apply exits 0" "$?" "0"
check_eq "race: the hand-made rh is still there, made by hand" \
	"$($CTNET status --json | python3 -c 'import json,sys; print([(c["name"], c["state"], c.get("origin", "")) for c in json.load(sys.stdin) if c["name"]=="rh"])')" \
	"[('rh', 'up', '')]"
check_match "race: apply says it left rh alone and why" "$(cat "$T_TMP/race.out")" "rh \(left alone: container \"rh\" is now one made by hand, no longer \"apply:$R\"'s\)"
check_match "race: not counted as removed" "$(cat "$T_TMP/race.out")" "0 removed, 0 unchanged, 0 failed"
check "race: down rh" $CTNET down rh

# --- every line of a container's report is kept (a converge reports up to 48) ---
# Nine containers: apply's run forks workers, which hand their reports back.
M=$T_SANDBOX/many
mkdir -p "$M"
for i in $(seq 9); do printf 'PRIVATE_NETWORK=1\n' >"$M/mf$i.conf"; done
check_exit "report: apply brings mf1..mf9 up" 0 $CTNET apply "$M"
printf 'PRIVATE_NETWORK=1\nHOST_PORT="%s"\n' "$(seq -s, -f 'tcp:%g:80' 7001 7010)" >"$M/mf1.conf"
for i in $(seq 2 9); do printf 'PRIVATE_NETWORK=1\nHOST_PORT="tcp:71%d1:80,tcp:71%d2:80"\n' $i $i >"$M/mf$i.conf"; done
check_exit "report: forwards added to all nine" 0 $CTNET apply "$M" --json
# Its first forwards switch route_localnet on: a change too (not a repair), said first.
check_eq "report: mf1's eleven changes all in --json" \
	"$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print([c["what"] for i in d["plan"] if i["name"]=="mf1" for c in i["changes"] if c["kind"]=="changed"])' "$T_TMP/out")" \
	"$(python3 -c 'print(["sysctl net.ipv4.conf.ve-mf1.route_localnet on for its first forward"] + ["forward +tcp:%d:80" % p for p in range(7001, 7011)])')"
check_eq "report: the others' two each, from every worker" \
	"$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(sorted(c["what"] for i in d["plan"] if i["name"]!="mf1" for c in i["changes"] if c["kind"]=="changed"))' "$T_TMP/out")" \
	"$(python3 -c 'print(sorted(["forward +tcp:71%d%d:80" % (i, j) for i in range(2, 10) for j in (1, 2)] + ["sysctl net.ipv4.conf.ve-mf%d.route_localnet on for its first forward" % i for i in range(2, 10)]))')"
printf 'PRIVATE_NETWORK=1\n' >"$M/mf1.conf"
check_exit "report: mf1's ten forwards removed" 0 $CTNET apply "$M"
check_eq "report: all ten printed" "$(grep -c "ctnet: mf1: changed forward -tcp:70" "$T_TMP/err")" "10"
rm "$M"/mf*.conf
check_exit "report: mf1..mf9 removed" 0 $CTNET apply "$M"

# --- two long directories alike in their first 249 bytes are two owners ---
L=$T_SANDBOX/$(printf 'l%.0s' $(seq 200))/$(printf 'm%.0s' $(seq 60))
mkdir -p "$L/one" "$L/two"
printf 'PRIVATE_NETWORK=0\n' >"$L/one/lo.conf"
check_exit "long dirs: apply of one brings lo up" 0 $CTNET apply "$L/one"
check_exit "long dirs: apply of the other (empty) directory" 0 $CTNET apply "$L/two"
check_match "long dirs: it removes nothing" "$(cat "$T_TMP/out")" "0 up, 0 updated, 0 removed"
check_eq "long dirs: lo is still up" "$($CTNET status --json | python3 -c 'import json,sys; print([(c["name"], c["state"]) for c in json.load(sys.stdin) if c["name"]=="lo"])')" "[('lo', 'up')]"
rm "$L/one/lo.conf"
check_exit "long dirs: apply of one removes lo" 0 $CTNET apply "$L/one"
check_match "long dirs: ... 1 removed" "$(cat "$T_TMP/out")" "0 up, 0 updated, 1 removed"
finish
