#!/usr/bin/env bash
# ctnet apply adding and replacing containers next to running ones, with its forked workers
# (8 or more containers to change): every apply finishes (under timeout), every container
# is up and answers, and the host keeps nothing of removed ones. Before the kernel
# connection was explicit, the workers inherited the parent's cached netlink sockets and
# 1 running + 8 new hung for ever. Also: an apply while `ctnet watch` runs.
. "$(dirname "$0")/lib.sh"

mk_upstream
D=$T_SANDBOX/containers
mkdir -p "$D"
WPID=
trap '[ -n "$WPID" ] && kill $WPID 2>/dev/null; _t_cleanup' EXIT
conf() { printf 'PRIVATE_NETWORK=1\n' >"$D/$1.conf"; chmod 0644 "$D/$1.conf"; }
names() { ls "$D" | sed -n 's/\.conf$//p' | sort | tr '\n' ' '; }
# Each container's state and whether its local address answers from the host.
all_up() {
	$CTNET status --json | python3 -c '
import json, subprocess, sys
want = set(sys.argv[1].split())
got = {c["name"]: c for c in json.load(sys.stdin)}
bad = []
for n in sorted(want):
    c = got.get(n)
    if not c or c["state"] != "up":
        bad.append(n + ":" + (c["state"] if c else "missing"))
        continue
    ip = c["local_address"].split("/")[0]
    if subprocess.call(["ping", "-c1", "-W" + sys.argv[2], ip], stdout=subprocess.DEVNULL) != 0:
        bad.append(n + ":no-answer")
extra = sorted(set(got) - want)
print("ok" if not bad and not extra else "bad " + " ".join(bad) + " extra " + " ".join(extra))' "$(names)" "$T_CONN"
}
apply() { # what
	local t0=$(date +%s%N)
	check_exit "$1: apply finishes and exits 0" 0 timeout "${CTNET_APPLY_TIMEOUT:-120}" $CTNET apply "$D"
	echo "# $1: apply took $(( ($(date +%s%N) - t0) / 1000000 )) ms"
	check_match "$1: no failure" "$(cat "$T_TMP/out")" ", 0 failed"
	check_eq "$1: every container up and answering" "$(all_up)" "ok"
}

# 1 running + 8 new
conf r0
apply "first container"
for i in $(seq 1 8); do conf n$i; done
apply "1 running + 8 new"

# 20 running + 10 new
for i in $(seq 9 19); do conf n$i; done
apply "to 20"
for i in $(seq 1 10); do conf m$i; done
apply "20 running + 10 new"

# 24 of the 30 replaced by 24 others
rm "$D"/n*.conf "$D"/m[1-5].conf
for i in $(seq 1 24); do conf x$i; done
apply "24 replaced by 24"
check_eq "no link of a removed container is left" "$(ip -o link show | grep -c 've-[nm][0-9]')" "$(ls "$D" | grep -c '^m')"
check_eq "no namespace of a removed container is left" "$(ls /run/netns | grep -c '^n[0-9]')" "0"

# an apply of 10 new while the watcher runs
$CTNET watch >"$T_TMP/watch.log" 2>&1 &
WPID=$!
check "the watcher is ready" until_true "$T_WAIT" grep -q "^ctnet watch: ready" "$T_TMP/watch.log"
for i in $(seq 1 10); do conf w$i; done
apply "10 new while watch runs"
check "the watcher is still running" kill -0 "$WPID"
kill "$WPID"
wait "$WPID" 2>/dev/null
WPID=

# everything removed
rm "$D"/*.conf
check_exit "apply of an empty directory" 0 timeout "${CTNET_APPLY_TIMEOUT:-120}" $CTNET apply "$D"
check_eq "no container is left" "$($CTNET status --json | tr -d ' \n')" "[]"
check_eq "no veth is left" "$(ip -o link show type veth | grep -vc ' up0@')" "0"
finish
