#!/bin/sh
# sealpost vs Postfix, side by side, in one run.  See docs/PERFORMANCE.md.
#
#   tests/bench/deps.sh                      # once, as root: postfix (smtp-sink/-source)
#   tests/bench/run.sh [--messages N] [--size BYTES] [--sessions S[,S...]]
#                      [--repeat R] [--relays sealpost,postfix] [--keep] [--tls]
#                      [--tools own|postfix] [--sealpost-set 'key = value']
#                      [--postfix-set key=value] [--scale N]
#
# Needs root (network namespace; Postfix and smtp-sink start as root and
# drop to the postfix user).  Everything runs in a fresh namespace
# sealpost-bench-<pid> with only loopback; it is deleted afterwards, and
# whatever is still running inside it (only our processes) is killed by PID.
#
# Environment: SEALPOST_BUILD (default <top>/build-rel; configured with
# -DCMAKE_BUILD_TYPE=RelWithDebInfo and built if sealpostd is missing),
# SEALPOST_BENCH_TIMEOUT (hard limit in seconds for the whole run, default 3600).
set -eu

top=$(cd "$(dirname "$0")/../.." && pwd)
build=${SEALPOST_BUILD:-$top/build-rel}
limit=${SEALPOST_BENCH_TIMEOUT:-3600}

if [ "$(id -u)" != 0 ]; then
	echo "run.sh: the benchmark needs root (ip netns; postfix start)" >&2
	exit 2
fi
for f in /usr/sbin/smtp-sink /usr/sbin/smtp-source /usr/sbin/postfix /usr/sbin/postconf; do
	if [ ! -x "$f" ]; then
		echo "run.sh: $f missing; run tests/bench/deps.sh first" >&2
		exit 2
	fi
done

if [ ! -x "$build/mta/sealpostd" ]; then
	echo "run.sh: building sealpost in $build (RelWithDebInfo, no sanitizers)" >&2
	cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSEALPOST_SANITIZE=OFF >/dev/null
	make -C "$build" -j"$(nproc)" sealpostd >/dev/null
fi

# The load generator and the TLS-capable sink (tests/bench/*.c).
tools=$build/bench-tools
mkdir -p "$tools"
for t in load tlssink; do
	if [ ! -x "$tools/$t" ] || [ "$top/tests/bench/$t.c" -nt "$tools/$t" ]; then
		cc -O2 -g -Wall -Wextra -o "$tools/$t" "$top/tests/bench/$t.c" -lssl -lcrypto
	fi
done

# Namespaces left by a run that was SIGKILLed (its pid is gone).
for ns in $(ip netns list 2>/dev/null | awk '/^sealpost-bench-[0-9]+/ {print $1}'); do
	pid=${ns#sealpost-bench-}
	if ! kill -0 "$pid" 2>/dev/null; then
		for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
		ip netns del "$ns" 2>/dev/null || true
	fi
done

ns=sealpost-bench-$$
cleanup() {
	trap - EXIT INT TERM
	if ip netns list | grep -q "^$ns\\b"; then
		for p in $(ip netns pids "$ns" 2>/dev/null); do kill -TERM "$p" 2>/dev/null || true; done
		i=0
		while [ -n "$(ip netns pids "$ns" 2>/dev/null)" ] && [ $i -lt 50 ]; do
			sleep 0.1; i=$((i + 1))
		done
		for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
		ip netns del "$ns" 2>/dev/null || true
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$ns"
ip netns exec "$ns" ip link set lo up
rc=0
# In the background so that a SIGTERM/SIGINT to this script runs the trap
# (and the namespace cleanup) at once instead of after the whole run.
timeout --kill-after=10 "$limit" \
	ip netns exec "$ns" /usr/bin/python3 "$top/tests/bench/bench.py" --build "$build" --tools-dir "$tools" "$@" &
wait $! || rc=$?
[ $rc = 124 ] && echo "run.sh: hard time limit of ${limit}s reached" >&2
exit $rc
