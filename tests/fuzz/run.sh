#!/usr/bin/env bash
# Runs every libFuzzer target for SECONDS each (make fuzz: FUZZ_SECONDS, default 60; make
# check: a short pass). Seeds: tests/fuzz/corpus/TARGET/ (committed; the run works on a
# copy). Regression inputs (crashes once found): tests/fuzz/regress/TARGET/, replayed
# first. A crash leaves its input in build/fuzz/crashes/ and fails the run.
# Usage: tests/fuzz/run.sh SECONDS [TARGET...]
set -u
cd "$(dirname "$0")/../.."
secs=${1:-60}; shift || true
B=build/fuzz
targets=("$@")
[ ${#targets[@]} -eq 0 ] && for t in tests/fuzz/fuzz_*.c; do t=${t##*/}; targets+=("${t%.c}"); done
mkdir -p "$B/crashes"
work=$(mktemp -d /tmp/ctnet-fuzz-run.XXXXXX)
trap 'rm -rf "$work" /tmp/ctnet-fuzz.??????' EXIT
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
failed=0
for t in "${targets[@]}"; do
	bin=$B/$t
	[ -x "$bin" ] || { echo "FAIL $t: $bin not built (make fuzz)"; failed=$((failed + 1)); continue; }
	if [ -d "tests/fuzz/regress/$t" ] && ls "tests/fuzz/regress/$t"/* >/dev/null 2>&1; then
		if ! "$bin" -runs=0 "tests/fuzz/regress/$t"/* >"$work/$t.regress" 2>&1; then
			echo "FAIL $t: a regression input crashes again"; tail -n 20 "$work/$t.regress"
			failed=$((failed + 1)); continue
		fi
	fi
	mkdir -p "$work/$t"
	cp -r "tests/fuzz/corpus/$t/." "$work/$t/" 2>/dev/null
	dict=(); [ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
	if "$bin" "${dict[@]}" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
		-artifact_prefix="$B/crashes/$t-" -print_final_stats=1 "$work/$t" >"$work/$t.log" 2>&1; then
		runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/$t.log" | grep -o '[0-9]*$')
		echo "PASS $t: ${runs:-?} inputs in ${secs}s, no crash ($(ls "$work/$t" | wc -l) in corpus)"
	else
		echo "FAIL $t: crash, input in $B/crashes/ ($(ls -t "$B/crashes" | head -1))"
		grep -E 'ERROR|runtime error|SUMMARY|#[0-9]+ 0x' "$work/$t.log" | head -n 15
		failed=$((failed + 1))
	fi
done
echo "fuzz: ${#targets[@]} targets, $failed failed"
[ "$failed" -eq 0 ]
