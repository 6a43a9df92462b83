#ifndef LR_REPORT_H
#define LR_REPORT_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>

/* The Links Detailed Report of one company for the local days from..to (YYYY-MM-DD, both
 * included) in time zone tz: header and rows, streamed in libpq single-row mode so memory
 * stays constant whatever the period. Clicks flagged non-human (bot, preview, head,
 * prefetch) are left out unless include_non_human. Returns an exit status; *rows counts
 * the data rows written. */
int lr_report_write(const char *who, PGconn *conn, const char *company, const char *tz,
		    const char *from, const char *to, bool include_non_human, FILE *out,
		    long long *rows);

/* Same into path, atomically: PATH.tmp.XXXXXX (mode 0666 minus umask), fsync, rename.
 * A path that cannot be created: EX_USAGE when usage_error_on_create, else EX_SOFTWARE. */
int lr_report_to_file(const char *who, PGconn *conn, const char *company, const char *tz,
		      const char *from, const char *to, bool include_non_human,
		      const char *path, bool usage_error_on_create, long long *rows);

#endif
