/*
 * tls.h - TLS for sealpost's SMTP sessions, over libuv, with memory BIOs.
 *
 * The TLS engine never touches a socket: the owner of the connection
 * feeds it ciphertext it received (tls_io_feed), drives the handshake,
 * reads and writes plaintext, and takes the ciphertext the engine wants
 * sent (tls_io_take) to hand it to uv_write.  That keeps the event loop
 * in charge of all I/O and lets the SMTP client (mta/) and, later, the
 * SMTP server share one engine.
 *
 * What to require from a peer is decided before connecting, as a
 * struct tls_policy that stays fixed for the whole session: the level
 * (none / may / encrypt / verify), the SNI name and the names a
 * certificate may carry.  DANE (RFC 7672) and MTA-STS (RFC 8461) will add
 * levels and data to this struct; they slot in without changing the
 * engine's shape.  Two sessions may share a connection only when their
 * policies are equal (tls_policy_equal).
 *
 * Threads: an SSL_CTX is made per delivery thread; a tls_io belongs to
 * one session on one loop.
 */
#ifndef SEALPOST_TLS_H
#define SEALPOST_TLS_H

#include <stddef.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#include "config/config.h"

#define TLS_NAME_MAX		256	/* DNS name incl. NUL (RFC 1035 2.3.4) */
#define TLS_POLICY_NAMES_MAX	8	/* acceptable peer names per policy */
#define TLS_REASON_MAX		256	/* handshake failure text */
#define TLS_SUMMARY_MAX		200	/* "TLSv1.3 <cipher> verify=... sni=..." */
#define TLS_DANE_NOTE_MAX	48	/* "none (no TLSA)", "unusable-tlsa" */
#define TLS_STS_ID_MAX		33	/* RFC 8461 3.1: 1*32(ALPHA / DIGIT) */

struct tls_dane;

/* ---- policy ------------------------------------------------------------- */

enum tls_level {
	TLS_LEVEL_NONE = 0,	/* never STARTTLS */
	TLS_LEVEL_MAY,		/* STARTTLS if offered; no checks; plain fallback */
	TLS_LEVEL_ENCRYPT,	/* TLS mandatory, certificate not checked */
	TLS_LEVEL_VERIFY,	/* TLS mandatory, chain to CA + a name matches */
	TLS_LEVEL_DANE		/* TLS mandatory, peer authenticated by the
				 * usable TLSA records in pol->dane (RFC 7672) */
};

/* MTA-STS (RFC 8461) mode a policy was derived from. */
enum tls_sts_mode {
	TLS_STS_NONE = 0,	/* no MTA-STS policy applies */
	TLS_STS_TESTING,	/* level may, names checked but not enforced:
				 * the verify result only feeds logs and
				 * TLS-RPT (RFC 8461 5) */
	TLS_STS_ENFORCE		/* level verify: chain to the CA file and a
				 * SAN dNSName matching names[0], the MX
				 * host name (RFC 8461 4.1, 4.2) */
};

struct tls_policy {
	enum tls_level level;
	/* Server Name Indication: the MX or relay host name; "" = send none.
	 * Never an IP literal (RFC 6066 section 3 forbids it). */
	char   sni[TLS_NAME_MAX];
	/* For TLS_LEVEL_VERIFY: names the certificate may match (DNS names,
	 * "*.example.net"-style wildcards in the certificate are honoured
	 * for one label, or IP literals). */
	size_t nnames;
	char   names[TLS_POLICY_NAMES_MAX][TLS_NAME_MAX];
	/* For TLS_LEVEL_DANE: the TLSA records and base domain.  Borrowed:
	 * the owner (the SMTP session) keeps it alive while the policy is
	 * in use; tls_io_client_new() copies what it needs. */
	const struct tls_dane *dane;
	/* DANE verdict shown in summaries when no DANE authentication is
	 * done ("unusable-tlsa", "none (no TLSA)"); "" = none to show. */
	char   dane_note[TLS_DANE_NOTE_MAX];
	/* MTA-STS: the mode and policy id the per-host policy came from.
	 * With sts set, names are matched against subjectAltName dNSName
	 * entries only (never the subject CN), one-label wildcards, no
	 * partial wildcards.  Part of tls_policy_equal(): a connection
	 * opened under a weaker policy is never shared with a stricter
	 * one. */
	enum tls_sts_mode sts;
	char   sts_id[TLS_STS_ID_MAX];
};

/* Reset pol to level with no names and no SNI. */
void tls_policy_init(struct tls_policy *pol, enum tls_level level);
/* Set the SNI name; IP literals and names too long are ignored
 * (SNI stays empty).  Returns 0 if set, -1 if ignored. */
