#ifndef LR_SEND_H
#define LR_SEND_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <time.h>

#include "mail.h"

/* Settings of report production and delivery, from the environment (docs/reports.md). */
struct lr_reports_config {
	const char *dir;          /* LINKREPORT_REPORTS_DIR */
	long long keep_days;      /* LINKREPORT_REPORTS_KEEP_DAYS */
	long long attach_max;     /* LINKREPORT_ATTACH_MAX_BYTES */
	long long gzip_above;     /* LINKREPORT_GZIP_ABOVE_BYTES */
	const char *download_base; /* LINKREPORT_DOWNLOAD_BASE_URL */
	const char *secret;       /* LINKREPORT_DOWNLOAD_SECRET: never printed */
	long long ttl;            /* LINKREPORT_DOWNLOAD_TTL (seconds) */
	const char *from;         /* LINKREPORT_MAIL_FROM */
	long long max_attempts;   /* LINKREPORT_SEND_MAX_ATTEMPTS */
	long long retry_base;     /* LINKREPORT_RETRY_BASE_SECONDS */
	struct lr_smtp smtp;      /* LINKREPORT_SMTP_* */
};

/* Reads and checks the environment. need_mail: SMTP, sender and download link settings
 * must be complete. Returns 0 or EX_USAGE after printing. */
int lr_reports_config_load(const char *who, struct lr_reports_config *rc, bool need_mail);

/* A run claimed by the caller: `a` holds the open transaction with the run's row locked
 * (FOR NO KEY UPDATE); `b` is a second connection in autocommit mode where each
 * recipient's outcome is committed at once. Produces the file if needed, mails every
 * recipient not yet served, records the outcome on `a` and commits it. *all_sent tells
 * whether every recipient got the report. Returns an exit status (PostgreSQL failures;
 * SMTP failures are recorded, not returned). */
struct lr_run_key {
	const char *company, *frequency, *period_start, *period_end;
	bool manual;
};
int lr_process_run(const char *who, PGconn *a, PGconn *b, const struct lr_reports_config *rc,
		   time_t now, const struct lr_run_key *run, bool *all_sent);

/* Removes report files older than keep_days (by modification time, against now). */
void lr_reports_cleanup(const struct lr_reports_config *rc, time_t now);

#endif
