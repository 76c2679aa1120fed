/*
 * admin.h - the sealpost administration command (mta/admin_*.c).
 *
 *   admin_cmd.c     argument dispatch, queue list, flush, check-config
 *   admin_show.c    queue show, and the JSON form of a message
 *   admin_change.c  queue delete/hold/release/requeue (daemon or direct)
 *   admin_sts.c     sts list/show/forget/refresh (MTA-STS policy cache)
 *   admin_tlsrpt.c  tlsrpt show/status/send-now (RFC 8460 reports)
 */
#ifndef SEALPOST_ADMIN_H
#define SEALPOST_ADMIN_H

#include <jansson.h>

#include "config/config.h"
#include "queue/queue.h"

/* Everything main() does; returns a sysexits.h code. */
int admin_main(int argc, char **argv);

/* JSON for one message envelope (no headers); caller owns the result. */
json_t *admin_msg_json(const struct queue_msg *m);

/* sealpost queue show [--json] QUEUEID; a sysexits.h code. */
int admin_queue_show(const struct sealpost_config *cfg, const char *qid,
    int json);

/*
 * sealpost queue delete|hold|release|requeue QUEUEID...|ALL: through the
 * running daemon's control socket, or straight on the spool when it is
 * not running.  ids are untrusted command-line words.  A sysexits.h code:
 * EX_NOINPUT when some ID was unknown (the others are still done).
 */
int admin_queue_change(const struct sealpost_config *cfg,
    enum queue_admin_op op, char **ids, int nids);

/*
 * sealpost sts list|show|forget|refresh ... (admin_sts.c): argv[0] is
 * the subcommand.  A sysexits.h code, or -1 for a usage error.
 */
int admin_sts(const struct sealpost_config *cfg, int argc, char **argv);

/*
 * sealpost tlsrpt show|status|send-now ... (admin_tlsrpt.c): argv[0] is
 * the subcommand.  A sysexits.h code, or -1 for a usage error.
 */
int admin_tlsrpt(const struct sealpost_config *cfg, int argc, char **argv);

#endif
