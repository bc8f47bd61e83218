#!/usr/bin/env bash
# Runs inside the check-vm guest (tests/vm/stage2 starts it): prints the kernel's version
# line, runs tests/run.sh on the selected tests with CI=true (a skipped test is a failure),
# counts any "NOT RUN"/"SKIP" line as a failure too, and leaves the exit code in the result
# export for tests/vm/run.sh. Settings come from the export's env file.
set -u
OUT=/run/ctnet-vm/out
. "$OUT/env"
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
# An emulated CPU is ~10-20x slower than this one: the hang guards of one exchange grow to
# match (tests/netns/lib.sh); what the tests assert does not change.
export CI=true CTNET_BIN CTNET_TEST_TIMEOUT=${CTNET_TEST_TIMEOUT:-1800} CTNET_TEST_CONN=${CTNET_TEST_CONN:-20}
echo "check-vm kernel: $(uname -a)"
# Modules come on demand from the host's /lib/modules, as on a real host; none is preloaded.
echo "check-vm: $(nproc) CPUs, $(awk '/MemTotal/ {print $2 " kB"}' /proc/meminfo), modules loaded: $(cut -d' ' -f1 /proc/modules | tr '\n' ' ')"
if [ -n "${CTNET_VM_CMD:-}" ]; then
	# A command instead of the tests (for looking around in the guest): its exit code is the result.
	bash -c "$CTNET_VM_CMD"
	rc=$?
	echo "$((rc == 0)) $((rc != 0)) $rc" >"$OUT/rc"
	exit 0
fi
# shellcheck disable=SC2086  # the patterns are words
tests/run.sh $CTNET_VM_TESTS | tee /tmp/run.log
rc=${PIPESTATUS[0]}
notrun=$(grep -cE '^(NOT RUN|SKIP)' /tmp/run.log)
last=$(tail -n 1 /tmp/run.log)
if [[ "$last" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
	p=${BASH_REMATCH[1]} f=${BASH_REMATCH[2]}
else
	p=0 f=1
	echo "FAIL check-vm: tests/run.sh ended without its count (saw '$last')"
fi
if [ "$notrun" -gt 0 ]; then
	echo "FAIL check-vm: $notrun NOT RUN/SKIP line(s); on this kernel everything must run:"
	grep -E '^(NOT RUN|SKIP)' /tmp/run.log
	f=$((f + notrun))
fi
echo "check-vm modules loaded on demand: $(cut -d' ' -f1 /proc/modules | sort | tr '\n' ' ')"
[ "$rc" -eq 0 ] && [ "$f" -eq 0 ] && rc=0 || rc=1
echo "$p $f $rc" >"$OUT/rc"
echo "$p passed, $f failed"
