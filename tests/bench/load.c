/*
 * load.c - the benchmark's load generator: S SMTP sessions submit N
 * messages of a given size as fast as the server lets them, and every
 * message carries the time it was submitted.
 *
 * It replaces Postfix's smtp-source (which cannot put a timestamp in a
 * message) so that tests/bench can measure submit-to-arrival latency:
 * each message has a header
 *
 *     X-Bench: <seq> <sent_ns>
 *
 * where sent_ns is CLOCK_MONOTONIC when its MAIL FROM was sent;
 * tests/bench/tlssink.c reads it at the far end.  With -o FILE, one line
 * per accepted message is written at the end:
 *
 *     S <seq> <sent_ns> <accepted_ns>
 *
 * (accepted_ns: the 250 after the final "." arrived), and always a last
 * line on stdout:
 *
 *     done <accepted> <failed> <first_ns> <last_ns>
 *
 * Sessions are persistent (like smtp-source -d): EHLO once, then
 * MAIL/RCPT/DATA pipelined (RFC 2920) when the server offers
 * PIPELINING, the body after the 354, next message on the same
 * connection.  -t does STARTTLS first (for measuring the TLS sink alone;
 * the relays are submitted to in plain text).  A reply that is not the
 * expected 2xx/3xx counts the message as failed and closes the session;
 * the run exits 1 if any message failed.  Every run ends by itself: -T
 * seconds at most (default 3600).
 *
 * Usage: load [-s sessions] [-m messages] [-l bytes] [-t] [-T s]
 *             [-f sender] [-r rcpt] [-o file] ADDR:PORT
 *
 * One thread, epoll.  Test tooling only.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define LOAD_IN_MAX	8192
#define LOAD_SESS_MAX	10000

enum sess_state {
	S_CONNECT, S_BANNER, S_EHLO, S_STARTTLS, S_HANDSHAKE, S_EHLO2,
	S_ENVELOPE, S_BODY, S_QUIT, S_DONE
};

struct sess {
	int             fd;
	enum sess_state st;
	SSL            *ssl;
	int             tls_on, want_write, pipelining;
	int             replies;	/* replies still expected in S_ENVELOPE */
	long long       seq, sent;
	char           *out;		/* pending output */
	size_t          outlen, outoff, outcap;
	char            in[LOAD_IN_MAX];
	size_t          inlen;
};

struct rec {
	long long sent, acc;
};

static int epfd;
static SSL_CTX *ctx;
static struct sockaddr_in addr;
static long long next_seq, nmsgs, accepted, failed, first_ns, last_ns;
static size_t msg_size = 4096;
static const char *sender = "bench@source.bench.test";
static const char *rcpt = "sink@sink.bench.test";
static struct rec *recs;
static int live;
static char *filler;

static long long
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void
out_add(struct sess *s, const char *p, size_t n)
{
	if (s->outlen + n > s->outcap) {
		s->outcap = (s->outlen + n) * 2;
		s->out = realloc(s->out, s->outcap);
		if (s->out == NULL) {
			perror("load: realloc");
			exit(1);
		}
	}
	memcpy(s->out + s->outlen, p, n);
	s->outlen += n;
}

static void
out_str(struct sess *s, const char *p)
{
	out_add(s, p, strlen(p));
}

static void
sess_events(struct sess *s)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.data.ptr = s;
	ev.events = EPOLLIN;
	if (s->outoff < s->outlen || s->want_write || s->st == S_CONNECT)
		ev.events |= EPOLLOUT;
	(void)epoll_ctl(epfd, EPOLL_CTL_MOD, s->fd, &ev);
}

static void
sess_end(struct sess *s)
{
	(void)epoll_ctl(epfd, EPOLL_CTL_DEL, s->fd, NULL);
	close(s->fd);
	if (s->ssl)
		SSL_free(s->ssl);
	s->ssl = NULL;
	s->st = S_DONE;
	live--;
}

static void
fail_msg(struct sess *s, const char *line)
{
	fprintf(stderr, "load: unexpected reply in state %d: %.200s\n", s->st,
	    line);
	if (s->st == S_ENVELOPE || s->st == S_BODY)
		failed++;
	sess_end(s);
}

/* Start the next message, or QUIT when all are taken. */
static void
next_message(struct sess *s)
{
	char buf[600];

	if (next_seq >= nmsgs) {
		out_str(s, "QUIT\r\n");
		s->st = S_QUIT;
		return;
	}
	s->seq = next_seq++;
	s->sent = now_ns();
	snprintf(buf, sizeof(buf), "MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n",
	    sender, rcpt);
	out_str(s, buf);
	s->replies = 3;
	s->st = S_ENVELOPE;
}

