#!/usr/bin/env bash
# One output layer (lib/out.h): each command's text and JSON come from the same description,
# so they say the same things; and output that cannot be written (a full disk: /dev/full) is
# a failure with a message, for every program and command, whatever else it would exit with.
. "$(dirname "$0")/lib.sh"

$CTNET up web --create-netns --forward tcp:8080:80 --forward udp:5353:53 >/dev/null || { fail "up web"; finish; }
$CTNET up averyveryverylongcontainername01 --create-netns --ipv6 >/dev/null || { fail "up long"; finish; }
$CTNET up shr --shared >/dev/null || { fail "up shared"; finish; }
ip -n web link set eth0 down # web is degraded: its row carries the first fault

# The status table, rebuilt from status --json by its documented columns, is the text.
$CTNET status --json >"$T_TMP/st.json"
$CTNET status >"$T_TMP/st.txt"
want=$(python3 - "$T_TMP/st.json" <<'EOF'
import json, sys
rows = ["%-20s %-8s %-8s %-15s %-18s %-18s %-12s %s" % ("NAME", "MODE", "STATE", "HOST_IF", "HOST_ADDRESS", "LOCAL_ADDRESS", "RUNTIME", "FORWARDS")]
for c in json.load(open(sys.argv[1])):
    name = c["name"] if len(c["name"]) <= 20 else c["name"][:19] + "~"
    fw = ",".join(f["spec"] for f in c["forwards"]) or "-"
    rt = (c.get("runtime_name") or c.get("runtime_id") or "-")[:12]
    line = "%-20s %-8s %-8s %-15s %-18s %-18s %-12s %s" % (name, c["mode"], c["state"], c.get("host_ifname", "-"),
        c.get("host_address", "-"), c.get("local_address", "-"), rt, fw)
    if c.get("reason"):
        line += " (%s)" % c["reason"]
    rows.append(line)
print("\n".join(rows))
EOF
)
check_eq "status: the table is the JSON's rows under its columns" "$(cat "$T_TMP/st.txt")" "$want"
check_match "status: the degraded row shows its first fault" "$(grep '^web ' "$T_TMP/st.txt")" "degraded .* \(.+\)$"

# up: the KEY=VALUE lines are the JSON's values (same record, one description).
$CTNET up web --create-netns --forward tcp:8080:80 --forward udp:5353:53 >"$T_TMP/up.txt" 2>/dev/null
$CTNET up web --create-netns --forward tcp:8080:80 --forward udp:5353:53 --json >"$T_TMP/up.json" 2>/dev/null
check_eq "up: shell lines and JSON agree" "$(python3 - "$T_TMP/up.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
keys = [("NAME", "name"), ("MODE", "mode"), ("NETNS", "netns"), ("HOST_IFNAME", "host_ifname"), ("IFNAME", "ifname"),
        ("HOST_ADDRESS", "host_address"), ("LOCAL_ADDRESS", "local_address")]
out = ["%s=%s" % (k, r[j]) for k, j in keys if j in r]
out.append("HOST_PORT=" + ",".join(f["spec"] for f in r["forwards"]))
print("\n".join(out))
EOF
)" "$(cat "$T_TMP/up.txt")"

# ctnet-ipam list: each JSON lease is a row of the table.
$IPAM list --json >"$T_TMP/ipam.json"
check_eq "ipam list: the rows are the JSON's leases" "$($IPAM list | tail -n +2 | awk '{print $1, $4, $5}')" \
	"$(python3 -c '
import json, sys
for l in json.load(open(sys.argv[1])):
    print(l["name"], l["local_address"], "static" if l["static"] else "auto")' "$T_TMP/ipam.json")"

# ctnet-nat list: each container's row and a line per forward, as the JSON lists them.
check_eq "nat list: rows and forward lines are the JSON's" \
	"$($NAT list | awk '$1 == "forward" {print "  " $2; next} NR > 1 {print $1, $3}')" \
	"$($NAT list --json | python3 -c '
import json, sys
for c in json.load(sys.stdin)["containers"]:
    print(c["name"], c["address"])
    for f in c["forwards"]:
        print("  " + f["spec"])')"

# gc: the same events as lines and as JSON.
umount /run/netns/averyveryverylongcontainername01 && rm -f /run/netns/averyveryverylongcontainername01
$CTNET gc --json >"$T_TMP/gc.json"
check_eq "gc --json: the gone container, why, and the count" "$(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print([(e["event"], e.get("name"), e.get("why"), e.get("lease_kept")) for e in d["events"] if e["event"] == "container"], d["removed"] >= 1, d["failed"])' "$T_TMP/gc.json")" \
	"[('container', 'averyveryverylongcontainername01', 'namespace gone', True)] True 0"
$CTNET up again --create-netns >/dev/null && umount /run/netns/again && rm -f /run/netns/again
check_match "gc: the same event as a line" "$($CTNET gc)" "removed container again \(namespace gone\), lease kept"

# repair: the same repairs as lines and as JSON.
ip -n web link set eth0 up
ip -n web addr flush dev eth0
$CTNET repair web --json >"$T_TMP/repair.json"
ip -n web addr flush dev eth0
check_eq "repair: lines and JSON name the same repairs" "$($CTNET repair web)" "$(python3 -c '
import json, sys
for c in json.load(open(sys.argv[1])):
    for r in c["changes"]:
        print("%s: %s %s" % (c["name"], r["kind"], r["what"]))' "$T_TMP/repair.json")"
check_match "repair --json: what it put back" "$(cat "$T_TMP/repair.json")" '"what": "container address'
check_eq "repair: nothing left, as a line and as JSON" "$($CTNET repair web; $CTNET repair web --json | tr -d ' \n')" \
	'web: nothing to repair
[{"name":"web","changes":[]}]'

# A failed write exits 1 and says so, for every program and command; without it the same
# command exits 0 (no container is broken now, nothing blocks).
UPWEB=(up web --create-netns --forward tcp:8080:80 --forward udp:5353:53)
commands=(
	"$CTNET status" "$CTNET status --json" "$CTNET status web" "$CTNET doctor" "$CTNET doctor --json"
	"$CTNET ${UPWEB[*]}" "$CTNET ${UPWEB[*]} --json" "$CTNET gc" "$CTNET gc --json" "$CTNET repair web" "$CTNET repair web --json" "$CTNET --help" "$CTNET --version"
	"$CTNET apply $T_TMP --dry-run" "$CTNET apply $T_TMP --dry-run --json"
	"$IPAM list" "$IPAM list --json" "$IPAM show web" "$IPAM show web --json" "$IPAM --help" "$IPAM --version"
	"$NETD show" "$NETD show --json" "$NETD --help" "$NAT list" "$NAT list --json" "$NAT --help" "$NAT --version" "$NETD --version"
)
for c in "${commands[@]}"; do
	short=${c//$CTNET_BIN\//}
	short=${short//$T_TMP/DIR}
	check_exit "$short: exits 0" 0 $c
	check_exit "$short >/dev/full: exits 1" 1 sh -c "exec $c >/dev/full"
	check_match "$short >/dev/full: says why" "$T_STDERR" "write the output: No space left on device"
done
finish
