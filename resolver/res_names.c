/*
 * res_names.c - stable text names for resolver outcomes.
 *
 * Used in log lines (key=value) and by resprobe, whose output the
 * integration lab greps, so these strings are part of the interface.
 */
#include "resolver.h"

const char *
res_rcode_name(enum res_rcode rc)
{
	switch (rc) {
	case RES_OK:		return "OK";
	case RES_NOTFOUND:	return "NOTFOUND";
	case RES_RETRY:		return "RETRY";
	case RES_FAIL:		return "FAIL";
	}
	return "?";
}

const char *
res_security_name(enum res_security s)
{
	switch (s) {
	case RES_INSECURE:	return "insecure";
	case RES_SECURE:	return "secure";
	case RES_BOGUS:		return "bogus";
	}
	return "?";
}