static void
send_body(struct sess *s)
{
	char hdr[800];
	size_t n, left;

	n = (size_t)snprintf(hdr, sizeof(hdr),
	    "From: <%s>\r\nTo: <%s>\r\nSubject: bench message %lld\r\n"
	    "Message-ID: <%lld.%lld@load.bench.test>\r\n"
	    "Date: Mon, 23 Nov 2026 12:00:00 +0000\r\n"
	    "X-Bench: %lld %lld\r\n\r\n",
	    sender, rcpt, s->seq, s->seq, s->sent, s->seq, s->sent);
	out_add(s, hdr, n);
	/* body lines of 78 characters + CRLF up to the size */
	left = msg_size > n ? msg_size - n : 0;
	while (left > 0) {
		size_t l = left > 80 ? 80 : left;

		if (l < 3)
			l = 3;
		out_add(s, filler, l - 2);
		out_add(s, "\r\n", 2);
		left = left > l ? left - l : 0;
	}
	out_str(s, ".\r\n");
	s->st = S_BODY;
}

static int
handshake(struct sess *s)
{
	int r;

	if (s->ssl == NULL) {
		s->ssl = SSL_new(ctx);
		if (s->ssl == NULL || SSL_set_fd(s->ssl, s->fd) != 1)
			return -1;
	}
	s->want_write = 0;
	r = SSL_connect(s->ssl);
	if (r == 1) {
		s->tls_on = 1;
		out_str(s, "EHLO load.bench.test\r\n");
		s->st = S_EHLO2;
		return 0;
	}
	switch (SSL_get_error(s->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		return 0;
	case SSL_ERROR_WANT_WRITE:
		s->want_write = 1;
		return 0;
	default:
		ERR_print_errors_fp(stderr);
		return -1;
	}
}

/* One complete reply (last line given, code in code).  */
static void
on_reply(struct sess *s, int code, const char *line)
{
	long long t;

	switch (s->st) {
	case S_BANNER:
		if (code != 220)
			return fail_msg(s, line);
		out_str(s, "EHLO load.bench.test\r\n");
		s->st = S_EHLO;
		break;
	case S_EHLO:
	case S_EHLO2:
		if (code != 250)
			return fail_msg(s, line);
		if (!s->pipelining)
			return fail_msg(s, "server does not offer PIPELINING");
		if (ctx != NULL && s->st == S_EHLO) {
			out_str(s, "STARTTLS\r\n");
			s->st = S_STARTTLS;
			break;
		}
		next_message(s);
		break;
	case S_STARTTLS:
		if (code != 220)
			return fail_msg(s, line);
		s->st = S_HANDSHAKE;
		break;
	case S_ENVELOPE:
		s->replies--;
		if (s->replies > 0 ? code != 250 : code != 354) {
			s->replies = 0;
			return fail_msg(s, line);
		}
		if (s->replies == 0)
			send_body(s);
		break;
	case S_BODY:
		if (code != 250)
			return fail_msg(s, line);
		t = now_ns();
		recs[s->seq].sent = s->sent;
		recs[s->seq].acc = t;
		accepted++;
		last_ns = t;
		next_message(s);
		break;
	case S_QUIT:
		sess_end(s);
		break;
	default:
		fail_msg(s, line);
	}
}

static void
parse_replies(struct sess *s)
{
	size_t off = 0;

	while (s->st != S_DONE && s->st != S_HANDSHAKE) {
		char *nl = memchr(s->in + off, '\n', s->inlen - off);
		char *line = s->in + off;
		size_t len;

		if (nl == NULL)
			break;
		*nl = '\0';
		len = (size_t)(nl - line);
		off += len + 1;
		if (len < 3) {
			fail_msg(s, line);
			break;
		}
		if (s->st == S_EHLO || s->st == S_EHLO2) {
			if (len >= 14 && strncasecmp(line + 4, "PIPELINING", 10) == 0)
				s->pipelining = 1;
		}
		if (len > 3 && line[3] == '-')
			continue;	/* multi-line reply goes on */
		on_reply(s, atoi(line), line);
	}
	if (s->st == S_DONE)
		return;
	memmove(s->in, s->in + off, s->inlen - off);
	s->inlen -= off;
	if (s->inlen == sizeof(s->in))
		fail_msg(s, "reply line too long");
}

static int
sess_flush(struct sess *s)
{
	while (s->outoff < s->outlen) {
		ssize_t n;

		if (s->tls_on) {
			int r = SSL_write(s->ssl, s->out + s->outoff,
			    (int)(s->outlen - s->outoff));

			if (r <= 0) {
				int e = SSL_get_error(s->ssl, r);

				if (e == SSL_ERROR_WANT_WRITE ||
				    e == SSL_ERROR_WANT_READ)
					return 0;
				return -1;
			}
			n = r;
		} else {
			n = send(s->fd, s->out + s->outoff, s->outlen - s->outoff,
			    MSG_NOSIGNAL);
			if (n < 0)
				return errno == EAGAIN ? 0 : -1;
		}
		s->outoff += (size_t)n;
	}
	s->outoff = s->outlen = 0;
	return 0;
}

static int
sess_read(struct sess *s)
{
	for (;;) {
		ssize_t n;
		size_t room = sizeof(s->in) - s->inlen;

		if (s->st == S_HANDSHAKE || s->st == S_DONE)
			return 0;
		if (s->tls_on) {
			int r = SSL_read(s->ssl, s->in + s->inlen, (int)room);

			if (r <= 0) {
				int e = SSL_get_error(s->ssl, r);

				if (e == SSL_ERROR_WANT_READ)
					return 0;
				if (e == SSL_ERROR_WANT_WRITE) {
					s->want_write = 1;
					return 0;
				}
				return -1;
			}
			n = r;
		} else {
			n = recv(s->fd, s->in + s->inlen, room, 0);
			if (n < 0)
				return errno == EAGAIN ? 0 : -1;
			if (n == 0)
				return -1;
		}
		s->inlen += (size_t)n;
		parse_replies(s);
	}
}

static void
sess_io(struct sess *s)
{
	if (s->st == S_CONNECT) {
		int err = 0;
		socklen_t l = sizeof(err);

		if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0 ||
		    err != 0) {
			fprintf(stderr, "load: connect: %s\n", strerror(err));
			sess_end(s);
			return;
		}
		s->st = S_BANNER;
	}
	if (s->st == S_HANDSHAKE && handshake(s) < 0)
		goto dead;
	if (sess_read(s) < 0)
		goto dead;
	if (s->st == S_DONE)
		return;
	if (s->st == S_HANDSHAKE && s->ssl == NULL && handshake(s) < 0)
		goto dead;
	if (sess_flush(s) < 0)
		goto dead;
	sess_events(s);
	return;
dead:
	if (s->st == S_QUIT) {
		sess_end(s);
		return;
	}
	if (s->st == S_ENVELOPE || s->st == S_BODY)
		failed++;
	fprintf(stderr, "load: connection lost in state %d\n", s->st);
	sess_end(s);
}

