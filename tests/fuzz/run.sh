#!/bin/bash
# tests/fuzz/run.sh - short libFuzzer runs over every target (CI smoke).
#
# Usage: tests/fuzz/run.sh [SECONDS] [target...]
#   SECONDS   time per target (default 10), passed as -max_total_time
#   target    names as in build.sh (default: all of them)
# Environment: FUZZ_JOBS (targets run at once; default 2, the CI
# machine's core count), FUZZ_OUT (default build-fuzz).
#
# Builds what is missing or stale (tests/fuzz/build.sh), then runs each
# target on a fresh copy of tests/fuzz/corpus/<name>/ under
# build-fuzz/run/<name>/, so the repository is never written to.  Crash,
# leak, timeout or out-of-memory inputs land in build-fuzz/run/<name>/
# as crash-*, leak-*, timeout-*, oom-*; the full log is beside them.
# Exits non-zero if any target failed; the last line is always
# "fuzz: N passed, N failed".
set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export FUZZ_OUT=${FUZZ_OUT:-$ROOT/build-fuzz}
SECS=${1:-10}
[ $# -gt 0 ] && shift
case $SECS in
''|*[!0-9]*) echo "usage: $0 [SECONDS] [target...]" >&2; exit 2 ;;
esac
ALL=$("$ROOT/tests/fuzz/build.sh" --list)
TARGETS=${*:-$ALL}
JOBS=${FUZZ_JOBS:-2}

if ! "$ROOT/tests/fuzz/build.sh" $TARGETS; then
	echo "fuzz: build failed"
	echo "fuzz: 0 passed, $(echo $TARGETS | wc -w) failed"
	exit 1
fi

# Sanitizer settings: fail on the first error, symbolised stacks.  Leaks
# are found by libFuzzer's own -detect_leaks (on by default with ASan).
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:symbolize=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

run_one() {
	local t=$1 dir="$FUZZ_OUT/run/$1"

	rm -rf "$dir"
	mkdir -p "$dir/corpus"
	if [ -d "$ROOT/tests/fuzz/corpus/$t" ]; then
		cp -R "$ROOT/tests/fuzz/corpus/$t/." "$dir/corpus/"
	fi
	# -close_fd_mask=2: the code's own log lines (log_warn on bad
	# input) go nowhere; libFuzzer and sanitizer reports still print.
	(cd "$dir" && "$FUZZ_OUT/fuzz_$t" \
	    -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 \
	    -max_len=8192 -close_fd_mask=2 -print_final_stats=1 \
	    -artifact_prefix="$dir/" corpus) >"$dir/log" 2>&1
	echo $? >"$dir/rc"
}

pids=()
for t in $TARGETS; do
	run_one "$t" &
	pids+=($!)
	if [ ${#pids[@]} -ge "$JOBS" ]; then
		wait "${pids[0]}"
		pids=("${pids[@]:1}")
	fi
done
wait

passed=0 failed=0
for t in $TARGETS; do
	dir="$FUZZ_OUT/run/$t"
	rc=$(cat "$dir/rc" 2>/dev/null || echo 99)
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$dir/log" | tail -1)
	cov=$(sed -n 's/.*DONE *cov: \([0-9]*\).*/\1/p' "$dir/log" | tail -1)
	if [ "$rc" = 0 ]; then
		passed=$((passed + 1))
		printf 'fuzz_%-14s ok      %9s runs %7s exec/s  cov %s\n' \
		    "$t" "${runs:-?}" "${rate:-?}" "${cov:-?}"
	else
		failed=$((failed + 1))
		printf 'fuzz_%-14s FAILED  (exit %s, log %s)\n' "$t" "$rc" \
		    "$dir/log"
		grep -E '^(==[0-9]+==ERROR|SUMMARY:|fuzz check failed|.*runtime error:)' \
		    "$dir/log" | head -5 | sed 's/^/    /'
		for a in "$dir"/crash-* "$dir"/leak-* "$dir"/timeout-* \
		    "$dir"/oom-*; do
			[ -e "$a" ] && echo "    input: $a"
		done
	fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" = 0 ]
