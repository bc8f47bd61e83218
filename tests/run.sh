#!/usr/bin/env bash
# The test runner: unit tests, then tests/netns/test_*.sh (each builds its own world of
# network namespaces). Every test prints "PASS what" / "FAIL what: saw X, expected Y"
# lines; the last line here is "N passed, N failed"; exit 1 on any failure.
# Usage: tests/run.sh [PATTERN...]   (a test runs if its path contains any PATTERN; CTNET_BIN:
# the build dir with the programs)
set -u
cd "$(dirname "$0")/.."
: "${CTNET_BIN:=$PWD/build}"
export CTNET_BIN
patterns=("$@")
pass=0 fail=0 skip=0
failed_tests=()
log=$(mktemp -d /tmp/ctnet-tests.XXXXXX)
trap 'rm -rf "$log"' EXIT

# ASan/UBSan: fail loudly; leaks are reported by the unit tests' own runs.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=99}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:exitcode=99}
[ -f tests/lsan.supp ] && export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/lsan.supp:print_suppressions=0}

tests=()
for t in "$CTNET_BIN"/tests/test_* tests/netns/test_*.sh; do
	[ -e "$t" ] || continue
	case "$t" in *.d|*.o) continue ;; esac
	if [ ${#patterns[@]} -gt 0 ]; then
		hit=
		for p in "${patterns[@]}"; do [[ "$t" == *$p* ]] && hit=1; done
		[ -n "$hit" ] || continue
	fi
	tests+=("$t")
done

for t in "${tests[@]}"; do
	name=${t##*/}
	echo "=== $name"
	start=$(date +%s%N)
	timeout --foreground -k 10 ${CTNET_TEST_TIMEOUT:-900} "$t" >"$log/out" 2>&1 </dev/null
	rc=$?
	cat "$log/out"
	p=$(grep -c '^PASS ' "$log/out")
	f=$(grep -c '^FAIL ' "$log/out")
	ms=$(( ($(date +%s%N) - start) / 1000000 ))
	if [ $rc -eq 77 ]; then
		if [ -n "${CI:-}" ]; then
			echo "FAIL $name: skipped (exit 77) but CI must run everything"
			fail=$((fail + 1)); failed_tests+=("$name")
		else
			echo "SKIP $name"
			skip=$((skip + 1))
		fi
		continue
	fi
	pass=$((pass + p))
	fail=$((fail + f))
	if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "FAIL $name: exited $rc without a FAIL line"
		fail=$((fail + 1))
	fi
	if [ $rc -eq 0 ] && [ "$p" -eq 0 ]; then
		echo "FAIL $name: no PASS line (a test must check something)"
		fail=$((fail + 1))
	fi
	{ [ $rc -ne 0 ] || [ "$f" -gt 0 ]; } && failed_tests+=("$name")
	echo "--- $name: $p passed, $f failed, exit $rc, ${ms} ms"
done

[ ${#failed_tests[@]} -gt 0 ] && echo "failing: ${failed_tests[*]}"
[ ${#tests[@]} -eq 0 ] && { echo "no tests matched"; fail=$((fail + 1)); }
if [ $skip -gt 0 ]; then
	echo "$pass passed, $fail failed, $skip skipped"
else
	echo "$pass passed, $fail failed"
fi
[ $fail -eq 0 ]
