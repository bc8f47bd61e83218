#!/usr/bin/env bash
# Every unit in units/ passes `systemd-analyze verify` with its ExecStart= programs pointed at
# the built ones (and the man pages its Documentation= names found in man/); a unit naming a
# program that does not exist fails verify, so this test can fail.
. "$(dirname "$0")/lib.sh"
REPO=$(cd "$(dirname "$0")/../.." && pwd)

if ! command -v systemd-analyze >/dev/null; then
	echo "SKIP: systemd-analyze not installed (Debian's systemd package)"
	exit 77
fi
U=$T_TMP/units M=$T_TMP/man
mkdir -p "$U" "$M/man8"
cp "$REPO"/man/*.8 "$M/man8/"
for u in "$REPO"/units/*; do sed "s|/usr/sbin/|$CTNET_BIN/|g" "$u" >"$U/${u##*/}"; done
# verify checks that each ExecStart program
# is executable, which build/ctnet is.
for u in "$U"/*; do
	check "systemd-analyze verify ${u##*/}" env MANPATH="$M" SYSTEMD_LOG_LEVEL=notice systemd-analyze verify "$u"
done
check_eq "ctnet-watch.service is Type=notify" "$(sed -n 's/^Type=//p' "$U/ctnet-watch.service")" "notify"
check_eq "ctnet-restore.service follows nftables.service (PartOf, After, reload)" \
	"$(grep -E '^(PartOf|After|ReloadPropagatedFrom)=' "$U/ctnet-restore.service" | sort | tr '\n' ' ')" \
	"After=nftables.service PartOf=nftables.service ReloadPropagatedFrom=nftables.service "
check_eq "ctnet@.service makes /run/netns/%i" \
	"$(grep -c -- '^ExecStart=.* up %i --create-netns' "$U/ctnet@.service")" "1"
check_eq "ctnet@.service's stop keeps the lease (test_rt_nspawn.sh runs it)" \
	"$(grep -c -- '^ExecStop=.* down --keep-lease %i$' "$U/ctnet@.service")" "1"
check_eq "ctnet-dns.service runs ctnet dns, before containers come up" \
	"$(grep -c -- '^ExecStart=.*/ctnet dns$' "$U/ctnet-dns.service") $(grep -c '^After=.*ctnet-dns.service' "$U/ctnet@.service")" "1 1"

# The check can fail: a unit whose program is missing.
sed "s|$CTNET_BIN/ctnet gc|$CTNET_BIN/ctnet-missing gc|" "$U/ctnet-gc.service" >"$T_TMP/bad.service"
check_fails "systemd-analyze verify rejects a unit naming a missing program" \
	env MANPATH="$M" systemd-analyze verify "$T_TMP/bad.service"
finish
