/*
 * fuzz_sendmail_addr.c - the sendmail front end's address parsers
 * (mta/sendmail.h): sendmail_addr_list over header bodies and command
 * line recipients, each address then checked and qualified by
 * sendmail_addr_qualify (what sendmail -t and the recipient arguments
 * do), sendmail_sender_parse (-f / -r) and sendmail_display_name (-F and
 * the passwd gecos field, which any user controls).
 *
 * The first input byte picks the function; the rest is its argument.
 * Checked: a qualified address is terminated, at most QUEUE_ADDR_MAX
 * bytes, has an '@' and none of the bytes the header promises to refuse
 * (control bytes; non-ASCII unless *utf8 was set); a display name has
 * no control bytes (it goes into a From: line, so CR or LF there would
 * let a user add header fields) and fits its buffer.
 */
#include "fuzz_common.h"

#include "queue/queue.h"
#include "mta/sendmail.h"

static const char myhostname[] = "host.example.org";

/* Promises of sendmail_addr_qualify's header on a success. */
static void
check_qualified(const char *out, size_t outlen, int utf8)
{
	size_t i, n;

	FUZZ_CHECK(fuzz_terminated(out, outlen));
	n = strlen(out);
	FUZZ_CHECK(n >= 3 && n <= QUEUE_ADDR_MAX);
	FUZZ_CHECK(strchr(out, '@') != NULL && out[0] != '@');
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)out[i];

		FUZZ_CHECK(c >= 0x20 && c != 0x7f);
		if (!utf8)
			FUZZ_CHECK(c < 0x80);
	}
}

static int
each_addr(void *arg, const char *addr, size_t len, char *err, size_t errlen)
{
	char out[QUEUE_ADDR_MAX + 1];
	int utf8 = 0;
	size_t *count = arg;

	FUZZ_CHECK(len > 0 && len <= QUEUE_ADDR_MAX);
	(*count)++;
	if (sendmail_addr_qualify(addr, len, myhostname, out, sizeof(out),
	    &utf8, err, errlen) == 0)
		check_qualified(out, sizeof(out), utf8);
	return 0;	/* go on: look at every address in the list */
}

static void
fuzz_list(const char *s, size_t n)
{
	char err[256];
	size_t count = 0;

	err[0] = '\0';
	if (sendmail_addr_list(s, n, each_addr, &count, err, sizeof(err)) < 0)
		FUZZ_CHECK(err[0] != '\0' && fuzz_terminated(err, sizeof(err)));
}

static void
fuzz_qualify(const char *s, size_t n)
{
	char err[256];
	char *out = malloc(QUEUE_ADDR_MAX + 1);
	int utf8 = 0;

	if (out == NULL)
		abort();
	if (sendmail_addr_qualify(s, n, myhostname, out, QUEUE_ADDR_MAX + 1,
	    &utf8, err, sizeof(err)) == 0)
		check_qualified(out, QUEUE_ADDR_MAX + 1, utf8);
	free(out);
}

static void
fuzz_sender(const char *s)
{
	char err[256];
	char *out = malloc(QUEUE_ADDR_MAX + 1);
	int utf8 = 0;

	if (out == NULL)
		abort();
	if (sendmail_sender_parse(s, myhostname, out, QUEUE_ADDR_MAX + 1,
	    &utf8, err, sizeof(err)) == 0 && out[0] != '\0')
		check_qualified(out, QUEUE_ADDR_MAX + 1, utf8);
	free(out);
}

static void
fuzz_display_name(const char *s, uint8_t sizesel)
{
	/* sendmail_run.c passes SENDMAIL_NAME_MAX * 4; try smaller too */
	static const size_t sizes[] = { SENDMAIL_NAME_MAX * 4, 1, 2, 16, 64,
	    SENDMAIL_NAME_MAX + 1 };
	size_t outlen = sizes[sizesel % (sizeof(sizes) / sizeof(sizes[0]))];
	char *out = malloc(outlen);
	size_t i;

	if (out == NULL)
		abort();
	sendmail_display_name(s, out, outlen);
	FUZZ_CHECK(fuzz_terminated(out, outlen));
	for (i = 0; out[i] != '\0'; i++)
		FUZZ_CHECK((unsigned char)out[i] >= 0x20 &&
		    (unsigned char)out[i] != 0x7f);
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t sel;
	char *s;

	if (size < 1)
		return 0;
	sel = data[0];
	data++;
	size--;
	/* a copy of exactly the input's size: the list and qualify parsers
	 * take (s, len) and must not read past it */
	s = malloc(size ? size : 1);
	if (s == NULL)
		abort();
	memcpy(s, data, size);
	switch (sel % 4) {
	case 0:
		fuzz_list(s, size);
		break;
	case 1:
		fuzz_qualify(s, size);
		break;
	case 2:
		free(s);
		s = fuzz_strndup(data, size);
		fuzz_sender(s);
		break;
	default:
		free(s);
		s = fuzz_strndup(data, size);
		fuzz_display_name(s, sel >> 2);
		break;
	}
	free(s);
	return 0;
}
