/*
 * smtpd_sasl.c - AUTH for the listener (RFC 4954) through libsasl2's
 * server side.
 *
 * libsasl2 is set up once, as application "smtpd": it reads
 * smtpd.conf from smtpd_sasl_path (SASL_CB_GETCONFPATH), so an
 * administrator writes "pwcheck_method: auxprop", "auxprop_plugin:
 * sasldb", "sasldb_path: ...", "mech_list: PLAIN LOGIN" there and adds
 * users with saslpasswd2 (docs/smtpd.md).  The engine (smtpd_proto.c)
 * frames the exchange; this file only decodes the client's base64,
 * calls sasl_server_start/step and encodes the challenge.
 *
 * Threads: a password check may read a database or ask saslauthd, which
 * can block, so the session runs smtpd_sasl_step() on libuv's thread
 * pool (uv_queue_work).  One mutex serialises all libsasl2 calls: the
 * library and its plugins are not documented as safe for concurrent use
 * from several threads, and AUTH is rare compared to mail.
 *
 * Never logged: the client's responses (they hold passwords) and the
 * decoded data.  Buffers holding them are wiped before they are freed.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <sasl/sasl.h>
#include <sasl/saslutil.h>

#include "smtpd.h"

static pthread_mutex_t smtpd_sasl_lock = PTHREAD_MUTEX_INITIALIZER;
static char *smtpd_sasl_confpath;

struct smtpd_sasl {
	sasl_conn_t *conn;
	char         local[80];		/* "ip;port" */
	char         remote[80];
};

static int
smtpd_sasl_getconfpath(void *context, const char **path)
{
	(void)context;
	if (smtpd_sasl_confpath == NULL)
		return SASL_FAIL;
	*path = smtpd_sasl_confpath;
	return SASL_OK;
}

static int
smtpd_sasl_log(void *context, int level, const char *message)
{
	char safe[256];

	(void)context;
	if (message == NULL || level > SASL_LOG_NOTE)
		return SASL_OK;
	util_printable(message, strlen(message), safe, sizeof(safe));
	if (level <= SASL_LOG_ERR)
		log_warn("smtpd: sasl: %s", safe);
	else
		log_info("smtpd: sasl: %s", safe);
	return SASL_OK;
}

/* libsasl2's callback slot has one generic type; going through
 * void (*)(void) is the accepted way to store another one there. */
static sasl_callback_t smtpd_sasl_cbs[] = {
	{ SASL_CB_GETCONFPATH,
	  (int (*)(void))(void (*)(void))smtpd_sasl_getconfpath, NULL },
	{ SASL_CB_LOG, (int (*)(void))(void (*)(void))smtpd_sasl_log, NULL },
	{ SASL_CB_LIST_END, NULL, NULL }
};

int
smtpd_sasl_init(const char *path, const char *myhostname, char *mechs,
    size_t mechslen, char *err, size_t errlen)
{
	sasl_conn_t *conn = NULL;
	const char *list = NULL;
	unsigned len = 0;
	int rc, count = 0;

	free(smtpd_sasl_confpath);
	smtpd_sasl_confpath = path != NULL ? xstrdup(path) : NULL;
	rc = sasl_server_init(path != NULL ? smtpd_sasl_cbs :
	    smtpd_sasl_cbs + 1, "smtpd");
	if (rc != SASL_OK) {
		snprintf(err, errlen, "sasl_server_init: %s",
		    sasl_errstring(rc, NULL, NULL));
		return -1;
	}
	/* the mechanism list, asked of a throw-away connection */
	rc = sasl_server_new("smtp", myhostname, NULL, NULL, NULL, NULL, 0,
	    &conn);
	if (rc == SASL_OK)
		rc = sasl_listmech(conn, NULL, "", " ", "", &list, &len, &count);
	if (rc != SASL_OK || list == NULL) {
		snprintf(err, errlen, "no SASL mechanisms available: %s",
		    sasl_errstring(rc, NULL, NULL));
		sasl_dispose(&conn);
		return -1;
	}
	snprintf(mechs, mechslen, "%s", list);
	sasl_dispose(&conn);
	return 0;
}

void
smtpd_sasl_done(void)
{
	sasl_server_done();
	free(smtpd_sasl_confpath);
	smtpd_sasl_confpath = NULL;
}

