#!/usr/bin/env bash
# ctnet dns with a real dnsmasq: containers resolve each other (A and AAAA, NAME and
# NAME.containers) and outside names through a stub resolver at 127.0.0.53 of the host;
# a removed container's name goes; nothing is answered on the uplink; ctnet dns restarted
# with containers running; names that are not DNS labels get no record; ctnet exec/run use
# the container's resolv.conf; the CNI result carries dns; doctor finds a firewall drop, a
# dead upstream and a stopped service; gc sweeps the files of gone containers.
. "$(dirname "$0")/lib.sh"

DNSMASQ=$(command -v dnsmasq || echo /usr/sbin/dnsmasq)
if [ ! -x "$DNSMASQ" ]; then
	echo "SKIP: dnsmasq is not installed (Debian: dnsmasq-base; tools/deps.sh installs it)"
	exit 77
fi
DNSQ="python3 $(cd "$(dirname "$0")" && pwd)/dnsq.py"
export CTNET_NETNS_ETC_DIR=$T_SANDBOX/netns-etc
ETC=$CTNET_NETNS_ETC_DIR
HOSTS=$CTNET_RUN_DIR/dns/hosts

# field NAME KEY: a value of the container's status --json entry ("" when absent).
field() {
	"$CTNET" status "$1" --json 2>/dev/null |
		python3 -c 'import json,sys; d=json.load(sys.stdin); v=d[0].get(sys.argv[1], "") if d else ""; print(" ".join(v) if isinstance(v, list) else v)' "$2"
}
# q NS SERVER NAME [TYPE] [--tcp]: a raw query from namespace NS ("host": this one), waiting
# T_CONN for the answer (a hang guard, not a speed claim). q_none: the same where no answer is
# expected, 2 s (a busy machine only makes "no answer" more likely, never a false failure).
q_wait() {
	local ns=$1 t=$2; shift 2
	if [ "$ns" = host ]; then $DNSQ "$@" --timeout "$t"; else ip netns exec "$ns" $DNSQ "$@" --timeout "$t"; fi
}
q() { local ns=$1; shift; q_wait "$ns" "$T_CONN" "$@"; }
q_none() { local ns=$1; shift; q_wait "$ns" 2 "$@"; }
# eventually WHAT WANT CMD...: CMD's output becomes WANT (checked again every 0.1 s; T_WAIT
# only keeps a broken program from hanging the run: how fast is make bench's business).
eventually() {
	local what=$1 want=$2 got=""; shift 2
	local end=$((SECONDS + T_WAIT))
	while :; do
		got=$("$@" 2>&1)
		[ "$got" = "$want" ] && { pass "$what"; return 0; }
		[ $SECONDS -ge $end ] && break
		sleep 0.1
	done
	fail "$what: saw '$got', expected '$want'"
}

# start_dns WHAT RESOLV_FILE [WRAPPER...]: ctnet dns in the background (in this shell: its pid
# is ours to stop), passing once it said it is ready.
start_dns() {
	local what=$1 resolv=$2 from=$(($(wc -l <"$T_TMP/dns.log") + 1))
	shift 2
	"$@" "$CTNET" dns --resolv-file "$resolv" >>"$T_TMP/dns.log" 2>&1 &
	DNS_PID=$!
	local end=$((SECONDS + T_WAIT))
	while [ $SECONDS -lt $end ]; do
		sed -n "$from,\$p" "$T_TMP/dns.log" | grep -q "ready:" && { pass "$what"; return 0; }
		kill -0 "$DNS_PID" 2>/dev/null || break
		sleep 0.1
	done
	fail "$what: not ready; its log: $(sed -n "$from,\$p" "$T_TMP/dns.log" | tail -n 3 | tr '\n' ' ')"
}
# stop_dns WHAT: SIGTERM, and its exit status must be 0.
stop_dns() {
	kill -TERM "$DNS_PID" 2>/dev/null
	wait "$DNS_PID"
	check_eq "$1" "$?" 0
}
: >"$T_TMP/dns.log"

