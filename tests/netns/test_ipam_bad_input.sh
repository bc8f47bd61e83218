#!/usr/bin/env bash
# ctnet-ipam on bad input: one-line error naming the bad value, non-zero exit, no state change.
. "$(dirname "$0")/lib.sh"

S=$CTNET_STATE_DIR/ipam
"$IPAM" alloc keep >/dev/null
"$IPAM" alloc br --pool 10.250.9.0/24 --single >/dev/null
"$IPAM" alloc tiny --pool 10.250.0.0/30 >/dev/null

# bad WHAT EXPECTED_IN_STDERR CMD...: fails with exit 1 or 2, one stderr line naming the
# value, and the state dir is the same afterwards.
bad() {
	local what=$1 want=$2; shift 2
	local before rc lines
	before=$(snapshot_state)
	"$@" >"$T_TMP/out" 2>"$T_TMP/err"
	rc=$?
	lines=$(wc -l <"$T_TMP/err")
	if [ "$rc" -ne 1 ] && [ "$rc" -ne 2 ]; then
		fail "$what: exit $rc, expected 1 or 2; stderr: $(head -c 300 "$T_TMP/err")"
	elif ! grep -qF -- "$want" "$T_TMP/err"; then
		fail "$what: stderr '$(head -c 300 "$T_TMP/err")' does not name '$want'"
	elif [ "$rc" -eq 1 ] && [ "$lines" -ne 1 ]; then
		fail "$what: $lines lines on stderr, expected one: $(head -c 300 "$T_TMP/err")"
	elif [ -s "$T_TMP/out" ]; then
		fail "$what: printed on stdout: $(head -c 200 "$T_TMP/out")"
	elif [ "$(snapshot_state)" != "$before" ]; then
		fail "$what: the state dir changed"
	else
		pass "$what (exit $rc)"
	fi
}

long=$(printf 'a%.0s' $(seq 300))
for cmd in alloc release show; do
	bad "$cmd: empty name" 'invalid container name ""' "$IPAM" $cmd ""
	bad "$cmd: ../x" '"../x"' "$IPAM" $cmd ../x
	bad "$cmd: a b" '"a b"' "$IPAM" $cmd "a b"
	bad "$cmd: x;rm" '"x;rm"' "$IPAM" $cmd "x;rm"
	bad "$cmd: \$(id)" '"$(id)"' "$IPAM" $cmd '$(id)'
	bad "$cmd: 300 characters" 'aaaaaaaaaaaaaaaaaaaa' "$IPAM" $cmd "$long"
	bad "$cmd: non-UTF-8" '\xff\xfe' "$IPAM" $cmd $'\xff\xfe'
done
bad "reserve: bad name" '"x;rm"' "$IPAM" reserve "x;rm" --host-address 10.233.9.1 --local-address 10.233.9.2

# Addresses.
bad "malformed host address" '"10.233.9"' "$IPAM" reserve r --host-address 10.233.9 --local-address 10.233.9.2
bad "address with junk" '"10.233.9.2x"' "$IPAM" reserve r --host-address 10.233.9.1 --local-address 10.233.9.2x
bad "leading zeros" '"010.233.9.1"' "$IPAM" reserve r --host-address 010.233.9.1 --local-address 10.233.9.2
bad "IPv6 as a host address" '"fd00::1"' "$IPAM" reserve r --host-address fd00::1 --local-address 10.233.9.2
bad "out-of-pool address" '10.9.0.1 is outside pool 10.233.0.0/16' "$IPAM" reserve r --host-address 10.9.0.1 --local-address 10.233.9.2
bad "pool network address" '10.233.0.0 is the network' "$IPAM" reserve r --host-address 10.233.0.0 --local-address 10.233.9.2
bad "same host and local" 'are the same' "$IPAM" reserve r --host-address 10.233.9.1 --local-address 10.233.9.1
bad "missing --local-address" '--local-address' "$IPAM" reserve r --host-address 10.233.9.1

