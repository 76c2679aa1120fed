/*
 * tlssink.c - the benchmark's final hop: an SMTP sink that can do
 * STARTTLS, counts messages and reports when each one arrived.
 *
 * Postfix's smtp-sink has no TLS, so the STARTTLS runs of tests/bench
 * need a sink of their own; it is used for the plain runs too, so that
 * both modes have the same final hop.  One thread, epoll, non-blocking
 * sockets, OpenSSL on the socket directly (SSL_set_fd).  It accepts
 * everything: EHLO (PIPELINING, 8BITMIME, SIZE, STARTTLS when a key is
 * given and TLS is not yet on), HELO, MAIL, RCPT, RSET, NOOP, DATA, QUIT.
 *
 * Per message it prints one line on stdout when the final "." arrives:
 *
 *     A <seq> <sent_ns> <arrival_ns> <tls>
 *
 * seq and sent_ns come from the "X-Bench: <seq> <sent_ns>" header that
 * tests/bench/load.c puts in every message (both - when missing);
 * arrival_ns is CLOCK_MONOTONIC, the same clock load.c used, so the
 * difference is the submit-to-arrival latency.  tls is 1 when the
 * message came over TLS.  Output is flushed once per event-loop round.
 *
 * Usage: tlssink [-c cert.pem -k key.pem] [-T seconds] ADDR:PORT
 * It stops on SIGTERM/SIGINT, or after -T seconds (default 3600): every
 * benchmark process stops by itself.
 *
 * Test tooling only: not built with the daemon, not part of the tests.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
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

#define SINK_IN_MAX	(64 * 1024)	/* input buffer; longer lines are cut */
#define SINK_OUT_MAX	(16 * 1024)	/* pending replies per connection */
#define SINK_EVENTS	256

enum conn_state { ST_CMD, ST_DATA, ST_HANDSHAKE, ST_CLOSING };

struct conn {
	int             fd;
	enum conn_state st;
	SSL            *ssl;
	int             tls_on;
	int             want_write;	/* TLS needs the socket writable */
	int             in_hdr;		/* DATA: still in the header */
	long long       seq, sent;	/* from X-Bench, -1 when absent */
	size_t          inlen, outlen;
	char            in[SINK_IN_MAX];
	char            out[SINK_OUT_MAX];
};

static volatile sig_atomic_t stop_flag;
static SSL_CTX *ctx;
static int epfd;
static unsigned long long nmsgs;