int tls_policy_set_sni(struct tls_policy *pol, const char *name);
/* Add an acceptable peer name; -1 when full, empty or too long. */
int tls_policy_add_name(struct tls_policy *pol, const char *name);
/* 1 if both policies ask exactly the same of a peer, else 0. */
int tls_policy_equal(const struct tls_policy *a, const struct tls_policy *b);
/* 1 if the level requires TLS (a failed handshake must not fall back). */
int tls_policy_required(const struct tls_policy *pol);
const char *tls_level_name(enum tls_level level);

/* ---- contexts ----------------------------------------------------------- */

/*
 * Once per process, before threads start: load OpenSSL's error strings
 * and algorithms.  Safe to call more than once.
 */
void tls_init(void);

/*
 * A client SSL_CTX from the configuration: TLS 1.2 or better by default
 * (relaxed per connection for TLS_LEVEL_MAY, see tls_ctx.c), the CA file
 * cfg->tls_ca_file for verification (a missing file is an error only if
 * the file is named and unreadable), no renegotiation.  NULL with a
 * reason in err on failure.  Free with SSL_CTX_free().
 */
SSL_CTX *tls_client_ctx_create(const struct sealpost_config *cfg,
    char *err, size_t errlen);

/* Append the OpenSSL error queue (drained) to out as "; reason; ...". */
void tls_errors_string(char *out, size_t outlen);

/* ---- the engine --------------------------------------------------------- */

typedef struct tls_io tls_io;

enum tls_hs {
	TLS_HS_DONE,		/* handshake complete, peer info valid */
	TLS_HS_WANT,		/* send what tls_io_take gives, feed more */
	TLS_HS_ERROR		/* failed: reason in tls_io_reason() */
};

/*
 * A client engine for one connection under policy pol (copied).  The
 * level must not be TLS_LEVEL_NONE.  NULL with err on failure.
 * The caller owns the result and frees it with tls_io_free().
 */
tls_io *tls_io_client_new(SSL_CTX *ctx, const struct tls_policy *pol,
    char *err, size_t errlen);
void tls_io_free(tls_io *t);		/* NULL ok */

/* Hand received ciphertext to the engine.  0, or -1 if the engine
 * refuses more buffered input than TLS_IO_INPUT_MAX. */
#define TLS_IO_INPUT_MAX	(256u * 1024)
int tls_io_feed(tls_io *t, const void *buf, size_t len);

/* Advance the handshake with what was fed so far. */
enum tls_hs tls_io_handshake(tls_io *t);
/* Why the handshake or I/O failed ("" if it did not). */
const char *tls_io_reason(const tls_io *t);

/*
 * Decrypted application data: >0 bytes copied into buf, 0 when nothing
 * is available yet, -1 on error or when the peer closed the TLS layer
 * (reason set).
 */
ssize_t tls_io_read(tls_io *t, void *buf, size_t len);
/* Encrypt len bytes of plaintext (all of it) - 0 or -1 (reason set). */
int tls_io_write(tls_io *t, const void *buf, size_t len);
/* Queue a close_notify alert; take it with tls_io_take. */
void tls_io_shutdown(tls_io *t);

/* Ciphertext waiting to be sent, in bytes. */
size_t tls_io_pending(const tls_io *t);
/* Move up to len bytes of pending ciphertext into buf; returns count. */
size_t tls_io_take(tls_io *t, void *buf, size_t len);

/* What the handshake established, for logs and the TLS-RPT record. */
struct tls_peer_info {
	char protocol[16];		/* "TLSv1.3" */
	char cipher[64];		/* "TLS_AES_256_GCM_SHA384" */
	int  bits;			/* symmetric key bits */
	char subject[256];		/* peer cert subject, printable, "" none */
	char issuer[256];
	int  verified;			/* chain and name check passed */
	char verify_text[128];		/* X509 verify result text */
	char matched_name[TLS_NAME_MAX];	/* name that matched (verify) */
	/* Filled also after a failed handshake (engine still alive): */
	long verify_error;		/* X509_V_OK or X509_V_ERR_* */
	/* TLS_LEVEL_DANE after success: the record that matched, as
	 * "3 1 1 base=mx.example.net" (RFC 7671 usage selector mtype). */
	char dane[TLS_NAME_MAX + 32];
};
void tls_io_peer_info(const tls_io *t, struct tls_peer_info *info);
/*
 * One-line verdict for logs and job results:
 * "TLSv1.3 TLS_AES_256_GCM_SHA384 verify=none sni=mx.example.net"
 * where verify= is none (level may/encrypt), ok or fail.
 */
void tls_io_summary(const tls_io *t, char *out, size_t outlen);

/* ---- DANE TLSA records (RFC 6698, RFC 7671, RFC 7672): tls_dane.c ----- */