# Pools.
bad "pool not a CIDR" '"banana"' "$IPAM" alloc p --pool banana
bad "pool without prefix" '"10.233.0.0"' "$IPAM" alloc p --pool 10.233.0.0
bad "pool with host bits" '"10.233.0.1/16": host bits set' "$IPAM" alloc p --pool 10.233.0.1/16
bad "pool smaller than /30" '"10.233.0.0/31"' "$IPAM" alloc p --pool 10.233.0.0/31
bad "IPv6 pool" '"fd00::/64"' "$IPAM" alloc p --pool fd00::/64
bad "exhausted pool" 'pool 10.250.0.0/30 exhausted' "$IPAM" alloc p --pool 10.250.0.0/30
bad "pair alloc in a bridge pool" 'pool 10.250.9.0/24 is a single-address' "$IPAM" alloc p --pool 10.250.9.0/24
bad "unknown option" '"--frobnicate"' "$IPAM" alloc p --frobnicate
bad "unknown command" '"frob"' "$IPAM" frob
bad "extra argument" '"extra"' "$IPAM" alloc p extra

# nixos configs: the error names file, line and value.
C=$CTNET_NIXOS_CONF_DIR
mkdir -p "$C"
printf 'HOST_ADDRESS=10.233.7.1\nLOCAL_ADDRESS=10.233.7\n' >"$C/bad.conf"
bad "malformed conf address" "$C/bad.conf\" line 2: invalid LOCAL_ADDRESS \"10.233.7\"" "$IPAM" alloc p
rm "$C/bad.conf"
printf 'HOST_ADDRESS=\x01\x02\xff\xfe\n' >"$C/junk.conf"
bad "binary junk in conf" "junk.conf\" line 1" "$IPAM" alloc p
rm "$C/junk.conf"
printf 'HOST_ADDRESS=$(touch /tmp/ctnet-pwned)\n' >"$C/cmd.conf"
bad "command substitution in conf" 'cmd.conf" line 1' "$IPAM" alloc p
check_fails "conf is never executed" test -e /tmp/ctnet-pwned
rm "$C/cmd.conf"
printf 'HOST_ADDRESS=10.233.7.1\nLOCAL\0_ADDRESS=10.233.7.2\n' >"$C/nul.conf"
bad "NUL byte in conf" 'nul.conf" line 2: contains a NUL byte' "$IPAM" alloc p
rm "$C/nul.conf"
mkfifo "$C/fifo.conf"
bad "FIFO conf (does not block)" 'fifo.conf": not a regular file' timeout 10 "$IPAM" alloc p
rm "$C/fifo.conf"
head -c 70000 /dev/zero | tr '\0' '#' >"$C/big.conf"
bad "conf over 64 KiB" 'big.conf": larger than 65536 bytes' "$IPAM" alloc p
rm "$C/big.conf"
printf 'HOST_ADDRESS=10.233.7.1\n' >"$C/locked.conf"
chmod 000 "$C/locked.conf"
if [ "$(id -u)" -eq 0 ] && capsh --has-p=cap_dac_override 2>/dev/null; then
	bad "unreadable conf" 'locked.conf": Permission denied' capsh --drop=cap_dac_override,cap_dac_read_search -- -c "$IPAM alloc p"
fi
rm -f "$C/locked.conf"

# The state dir: another owner, writable by others, a symlink.
chown nobody "$CTNET_STATE_DIR"
bad "state dir owned by nobody" "owned by uid $(id -u nobody)" "$IPAM" alloc p
chown root "$CTNET_STATE_DIR"
chmod 777 "$CTNET_STATE_DIR"
bad "state dir writable by others" 'writable by group or others (mode 0777)' "$IPAM" alloc p
chmod 755 "$CTNET_STATE_DIR"
chmod 775 "$S"
bad "ipam dir writable by group" "$S\": writable by group" "$IPAM" alloc p
chmod 755 "$S"
ln -s "$CTNET_STATE_DIR" "$T_SANDBOX/link"
CTNET_STATE_DIR=$T_SANDBOX/link bad "state dir is a symlink" 'is a symbolic link' "$IPAM" alloc p
check_exit "everything still works afterwards" 0 "$IPAM" alloc p
check_eq "and p got the next pair" "$("$IPAM" show p | head -n1)" "HOST_ADDRESS=10.233.2.1"
finish