static void
on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static long long
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void
die(const char *what)
{
	fprintf(stderr, "tlssink: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void
conn_events(struct conn *c)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.data.ptr = c;
	ev.events = EPOLLIN;
	if (c->outlen > 0 || c->want_write)
		ev.events |= EPOLLOUT;
	(void)epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void
conn_free(struct conn *c)
{
	(void)epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	if (c->ssl)
		SSL_free(c->ssl);
	free(c);
}

static void
reply(struct conn *c, const char *s)
{
	size_t n = strlen(s);

	if (c->outlen + n > sizeof(c->out)) {
		c->st = ST_CLOSING;	/* client does not read its replies */
		return;
	}
	memcpy(c->out + c->outlen, s, n);
	c->outlen += n;
}

/* 0 all written or would block, -1 dead */
static int
conn_flush(struct conn *c)
{
	while (c->outlen > 0) {
		ssize_t n;

		if (c->tls_on) {
			int r = SSL_write(c->ssl, c->out, (int)c->outlen);

			if (r <= 0) {
				int e = SSL_get_error(c->ssl, r);

				if (e == SSL_ERROR_WANT_WRITE ||
				    e == SSL_ERROR_WANT_READ)
					return 0;
				return -1;
			}
			n = r;
		} else {
			n = send(c->fd, c->out, c->outlen, MSG_NOSIGNAL);
			if (n < 0)
				return errno == EAGAIN ? 0 : -1;
		}
		memmove(c->out, c->out + n, c->outlen - (size_t)n);
		c->outlen -= (size_t)n;
	}
	return 0;
}

static int
ci_prefix(const char *line, size_t len, const char *p)
{
	size_t n = strlen(p);

	return len >= n && strncasecmp(line, p, n) == 0;
}

static void
data_line(struct conn *c, const char *line, size_t len)
{
	if (len == 1 && line[0] == '.') {
		nmsgs++;
		printf("A %lld %lld %lld %d\n", c->seq, c->sent, now_ns(),
		    c->tls_on);
		reply(c, "250 2.0.0 Ok: queued\r\n");
		c->st = ST_CMD;
		return;
	}
	if (!c->in_hdr)
		return;
	if (len == 0) {
		c->in_hdr = 0;
		return;
	}
	if (c->seq < 0 && ci_prefix(line, len, "X-Bench:")) {
		char buf[80];
		size_t n = len < sizeof(buf) - 1 ? len : sizeof(buf) - 1;

		memcpy(buf, line, n);
		buf[n] = '\0';
		if (sscanf(buf + 8, "%lld %lld", &c->seq, &c->sent) != 2)
			c->seq = c->sent = -1;
	}
}

static void
cmd_line(struct conn *c, const char *line, size_t len)
{
	if (ci_prefix(line, len, "EHLO")) {
		reply(c, "250-sink.bench.test\r\n250-PIPELINING\r\n"
		    "250-8BITMIME\r\n250-SIZE 104857600\r\n");
		if (ctx != NULL && !c->tls_on)
			reply(c, "250-STARTTLS\r\n");
		reply(c, "250 ENHANCEDSTATUSCODES\r\n");
	} else if (ci_prefix(line, len, "HELO")) {
		reply(c, "250 sink.bench.test\r\n");
	} else if (ci_prefix(line, len, "MAIL") || ci_prefix(line, len, "RCPT") ||
	    ci_prefix(line, len, "RSET") || ci_prefix(line, len, "NOOP")) {
		reply(c, "250 2.0.0 Ok\r\n");
	} else if (ci_prefix(line, len, "DATA")) {
		reply(c, "354 End data with <CR><LF>.<CR><LF>\r\n");
		c->st = ST_DATA;
		c->in_hdr = 1;
		c->seq = c->sent = -1;
	} else if (ci_prefix(line, len, "STARTTLS") && ctx != NULL &&
	    !c->tls_on) {
		reply(c, "220 2.0.0 Ready to start TLS\r\n");
		c->st = ST_HANDSHAKE;	/* after the 220 is out */
	} else if (ci_prefix(line, len, "QUIT")) {
		reply(c, "221 2.0.0 Bye\r\n");
		c->st = ST_CLOSING;
	} else {
		reply(c, "502 5.5.2 Error: command not recognized\r\n");
	}
}

/* Process every complete line in c->in. */
static void
conn_lines(struct conn *c)
{
	size_t off = 0;

	while (off < c->inlen && (c->st == ST_CMD || c->st == ST_DATA)) {
		char *nl = memchr(c->in + off, '\n', c->inlen - off);
		size_t len;

		if (nl == NULL)
			break;
		len = (size_t)(nl - (c->in + off));
		if (len > 0 && c->in[off + len - 1] == '\r')
			len--;
		if (c->st == ST_DATA)
			data_line(c, c->in + off, len);
		else
			cmd_line(c, c->in + off, len);
		off = (size_t)(nl - c->in) + 1;
	}
	if (c->st == ST_HANDSHAKE)
		off = c->inlen;	/* RFC 3207: pipelined plaintext is dropped */
	if (off == 0 && c->inlen == sizeof(c->in))
		off = c->inlen;	/* an over-long line: drop it */
	memmove(c->in, c->in + off, c->inlen - off);
	c->inlen -= off;
}

static int
conn_handshake(struct conn *c)
{
	int r;

	if (c->ssl == NULL) {
		c->ssl = SSL_new(ctx);
		if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1)
			return -1;
	}
	c->want_write = 0;
	r = SSL_accept(c->ssl);
	if (r == 1) {
		c->tls_on = 1;
		c->st = ST_CMD;
		return 0;
	}
	switch (SSL_get_error(c->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		return 0;
	case SSL_ERROR_WANT_WRITE:
		c->want_write = 1;
		return 0;
	default:
		return -1;
	}
}

/* Read what there is; -1 when the connection is finished. */
static int
conn_read(struct conn *c)
{
	for (;;) {
		size_t room = sizeof(c->in) - c->inlen;
		ssize_t n;

		if (c->st == ST_HANDSHAKE || c->st == ST_CLOSING)
			return 0;
		if (room == 0) {
			conn_lines(c);
			continue;
		}
		if (c->tls_on) {
			int r = SSL_read(c->ssl, c->in + c->inlen, (int)room);

			if (r <= 0) {
				int e = SSL_get_error(c->ssl, r);

				if (e == SSL_ERROR_WANT_READ)
					return 0;
				if (e == SSL_ERROR_WANT_WRITE) {
					c->want_write = 1;
					return 0;
				}
				return -1;
			}
			n = r;
		} else {
			n = recv(c->fd, c->in + c->inlen, room, 0);
			if (n < 0)
				return errno == EAGAIN ? 0 : -1;
			if (n == 0)
				return -1;
		}
		c->inlen += (size_t)n;
		conn_lines(c);
		if (c->outlen > SINK_OUT_MAX / 2 && conn_flush(c) < 0)
			return -1;
	}
}

static void
conn_io(struct conn *c, uint32_t events)
{
	(void)events;
	if (c->st == ST_HANDSHAKE && c->outlen == 0) {
		if (conn_handshake(c) < 0)
			goto dead;
	}
	if (conn_read(c) < 0)
		goto dead;
	if (conn_flush(c) < 0)
		goto dead;
	/* the STARTTLS 220 went out: start the handshake now */
	if (c->st == ST_HANDSHAKE && c->outlen == 0 && c->ssl == NULL) {
		if (conn_handshake(c) < 0)
			goto dead;
		if (c->st == ST_CMD && conn_read(c) < 0)
			goto dead;
	}
	if (c->st == ST_CLOSING && c->outlen == 0)
		goto dead;
	conn_events(c);
	return;
dead:
	conn_free(c);
}

static int
listen_on(const char *spec)
{
	char host[64];
	const char *colon = strrchr(spec, ':');
	struct sockaddr_in sa;
	int fd, one = 1;

	if (colon == NULL || (size_t)(colon - spec) >= sizeof(host)) {
		fprintf(stderr, "tlssink: address must be IPv4:PORT\n");
		exit(2);
	}
	memcpy(host, spec, (size_t)(colon - spec));
	host[colon - spec] = '\0';
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)strtoul(colon + 1, NULL, 10));
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		fprintf(stderr, "tlssink: bad address %s\n", host);
		exit(2);
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket");
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("bind");
	if (listen(fd, 1024) < 0)
		die("listen");
	return fd;
}

