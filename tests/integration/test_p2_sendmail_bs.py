"""P2 "sendmail -bs": the listener's SMTP engine on stdin/stdout.

build/mta/sendmail -C CONF -bs is driven line by line over pipes (the
real sealpost-postdrop via $SEALPOST_POSTDROP, as Lab.sendmail does):
a pipelined MAIL/RCPT/DATA, RSET, a bad command that gets a 5xx while
the session goes on, a second message after the daemon was stopped
(postdrop still writes the maildrop, so the reply is still 250), QUIT
and exit status 0.  After the daemon is started again both messages
reach the sink.test receiver, told apart by their own Message-IDs, and
carry the "via sendmail -bs" Received field.

Whatever configuration the lab holds at this point is used as it is:
-bs needs no listener, only the maildrop and myhostname.
"""

import os
import select
import subprocess
import time
import uuid

import lab
import topology as T

SINK = "sink"
DELIVERY_TIMEOUT = 30.0
REPLY_TIMEOUT = 20.0


def expect(cond, msg):
    if not cond:
        raise AssertionError(msg)


def uid():
    return uuid.uuid4().hex[:12]


class BsClient:
    """sendmail -bs as a subprocess; replies are read with a time limit."""

    def __init__(self, L):
        exe = L.bin("mta/sendmail")
        env = dict(os.environ, SEALPOST_POSTDROP=L.postdrop_path())
        self.p = subprocess.Popen([exe, "-C", L.conf, "-bs"], env=env,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        self.buf = b""
        self.transcript = []

    def send(self, data):
        self.transcript.append(">> " + data.decode("utf-8", "replace"))
        self.p.stdin.write(data)
        self.p.stdin.flush()

    def _line(self):
        deadline = time.monotonic() + REPLY_TIMEOUT
        while b"\r\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise lab.LabError("no reply from sendmail -bs in %.0fs\n%s"
                                   % (REPLY_TIMEOUT, "\n".join(self.transcript)))
            r, _, _ = select.select([self.p.stdout], [], [], left)
            if r:
                chunk = os.read(self.p.stdout.fileno(), 65536)
                if not chunk:
                    raise lab.LabError("sendmail -bs closed stdout\n%s\nstderr: %s"
                                       % ("\n".join(self.transcript),
                                          self.p.stderr.read().decode("utf-8", "replace")))
                self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        text = line.decode("utf-8", "replace")
        self.transcript.append("<< " + text)
        return text

    def reply(self):
        """One complete (multi-line) reply: (code, [lines])."""
        lines = []
        while True:
            line = self._line()
            lines.append(line)
            expect(len(line) >= 3 and line[:3].isdigit(), "bad reply line %r" % line)
            if len(line) == 3 or line[3] == " ":
                return int(line[:3]), lines

    def replies(self, n):
        return [self.reply() for _ in range(n)]

    def finish(self, timeout=REPLY_TIMEOUT):
        self.p.stdin.close()
        try:
            rc = self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            raise lab.LabError("sendmail -bs did not exit after QUIT")
        err = self.p.stderr.read().decode("utf-8", "replace")
        return rc, err


def message(sender, rcpt, mid, subject):
    return ("From: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: %s\r\n\r\n"
            "Hello from sendmail -bs.\r\n..a stuffed dot line\r\n.\r\n"
            % (sender, rcpt, subject, mid)).encode()


def transaction(sender, rcpt, mid, subject):
    """MAIL, RCPT, DATA and the message in one write (PIPELINING)."""
    return (("MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n" % (sender, rcpt)).encode()
            + message(sender, rcpt, mid, subject))