struct smtpd_sasl *
smtpd_sasl_new(const char *myhostname, const char *local,
    const char *remote)
{
	struct smtpd_sasl *a = xcalloc(1, sizeof(*a));
	sasl_security_properties_t sp;
	int rc;

	snprintf(a->local, sizeof(a->local), "%s", local);
	snprintf(a->remote, sizeof(a->remote), "%s", remote);
	pthread_mutex_lock(&smtpd_sasl_lock);
	rc = sasl_server_new("smtp", myhostname, NULL, a->local[0] ? a->local :
	    NULL, a->remote[0] ? a->remote : NULL, NULL, 0, &a->conn);
	if (rc == SASL_OK) {
		/* no security layer (TLS protects the channel), never
		 * anonymous; PLAIN/LOGIN outside TLS is refused by the
		 * engine before we get here */
		memset(&sp, 0, sizeof(sp));
		sp.max_ssf = 0;
		sp.maxbufsize = 0;
		sp.security_flags = SASL_SEC_NOANONYMOUS;
		rc = sasl_setprop(a->conn, SASL_SEC_PROPS, &sp);
	}
	pthread_mutex_unlock(&smtpd_sasl_lock);
	if (rc != SASL_OK) {
		log_warn("smtpd: sasl_server_new: %s",
		    sasl_errstring(rc, NULL, NULL));
		smtpd_sasl_free(a);
		return NULL;
	}
	return a;
}

void
smtpd_sasl_free(struct smtpd_sasl *a)
{
	if (a == NULL)
		return;
	pthread_mutex_lock(&smtpd_sasl_lock);
	if (a->conn != NULL)
		sasl_dispose(&a->conn);
	pthread_mutex_unlock(&smtpd_sasl_lock);
	free(a);
}

void
smtpd_sasl_step(struct smtpd_sasl *a, struct smtpd_sasl_io *io)
{
	const char *out = NULL;
	const void *user = NULL;
	unsigned outlen = 0, inlen = 0, declen = 0;
	char *in = NULL;
	int rc;

	io->rc = SMTPD_AUTH_FAIL;
	io->text[0] = '\0';
	if (a == NULL || a->conn == NULL) {
		io->rc = SMTPD_AUTH_TEMPFAIL;
		return;
	}
	if (io->data != NULL) {
		size_t n = strlen(io->data);

		declen = (unsigned)(n / 4 * 3 + 3);
		in = xmalloc(declen + 1);
		if (n > 0 && sasl_decode64(io->data, (unsigned)n, in, declen,
		    &inlen) != SASL_OK) {
			OPENSSL_cleanse(in, declen + 1);
			free(in);
			io->rc = SMTPD_AUTH_BADMSG;
			return;
		}
	}
	pthread_mutex_lock(&smtpd_sasl_lock);
	if (io->step == 0)
		rc = sasl_server_start(a->conn, io->mech, in, in != NULL ? inlen :
		    0, &out, &outlen);
	else
		rc = sasl_server_step(a->conn, in != NULL ? in : "", inlen,
		    &out, &outlen);
	if (rc == SASL_OK &&
	    sasl_getprop(a->conn, SASL_USERNAME, &user) == SASL_OK &&
	    user != NULL)
		snprintf(io->text, sizeof(io->text), "%s", (const char *)user);
	else if (rc == SASL_CONTINUE && (outlen == 0 ||
	    sasl_encode64(out, outlen, io->text, sizeof(io->text), NULL) !=
	    SASL_OK))
		io->text[0] = '\0';
	pthread_mutex_unlock(&smtpd_sasl_lock);
	if (in != NULL) {
		OPENSSL_cleanse(in, declen + 1);
		free(in);
	}
	switch (rc) {
	case SASL_OK:
		io->rc = io->text[0] != '\0' ? SMTPD_AUTH_OK : SMTPD_AUTH_FAIL;
		break;
	case SASL_CONTINUE:
		io->rc = SMTPD_AUTH_CONTINUE;
		break;
	case SASL_BADPROT:
	case SASL_BADPARAM:
		io->rc = SMTPD_AUTH_BADMSG;
		break;
	case SASL_TRYAGAIN:
	case SASL_UNAVAIL:
	case SASL_NOMEM:
		io->rc = SMTPD_AUTH_TEMPFAIL;
		break;
	default:
		io->rc = SMTPD_AUTH_FAIL;
		break;
	}
}
