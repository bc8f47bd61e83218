#!/usr/bin/env bash
# ctnet-nat refuses bad input with a one-line error naming the value, a non-zero exit,
# and changes nothing: the ruleset (nft -j list ruleset) and the state dir are compared
# before and after every attempt. Also idempotence and the usage/exit-code conventions.
. "$(dirname "$0")/lib.sh"

check "init" "$NAT" init
check "add web" "$NAT" add web --address 10.233.1.2 --iface ve-web --forward tcp:8080:80
check "add db" "$NAT" add db --address 10.233.2.2 --iface ve-db

# refuse WHAT REGEX ARGS...: non-zero exit, stderr one line matching REGEX, nothing changed.
refuse() {
	local what=$1 re=$2; shift 2
	local nft_before state_before rc lines
	nft_before=$(snapshot_nft) state_before=$(snapshot_state)
	"$NAT" "$@" >"$T_TMP/out" 2>"$T_TMP/err"
	rc=$?
	lines=$(grep -c . "$T_TMP/err")
	if [ $rc -eq 0 ]; then
		fail "$what: exit 0, expected failure"
	elif [ "$lines" -ne 1 ] && [ $rc -ne 2 ]; then
		fail "$what: $lines lines on stderr, expected one: $(head -c 300 "$T_TMP/err")"
	elif ! grep -qE -- "$re" "$T_TMP/err"; then
		fail "$what: stderr '$(head -c 300 "$T_TMP/err")' does not match /$re/"
	elif [ "$(snapshot_nft)" != "$nft_before" ]; then
		fail "$what: ruleset changed"
	elif [ "$(snapshot_state)" != "$state_before" ]; then
		fail "$what: state dir changed"
	else
		pass "$what (exit $rc: $(head -1 "$T_TMP/err"))"
	fi
}

refuse "protocol sctp" '"sctp:80".*tcp or udp' forward add db sctp:80
refuse "port 0" '"tcp:0".*1-65535' forward add db tcp:0
refuse "port 65536" '"tcp:65536".*1-65535' forward add db tcp:65536
refuse "container port 0" '"tcp:81:0"' forward add db tcp:81:0
refuse "reversed range" '"tcp:90-80".*reversed' forward add db tcp:90-80
refuse "ranges of different length" '"tcp:8000-8010:80-85".*length' forward add db tcp:8000-8010:80-85
refuse "range over 1024 ports" '"tcp:1000-3000".*1024' forward add db tcp:1000-3000
refuse "port with garbage" '"tcp:80x"' forward add db tcp:80x
refuse "host port owned by another container" 'host port 8080/tcp already forwarded to container "web"' \
	forward add db tcp:8080:80
refuse "host port owned by another, inside a range" 'host port 8080/tcp already forwarded to container "web"' \
	forward add db tcp:8070-8090:70-90
refuse "add with a port owned by another" 'already forwarded to container "web"' \
	add db --address 10.233.2.2 --iface ve-db --forward tcp:8080:80
refuse "forward add for an unknown container" '"ghost".*not added' forward add ghost tcp:9000
refuse "forward del of a forward that is not there" 'tcp:9999:9999.*no such forward' forward del web tcp:9999
refuse "name with nft syntax" 'invalid container name "x; flush ruleset"' \
	add 'x; flush ruleset' --address 10.233.3.2 --iface ve-x
refuse "name with a quote" 'invalid container name' add 'a"b' --address 10.233.3.2 --iface ve-x
refuse "name with braces" 'invalid container name' add 'a{b}' --address 10.233.3.2 --iface ve-x
refuse "name with a newline" 'invalid container name' add $'a\nb' --address 10.233.3.2 --iface ve-x
refuse "name with \$" 'invalid container name' add 'a$b' --address 10.233.3.2 --iface ve-x
refuse "forward add, name with nft syntax" 'invalid container name' forward add 'web; flush ruleset' tcp:9000
refuse "del, name with nft syntax" 'invalid container name' del 'web"; flush ruleset; "'
refuse "iface with nft syntax" 'invalid interface name "ve-x\\x22; flush ruleset' \
	add x --address 10.233.3.2 --iface 've-x"; flush ruleset'
