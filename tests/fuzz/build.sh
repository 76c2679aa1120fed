#!/bin/sh
# tests/fuzz/build.sh - build the libFuzzer targets into build-fuzz/.
#
# The main build uses gcc and CMake; libFuzzer needs clang, so this is a
# separate, explicit build: each target lists the project sources it
# needs, every source is compiled once into build-fuzz/obj/ (rebuilt when
# it or a header it includes changes), and each target is linked from
# those objects.  Usage: tests/fuzz/build.sh [target...]   (default: all),
# or tests/fuzz/build.sh --list to print the target names.
#
# Needs clang and libFuzzer's runtime (Debian: clang-14 and
# libclang-rt-14-dev, which ships libclang_rt.fuzzer-x86_64.a).
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ALL="queue_drop cfg_values cfg_load dns mta_reply sendmail_addr sendmail_msg sts tlsrpt_txt"
if [ "${1:-}" = "--list" ]; then
	echo "$ALL"
	exit 0
fi
OUT=${FUZZ_OUT:-$ROOT/build-fuzz}
CC=${FUZZ_CC:-}
if [ -z "$CC" ]; then
	for c in clang clang-14; do
		if command -v "$c" >/dev/null 2>&1; then CC=$c; break; fi
	done
fi
[ -n "$CC" ] || { echo "fuzz: clang not found (apt-get install clang-14 libclang-rt-14-dev)" >&2; exit 1; }

SAN="-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined"
CFLAGS="-g -O1 -std=gnu11 -fno-omit-frame-pointer -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter $SAN"
PKGS="libuv libunbound openssl sqlite3 libconfuse"
PKG_CFLAGS=$(pkg-config --cflags $PKGS)
PKG_LIBS=$(pkg-config --libs $PKGS)
INC="-I$ROOT -I$ROOT/util -I$ROOT/config -I$ROOT/queue -I$ROOT/resolver -I$ROOT/mta -I$ROOT/tls -I$ROOT/tests/fuzz"

# ---- which sources each target needs ------------------------------------
UTIL="util/log.c util/xalloc.c util/dynbuf.c util/parse.c util/clock.c"

srcs_queue_drop="queue/queue_drop.c queue/queue_msg.c queue/queue_id.c $UTIL"
# The config module is linked whole: it grows a file per group of keys.
CONFIG=$(cd "$ROOT" && ls config/cfg_*.c | tr '\n' ' ')
srcs_cfg_values="$CONFIG $UTIL"
srcs_cfg_load="$CONFIG $UTIL"
srcs_dns="resolver/res_wire.c resolver/res_mxsort.c $UTIL"
srcs_mta_reply="mta/mta_chat.c mta/mta_ehlo.c $UTIL"
srcs_sendmail_addr="mta/sendmail_addr.c mta/sendmail_name.c $UTIL"
srcs_sendmail_msg="mta/sendmail_input.c mta/sendmail_hdr.c mta/sendmail_addr.c $UTIL"
srcs_sts="tls/sts_policy.c tls/sts_cert.c $UTIL"
srcs_tlsrpt_txt="tls/tlsrpt_txt.c $UTIL"

TARGETS=${*:-$ALL}

mkdir -p "$OUT/obj"

# Is $1 (an object) older than its source or any header its .d lists?
stale() {
	obj=$1 dep=$2
	[ -f "$obj" ] && [ -f "$dep" ] || return 0
	for f in $(sed -e 's/\\$//' -e 's/^[^:]*://' "$dep"); do
		[ "$f" -nt "$obj" ] && return 0
	done
	return 1
}

compile() {
	src=$1
	obj="$OUT/obj/$(echo "$src" | tr / _ | sed 's/\.c$/.o/')"
	dep="${obj%.o}.d"
	if stale "$obj" "$dep"; then
		echo "  CC $src"
		# shellcheck disable=SC2086
		$CC $CFLAGS $INC $PKG_CFLAGS -MMD -MF "$dep" -c "$ROOT/$src" -o "$obj"
	fi
	OBJS="$OBJS $obj"
}

for t in $TARGETS; do
	eval "srcs=\${srcs_$t:-}"
	[ -n "$srcs" ] || { echo "fuzz: unknown target $t" >&2; exit 2; }
	OBJS=""
	for s in tests/fuzz/fuzz_$t.c $srcs; do
		compile "$s"
	done
	bin="$OUT/fuzz_$t"
	relink=0
	[ -f "$bin" ] && [ ! "$ROOT/tests/fuzz/build.sh" -nt "$bin" ] || relink=1
	for o in $OBJS; do [ "$o" -nt "$bin" ] && relink=1; done
	if [ "$relink" = 1 ]; then
		echo "  LD fuzz_$t"
		# shellcheck disable=SC2086
		$CC $SAN -o "$bin" $OBJS $PKG_LIBS -lpthread
	fi
done
