#!/bin/sh
# res-smoke.sh - check the resolver module against a real DNSSEC setup.
#
# Starts Debian's nsd on 127.0.0.1:5399 with three tiny zones:
#   sec.lab    signed, its DS is a trust anchor          -> secure
#   bogus.lab  signed, one A record altered after signing -> bogus
#   insec.lab  unsigned, no anchor covers it             -> insecure
# and runs resprobe (libunbound forwarding to nsd) against them.
# Self-contained: everything lives in a temporary directory, the only
# process started is nsd and it is stopped by its PID.  No traffic leaves
# 127.0.0.1.
#
# usage: tests/lab/res-smoke.sh [path/to/resprobe]
set -u

PROBE=${1:-build-res/tests/resprobe}
PORT=${RES_SMOKE_PORT:-5399}
[ -x "$PROBE" ] || { echo "res-smoke: no resprobe at $PROBE" >&2; exit 2; }
PROBE=$(cd "$(dirname "$PROBE")" && pwd)/$(basename "$PROBE")
for t in nsd ldns-keygen ldns-signzone; do
	command -v $t >/dev/null 2>&1 || [ -x /usr/sbin/$t ] ||
		{ echo "res-smoke: $t missing" >&2; exit 2; }
done
NSD=$(command -v nsd || echo /usr/sbin/nsd)