def test_sendmail_bs_dialogue(L):
    """sendmail -bs: pipelining, two messages, RSET, a bad command, QUIT;
    the second message with the daemon stopped still gets 250 (maildrop)"""
    sender = "p2-bs-%s@sender.test" % uid()
    rcpt1, rcpt2 = "p2-bs-one@sink.test", "p2-bs-two@sink.test"
    mid1, mid2 = "<%s.bs1@sender.test>" % uid(), "<%s.bs2@sender.test>" % uid()
    if L.daemon is None or not L.daemon.alive():
        L.start_daemon()

    c = BsClient(L)
    restarted = False
    try:
        code, lines = c.reply()
        expect(code == 220 and lines[0] == "220 %s ESMTP sealpost" % T.RELAY_HOSTNAME,
               "greeting %r" % lines)
        c.send(b"EHLO client.bs.test\r\n")
        code, ehlo = c.reply()
        expect(code == 250, "EHLO %r" % ehlo)
        kw = [line[4:].split(" ")[0].upper() for line in ehlo[1:]]
        expect("PIPELINING" in kw and "SIZE" in kw, "EHLO keywords %r" % kw)
        expect("STARTTLS" not in kw and "AUTH" not in kw,
               "-bs must not offer STARTTLS or AUTH: %r" % kw)

        # the first message, pipelined: MAIL, RCPT, DATA in one write
        c.send(transaction(sender, rcpt1, mid1, "p2 bs one"))
        got = c.replies(4)
        expect([r[0] for r in got] == [250, 250, 354, 250],
               "first transaction %r" % got)
        expect(got[3][1][-1].startswith("250 2.0.0 Ok: queued as "),
               "no queue ID in %r" % got[3][1])
        qid1 = got[3][1][-1].rsplit(" ", 1)[1]

        # RSET drops a half transaction; a bad command is 5xx, no hang-up
        c.send(b"MAIL FROM:<%s>\r\nRSET\r\nFROBNICATE\r\nDATA\r\nNOOP\r\n"
               % sender.encode())
        got = c.replies(5)
        expect([r[0] for r in got] == [250, 250, 500, 503, 250],
               "RSET / bad command %r" % got)

        # the daemon goes away: postdrop still makes the message durable
        rc = L.stop_daemon()
        expect(rc == 0, "sealpostd exit status %s" % rc)
        restarted = True
        c.send(transaction(sender, rcpt2, mid2, "p2 bs two"))
        got = c.replies(4)
        expect([r[0] for r in got] == [250, 250, 354, 250],
               "second transaction (daemon stopped) %r" % got)
        qid2 = got[3][1][-1].rsplit(" ", 1)[1]
        expect(qid2 != qid1, "same queue ID twice: %s" % qid1)

        c.send(b"QUIT\r\n")
        code, lines = c.reply()
        expect(code == 221, "QUIT %r" % lines)
        rc, err = c.finish()
        expect(rc == 0, "sendmail -bs exit status %d: %s" % (rc, err))
        expect(not any(m in err for m in L.SANITIZER_MARKERS),
               "sanitizer report from sendmail:\n%s" % err[-3000:])
    finally:
        if c.p.poll() is None:
            c.p.kill()
            c.p.wait()
        if restarted:
            L.start_daemon()

    box = L.receiver(SINK)
    for mid, rcpt, qid in ((mid1, rcpt1, qid1), (mid2, rcpt2, qid2)):
        m = box.wait_message_id(mid, DELIVERY_TIMEOUT)
        expect(m["mail_from"] == sender, "MAIL FROM %r, want %r" % (m["mail_from"], sender))
        expect([r.lower() for r in m["rcpt_tos"]] == [rcpt],
               "RCPT TO %r, want [%r]" % (m["rcpt_tos"], rcpt))
        data = m["data"]
        expect("via sendmail -bs, uid %d" % os.getuid() in data and
               ("id %s" % qid) in data,
               "Received field of %s lacks 'via sendmail -bs' or id %s:\n%s"
               % (mid, qid, data[:600]))
        expect("\r\n.a stuffed dot line\r\n" in data or "\n.a stuffed dot line\n" in data,
               "dot-unstuffing lost in %s" % mid)
        lab.log("sendmail -bs: %s delivered as %s" % (mid, qid))


def test_sendmail_bs_eof_without_quit(L):
    """sendmail -bs: end of input inside DATA abandons the message, exit 0"""
    sender = "p2-bs-eof-%s@sender.test" % uid()
    mid = "<%s.bseof@sender.test>" % uid()
    c = BsClient(L)
    try:
        expect(c.reply()[0] == 220, "no greeting")
        c.send(b"HELO client.bs.test\r\n")
        expect(c.reply()[0] == 250, "HELO refused")
        c.send(("MAIL FROM:<%s>\r\nRCPT TO:<p2-bs-eof@sink.test>\r\nDATA\r\n"
                "Message-ID: %s\r\n\r\ncut short\r\n" % (sender, mid)).encode())
        got = c.replies(3)
        expect([r[0] for r in got] == [250, 250, 354], "transaction %r" % got)
        rc, err = c.finish()
        expect(rc == 0, "exit status %d at EOF: %s" % (rc, err))
    finally:
        if c.p.poll() is None:
            c.p.kill()
            c.p.wait()
    time.sleep(2.0)
    hits = [m for m in L.receiver(SINK).messages() if m.get("message_id") == mid]
    expect(not hits, "an abandoned message was delivered")
