/*
 * mta_sasl.c - SMTP AUTH (RFC 4954) toward the relayhost, via libsasl2.
 *
 * libsasl2 picks the best mechanism both sides support and computes the
 * responses; we only frame them: "AUTH MECH [initial-response]", then
 * one base64 line per 334 challenge until 235 or a failure.
 *
 * Security properties: no anonymous mechanisms ever; plaintext
 * mechanisms (PLAIN, LOGIN) only inside TLS.  No SASL security layer
 * (max_ssf 0): TLS protects the channel, and we do not wrap data.
 * The password lives in one heap copy per attempt, wiped when freed;
 * it and the AUTH lines are never logged (mta_send hides them).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <sasl/sasl.h>
#include <sasl/saslutil.h>

#include "mta_int.h"

/* Base64 of one SASL message; GSSAPI tokens are the largest. */
#define MTA_SASL_LINE_MAX	(12u * 1024)

struct mta_sasl {
	sasl_conn_t     *conn;
	char            *user;
	sasl_secret_t   *secret;
	size_t           secret_alloc;
	const char      *mech;
	sasl_callback_t  cb[4];
};

static int
mta_sasl_get_user(void *ctx, int id, const char **result, unsigned *len)
{
	struct mta_sasl *a = ctx;

	if (id != SASL_CB_USER && id != SASL_CB_AUTHNAME)
		return SASL_BADPARAM;
	*result = a->user;
	if (len)
		*len = (unsigned)strlen(a->user);
	return SASL_OK;
}

static int
mta_sasl_get_pass(sasl_conn_t *conn, void *ctx, int id,
    sasl_secret_t **psecret)
{
	struct mta_sasl *a = ctx;

	if (id != SASL_CB_PASS)
		return SASL_BADPARAM;
	*psecret = a->secret;
	return SASL_OK;
}

int
mta_sasl_global_init(char *err, size_t errlen)
{
	int rc = sasl_client_init(NULL);

	if (rc != SASL_OK) {
		snprintf(err, errlen, "sasl_client_init: %s",
		    sasl_errstring(rc, NULL, NULL));
		return -1;
	}
	return 0;
}

struct mta_sasl *
mta_sasl_new(const char *server, const char *user, const char *pass,
    int encrypted, char *err, size_t errlen)
{
	struct mta_sasl *a = xcalloc(1, sizeof(*a));
	sasl_security_properties_t sp;
	size_t plen = strlen(pass);
	int rc;

	a->user = xstrdup(user);
	a->secret_alloc = sizeof(sasl_secret_t) + plen + 1;
	a->secret = xcalloc(1, a->secret_alloc);
	a->secret->len = (unsigned long)plen;
	memcpy(a->secret->data, pass, plen);
	/* libsasl2 types its callbacks as int (*)(void); going through
	 * void (*)(void) is the documented way to say "trust me". */
	a->cb[0].id = SASL_CB_USER;
	a->cb[0].proc = (int (*)(void))(void (*)(void))mta_sasl_get_user;
	a->cb[0].context = a;
	a->cb[1].id = SASL_CB_AUTHNAME;
	a->cb[1].proc = (int (*)(void))(void (*)(void))mta_sasl_get_user;
	a->cb[1].context = a;
	a->cb[2].id = SASL_CB_PASS;
	a->cb[2].proc = (int (*)(void))(void (*)(void))mta_sasl_get_pass;
	a->cb[2].context = a;
	a->cb[3].id = SASL_CB_LIST_END;
	rc = sasl_client_new("smtp", server, NULL, NULL, a->cb, 0, &a->conn);
	if (rc != SASL_OK) {
		snprintf(err, errlen, "sasl_client_new: %s",
		    sasl_errstring(rc, NULL, NULL));
		mta_sasl_free(a);
		return NULL;
	}
	memset(&sp, 0, sizeof(sp));
	sp.max_ssf = 0;
	sp.security_flags = SASL_SEC_NOANONYMOUS |
	    (encrypted ? 0 : SASL_SEC_NOPLAINTEXT);
	if ((rc = sasl_setprop(a->conn, SASL_SEC_PROPS, &sp)) != SASL_OK) {
		snprintf(err, errlen, "sasl_setprop: %s",
		    sasl_errdetail(a->conn));
		mta_sasl_free(a);
		return NULL;
	}
	return a;
}

void
mta_sasl_free(struct mta_sasl *a)
{
	if (a == NULL)
		return;
	if (a->conn)
		sasl_dispose(&a->conn);
	if (a->secret) {
		OPENSSL_cleanse(a->secret, a->secret_alloc);
		free(a->secret);
	}
	free(a->user);
	free(a);
}

const char *
mta_sasl_mech(const struct mta_sasl *a)
{
	return a->mech ? a->mech : "?";
}

/* Append base64(data) to b. */
static int
mta_sasl_b64(struct dynbuf *b, const char *data, unsigned len)
{
	char *enc;
	unsigned elen = 0, emax = (len + 2) / 3 * 4 + 1;
	int rc = 0;

	if (len == 0)
		return 0;
	enc = xmalloc(emax);
	if (sasl_encode64(data, len, enc, emax, &elen) != SASL_OK ||
	    dynbuf_add(b, enc, elen) < 0)
		rc = -1;
	OPENSSL_cleanse(enc, emax);
	free(enc);
	return rc;
}

