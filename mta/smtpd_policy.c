/*
 * smtpd_policy.c - who may send what through the listener.
 *
 * sealpost relays for everyone it accepts mail from: it has no local
 * mailboxes, every recipient is "somewhere else".  So the relay decision
 * is the only thing between us and an open relay, and it is kept here in
 * three tiny pure functions with an exhaustive unit-test table
 * (tests/unit/test_smtpd_policy.c):
 *
 *   role        client in mynetworks   authenticated   MAIL    RCPT
 *   relay       yes                    any             ok      ok
 *   relay       no                     yes             ok      ok
 *   relay       no                     no              ok      554 5.7.1
 *   submission  any                    yes             ok      ok
 *   submission  any                    no              530     530
 *   smtps       as submission
 *
 * On submission ports mynetworks grants nothing: those ports promise
 * authenticated senders (RFC 6409 section 4.3).  MAIL on the relay role
 * is accepted from anyone because the refusal belongs to each recipient
 * (RFC 5321 3.6.2, reply 554 5.7.1 at RCPT).
 *
 * PLAIN and LOGIN send the password as-is, so they are offered and
 * accepted only inside TLS (RFC 4954 section 4, 538 5.7.11).
 */
#include "smtpd.h"

enum smtpd_policy_rc
smtpd_policy_mail(enum cfg_smtpd_role role, int authenticated)
{
	switch (role) {
	case CFG_ROLE_RELAY:
		return SMTPD_POLICY_OK;
	case CFG_ROLE_SUBMISSION:
	case CFG_ROLE_SMTPS:
		return authenticated ? SMTPD_POLICY_OK :
		    SMTPD_POLICY_AUTH_REQUIRED;
	}
	return SMTPD_POLICY_RELAY_DENIED;	/* unknown role: refuse */
}

enum smtpd_policy_rc
smtpd_policy_rcpt(enum cfg_smtpd_role role, int client_trusted,
    int authenticated)
{
	switch (role) {
	case CFG_ROLE_RELAY:
		if (client_trusted || authenticated)
			return SMTPD_POLICY_OK;
		return SMTPD_POLICY_RELAY_DENIED;
	case CFG_ROLE_SUBMISSION:
	case CFG_ROLE_SMTPS:
		return authenticated ? SMTPD_POLICY_OK :
		    SMTPD_POLICY_AUTH_REQUIRED;
	}
	return SMTPD_POLICY_RELAY_DENIED;
}

int
smtpd_policy_mech_ok(const char *mech, int tls_active)
{
	if (tls_active)
		return 1;
	return util_strcasecmp(mech, "PLAIN") != 0 &&
	    util_strcasecmp(mech, "LOGIN") != 0;
}