DIR=$(mktemp -d /tmp/res-smoke.XXXXXX)
NSD_PID=
cleanup() {
	[ -n "$NSD_PID" ] && kill "$NSD_PID" 2>/dev/null && wait "$NSD_PID" 2>/dev/null
	rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 2' INT TERM HUP PIPE
cd "$DIR" || exit 2

soa() {
	cat <<EOF
\$ORIGIN $1.
\$TTL 300
@	SOA	ns.$1. hostmaster.$1. 1 3600 600 86400 300
@	NS	ns.$1.
ns	A	127.0.0.1
EOF
}

{ soa sec.lab; cat <<'EOF'
@	MX	10 mx1
@	MX	10 mx2
@	MX	20 mx3
mx1	A	127.0.0.10
mx1	AAAA	2001:db8::10
mx2	A	127.0.0.11
mx3	TXT	"no address here"
www	CNAME	mx1
alias	CNAME	www
viacname	CNAME	@
nomx	A	127.0.0.12
nullmx	MX	0 .
literal	MX	10 192.0.2.1.
_25._tcp.mx1	TLSA	3 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
txt	TXT	"v=STSv1; " "id=20240101"
EOF
} > sec.lab
{ soa bogus.lab; cat <<'EOF'
@	MX	10 mx
mx	A	127.0.0.20
badmx	MX	10 mx
EOF
} > bogus.lab
{ soa insec.lab; cat <<'EOF'
@	MX	10 mx
@	MX	20 mx1.sec.lab.
mx	A	127.0.0.30
EOF
} > insec.lab

: > ta.ds
for z in sec.lab bogus.lab; do
	zsk=$(ldns-keygen -a ECDSAP256SHA256 $z) || exit 2
	ksk=$(ldns-keygen -a ECDSAP256SHA256 -k $z) || exit 2
	ldns-signzone $z "$zsk" "$ksk" || exit 2
	cat "$ksk.ds" >> ta.ds
done
# Alter a signed record: its RRSIG no longer matches.
sed -i 's/127\.0\.0\.20$/127.0.0.21/' bogus.lab.signed
sed -i 's/^\(badmx\.bogus\.lab\..*MX[[:space:]]*\)10 /\120 /' bogus.lab.signed
grep -q '127\.0\.0\.21$' bogus.lab.signed &&
    grep -q '^badmx.*MX[[:space:]]*20 ' bogus.lab.signed ||
    { echo "tamper failed"; exit 2; }

cat > nsd.conf <<EOF
server:
	ip-address: 127.0.0.1@$PORT
	port: $PORT
	zonesdir: "$DIR"
	pidfile: "$DIR/nsd.pid"
	database: ""
	xfrdfile: "$DIR/xfrd.state"
	zonelistfile: "$DIR/zone.list"
	logfile: "$DIR/nsd.log"
	username: ""
	chroot: ""
	verbosity: 1
remote-control:
	control-enable: no
zone:
	name: sec.lab
	zonefile: sec.lab.signed
zone:
	name: bogus.lab
	zonefile: bogus.lab.signed
zone:
	name: insec.lab
	zonefile: insec.lab
EOF
"$NSD" -d -c nsd.conf >nsd.out 2>&1 &
NSD_PID=$!
i=0
until grep -q "started" nsd.log 2>/dev/null || [ $i -ge 50 ]; do
	sleep 0.1
	i=$((i + 1))
done
kill -0 "$NSD_PID" 2>/dev/null || { cat nsd.out nsd.log; exit 2; }

PASS=0
FAIL=0
# check NAME TYPE EXIT PATTERN...: run resprobe, expect exit status and
# every extended regex pattern to match a line of its output.
check() {
	name=$1 type=$2 want=$3
	shift 3
	"$PROBE" -t 20 -f 127.0.0.1@$PORT -a "$DIR/ta.ds" \
	    -o "do-not-query-localhost: no" "$name" "$type" >out.txt 2>err.txt
	rc=$?
	ok=1
	[ "$rc" = "$want" ] || ok=0
	# a sanitizer report must fail the check even if the exit matches
	! grep -q 'Sanitizer\|runtime error' err.txt || ok=0
	[ -n "${RES_SMOKE_VERBOSE:-}" ] && sed "s/^/  > /" out.txt
	for pat in "$@"; do
		grep -Eq -- "$pat" out.txt || { ok=0; echo "  missing: $pat"; }
	done
	if [ $ok = 1 ]; then
		PASS=$((PASS + 1))
		echo "ok   $name $type"
	else
		FAIL=$((FAIL + 1))
		echo "FAIL $name $type (exit $rc, want $want)"
		sed 's/^/  | /' out.txt err.txt
	fi
}

check sec.lab A 1 '^rcode=NOTFOUND' '^security=secure' '^nxdomain=0'
check mx1.sec.lab A 0 '^security=secure' '^addr=127\.0\.0\.10$'
check mx1.sec.lab AAAA 0 '^security=secure' '^addr=2001:db8::10$'
check alias.sec.lab A 0 '^security=secure' '^cname=www\.sec\.lab$' \
    '^cname=mx1\.sec\.lab$' '^canonname=mx1\.sec\.lab$'
check www.sec.lab CNAME 0 '^cname=mx1\.sec\.lab$'
check txt.sec.lab TXT 0 '^txt=v=STSv1; id=20240101$' '^security=secure'
check _25._tcp.mx1.sec.lab TLSA 0 '^security=secure' \
    '^tlsa=3 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef$'
check nope.sec.lab A 1 '^nxdomain=1' '^security=secure'
check sec.lab mx 0 '^mx_security=secure' '^nhosts=3' '^null_mx=0' \
    '^host=mx[12]\.sec\.lab pref=10 rcode=OK security=secure' \
    '^host=mx3\.sec\.lab pref=20 rcode=NOTFOUND security=secure' \
    '^  addr=\[2001:db8::10\]:25$' '^  addr=127\.0\.0\.11:25$'
check nomx.sec.lab mx 0 '^implicit=1' \
    '^host=nomx\.sec\.lab pref=0 rcode=OK security=secure'
check nullmx.sec.lab mx 3 '^null_mx=1' '^rcode=FAIL' '^mx_security=secure'
check literal.sec.lab mx 3 '^rcode=FAIL' '^error=no usable MX host'
check nope.sec.lab mx 1 '^rcode=NOTFOUND' '^error=domain not found'
check viacname.sec.lab mx 0 '^canon_domain=sec\.lab$' '^nhosts=3'
check mx1.sec.lab host 0 '^nhosts=1' '^mx_security=secure' \
    '^host=mx1\.sec\.lab pref=0 rcode=OK'
check '[192.0.2.7]' host 0 '^  addr=192\.0\.2\.7:25$'
check mx.bogus.lab A 3 '^security=bogus' '^why_bogus=.+'
check bogus.lab mx 3 '^rcode=FAIL' \
    '^host=mx\.bogus\.lab pref=10 rcode=FAIL security=bogus'
check badmx.bogus.lab mx 3 '^rcode=FAIL' '^mx_security=bogus' \
    '^error=MX RRset DNSSEC bogus: .+' '^nhosts=0'
check insec.lab mx 0 '^mx_security=insecure' \
    '^host=mx\.insec\.lab pref=10 rcode=OK security=insecure' \
    '^host=mx1\.sec\.lab pref=20 rcode=OK security=secure'
check mx.insec.lab A 0 '^security=insecure' '^addr=127\.0\.0\.30$'

# The same through a sealpost.conf resolver section (-c).
cat > sealpost.conf <<EOF
myhostname = smoke.lab
log = stderr
resolver {
	forwarders = { "127.0.0.1@$PORT" }
	trust_anchor_file = "$DIR/ta.ds"
	unbound_options = { "do-not-query-localhost: no" }
}
EOF
"$PROBE" -t 20 -c sealpost.conf sec.lab mx >out.txt 2>&1 &&
    grep -q '^mx_security=secure' out.txt &&
    { PASS=$((PASS + 1)); echo "ok   -c sealpost.conf"; } ||
    { FAIL=$((FAIL + 1)); echo "FAIL -c sealpost.conf"; cat out.txt; }

# cancel-then-restart path (-x), twice the work, one answer
"$PROBE" -x -t 20 -f 127.0.0.1@$PORT -a "$DIR/ta.ds" \
    -o "do-not-query-localhost: no" sec.lab mx >out.txt 2>&1 &&
    [ "$(grep -c '^domain=' out.txt)" = 1 ] &&
    { PASS=$((PASS + 1)); echo "ok   cancel+restart"; } ||
    { FAIL=$((FAIL + 1)); echo "FAIL cancel+restart"; cat out.txt; }

# Nothing answers on this port: a temporary failure, not a "no".
"$PROBE" -t 20 -f 127.0.0.1@1 -o "do-not-query-localhost: no" \
    sec.lab mx >out.txt 2>&1
[ $? = 2 ] && grep -q '^rcode=RETRY' out.txt &&
    { PASS=$((PASS + 1)); echo "ok   unreachable -> RETRY"; } ||
    { FAIL=$((FAIL + 1)); echo "FAIL unreachable"; cat out.txt; }

# Give up before libunbound does: res_cancel and res_free with queries
# still in flight (the close path), which must stay quiet under ASan.
"$PROBE" -t 1 -f 127.0.0.1@1 -o "do-not-query-localhost: no" \
    sec.lab mx >out.txt 2>err.txt
[ $? = 4 ] && grep -q '^timeout=1' out.txt &&
    ! grep -q 'Sanitizer\|runtime error' err.txt &&
    { PASS=$((PASS + 1)); echo "ok   timeout with queries in flight"; } ||
    { FAIL=$((FAIL + 1)); echo "FAIL timeout"; cat out.txt err.txt; }

echo "res-smoke: $PASS passed, $FAIL failed"
[ $FAIL = 0 ]