# Whatever happens, no ctnet dns or dnsmasq of this test outlives it (a dnsmasq that changed
# its user would keep this world's namespace alive).
STUB_PID= DNS_PID=
_dns_cleanup() {
	local left start
	left=$(sed -n 's/^DNSMASQ_PID=//p' "$CTNET_RUN_DIR/dns/state" 2>/dev/null)
	start=$(sed -n 's/^DNSMASQ_START=//p' "$CTNET_RUN_DIR/dns/state" 2>/dev/null)
	for p in $DNS_PID $STUB_PID; do kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	# The very process ctnet dns started (its start time), never another one by that PID.
	[ -n "$left" ] && [ "$(sed 's/.*) //' "/proc/$left/stat" 2>/dev/null | cut -d' ' -f20)" = "$start" ] &&
		kill -TERM "$left" 2>/dev/null
	_t_cleanup
}
trap _dns_cleanup EXIT
HOST_RESOLV=$(md5sum </etc/resolv.conf)
# /sys of this namespace (ctnet dns reads bridge ports there), in our private mounts only.
mount -t sysfs sysfs /sys
# logged PATTERN: "yes" once ctnet dns's log has a line matching PATTERN.
logged() { grep -qE "$1" "$T_TMP/dns.log" && echo yes || echo no; }
# The host's own stub resolver (as systemd-resolved's 127.0.0.53), knowing one outside name.
"$DNSMASQ" --keep-in-foreground --no-hosts --conf-file=/dev/null --no-resolv --pid-file= \
	--listen-address=127.0.0.53 --bind-interfaces --log-facility="$T_TMP/stub.log" \
	--address=/outside.test/192.0.2.77 --address=/outside.test/2001:db8::77 &
STUB_PID=$!
printf 'nameserver 127.0.0.53\n' >"$T_TMP/resolv"
printf 'nameserver 127.0.0.54\n' >"$T_TMP/resolv-dead"
mk_upstream
ip -n upstream route add 10.233.0.0/16 via 192.0.2.1
ip route add default via 192.0.2.2

# Two containers before the service starts, one after; a bridge port; hostile names.
check "up web (before ctnet dns)" "$CTNET" up web --create-netns --ipv6
check "up db (before ctnet dns)" "$CTNET" up db --create-netns --ipv6
check_fails "ctnet dns --domain with a slash refused" "$CTNET" dns --domain 'a/b' --resolv-file "$T_TMP/resolv"
start_dns "ctnet dns starts" "$T_TMP/resolv"
check_eq "the pid file is held: a second ctnet dns refused" \
	"$("$CTNET" dns --resolv-file "$T_TMP/resolv" 2>&1 | grep -c 'another ctnet dns is running')" 1
check "up api (while ctnet dns runs)" "$CTNET" up api --create-netns
ip link add br-dns type bridge && ip addr add 10.99.5.1/24 dev br-dns && ip link set br-dns up
check "up bp on a bridge" "$CTNET" up bp --create-netns --bridge br-dns --local-address 10.99.5.2/24
LONG=$(printf 'a%.0s' $(seq 64))
check "up a.b (not a DNS label)" "$CTNET" up a.b --create-netns
check "up a 64-character name" "$CTNET" up "$LONG" --create-netns

WEB_H=$(field web host_address) DB_L=$(field db local_address) DB_L6=$(field db local_address6)
WEB_L=$(field web local_address) API_H=$(field api host_address) API_L=$(field api local_address)
WEB_H6=$(field web host_address6)

# --- resolv.conf: written by ctnet dns at start (web, db) and by up (api, bp) ---
check_match "web's resolv.conf: host address, IPv6 host address, search domain" \
	"$(cat "$ETC/web/resolv.conf" 2>&1 | tr '\n' '|')" "^# ctnet dns:.*\|nameserver $WEB_H\|nameserver $WEB_H6\|search containers\|$"
check_match "api's resolv.conf was written by up" "$(cat "$ETC/api/resolv.conf" 2>&1 | tr '\n' '|')" "nameserver $API_H\|search containers"
check_match "bp's resolv.conf names the bridge's address" "$(cat "$ETC/bp/resolv.conf" 2>&1 | tr '\n' '|')" "nameserver 10.99.5.1\|"

