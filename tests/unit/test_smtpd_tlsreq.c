/*
 * test_smtpd_tlsreq.c - the listener's RFC 8689 header check
 * (mta/smtpd_data.c): which DATA streams carry "TLS-Required: No" and so
 * get QUEUE_MSG_NO_TLS_REQ, as a table.  Each stream is also fed one
 * byte at a time, since the field may be split anywhere on the wire.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "config/config.h"
#include "mta/smtpd.h"

struct tlsreq_case {
	const char *data;	/* the DATA stream, terminator included */
	int         no;		/* expected tls_required_no */
};

static const struct tlsreq_case cases[] = {
	{ "TLS-Required: No\r\n\r\nbody\r\n.\r\n", 1 },
	{ "Subject: x\r\ntls-required:no\r\n\r\n.\r\n", 1 },
	{ "TLS-REQUIRED:   NO  \r\n\r\n.\r\n", 1 },
	{ "TLS-Required :\tNo\r\n\r\n.\r\n", 1 },
	/* folded value */
	{ "TLS-Required:\r\n No\r\nSubject: x\r\n\r\n.\r\n", 1 },
	/* header section ended by the terminator */
	{ "From: a@b\r\nTLS-Required: No\r\n.\r\n", 1 },
	/* the first field counts */
	{ "TLS-Required: No\r\nTLS-Required: Yes\r\n\r\n.\r\n", 1 },
	{ "TLS-Required: Yes\r\nTLS-Required: No\r\n\r\n.\r\n", 0 },
	/* anything else is not "No" */
	{ "TLS-Required: Nope\r\n\r\n.\r\n", 0 },
	{ "TLS-Required: No thanks\r\n\r\n.\r\n", 0 },
	{ "TLS-Required: No\r\n more\r\n\r\n.\r\n", 0 },
	{ "TLS-Required:\r\n\r\n.\r\n", 0 },
	{ "TLS-Required: " "NoNoNoNoNoNoNoNoNoNo\r\n\r\n.\r\n", 0 },
	{ "X-TLS-Required: No\r\n\r\n.\r\n", 0 },
	{ "TLS-Required-X: No\r\n\r\n.\r\n", 0 },
	/* in the body it is text */
	{ "Subject: x\r\n\r\nTLS-Required: No\r\n.\r\n", 0 },
	{ "no header at all\r\nTLS-Required: No\r\n.\r\n", 0 },
	{ "Subject: x\r\n\r\n.\r\n", 0 },
};

static int
feed(const char *data, size_t step)
{
	struct smtpd_data d;
	size_t off = 0, len = strlen(data), used;
	enum smtpd_data_rc rc = SMTPD_DATA_MORE;
	int no;

	smtpd_data_init(&d, 1 << 20, 64 * 1024, CFG_BARE_LF_REJECT);
	while (off < len) {
		size_t n = len - off < step ? len - off : step;

		used = n;
		rc = smtpd_data_feed(&d, data + off, n, &used);
		off += used;
		if (rc == SMTPD_DATA_END)
			break;
	}
	assert_int_equal(rc, SMTPD_DATA_END);
	assert_int_equal(off, len);
	no = d.tls_required_no;
	smtpd_data_free(&d);
	return no;
}

static void
test_table(void **state)
{
	size_t i;
	(void)state;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (feed(cases[i].data, strlen(cases[i].data)) != cases[i].no)
			fail_msg("case %zu (whole): want %d", i, cases[i].no);
		if (feed(cases[i].data, 1) != cases[i].no)
			fail_msg("case %zu (bytewise): want %d", i, cases[i].no);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
