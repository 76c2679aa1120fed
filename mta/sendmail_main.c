/*
 * sendmail_main.c - /usr/sbin/sendmail (and mailq): see sendmail.h and
 * docs/sendmail.md.  All the work is in the sp_sendmail library so the
 * tests can reach it.
 */
#include "sendmail.h"

int
main(int argc, char *argv[])
{
	return sendmail_main(argc, argv);
}