# --- names of other containers, A and AAAA, bare and with the domain (raw queries) ---
eventually "web asks for db: A" "NOERROR $DB_L" q web "$WEB_H" db A
check_eq "web asks for db: AAAA" "$(q web "$WEB_H" db AAAA)" "NOERROR $DB_L6"
check_eq "web asks for db.containers" "$(q web "$WEB_H" db.containers A)" "NOERROR $DB_L"
check_eq "web asks over TCP" "$(q web "$WEB_H" db.containers A --tcp)" "NOERROR $DB_L"
eventually "db asks for api (up while ctnet dns ran)" "NOERROR $API_L" q db "$(field db host_address)" api.containers A
check_eq "an unknown name under the domain is NXDOMAIN" "$(q web "$WEB_H" nope.containers A)" "NXDOMAIN"
check_eq "an outside name through the host's stub at 127.0.0.53" "$(q web "$WEB_H" outside.test A)" "NOERROR 192.0.2.77"
check_eq "an outside name, AAAA" "$(q web "$WEB_H" outside.test AAAA)" "NOERROR 2001:db8::77"
eventually "the bridge port asks the bridge's address" "NOERROR $WEB_L" q bp 10.99.5.1 web.containers A
check_eq "the bridge port's own name: its address without the prefix" "$(q web "$WEB_H" bp A)" "NOERROR 10.99.5.2"
check_match "dnsmasq was restarted for the bridge" "$(cat "$T_TMP/dns.log")" "restart dnsmasq: listening on ve-\* br-dns"

# --- through the resolv.conf, with the C library: ctnet exec and ctnet run ---
check_eq "ctnet exec: getent ahostsv4 db" "$("$CTNET" exec web -- getent ahostsv4 db | awk 'NR==1{print $1}')" "$DB_L"
check_eq "ctnet exec: getent ahostsv6 db.containers" \
	"$("$CTNET" exec web -- getent ahostsv6 db.containers | awk 'NR==1{print $1}')" "$DB_L6"
check_eq "ctnet exec: getent ahostsv4 outside.test" \
	"$("$CTNET" exec web -- getent ahostsv4 outside.test | awk 'NR==1{print $1}')" "192.0.2.77"
check_eq "ctnet exec binds the container's resolv.conf over /etc/resolv.conf" \
	"$("$CTNET" exec web -- cat /etc/resolv.conf | grep -c "nameserver $WEB_H")" 1
check_eq "the host's own /etc/resolv.conf is untouched" "$(md5sum </etc/resolv.conf)" "$HOST_RESOLV"
check_eq "ctnet run: getent ahostsv4 web" "$("$CTNET" run -- getent ahostsv4 web.containers | awk 'NR==1{print $1}')" "$WEB_L"

# --- status --json: each container's names ---
check_eq "status --json: web's names" "$(field web dns_names)" "web web.containers"
check_match "status --json: a.b has none, and says why" "$(field a.b dns_note)" "not a DNS label: it has a dot"

# --- hostile names: no record, a clear note, nothing malformed, the others still served ---
check_eq "a.b's hosts file holds no name" "$(grep -vc '^#' "$HOSTS/a.b")" 0
check_eq "the 64-character name's hosts file holds no name" "$(grep -vc '^#' "$HOSTS/$LONG")" 0
check_match "ctnet dns says why for a.b" "$(cat "$T_TMP/dns.log")" "note container a.b: \"a.b\" is not a DNS label: it has a dot"
check_match "... and for the 64-character name" "$(cat "$T_TMP/dns.log")" "is not a DNS label: 64 characters, at most 63"
check_eq "a.b is not resolvable" "$(q web "$WEB_H" a.b.containers A)" "NXDOMAIN"
check_eq "its first label is not resolvable either" "$(q web "$WEB_H" a.containers A)" "NXDOMAIN"
check_eq "other names still served" "$(q web "$WEB_H" db A)" "NOERROR $DB_L"

