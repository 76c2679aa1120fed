#!/bin/sh
# run.sh - the integration test entry point: lab selftest, then the cases.
#
# Builds nothing: expects sealpost's binaries in $SEALPOST_BUILD (default
# build/ at the top of the tree).  Needs root (network namespace, ports 25
# and 53).  Each stage brings up its own lab in its own namespace and tears
# it down, processes and namespace, also on failure or timeout.
#
# usage: tests/integration/run.sh [-k SUBSTRING]   (filter integration cases)
# The last line is "integration: N passed, M failed"; exit status 0 only
# when the selftest and every case passed.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
PY=/usr/bin/python3
PYTHONDONTWRITEBYTECODE=1
export PYTHONDONTWRITEBYTECODE

if [ "$(id -u)" != 0 ]; then
	echo "run.sh: the integration lab needs root (ip netns, binding ports 25/53);" \
	    "run it as root or with sudo" >&2
	echo "integration: 0 passed, 1 failed"
	exit 2
fi
for t in ip nsd nsd-checkconf ldns-keygen ldns-signzone ldns-key2ds dig openssl swaks; do
	command -v "$t" >/dev/null 2>&1 || {
		echo "run.sh: $t missing; install with: contrib/deps.sh test" >&2
		echo "integration: 0 passed, 1 failed"
		exit 2
	}
done
"$PY" -c 'import aiosmtpd, cryptography' 2>/dev/null || {
	echo "run.sh: $PY lacks aiosmtpd/cryptography; install with: contrib/deps.sh test" >&2
	echo "integration: 0 passed, 1 failed"
	exit 2
}
SEALPOST_BUILD=${SEALPOST_BUILD:-$top/build}
export SEALPOST_BUILD
for b in mta/sealpostd mta/sendmail; do
	[ -x "$SEALPOST_BUILD/$b" ] || echo "run.sh: warning: no $SEALPOST_BUILD/$b" >&2
done
[ -x "$SEALPOST_BUILD/mta/sealpost-postdrop" ] || [ -x "$SEALPOST_BUILD/queue/sealpost-postdrop" ] ||
	echo "run.sh: warning: no sealpost-postdrop in $SEALPOST_BUILD/mta or /queue" >&2

cd "$top" || exit 2
echo "== lab selftest"
"$PY" tests/lab/selftest.py
st=$?
echo "== integration cases (binaries from $SEALPOST_BUILD)"
"$PY" tests/integration/run_tests.py "$@"
it=$?
[ $st = 0 ] || echo "run.sh: the lab selftest failed (status $st): integration results are suspect" >&2
[ $st = 0 ] && [ $it = 0 ]
