#!/usr/bin/env bash
# ctnet under load: 64 containers up and down at once, same-name races, and a storm of
# mixed up/down over many names from parallel workers. After each phase the state dir, the
# kernel (ip -j, nft -j) and /run/netns must agree (tests/netns/rel_check.py).
# REL_STORM_OPS / REL_STORM_NAMES: the storm's size (make check: 300/30, make stress: 2000/100).
. "$(dirname "$0")/lib.sh"
REL_CHECK=$(dirname "$0")/rel_check.py
OPS=${REL_STORM_OPS:-300} NAMES=${REL_STORM_NAMES:-30} WORKERS=8
PAR=${REL_PARALLEL:-64}

residue() { local out; if out=$(python3 "$REL_CHECK" residue upstream 2>&1); then pass "$1"; else fail "$1: $out"; fi; }
consistent() { local what=$1 out; shift; if out=$(python3 "$REL_CHECK" consistent "$@" 2>&1); then pass "$what ($out)"; else fail "$what: $out"; fi; }

mk_upstream
ip netns exec upstream socat -t$T_IDLE TCP-LISTEN:80,fork,reuseaddr SYSTEM:'echo hello' &
UP_PID=$!
trap 'kill $UP_PID 2>/dev/null; _t_cleanup' EXIT
wait_port upstream 80

# --- $PAR containers up at once ---
pids=()
for i in $(seq "$PAR"); do
	$CTNET up "ct$i" --create-netns --json >"$T_TMP/up.$i" 2>"$T_TMP/uperr.$i" & pids+=($!)
done
failed=0
for p in "${pids[@]}"; do wait "$p" || failed=$((failed + 1)); done
check_eq "$PAR parallel up: all succeed" "$failed" "0"
[ "$failed" -ne 0 ] && cat "$T_TMP"/uperr.* | sort | uniq -c | head -5
check_eq "$PAR parallel up: $PAR distinct local addresses" \
	"$(cat "$T_TMP"/up.* | python3 -c 'import json,sys; print(len({json.loads(l)["local_address"] for l in sys.stdin.read().replace("}\n{","}\x00{").split("\x00") if l.strip()}))')" "$PAR"
seq "$PAR" | sed 's/^/ct/' >"$T_TMP/expect"
consistent "$PAR parallel up: state and kernel agree" --expect "$T_TMP/expect"
reached=0
for i in $(seq "$PAR"); do
	[ "$(ip netns exec "ct$i" timeout $T_CONN socat -T$T_IDLE -t$T_IDLE - TCP:192.0.2.2:80 </dev/null 2>/dev/null)" = hello ] && reached=$((reached + 1))
done
check_eq "$PAR parallel up: every container reaches upstream" "$reached" "$PAR"

pids=()
for i in $(seq "$PAR"); do $CTNET down "ct$i" 2>"$T_TMP/downerr.$i" & pids+=($!); done
failed=0
for p in "${pids[@]}"; do wait "$p" || failed=$((failed + 1)); done
check_eq "$PAR parallel down: all succeed" "$failed" "0"
residue "$PAR parallel down: zero residue (records, leases, links, addresses, routes, nft, netns)"

# --- the same name up twice at once (and with a down in the middle) ---
for round in 1 2 3 4 5; do
	$CTNET up ctsame --create-netns --forward tcp:8080:80 >"$T_TMP/s1" 2>&1 & a=$!
	$CTNET up ctsame --create-netns --forward tcp:8080:80 >"$T_TMP/s2" 2>&1 & b=$!
	ra=0 rb=0
	wait $a || ra=$?
	wait $b || rb=$?
	check_eq "same name twice at once, round $round: both succeed" "$ra $rb" "0 0"
	check_eq "same name twice at once, round $round: one result" \
		"$(grep ADDRESS "$T_TMP/s1")" "$(grep ADDRESS "$T_TMP/s2")"
	check_eq "same name twice at once, round $round: one link" "$(ip -br link | grep -c '^ve-ctsame')" "1"
	echo ctsame >"$T_TMP/expect"
	consistent "same name twice at once, round $round: one lease, one set of elements" --expect "$T_TMP/expect"
	check_eq "same name twice at once, round $round: one masq4 element" \
		"$(nft -j list set inet ctnet masq4 | python3 -c 'import json,sys; print(len([s for s in json.load(sys.stdin)["nftables"] if "set" in s][0]["set"].get("elem",[])))')" "1"
	$CTNET down ctsame & a=$!
	$CTNET down ctsame & b=$!
	ra=0 rb=0
	wait $a || ra=$?
	wait $b || rb=$?
	check_eq "same name down twice at once, round $round: both succeed" "$ra $rb" "0 0"
done
residue "same-name races: zero residue"

# --- storm: $OPS mixed up/down over $NAMES names from $WORKERS workers ---
# Each name belongs to one worker, so "the last operation per name" is well defined; the
# workers still run at once and contend for the same locks, pools and nft table.
worker() {
	local w=$1 n=$2 i name op rc
	RANDOM=$((w * 7919 + 17))
	for i in $(seq "$n"); do
		name="ct$(( (RANDOM % (NAMES / WORKERS + 1)) * WORKERS + w ))"
		[ "${name#ct}" -lt "$NAMES" ] || name="ct$w"
		if [ $((RANDOM % 3)) -eq 0 ]; then
			op=down
			$CTNET down "$name" >/dev/null 2>>"$T_TMP/storm.err.$w"
			rc=$?
		else
			op=up
			if [ $((RANDOM % 4)) -eq 0 ]; then
				$CTNET up "$name" --create-netns --forward "tcp:$((20000 + ${name#ct})):80" >/dev/null 2>>"$T_TMP/storm.err.$w"
			else
				$CTNET up "$name" --create-netns >/dev/null 2>>"$T_TMP/storm.err.$w"
			fi
			rc=$?
			# Up with other settings than the running container is refused by design.
			[ $rc -ne 0 ] && grep -q "already up with other settings" "$T_TMP/storm.err.$w" && rc=0 &&
				sed -i '/already up with other settings/d' "$T_TMP/storm.err.$w"
		fi
		echo "$name $op $rc" >>"$T_TMP/storm.log.$w"
	done
}
start=$(date +%s)
pids=()
for w in $(seq 0 $((WORKERS - 1))); do worker "$w" $((OPS / WORKERS + (w < OPS % WORKERS))) & pids+=($!); done
for p in "${pids[@]}"; do wait "$p"; done
secs=$(($(date +%s) - start))
total=$(cat "$T_TMP"/storm.log.* | wc -l)
check_eq "storm: $OPS operations over $NAMES names ran ($secs s)" "$total" "$OPS"
check_eq "storm: no operation failed" "$(cat "$T_TMP"/storm.log.* | awk '$3 != 0' | wc -l)" "0"
[ -s "$(ls "$T_TMP"/storm.err.* | head -1)" ] && cat "$T_TMP"/storm.err.* | sort | uniq -c | head -5
# The last operation per name (each log is in order; a name lives in one log).
cat "$T_TMP"/storm.log.* | awk '{last[$1] = $2} END {for (n in last) if (last[n] == "up") print n}' | sort >"$T_TMP/expect"
consistent "storm: final state is what the last operation per name implies ($(wc -l <"$T_TMP/expect") up)" --expect "$T_TMP/expect"
pids=()
for n in $(cat "$T_TMP/expect"); do $CTNET down "$n" & pids+=($!); done
for p in "${pids[@]}"; do wait "$p"; done
residue "storm: zero residue after all down"
check_eq "storm: status empty" "$($CTNET status --json)" "[]"
finish