# --- nothing answered on the uplink (not an open resolver) ---
check_match "from upstream to the host's uplink address: no answer" "$(q_none upstream 192.0.2.1 web.containers A)" "^(TIMEOUT|REFUSED-CONN)$"
check_match "from upstream to a container-facing address: no answer (udp)" "$(q_none upstream "$WEB_H" web.containers A)" "^(TIMEOUT|REFUSED-CONN)$"
check_match "... (tcp)" "$(q_none upstream "$WEB_H" web.containers A --tcp)" "^(TIMEOUT|REFUSED-CONN|CLOSED|ERROR.*)$"
check_match "... and an outside name neither" "$(q_none upstream "$WEB_H" outside.test A)" "^(TIMEOUT|REFUSED-CONN)$"
check_eq "dnsmasq has no socket on the uplink's address" "$(ss -Hlnu "src 192.0.2.1" | grep -c ':53 ')" 0

# --- doctor: the path is whole; then a foreign drop of DNS input is found ---
"$CTNET" doctor --json >"$T_TMP/doc.json" 2>&1
check_eq "doctor: no DNS finding while all is well" \
	"$(python3 -c 'import json,sys; print(sum(1 for f in json.load(open(sys.argv[1]))["findings"] if f["code"].startswith("dns")))' "$T_TMP/doc.json" 2>&1)" 0
nft add table inet fw && nft add chain inet fw input '{ type filter hook input priority 0; policy accept; }' &&
	nft add rule inet fw input udp dport 53 drop
"$CTNET" doctor >"$T_TMP/doc.txt" 2>&1
check_match "doctor finds the foreign drop of DNS queries" "$(cat "$T_TMP/doc.txt")" "dns-input-drop +inet fw input"
check_match "... with a fix" "$(cat "$T_TMP/doc.txt")" "fix: nft 'insert rule inet fw input iifname \"ve-\*\" meta l4proto \{ udp, tcp \} th dport 53 accept'"
check_match "... and the drop is real" "$(q_none web "$WEB_H" db A)" "^TIMEOUT$"
nft delete table inet fw

# --- bridges that would answer another network are never served ---
ip link add br-lan type bridge && ip addr add 10.99.6.1/24 dev br-lan && ip link set br-lan up
ip link add lan0 type veth peer name lan0p && ip link set lan0 master br-lan && ip link set lan0 up
check "up lanc on a LAN bridge (it has a port that is not ctnet's)" \
	"$CTNET" up lanc --create-netns --bridge br-lan --local-address 10.99.6.2/24
ip link add br-wan type bridge && ip addr add 10.99.7.1/24 dev br-wan && ip link set br-wan up
ip route add default via 10.99.7.254 dev br-wan metric 500
check "up wanc on a bridge a default route leaves through" \
	"$CTNET" up wanc --create-netns --bridge br-wan --local-address 10.99.7.2/24
eventually "ctnet dns says why br-lan is not served" yes logged "note interface br-lan: a bridge with a port that is not ctnet's \(lan0\)"
eventually "ctnet dns says why br-wan is not served" yes logged "note interface br-wan: a default route leaves through it"
check_eq "no socket on br-lan's address" "$(ss -Hlntu "src 10.99.6.1" | grep -c ':53 ')" 0
check_eq "no socket on br-wan's address" "$(ss -Hlntu "src 10.99.7.1" | grep -c ':53 ')" 0
check_match "a container on br-lan gets no answer" "$(q_none lanc 10.99.6.1 web A)" "^(TIMEOUT|REFUSED-CONN)$"
check_eq "br-dns is still served" "$(q bp 10.99.5.1 web.containers A)" "NOERROR $WEB_L"
"$CTNET" doctor lanc >"$T_TMP/doc.txt" 2>&1
check_match "doctor: nothing listens where lanc asks" "$(cat "$T_TMP/doc.txt")" "dns-not-listening +port 53 on 10.99.6.1 \(br-lan\)"
check "down lanc" "$CTNET" down lanc
check "down wanc" "$CTNET" down wanc
ip route del default via 10.99.7.254 dev br-wan

