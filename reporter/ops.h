#ifndef LR_OPS_H
#define LR_OPS_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* Operations hooks: what the daemons tell their operators. Each call counts (metrics.c)
 * and logs (log.c) one event; drain.c, schedule.c and send.c only call these. */

#define LR_OPS_LOG 1u     /* structured log lines (a daemon) */
#define LR_OPS_METRICS 2u /* serve /metrics when metrics-listen is set */

/* Checks log-format and metrics-listen (always, so a typo is caught even with --once),
 * then switches on what `what` asks for. Returns 0 or EX_USAGE after printing. */
int lr_ops_start(const struct lr_config *cfg, const char *who, unsigned what);
void lr_ops_stop(void);

/* A batch committed and acknowledged: its stream entries (read and acknowledged), the
 * records they held, and what became of the records. */
void lr_ops_batch(const char *stream, size_t entries, size_t records, long long stored,
		  long long duplicates, long long dead_letters);
/* Marks the start of a batch, for its duration. */
void lr_ops_batch_begin(void);
/* A record (or a whole entry) about to be stored as a dead letter (inside the batch's
 * transaction). */
void lr_ops_dead_letter(const char *stream, const char *stream_id, const char *reason);
/* The reply of the drain's XTRIM (an integer: entries removed). */
void lr_ops_trimmed(const char *stream, const redisReply *reply);
/* Connected to a Redis server (the drain's, or one of them) or to PostgreSQL. */
void lr_ops_redis_up(void);
void lr_ops_postgres_up(void);
/* Redis server `server` (NULL: PostgreSQL) failed; the drain retries in backoff_ms. */
void lr_ops_retry(const char *who, const char *server, long long backoff_ms);

/* A report run attempt ended (schedule). */
void lr_ops_report(const char *company, const char *frequency, const char *period_start,
		   bool all_sent);
/* One email of a run; err is the reason when !ok. Outside a daemon a failure is printed
 * as it always was: "linkreport: WHO: COMPANY FREQ START to RCPT failed: ERR". */
void lr_ops_email(const char *who, const char *company, const char *frequency,
		  const char *period_start, const char *recipient, bool ok, const char *err);

#endif
