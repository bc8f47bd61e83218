#!/usr/bin/env bash
# Least privilege: the programs work as an unprivileged user holding only the capabilities
# they need (CAP_NET_ADMIN, plus CAP_SYS_ADMIN where a namespace is entered), say which
# capability is missing otherwise, keep only those and set no_new_privs; and a valgrind
# pass of the CLIs is clean.
. "$(dirname "$0")/lib.sh"

if ! command -v setpriv >/dev/null || ! command -v strace >/dev/null; then
	fail "setpriv (util-linux) and strace are needed"
	finish
fi
NOBODY=65534
# State and run dirs owned by the unprivileged user, as an admin would set them up for it.
export CTNET_STATE_DIR=$T_SANDBOX/ustate CTNET_RUN_DIR=$T_SANDBOX/urun
mkdir -p "$CTNET_STATE_DIR" "$CTNET_RUN_DIR"
chown $NOBODY:$NOBODY "$CTNET_STATE_DIR" "$CTNET_RUN_DIR"
as_user() { # CAPS CMD...: run CMD as nobody with exactly CAPS (comma list, may be empty)
	local caps=$1; shift
	if [ -n "$caps" ]; then
		setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups --inh-caps="$caps" \
			--ambient-caps="$caps" --bounding-set="$caps" -- "$@"
	else
		setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups --inh-caps=-all \
			--bounding-set=-all -- "$@"
	fi
}
NET=+net_admin
NETSYS=+net_admin,+sys_admin

# ipam needs no capability at all.
check_match "ctnet-ipam alloc as nobody without capabilities" "$(as_user "" $IPAM alloc u1 2>&1)" "HOST_ADDRESS=10.233.1.1"
check_eq "lease file owned by nobody" "$(stat -c %u "$CTNET_STATE_DIR/ipam/lease/u1")" "$NOBODY"

# nat: CAP_NET_ADMIN only.
mkns c1
ip link add ve-c1 type veth peer name eth0 netns c1
check "ctnet-nat add as nobody with CAP_NET_ADMIN" as_user $NET $NAT add c1 --address 10.233.1.2 --iface ve-c1 --forward tcp:8080:80
check_match "the element is in the kernel" "$(nft list set inet ctnet masq4)" "10.233.1.2"
check_exit "ctnet-nat without CAP_NET_ADMIN fails" 1 as_user "" $NAT add c2 --address 10.233.2.2 --iface ve-c2
check_match "the error names CAP_NET_ADMIN" "$T_STDERR" "CAP_NET_ADMIN"
check_eq "the error is one line" "$(echo "$T_STDERR" | wc -l)" "1"
check "ctnet-nat del as nobody" as_user $NET $NAT del c1
ip link del ve-c1

# netd and the launcher: CAP_NET_ADMIN + CAP_SYS_ADMIN (setns into the container).
check "ctnet up as nobody with CAP_NET_ADMIN+CAP_SYS_ADMIN" as_user $NETSYS $CTNET up c1 --netns /run/netns/c1
check "ping the container brought up by nobody" ping -c1 -W"$T_CONN" 10.233.2.2
check_exit "ctnet up with CAP_NET_ADMIN alone fails clearly" 1 as_user $NET $CTNET up c3 --netns /run/netns/c1
check_match "the error names CAP_SYS_ADMIN" "$T_STDERR" "CAP_SYS_ADMIN"
check "ctnet status as nobody" as_user $NET $CTNET status c1
check "ctnet down as nobody" as_user $NETSYS $CTNET down c1
check_eq "nothing left after nobody's down" "$(ip -br link | grep -c '^ve-' || true)" "0"

# Only what is needed is kept, and no_new_privs is set: look at what the programs ask of
# the kernel (root to start with, all capabilities).
out=$(strace -f -e trace=capset,prctl $NAT list 2>&1 >/dev/null)
check_match "ctnet-nat sets no_new_privs" "$out" "PR_SET_NO_NEW_PRIVS, 1"
check_match "ctnet-nat keeps only CAP_NET_ADMIN" "$out" "capset\(.*\{effective=1<<CAP_NET_ADMIN, permitted=1<<CAP_NET_ADMIN, inheritable=0\}"
out=$(strace -f -e trace=capset,prctl $NAT check 2>&1 >/dev/null)
check_match "ctnet-nat check keeps NET_ADMIN, SYS_ADMIN, BPF only (loopback forwards' programs)" "$out" \
	"capset\(.*\{effective=1<<CAP_NET_ADMIN\|1<<CAP_SYS_ADMIN\|1<<CAP_BPF, permitted=1<<CAP_NET_ADMIN\|1<<CAP_SYS_ADMIN\|1<<CAP_BPF, inheritable=0\}"
out=$(strace -f -e trace=capset,prctl $NETD show 2>&1 >/dev/null)
check_match "ctnet-netd keeps NET_ADMIN, SYS_ADMIN, SYS_PTRACE only" "$out" "effective=1<<CAP_NET_ADMIN\|1<<CAP_SYS_PTRACE\|1<<CAP_SYS_ADMIN, permitted=1<<CAP_NET_ADMIN\|1<<CAP_SYS_PTRACE\|1<<CAP_SYS_ADMIN, inheritable=0"
out=$(strace -f -e trace=capset,prctl $IPAM list 2>&1 >/dev/null)
check_match "ctnet-ipam drops every capability" "$out" "capset\(.*\{effective=0, permitted=0, inheritable=0\}"

# valgrind: no invalid accesses, no definite leaks, in each CLI (optimized build: the
# ASan build cannot run under valgrind).
if command -v valgrind >/dev/null; then
	# build/ next to build/san (make check builds both); valgrind cannot run ASan builds.
	VB=$CTNET_BIN
	[ "$(basename "$CTNET_BIN")" = san ] && VB=$(dirname "$CTNET_BIN")
	[ -x "$VB/ctnet" ] && ! nm -D "$VB/ctnet" 2>/dev/null | grep -q __asan_init ||
		fail "valgrind: no optimized build in $VB (make all)"
	export SUPP; SUPP=$(cd "$(dirname "$0")/.." && pwd)/valgrind.supp
	vg() { valgrind -q --error-exitcode=9 --leak-check=full --errors-for-leak-kinds=definite --trace-children=no --suppressions="$SUPP" "$@"; }
	export CTNET_STATE_DIR=$T_SANDBOX/vstate CTNET_RUN_DIR=$T_SANDBOX/vrun
	mkns v1
	check "valgrind: ctnet-ipam alloc/list/release" sh -c "$(declare -f vg); vg $VB/ctnet-ipam alloc v0 && vg $VB/ctnet-ipam list && vg $VB/ctnet-ipam release v0"
	check "valgrind: ctnet up" sh -c "$(declare -f vg); vg $VB/ctnet up v1 --netns /run/netns/v1 --forward tcp:8081:80"
	check "valgrind: ctnet status" sh -c "$(declare -f vg); vg $VB/ctnet status"
	check "valgrind: ctnet-nat list/check" sh -c "$(declare -f vg); vg $VB/ctnet-nat list && vg $VB/ctnet-nat check"
	check "valgrind: ctnet-netd show" sh -c "$(declare -f vg); vg $VB/ctnet-netd show"
	check "valgrind: ctnet down" sh -c "$(declare -f vg); vg $VB/ctnet down v1"
	check_exit "valgrind: a usage error" 2 sh -c "$(declare -f vg); vg $VB/ctnet up"
else
	fail "valgrind is needed (tools/deps.sh installs it)"
fi
finish