# --- removal: the name goes (within a second or so; 5 s is the deadline here) ---
check "down db" "$CTNET" down db
eventually "db's name is gone" "NXDOMAIN" q web "$WEB_H" db.containers A
check_fails "db's hosts file is gone" test -e "$HOSTS/db"
check_fails "db's resolv.conf and directory are gone" test -e "$ETC/db"

# --- restart of ctnet dns with containers running; one brought up meanwhile ---
stop_dns "ctnet dns stops on SIGTERM, exit 0"
check_match "its dnsmasq went with it" "$(q_none web "$WEB_H" web A)" "^(TIMEOUT|REFUSED-CONN)$"
"$CTNET" doctor >"$T_TMP/doc.txt" 2>&1
check_match "doctor: containers have ctnet's resolv.conf but ctnet dns does not run" "$(cat "$T_TMP/doc.txt")" "dns-not-running"
check "up late (while ctnet dns is stopped)" "$CTNET" up late --create-netns
check_fails "late gets no resolv.conf while ctnet dns is stopped" test -e "$ETC/late/resolv.conf"
# ... with only the capabilities units/ctnet-dns.service leaves it.
start_dns "ctnet dns starts again (a dead upstream; the unit's capabilities)" "$T_TMP/resolv-dead" \
	setpriv --bounding-set -all,+net_bind_service,+setuid,+setgid,+kill --
eventually "web's name after the restart" "NOERROR $WEB_L" q api "$API_H" web A
check_eq "late's name after the restart" "$(q web "$WEB_H" late A)" "NOERROR $(field late local_address)"
check "late's resolv.conf written at start" grep -q "nameserver $(field late host_address)" "$ETC/late/resolv.conf"
"$CTNET" doctor >"$T_TMP/doc.txt" 2>&1
check_match "doctor: the upstream does not answer" "$(cat "$T_TMP/doc.txt")" "dns-upstream-silent.*127.0.0.54"
stop_dns "ctnet dns stops again"

# --- killed outright (outside systemd): its dnsmasq, which changed its user, outlives it ---
start_dns "ctnet dns starts (to be killed)" "$T_TMP/resolv"
OLD_DNSMASQ=$(sed -n 's/^DNSMASQ_PID=//p' "$CTNET_RUN_DIR/dns/state")
# Once it serves, dnsmasq has changed its user (which clears its parent-death signal).
eventually "it serves before it is killed" "NOERROR $WEB_L" q api "$API_H" web A
kill -KILL "$DNS_PID"; wait "$DNS_PID" 2>/dev/null
check "its dnsmasq is still there" kill -0 "$OLD_DNSMASQ"
start_dns "ctnet dns starts after a SIGKILL" "$T_TMP/resolv"
check_match "it stopped the dnsmasq left behind" "$(cat "$T_TMP/dns.log")" "note dnsmasq: stopped pid $OLD_DNSMASQ, left running by an earlier ctnet dns"
eventually "names answered again" "NOERROR $WEB_L" q api "$API_H" web A
stop_dns "ctnet dns stops after that"

# --- the CNI result: dns from ctnet dns when it runs, the network's own otherwise ---
start_dns "ctnet dns starts for CNI" "$T_TMP/resolv"
mkns pod
CONF='{"cniVersion":"1.0.0","name":"n1","type":"ctnet-cni","subnet":"10.233.64.0/24"}'
printf '%s' "$CONF" | env CNI_COMMAND=ADD CNI_CONTAINERID=c1 CNI_IFNAME=eth0 CNI_NETNS=/run/netns/pod \
	CNI_PATH=/nonexistent "$CTNET_BIN/ctnet-cni" >"$T_TMP/cni.json" 2>"$T_TMP/cni.err"
check_eq "CNI ADD succeeded" "$?" 0
check_eq "CNI result dns: the gateway and the domain" \
	"$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); g=r["ips"][0]["gateway"]; d=r["dns"]; print(d["nameservers"]==[g], d["search"])' "$T_TMP/cni.json" 2>&1)" \
	"True ['containers']"