refuse "iface too long" 'invalid interface name "ve-0123456789abcdef"' \
	add x --address 10.233.3.2 --iface ve-0123456789abcdef
refuse "--address not IPv4" '"fd00::2"' add x --address fd00::2 --iface ve-x
refuse "--address garbage" '"10.233.3"' add x --address 10.233.3 --iface ve-x
refuse "--address with nft syntax" '10.233.3.2 }' add x --address '10.233.3.2 } ; flush ruleset' --iface ve-x
refuse "--address6 not IPv6" '"10.233.3.3"' add x --address 10.233.3.2 --address6 10.233.3.3 --iface ve-x
refuse "--host-ip garbage" '"1.2.3"' forward add web tcp:9000 --host-ip 1.2.3
refuse "IPv6 --host-ip for a container without IPv6" 'no IPv6 address' forward add web tcp:9000 --host-ip 2001:db8::1
refuse "external interface with nft syntax" 'invalid interface name' init --external-interface 'eth0"; flush ruleset'
refuse "unknown command" 'unknown command' frobnicate
refuse "add without --iface" 'needs NAME' add x --address 10.233.3.2
check_exit "usage errors exit 2" 2 "$NAT" add x --address 10.233.3.2
check_exit "--help exits 0" 0 "$NAT" --help
check_match "--help says flush keeps the state" "$("$NAT" --help)" "recorded state is"
check_exit "--version exits 0" 0 "$NAT" --version

# Idempotence: same add twice, init twice, forward add twice: same ruleset and state.
nft_before=$(snapshot_nft) state_before=$(snapshot_state)
check "add web again" "$NAT" add web --address 10.233.1.2 --iface ve-web --forward tcp:8080:80
check "forward add existing forward again" "$NAT" forward add web tcp:8080:80
check "init again" "$NAT" init
check_eq "repeat add/init leave the ruleset as it was" "$(snapshot_nft)" "$nft_before"
check_eq "repeat add/init leave the state as it was" "$(snapshot_state)" "$state_before"
check_exit "in sync" 0 "$NAT" check

# Replacing a container moves its elements; the old ones go.
check "re-add web with another address and forward" "$NAT" add web --address 10.233.1.6 --iface ve-web --forward tcp:8081:80
check_eq "the old address left masq4" \
	"$(nft -j list set inet ctnet masq4 | python3 -c 'import json,sys; print(sorted(e for x in json.load(sys.stdin)["nftables"] if "set" in x for e in x["set"].get("elem",[])))')" \
	"['10.233.1.6', '10.233.2.2']"
check "host port 8080 is free again for db" "$NAT" forward add db tcp:8080:80
check_exit "in sync after replace" 0 "$NAT" check

# External interfaces: masquerade only out of them.
check "init --external-interface up0" "$NAT" init --external-interface up0
check_match "postrouting masquerades only out of ext_ifaces" "$(nft list chain inet ctnet postrouting)" 'oifname @ext_ifaces oifname != @bridges ip daddr != @cluster4 masquerade'
check_eq "ext_ifaces holds up0" "$(nft -j list set inet ctnet ext_ifaces | python3 -c 'import json,sys; print([e for x in json.load(sys.stdin)["nftables"] if "set" in x for e in x["set"].get("elem",[])])')" "['up0']"
check_exit "in sync with external interfaces" 0 "$NAT" check
check_match "elements kept across init" "$(nft list map inet ctnet fwd4)" '8081'
nft flush ruleset
check "restore keeps the external interfaces" "$NAT" restore
check_match "restored postrouting uses ext_ifaces" "$(nft list chain inet ctnet postrouting)" 'oifname @ext_ifaces oifname != @bridges ip daddr != @cluster4 masquerade'

# Without CAP_NET_ADMIN: a clear message.
if command -v capsh >/dev/null; then
	check_exit "no CAP_NET_ADMIN: exit 1" 1 capsh --drop=cap_net_admin -- -c "$NAT list"
	check_match "no CAP_NET_ADMIN: says so" "$T_STDERR" "CAP_NET_ADMIN"
fi
finish