#define TLS_DANE_USAGE_PKIX_TA	0
#define TLS_DANE_USAGE_PKIX_EE	1
#define TLS_DANE_USAGE_DANE_TA	2
#define TLS_DANE_USAGE_DANE_EE	3
#define TLS_DANE_SELECTOR_CERT	0
#define TLS_DANE_SELECTOR_SPKI	1
#define TLS_DANE_MTYPE_FULL	0
#define TLS_DANE_MTYPE_SHA256	1	/* 32 octets */
#define TLS_DANE_MTYPE_SHA512	2	/* 64 octets */
/* Records kept per RRset; more are counted but ignored (a real RRset
 * has two or three, one per key during a rollover, RFC 7671 8.1). */
#define TLS_DANE_RR_MAX		16
/* Association data octets accepted (full certificates, type 0). */
#define TLS_DANE_DATA_MAX	4096
/* "3 1 1 " + hex of the data + NUL */
#define TLS_DANE_RR_TEXT_MAX	(16 + 2 * TLS_DANE_DATA_MAX)

enum tls_dane_usability {
	TLS_DANE_USABLE = 0,
	TLS_DANE_BAD_USAGE,	/* PKIX-TA(0)/PKIX-EE(1) (RFC 7672 3.1.3) or unknown */
	TLS_DANE_BAD_SELECTOR,	/* not Cert(0) or SPKI(1) */
	TLS_DANE_BAD_MTYPE,	/* not Full(0), SHA2-256(1), SHA2-512(2) */
	TLS_DANE_BAD_LENGTH	/* digest of the wrong size, or empty data */
};

/*
 * Is a TLSA record usable for SMTP (RFC 7672 3.1, RFC 7671 5)?  Pure.
 * Matching type 0 needs non-empty data (it is parsed by OpenSSL later),
 * 1 exactly 32 octets and 2 exactly 64.
 */
enum tls_dane_usability tls_dane_usable(unsigned usage, unsigned selector,
    unsigned mtype, size_t len);
/* Short reason for logs: "usage 1 is not DANE-TA(2) or DANE-EE(3)". */
const char *tls_dane_usability_name(enum tls_dane_usability u);
/*
 * Presentation form of a TLSA record's rdata (RFC 6698 2.2): "3 1 1 "
 * followed by the data in upper-case hex.  -1 (out = "") when it does
 * not fit in outlen.
 */
int tls_dane_rr_text(unsigned usage, unsigned selector, unsigned mtype,
    const unsigned char *data, size_t len, char *out, size_t outlen);

/*
 * The DANE data for one MX host: the TLSA base domain (RFC 7672 2.2.3)
 * whose RRset was used, the MX host name (a second reference identifier
 * for DANE-TA, RFC 7672 3.2.3) and every record of the RRset.  Created
 * and owned by the caller; tls_dane_free(NULL) is fine.
 */
typedef struct tls_dane tls_dane;
tls_dane *tls_dane_new(const char *base, const char *mxhost);
void tls_dane_free(tls_dane *d);
/*
 * Add one record (data copied).  Returns 1 if usable, 0 if kept but
 * unusable, -1 if refused (RRset full or data too long).
 */
int tls_dane_add(tls_dane *d, unsigned usage, unsigned selector,
    unsigned mtype, const unsigned char *data, size_t len);
size_t tls_dane_count(const tls_dane *d);	/* records kept */
size_t tls_dane_usable_count(const tls_dane *d);
const char *tls_dane_base(const tls_dane *d);
const char *tls_dane_mxhost(const tls_dane *d);
/* Presentation form of record i (< tls_dane_count), for TLS-RPT. */
const char *tls_dane_rr_string(const tls_dane *d, size_t i);

/* ---- the server side (tls_server.c) ------------------------------------ */

/*
 * A server SSL_CTX for the SMTP listener: certificate chain (PEM, leaf
 * first) and private key from files, TLS 1.2 or better, no
 * renegotiation, no client certificates asked for, server cipher
 * preference.  Call before dropping privileges if the key is readable
 * by root only.  NULL with a reason in err.  Free with SSL_CTX_free().
 */
SSL_CTX *tls_server_ctx_create(const char *cert_file, const char *key_file,
    char *err, size_t errlen);

/*
 * The listener's engine is tls_io itself, accepting instead of
 * connecting: every tls_io_* call above works on it.  NULL with a reason
 * in err.
 */
tls_io *tls_io_server_new(SSL_CTX *ctx, char *err, size_t errlen);
/* For a Received field: "using TLSv1.3 with cipher NAME (256/256 bits)". */
void tls_io_received_text(const tls_io *t, char *out, size_t outlen);

#endif
