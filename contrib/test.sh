#!/bin/sh
# Build sealpost with ASan/UBSan and run every test: the unit tests
# (ctest) and the integration lab (network namespace, nsd with signed
# zones, real SMTP receivers).  Installs missing Debian packages first.
# The lab needs root (network namespaces); CI runs as root.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

contrib/deps.sh test
build=${SEALPOST_BUILD:-$top/build-test}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DSEALPOST_SANITIZE=ON \
	-DSEALPOST_WERROR=ON >/dev/null
# -Werror: a warning fails the build, so the tests never run on one.
cmake --build "$build" -j"$(nproc)" >"$build.log" 2>&1 || {
	grep -E "error|warning" "$build.log" | head -50 >&2
	echo "test.sh: build failed (full log: $build.log)" >&2; exit 1; }

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
status=0
(cd "$build" && ctest --output-on-failure -j"$(nproc)") || status=1
# Short coverage-guided fuzz runs of every untrusted-input parser.
tests/fuzz/run.sh "${SEALPOST_FUZZ_SECONDS:-10}" || status=1
SEALPOST_BUILD=$build tests/integration/run.sh || status=1
exit $status