GW=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ips"][0]["gateway"])' "$T_TMP/cni.json" 2>/dev/null)
eventually "the pod's name answers, at its gateway" "NOERROR $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ips"][0]["address"].split("/")[0])' "$T_TMP/cni.json")" \
	q pod "$GW" "$(python3 -c 'import json,sys; print([i["name"] for i in json.load(open(sys.argv[1]))["interfaces"] if not i.get("sandbox")][0])' "$T_TMP/cni.json" >/dev/null; "$CTNET" status --json | python3 -c 'import json,sys; print([c["name"] for c in json.load(sys.stdin) if c["name"].startswith("cni-")][0])')" A
CONF2='{"cniVersion":"1.0.0","name":"n1","type":"ctnet-cni","subnet":"10.233.64.0/24","dns":{"nameservers":["192.0.2.53"]}}'
printf '%s' "$CONF2" | env CNI_COMMAND=ADD CNI_CONTAINERID=c1 CNI_IFNAME=eth0 CNI_NETNS=/run/netns/pod \
	CNI_PATH=/nonexistent "$CTNET_BIN/ctnet-cni" >"$T_TMP/cni2.json" 2>&1
check_eq "CNI result: the network's own dns wins" \
	"$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["dns"])' "$T_TMP/cni2.json" 2>&1)" "{'nameservers': ['192.0.2.53']}"
printf '%s' "$CONF" | env CNI_COMMAND=DEL CNI_CONTAINERID=c1 CNI_IFNAME=eth0 CNI_NETNS=/run/netns/pod \
	CNI_PATH=/nonexistent "$CTNET_BIN/ctnet-cni" >/dev/null 2>&1
stop_dns "ctnet dns stops"
printf '%s' "$CONF" | env CNI_COMMAND=ADD CNI_CONTAINERID=c2 CNI_IFNAME=eth0 CNI_NETNS=/run/netns/pod \
	CNI_PATH=/nonexistent "$CTNET_BIN/ctnet-cni" >"$T_TMP/cni3.json" 2>&1
check_eq "CNI result without ctnet dns: no dns of ctnet's" \
	"$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["dns"])' "$T_TMP/cni3.json" 2>&1)" "{}"

# --- --json: the same events as JSON lines ---
"$CTNET" dns --json --resolv-file "$T_TMP/resolv" >"$T_TMP/dns.json" 2>/dev/null &
DNS_PID=$!
json_events() {
	python3 -c 'import json,sys; print(" ".join(sorted({json.loads(l)["event"] for l in open(sys.argv[1]) if l.strip()})))' "$T_TMP/dns.json" 2>&1
}
eventually "ctnet dns --json: ready and served events, one JSON object a line" "note ready served" json_events
kill -TERM "$DNS_PID"; wait "$DNS_PID"
check_eq "... and exit, status 0" "$?/$(json_events)" "0/exit note ready served"

# --- gc: the files of containers gone while ctnet dns did not run ---
mkdir -p "$ETC/ghost" && printf '# ctnet dns: resolver of container ghost\nnameserver 10.233.9.1\n' >"$ETC/ghost/resolv.conf"
mkdir -p "$ETC/theirs" && printf 'nameserver 192.0.2.53\n' >"$ETC/theirs/resolv.conf"
printf '# ctnet dns: container ghost\n10.233.9.2 ghost\n' >"$HOSTS/ghost"
"$CTNET" gc >"$T_TMP/gc.out" 2>&1
check_match "gc removes ghost's files and says so" "$(cat "$T_TMP/gc.out")" "removed 1 DNS file of gone containers in .*dns/hosts"
check_fails "ghost's hosts file is gone" test -e "$HOSTS/ghost"
check_fails "ghost's resolv.conf is gone" test -e "$ETC/ghost"
check "another tool's resolv.conf stays" test -e "$ETC/theirs/resolv.conf"
check "web's resolv.conf stays (its container runs)" test -e "$ETC/web/resolv.conf"
check "down web" "$CTNET" down web
check_fails "down removed web's resolv.conf" test -e "$ETC/web"

kill "$STUB_PID" 2>/dev/null
wait "$STUB_PID" 2>/dev/null
finish