static void
sess_start(struct sess *s)
{
	struct epoll_event ev;
	int one = 1;

	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0) {
		perror("load: socket");
		exit(1);
	}
	(void)setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(s->fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 &&
	    errno != EINPROGRESS) {
		perror("load: connect");
		exit(1);
	}
	s->st = S_CONNECT;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | EPOLLOUT;
	ev.data.ptr = s;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, s->fd, &ev) < 0) {
		perror("load: epoll_ctl");
		exit(1);
	}
	live++;
}

int
main(int argc, char **argv)
{
	const char *outfile = NULL;
	struct epoll_event evs[256];
	struct sess *ss;
	long long deadline;
	int nsess = 10, opt, i, n, limit = 3600;
	char *colon, host[64];

	nmsgs = 1000;
	while ((opt = getopt(argc, argv, "s:m:l:tT:f:r:o:")) != -1) {
		switch (opt) {
		case 's': nsess = atoi(optarg); break;
		case 'm': nmsgs = atoll(optarg); break;
		case 'l': msg_size = (size_t)atol(optarg); break;
		case 't': ctx = SSL_CTX_new(TLS_client_method()); break;
		case 'T': limit = atoi(optarg); break;
		case 'f': sender = optarg; break;
		case 'r': rcpt = optarg; break;
		case 'o': outfile = optarg; break;
		default:
			fprintf(stderr, "usage: load [-s n] [-m n] [-l bytes] [-t] "
			    "[-T s] [-f from] [-r to] [-o file] ADDR:PORT\n");
			return 2;
		}
	}
	if (optind != argc - 1 || nsess < 1 || nsess > LOAD_SESS_MAX ||
	    nmsgs < 1 || strlen(sender) > 200 || strlen(rcpt) > 200)
		return 2;
	colon = strrchr(argv[optind], ':');
	if (colon == NULL || (size_t)(colon - argv[optind]) >= sizeof(host))
		return 2;
	memcpy(host, argv[optind], (size_t)(colon - argv[optind]));
	host[colon - argv[optind]] = '\0';
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &addr.sin_addr) != 1)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	filler = malloc(80);
	memset(filler, 'x', 80);
	recs = calloc((size_t)nmsgs, sizeof(*recs));
	ss = calloc((size_t)nsess, sizeof(*ss));
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (recs == NULL || ss == NULL || epfd < 0) {
		perror("load");
		return 1;
	}
	first_ns = now_ns();
	deadline = first_ns + (long long)limit * 1000000000LL;
	for (i = 0; i < nsess; i++)
		sess_start(&ss[i]);
	while (live > 0) {
		if (now_ns() > deadline) {
			fprintf(stderr, "load: time limit of %d s reached\n", limit);
			break;
		}
		n = epoll_wait(epfd, evs, 256, 500);
		if (n < 0 && errno != EINTR) {
			perror("load: epoll_wait");
			return 1;
		}
		for (i = 0; i < n; i++)
			sess_io(evs[i].data.ptr);
	}
	if (outfile != NULL) {
		FILE *f = fopen(outfile, "w");
		long long k;

		if (f == NULL) {
			perror(outfile);
			return 1;
		}
		for (k = 0; k < nmsgs; k++)
			if (recs[k].acc)
				fprintf(f, "S %lld %lld %lld\n", k, recs[k].sent,
				    recs[k].acc);
		fclose(f);
	}
	printf("done %lld %lld %lld %lld\n", accepted, failed + (nmsgs -
	    accepted - failed), first_ns, last_ns);
	return accepted == nmsgs ? 0 : 1;
}