int
main(int argc, char **argv)
{
	const char *cert = NULL, *key = NULL;
	struct epoll_event ev, evs[SINK_EVENTS];
	long long deadline;
	int lfd, opt, i, n, limit = 3600;

	while ((opt = getopt(argc, argv, "c:k:T:")) != -1) {
		switch (opt) {
		case 'c': cert = optarg; break;
		case 'k': key = optarg; break;
		case 'T': limit = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: tlssink [-c cert -k key] [-T s] "
			    "ADDR:PORT\n");
			return 2;
		}
	}
	if (optind != argc - 1)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	if (cert != NULL) {
		ctx = SSL_CTX_new(TLS_server_method());
		if (ctx == NULL ||
		    SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
		    SSL_CTX_use_PrivateKey_file(ctx, key ? key : cert,
		    SSL_FILETYPE_PEM) != 1) {
			ERR_print_errors_fp(stderr);
			return 1;
		}
		SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
		    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	}
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	lfd = listen_on(argv[optind]);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		die("epoll_create1");
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev) < 0)
		die("epoll_ctl");
	fprintf(stderr, "tlssink: listening on %s%s\n", argv[optind],
	    ctx ? " (STARTTLS)" : "");
	deadline = now_ns() + (long long)limit * 1000000000LL;
	while (!stop_flag && now_ns() < deadline) {
		n = epoll_wait(epfd, evs, SINK_EVENTS, 500);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait");
		}
		for (i = 0; i < n; i++) {
			if (evs[i].data.ptr == NULL) {
				int fd;

				while ((fd = accept4(lfd, NULL, NULL,
				    SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
					struct conn *c = calloc(1, sizeof(*c));
					int one = 1;

					if (c == NULL) {
						close(fd);
						continue;
					}
					(void)setsockopt(fd, IPPROTO_TCP,
					    TCP_NODELAY, &one, sizeof(one));
					c->fd = fd;
					c->st = ST_CMD;
					memset(&ev, 0, sizeof(ev));
					ev.events = EPOLLIN | EPOLLOUT;
					ev.data.ptr = c;
					reply(c, "220 sink.bench.test ESMTP tlssink\r\n");
					if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
						close(fd);
						free(c);
					}
				}
				continue;
			}
			conn_io(evs[i].data.ptr, evs[i].events);
		}
		fflush(stdout);
	}
	fflush(stdout);
	fprintf(stderr, "tlssink: %llu messages\n", nmsgs);
	return 0;
}