int
mta_sasl_start(struct mta_sasl *a, const char *mechs, struct dynbuf *cmd,
    char *err, size_t errlen)
{
	const char *out = NULL;
	unsigned outlen = 0;
	sasl_interact_t *interact = NULL;
	int rc;

	dynbuf_reset(cmd);
	rc = sasl_client_start(a->conn, mechs, &interact, &out, &outlen,
	    &a->mech);
	if (rc != SASL_OK && rc != SASL_CONTINUE) {
		snprintf(err, errlen, "no usable mechanism among \"%s\": %s",
		    mechs, sasl_errdetail(a->conn));
		return -1;
	}
	if (dynbuf_addf(cmd, "AUTH %s", a->mech) < 0)
		return -1;
	/* RFC 4954 4: an empty initial response is sent as "=". */
	if (out != NULL && outlen == 0 && dynbuf_addstr(cmd, " =") < 0)
		return -1;
	if (out != NULL && outlen > 0 && (dynbuf_add(cmd, " ", 1) < 0 ||
	    mta_sasl_b64(cmd, out, outlen) < 0)) {
		snprintf(err, errlen, "initial response too long");
		return -1;
	}
	return dynbuf_addstr(cmd, "\r\n");
}

int
mta_sasl_step(struct mta_sasl *a, const char *chal, size_t len,
    struct dynbuf *out, char *err, size_t errlen)
{
	char *dec;
	unsigned declen = 0;
	const char *resp = NULL;
	unsigned resplen = 0;
	sasl_interact_t *interact = NULL;
	int rc;

	dynbuf_reset(out);
	if (len > MTA_SASL_LINE_MAX) {
		snprintf(err, errlen, "server challenge too long");
		return -1;
	}
	dec = xmalloc(len + 1);
	if (sasl_decode64(chal, (unsigned)len, dec, (unsigned)len + 1,
	    &declen) != SASL_OK) {
		free(dec);
		snprintf(err, errlen, "malformed server challenge");
		return -1;
	}
	rc = sasl_client_step(a->conn, dec, declen, &interact, &resp,
	    &resplen);
	free(dec);
	if (rc != SASL_OK && rc != SASL_CONTINUE) {
		snprintf(err, errlen, "%s", sasl_errdetail(a->conn));
		return -1;
	}
	if (mta_sasl_b64(out, resp, resplen) < 0 ||
	    dynbuf_addstr(out, "\r\n") < 0) {
		snprintf(err, errlen, "response too long");
		return -1;
	}
	return 0;
}

/* ---- the AUTH state of a session -------------------------------------- */

void
mta_auth_start(struct mta_session *s)
{
	const struct sealpost_config *cfg = s->th->cfg;
	const char *pass = mta_pool_sasl_password(s->th->pool);
	char err[256], text[MTA_TEXT_MAX];
	struct dynbuf cmd;

	if (pass == NULL) {
		mta_fail_host(s, 0, "4.7.0", "SASL authentication failed: "
		    "no password available (sasl_password_file)");
		return;
	}
	s->sasl = mta_sasl_new(s->host, cfg->relay.sasl_username, pass,
	    mta_conn_tls_active(s->conn), err, sizeof(err));
	dynbuf_init(&cmd, MTA_SASL_LINE_MAX);
	if (s->sasl == NULL || mta_sasl_start(s->sasl, s->ehlo.auth, &cmd,
	    err, sizeof(err)) < 0) {
		dynbuf_free(&cmd);
		mta_textf(text, sizeof(text), "SASL authentication with %s "
		    "failed: %s", s->relay_host, err);
		mta_fail_host(s, 0, "4.7.0", text);
		return;
	}
	(void)mta_send(s, cmd.p, cmd.len, 1);
	OPENSSL_cleanse(cmd.p, cmd.len);
	dynbuf_free(&cmd);
}

void
mta_auth_reply(struct mta_session *s)
{
	char err[256], text[MTA_TEXT_MAX], dsn[16];
	struct dynbuf line;
	const char *chal = s->reply.text.p ? s->reply.text.p : "";
	const char *nl = memchr(chal, '\n', s->reply.text.len);
	size_t clen = nl ? (size_t)(nl - chal) : s->reply.text.len;

	if (s->reply.code == 334 && s->sasl) {
		dynbuf_init(&line, MTA_SASL_LINE_MAX);
		if (mta_sasl_step(s->sasl, chal, clen, &line, err,
		    sizeof(err)) < 0) {
			dynbuf_free(&line);
			/* "*" cancels the exchange (RFC 4954 4); the
			 * server's 501 then ends up below. */
			log_warn("mta: SASL with %s: %s", s->relay_host, err);
			(void)mta_send(s, "*\r\n", 3, 0);
			return;
		}
		(void)mta_send(s, line.p, line.len, 1);
		OPENSSL_cleanse(line.p, line.len);
		dynbuf_free(&line);
		mta_timer_restart(s);
		return;
	}
	if (s->reply.code / 100 == 2) {
		log_info("mta: authenticated to %s as %s with %s",
		    s->relay_host, s->th->cfg->relay.sasl_username,
		    s->sasl ? mta_sasl_mech(s->sasl) : "?");
		s->authed = 1;
		mta_sasl_free(s->sasl);
		s->sasl = NULL;
		mta_after_ehlo(s);
		return;
	}
	mta_reply_dsn(&s->reply, dsn);
	mta_said(s, "AUTH command", text, sizeof(text));
	mta_fail_host(s, s->reply.code, dsn, text);
}
