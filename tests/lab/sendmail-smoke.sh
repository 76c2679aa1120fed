#!/bin/bash
# sendmail-smoke.sh - the built sendmail + sealpost-postdrop, end to end,
# without a daemon and without root: a config and spool in a temp dir,
# messages into the maildrop, mailq over it, and the failure exits.
#
# usage: tests/lab/sendmail-smoke.sh [build-dir]     (default build-sm)
set -u

BUILD=$(cd "${1:-build-sm}" && pwd)
SM=$BUILD/mta/sendmail
PD=$BUILD/queue/sealpost-postdrop
[ -x "$SM" ] && [ -x "$PD" ] || { echo "build sendmail and sealpost-postdrop first" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
mkdir -p "$tmp/spool"
cat >"$tmp/sealpost.conf" <<EOF
spool_directory = $tmp/spool
myhostname = smoke.example
log = stderr
EOF
cat >"$tmp/small.conf" <<EOF
spool_directory = $tmp/spool
myhostname = smoke.example
message_size_limit = 2k
EOF
export SEALPOST_CONFIG=$tmp/sealpost.conf SEALPOST_POSTDROP=$PD
ln -s "$SM" "$tmp/mailq"
drop=$tmp/spool/maildrop

fails=0
ok()   { echo "ok   $*"; }
bad()  { echo "FAIL $*"; fails=$((fails + 1)); }
# expect CODE DESCRIPTION -- command...   (stdin passes through)
expect() {
	local want=$1 what=$2 rc
	shift 3
	"$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	if [ "$rc" = "$want" ]; then ok "$what (exit $rc)"; else
		bad "$what: exit $rc, want $want"; sed 's/^/     /' "$tmp/err"; fi
}
nfiles() { find "$drop" -maxdepth 1 -type f 2>/dev/null | wc -l; }

# 1. a plain message lands in the maildrop, -v prints the queue ID
printf 'Subject: smoke\n\nhello\n.\nnot part of it\n' |
	expect 0 "deliver to the maildrop" -- "$SM" -v rcpt@example.org
qid=$(sed -n 's/^sendmail: queued as //p' "$tmp/out")
if [ -n "$qid" ] && [ -f "$drop/$qid" ]; then ok "file $qid in maildrop"; else bad "no maildrop file for '$qid'"; fi
if grep -q 'hello' "$drop/$qid" && ! grep -q 'not part of it' "$drop/$qid"; then
	ok "lone '.' ended the message"; else bad "'.' handling"; fi
if grep -q "Message-ID: <$qid\." "$drop/$qid" && grep -q '^From: ' "$drop/$qid" &&
   grep -q '^Date: ' "$drop/$qid"; then ok "From/Date/Message-ID added"; else bad "added headers"; fi

# 2. -t with Bcc: recipients from the headers, Bcc gone from the text
printf 'To: "Doe, J" <to@example.org>,\n  cc-ish@example.org\nBcc: hidden@example.org\nSubject: t\n\nbody\n' |
	expect 0 "-t with folded To and Bcc" -- "$SM" -t -v -i extra@example.org
qid2=$(sed -n 's/^sendmail: queued as //p' "$tmp/out")
f=$drop/$qid2
if grep -q 'hidden@example.org' "$f" && ! grep -q '^Bcc:' "$f"; then ok "Bcc recipient kept, header removed"; else bad "Bcc handling"; fi
if grep -q 'to@example.org' "$f" && grep -q 'extra@example.org' "$f" && grep -q 'cc-ish@example.org' "$f"; then
	ok "header + command line recipients"; else bad "-t recipients"; fi

# 3. mailq lists both (argv[0] "mailq" and -bp)
expect 0 "mailq" -- "$tmp/mailq"
if grep -q "^$qid" "$tmp/out" && grep -q 'rcpt@example.org' "$tmp/out" &&
   grep -q -- '-- .* Kbytes in 2 Requests.' "$tmp/out"; then ok "mailq lists the maildrop"; else bad "mailq output"; cat "$tmp/out"; fi
expect 0 "sendmail -bp" -- "$SM" -bp

# 4. usage and input errors
expect 64 "unknown flag" -- "$SM" -Z rcpt@example.org </dev/null
expect 64 "bad recipient" -- "$SM" 'a b@c' </dev/null
expect 65 "no recipients" -- "$SM" </dev/null
printf 'Subject: x\n\n' | expect 65 "-t without recipients" -- "$SM" -t
expect 69 "-bs not yet" -- "$SM" -bs </dev/null
expect 69 "-bd not supported" -- "$SM" -bd </dev/null
expect 69 "-q without daemon" -- "$SM" -q
grep -q 'not running' "$tmp/err" && ok "-q says the daemon is not running" || bad "-q message"
# -q with a stand-in daemon that answers OK and records what it got
if command -v python3 >/dev/null; then
	python3 - "$tmp/spool/sealpostd.sock" "$tmp/got" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(1)
for _ in range(2):
    c, _a = s.accept(); line = c.makefile().readline()
    open(sys.argv[2], "a").write(line); c.sendall(b"OK\n"); c.close()
PY
	for _ in 1 2 3 4 5 6 7 8 9 10; do [ -S "$tmp/spool/sealpostd.sock" ] && break; sleep 0.2; done
	expect 0 "-q with a daemon" -- "$SM" -q
	expect 0 "-qRsite with a daemon" -- "$SM" -qRexample.org
	wait
	[ "$(cat "$tmp/got")" = "$(printf 'FLUSH\nFLUSH example.org')" ] && ok "FLUSH lines sent" || bad "FLUSH lines: $(cat "$tmp/got")"
	rm -f "$tmp/spool/sealpostd.sock"
fi
head -c 4000 /dev/zero | tr '\0' 'x' | fold -w 70 |
	SEALPOST_CONFIG=$tmp/small.conf expect 65 "message over message_size_limit" -- "$SM" rcpt@example.org
printf 'x = \n' >"$tmp/broken.conf"
expect 78 "broken config" -- "$SM" -C "$tmp/broken.conf" rcpt@example.org </dev/null

# 5. an unwritable maildrop: EX_TEMPFAIL and no file left behind
before=$(nfiles)
if [ "$(id -u)" != 0 ]; then
	chmod 500 "$drop"
	echo hi | expect 75 "unwritable maildrop" -- "$SM" rcpt@example.org
	chmod 700 "$drop"
elif command -v setpriv >/dev/null; then
	chmod 755 "$tmp/spool" "$drop"
	chmod 644 "$tmp/sealpost.conf"
	echo hi | expect 75 "unwritable maildrop (as nobody)" -- \
		setpriv --reuid=nobody --regid=nogroup --clear-groups "$SM" rcpt@example.org
else
	echo "skip unwritable maildrop: running as root without setpriv"
fi
after=$(nfiles)
[ "$before" = "$after" ] && [ -z "$(ls -A "$drop" | grep -v '^[0-9A-Z]\{16\}$')" ] &&
	ok "no partial file" || bad "maildrop changed: $before -> $after"

echo "$fails failure(s)"
[ "$fails" = 0 ]
