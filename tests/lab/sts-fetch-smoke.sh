#!/bin/bash
# tests/lab/sts-fetch-smoke.sh - the MTA-STS policy fetcher against a
# local HTTPS policy host (tests/lab/sts_https_server.py) on loopback.
#
# Usage: tests/lab/sts-fetch-smoke.sh [BUILD_DIR]   (default: build)
#
# Makes a throwaway CA and certificates with openssl in a temporary
# directory, starts the Python server on 127.0.0.1 and a free port, and
# runs tests/stsfetch (--connect-to, so the URL, SNI and name check stay
# those of mta-sts.DOMAIN) for: 200 ok, 200 with charset and CRLF, 404,
# 301, wrong media type, oversized body, invalid policy, untrusted CA,
# wrong name, expired certificate, timeout, and three concurrent
# requests sharing one fetch.  Only the server this script started is
# stopped, by its PID.  Exit 0 when every case passed.
set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$ROOT/build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
STSFETCH=$BUILD/tests/stsfetch
[ -x "$STSFETCH" ] || { echo "sts-smoke: $STSFETCH not built" >&2; exit 2; }

TMP=$(mktemp -d /tmp/sts-smoke.XXXXXX)
SERVER_PID=
cleanup() {
	if [ -n "$SERVER_PID" ]; then
		kill "$SERVER_PID" 2>/dev/null
		wait "$SERVER_PID" 2>/dev/null
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT

# ---- PKI: lab CA, a second (untrusted) CA, server certificates ----------
ossl() { openssl "$@" >/dev/null 2>&1 || { echo "sts-smoke: openssl $1 failed" >&2; exit 2; }; }
mkca() {	# name
	ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$TMP/$1.key" -out "$TMP/$1.pem" -days 2 \
	    -subj "/CN=sealpost sts smoke $1"
}
# name ca days san... ; days < 0 makes an expired certificate
mkcert() {
	local name=$1 ca=$2 days=$3 san
	shift 3
	san=$(printf 'DNS:%s,' "$@")
	ossl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$TMP/$name.key" -out "$TMP/$name.csr" -subj "/CN=$1"
	printf 'subjectAltName=%s\n' "${san%,}" >"$TMP/$name.ext"
	if [ "$days" -lt 0 ]; then
		# expired: valid for one day, three days ago (openssl ca can
		# set past dates, openssl 3.0's x509 -req cannot)
		mkdir -p "$TMP/ca.d"
		: >"$TMP/ca.d/index.txt"
		cat >"$TMP/ca.d/ca.cnf" <<CNF
[ ca ]
default_ca = lab
[ lab ]
database = $TMP/ca.d/index.txt
new_certs_dir = $TMP/ca.d
serial = $TMP/ca.d/serial
default_md = sha256
policy = anything
copy_extensions = none
[ anything ]
commonName = supplied
CNF
		echo 1000 >"$TMP/ca.d/serial"
		ossl ca -batch -config "$TMP/ca.d/ca.cnf" -cert "$TMP/$ca.pem" \
		    -keyfile "$TMP/$ca.key" -in "$TMP/$name.csr" \
		    -out "$TMP/$name.pem" -extfile "$TMP/$name.ext" \
		    -startdate "$(date -u -d '-3 days' +%Y%m%d%H%M%SZ)" \
		    -enddate "$(date -u -d '-2 days' +%Y%m%d%H%M%SZ)"
	else
		ossl x509 -req -in "$TMP/$name.csr" -CA "$TMP/$ca.pem" \
		    -CAkey "$TMP/$ca.key" -CAcreateserial -out "$TMP/$name.pem" \
		    -days "$days" -extfile "$TMP/$name.ext"
	fi
}
mkca labca
mkca otherca
mkcert server labca 2 mta-sts.ok.test mta-sts.charset.test \
    mta-sts.notfound.test mta-sts.redirect.test mta-sts.html.test \
    mta-sts.big.test mta-sts.stream.test mta-sts.invalid.test \
    mta-sts.slow.test
mkcert badca otherca 2 mta-sts.badca.test
mkcert wrongname labca 2 mta-sts.other.test
mkcert expired labca -1 mta-sts.expired.test

cat >"$TMP/sealpost.conf" <<EOF
spool_directory = "$TMP/spool"
tls_ca_file = "$TMP/labca.pem"
sts_fetch_timeout = 20s
EOF

# ---- the server -----------------------------------------------------------
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 "$ROOT/tests/lab/sts_https_server.py" "$PORT" "$TMP" \
    >"$TMP/server.out" 2>"$TMP/server.log" &
SERVER_PID=$!
for _ in $(seq 50); do
	grep -q ready "$TMP/server.out" 2>/dev/null && break
	sleep 0.1
done
grep -q ready "$TMP/server.out" || { echo "sts-smoke: server did not start"; cat "$TMP/server.log"; exit 2; }

# ---- the cases ----------------------------------------------------------------
passed=0 failed=0
# case NAME DOMAIN WANT_EXIT WANT_REGEX [extra stsfetch args]
case_() {
	local name=$1 dom=$2 want=$3 re=$4 out rc
	shift 4
	out=$("$STSFETCH" -c "$TMP/sealpost.conf" \
	    --connect-to "mta-sts.$dom:443:127.0.0.1:$PORT" "$@" "$dom" 2>&1)
	rc=$?
	if [ "$rc" = "$want" ] && printf '%s\n' "$out" | grep -Eq "$re"; then
		passed=$((passed + 1))
		printf 'sts-smoke: %-28s ok  %s\n' "$name" \
		    "$(printf '%s\n' "$out" | grep -E '^(reason|result)=' | tail -1)"
	else
		failed=$((failed + 1))
		printf 'sts-smoke: %-28s FAILED (exit %s, want %s /%s/)\n' \
		    "$name" "$rc" "$want" "$re"
		printf '%s\n' "$out" | sed 's/^/    /'
	fi
}

case_ "200 ok"                  ok.test 0 'mode=enforce' 
case_ "200 ok: mx parsed"       ok.test 0 'mx=\*\.mx\.ok\.test'
case_ "200 ok: IP mx ignored"   ok.test 0 'mx_ignored=1'
case_ "charset param, CRLF"     charset.test 0 'max_age=86400'
case_ "404"                     notfound.test 1 'reason=HTTP status 404'
case_ "301 not followed"        redirect.test 1 'reason=HTTP status 301'
case_ "media type text/html"    html.test 1 'reason=media type'
case_ "oversized body"          big.test 1 'reason=policy larger than'
case_ "oversized, no length"     stream.test 1 'reason=policy larger than'
case_ "invalid policy"          invalid.test 3 'result=sts-policy-invalid'
case_ "untrusted CA"            badca.test 2 'result=sts-webpki-invalid'
case_ "certificate wrong name"  wrongname.test 2 'result=sts-webpki-invalid'
case_ "expired certificate"     expired.test 2 'result=sts-webpki-invalid'
case_ "timeout"                 slow.test 1 'reason=timeout' -t 2
case_ "3 requests, one fetch"   ok.test 0 'running=1' -n 3
case_ "cancel 2 of 3"           ok.test 0 'running=1' -n 3 -x

# through our resolver: libunbound local data for the policy host and
# the TXT record (no --connect-to; -p only moves the port off 443)
cat >"$TMP/dns.conf" <<EOF
spool_directory = "$TMP/spool"
tls_ca_file = "$TMP/labca.pem"
resolver {
    unbound_options = {
        "local-data: mta-sts.ok.test. A 127.0.0.1",
        "local-data: _mta-sts.ok.test. TXT \\"v=STSv1; id=20240101abc;\\"",
        "local-data: _mta-sts.notfound.test. TXT \\"v=STSv1; id=1; id=2\\""
    }
}
EOF
dns_case() {	# NAME DOMAIN WANT_EXIT REGEX
	local out rc
	out=$("$STSFETCH" -c "$TMP/dns.conf" -p "$PORT" --txt "$2" 2>&1)
	rc=$?
	if [ "$rc" = "$3" ] && printf '%s\n' "$out" | grep -Eq "$4"; then
		passed=$((passed + 1)); printf 'sts-smoke: %-28s ok\n' "$1"
	else
		failed=$((failed + 1))
		printf 'sts-smoke: %-28s FAILED (exit %s)\n' "$1" "$rc"
		printf '%s\n' "$out" | sed 's/^/    /'
	fi
}
dns_case "resolver: TXT id"       ok.test 0 'txt_id=20240101abc'
dns_case "resolver: A, then 200"  ok.test 0 'mode=enforce'
dns_case "resolver: bad TXT"      notfound.test 1 'txt=none'
dns_case "resolver: no address"   notfound.test 1 'reason=DNS: no address'

# the server saw exactly one request for the shared fetch: count lines
n_before=$(grep -c 'GET /.well-known' "$TMP/server.log")
"$STSFETCH" -c "$TMP/sealpost.conf" --connect-to \
    "mta-sts.ok.test:443:127.0.0.1:$PORT" -n 5 ok.test >"$TMP/five.out" 2>&1
n_after=$(grep -c 'GET /.well-known' "$TMP/server.log")
if [ $((n_after - n_before)) = 1 ] && [ "$(grep -c '^result=ok' "$TMP/five.out")" = 5 ]; then
	passed=$((passed + 1)); echo "sts-smoke: 5 waiters, 1 HTTP request   ok"
else
	failed=$((failed + 1)); echo "sts-smoke: 5 waiters, 1 HTTP request   FAILED ($((n_after - n_before)) requests)"
	sed 's/^/    /' "$TMP/five.out"
fi

echo "sts-smoke: $passed passed, $failed failed"
[ "$failed" = 0 ]
