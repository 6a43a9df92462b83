/* report: the Links Detailed Report of one company for a period of whole local days. */
#include <fcntl.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "csv.h"
#include "db.h"
#include "report.h"
#include "util.h"
#include "validate.h"

static const char *const header[] = {
	"SHORT_URL", "TXTLY_ID", "MOBILE NUMBER", "CLIENT IP", "BROWSER", "PLATFORM",
	"PLATFORM VERSION", "DEVICE BRAND", "COUNTRY", "CITY", "VISITED ON", "DEVICE TYPE",
	"CREATED_ON", "LONG_URL", "CHANNEL", "MESSAGE_ID", "COMPANY_ID", "CAMPAIGN_NAME",
	"TEMPLATE_ID",
};
#define N_COLUMNS (sizeof header / sizeof header[0])

/* Columns in header order. The period is [from 00:00, to + 1 day 00:00) in the company's
 * zone, computed by PostgreSQL so days with a DST change have their true length. */
static const char report_sql[] =
	"SELECT short_url, txtly_id, mobile_number, client_ip, browser, platform,"
	" platform_version, engine, country, city,"
	" to_char(visited_on AT TIME ZONE $2, 'FMDD/FMMM/YYYY FMHH12:MI:SS AM'),"
	" device_type,"
	" to_char(created_on AT TIME ZONE $2, 'FMDD/FMMM/YYYY FMHH12:MI:SS AM'),"
	" long_url, channel, message_id, company_id, campaign_name, template_id"
	" FROM clicks"
	" WHERE company_id = $1"
	" AND visited_on >= ($3::date)::timestamp AT TIME ZONE $2"
	" AND visited_on < ($4::date + 1)::timestamp AT TIME ZONE $2"
	" AND ($5::boolean OR non_human = '')"
	" ORDER BY visited_on, click_id";

static const char usage[] =
	"usage: linkreport report --company ID --from YYYY-MM-DD --to YYYY-MM-DD [--out FILE]\n"
	"         [--include-non-human]\n"
	"Writes the Links Detailed Report (CSV, RFC 4180) of the company's clicks from --from\n"
	"00:00 to the end of --to (both days included) in the company's time zone.\n"
	"  --out FILE           write FILE (atomically, via a temporary file) instead of stdout\n"
	"  --include-non-human  also clicks flagged bot, preview, head or prefetch (left out by\n"
	"                       default)\n"
	"PostgreSQL lost while streaming: exit 69, the report is incomplete (no --out file).\n";

/* Like lr_db_fail, saying after how many rows the connection was lost. rows < 0: before
 * any row. */
static int report_fail(const char *who, PGconn *conn, PGresult *res, long long rows)
{
	if (!lr_db_connection_lost(conn, res))
		return lr_db_fail(who, conn, res);
	const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	if (!msg)
		msg = PQerrorMessage(conn);
	int len = (int)strcspn(msg, "\n");
	if (rows < 0)
		lr_err("%s: PostgreSQL connection lost: %.*s", who, len, msg);
	else
		lr_err("%s: PostgreSQL connection lost after %lld rows: %.*s; the report is "
		       "incomplete, run it again", who, rows, len, msg);
	PQclear(res);
	return EX_UNAVAILABLE;
}

/* Streams rows in single-row mode: memory stays constant whatever the period. */
static int write_rows(const char *who, PGconn *conn, const char *const params[5],
		      struct lr_csv *csv, long long *rows)
{
	if (!PQsendQueryParams(conn, report_sql, 5, NULL, params, NULL, NULL, 0) ||
	    !PQsetSingleRowMode(conn))
		return report_fail(who, conn, NULL, *rows);
	int status = EX_OK;
	PGresult *res;
	while ((res = PQgetResult(conn)) != NULL) {
		ExecStatusType st = PQresultStatus(res);
		if (st == PGRES_SINGLE_TUPLE) {
			for (size_t col = 0; col < N_COLUMNS; col++)
				lr_csv_field(csv, PQgetisnull(res, 0, (int)col)
							  ? NULL
							  : PQgetvalue(res, 0, (int)col));
			lr_csv_end_row(csv);
			++*rows;
		} else if (st != PGRES_TUPLES_OK && status == EX_OK) {
			status = report_fail(who, conn, res, *rows);
			continue; /* report_fail cleared it; keep reading until NULL */
		}
		PQclear(res);
	}
	return status;
}

int lr_report_write(const char *who, PGconn *conn, const char *company, const char *tz,
		    const char *from, const char *to, bool include_non_human, FILE *out,
		    long long *rows)
{
	struct lr_csv csv;
	lr_csv_init(&csv, out);
	for (size_t i = 0; i < N_COLUMNS; i++)
		lr_csv_field(&csv, header[i]);
	lr_csv_end_row(&csv);
	*rows = 0;
	const char *params[] = {company, tz, from, to, include_non_human ? "true" : "false"};
	return write_rows(who, conn, params, &csv, rows);
}

int lr_report_to_file(const char *who, PGconn *conn, const char *company, const char *tz,
		      const char *from, const char *to, bool include_non_human,
		      const char *path, bool usage_error_on_create, long long *rows)
{
	/* The rename would replace whatever is there: a device, a FIFO or a symbolic link at
	 * the path is refused rather than replaced by a CSV (run as root, --out /dev/full
	 * did just that). */
	struct stat st;
	if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		lr_err("%s: %s exists and is not a regular file; not replaced", who, path);
		return usage_error_on_create ? EX_USAGE : EX_SOFTWARE;
	}
	/* A temporary file renamed into place: readers never see a half-written report. */
	char *tmp_path = lr_xasprintf("%s.tmp.XXXXXX", path);
	FILE *out = NULL;
	int fd = mkstemp(tmp_path);
	if (fd < 0 || !(out = fdopen(fd, "w"))) {
		lr_err("%s: cannot create %s: %m", who, tmp_path);
		if (fd >= 0) {
			close(fd);
			unlink(tmp_path);
		}
		free(tmp_path);
		return usage_error_on_create ? EX_USAGE : EX_SOFTWARE;
	}
	mode_t mask = umask(0);
	umask(mask);
	fchmod(fd, 0666 & ~mask); /* mkstemp's 0600 would surprise; honour the umask */

	int status = lr_report_write(who, conn, company, tz, from, to, include_non_human, out,
				     rows);
	bool written = fflush(out) == 0 && !ferror(out) && fsync(fileno(out)) == 0;
	if (fclose(out) != 0)
		written = false;
	if (status == EX_OK && !written) {
		lr_err("%s: cannot write %s: %m", who, tmp_path);
		status = EX_SOFTWARE;
	}
	if (status == EX_OK && rename(tmp_path, path) != 0) {
		lr_err("%s: cannot rename %s to %s: %m", who, tmp_path, path);
		status = EX_SOFTWARE;
	}
	if (status != EX_OK)
		unlink(tmp_path);
	free(tmp_path);
	return status;
}

int cmd_report(const struct lr_config *cfg, int argc, char **argv)
{
	const char *who = "report";
	static const struct option options[] = {
		{"company", required_argument, NULL, 'c'},
		{"from", required_argument, NULL, 'f'},
		{"to", required_argument, NULL, 't'},
		{"out", required_argument, NULL, 'o'},
		{"include-non-human", no_argument, NULL, 'N'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *company = NULL, *from = NULL, *to = NULL, *out_path = NULL;
	bool non_human = false;
	int opt;
	optind = 0;
	while ((opt = lr_getopt(who, argc, argv, options)) != -1) {
		switch (opt) {
		case 'c': company = optarg; break;
		case 'f': from = optarg; break;
		case 't': to = optarg; break;
		case 'o': out_path = optarg; break;
		case 'N': non_human = true; break;
		case 'h': fputs(usage, stdout); return EX_OK;
		default: return EX_USAGE;
		}
	}
	int status = lr_no_operands(who, argc, argv);
	if (status)
		return status;
	if (!company)
		return lr_missing(who, "--company");
	if (!from)
		return lr_missing(who, "--from");
	if (!to)
		return lr_missing(who, "--to");
	if (out_path && !*out_path) {
		lr_err("%s: --out must not be empty", who);
		return EX_USAGE;
	}
	if (!lr_valid_code(company)) {
		lr_err("%s: unknown company (--company must match [A-Za-z0-9_-]{1,64})", who);
		return EX_DATAERR;
	}
	if (!lr_valid_date(from)) {
		lr_err("%s: --from must be a date YYYY-MM-DD", who);
		return EX_DATAERR;
	}
	if (!lr_valid_date(to)) {
		lr_err("%s: --to must be a date YYYY-MM-DD", who);
		return EX_DATAERR;
	}
	if (strcmp(from, to) > 0) { /* fixed-width dates compare like strings */
		lr_err("%s: --from %s is after --to %s", who, from, to);
		return EX_DATAERR;
	}

	PGconn *conn = lr_db_connect(cfg, who, &status);
	if (!conn)
		return status;
	char *timezone = NULL;
	const char *company_params[] = {company};
	PGresult *res =
		lr_db_query(conn, "SELECT timezone FROM companies WHERE id = $1", 1, company_params);
	if (!lr_db_ok(res)) {
		status = report_fail(who, conn, res, -1);
		goto done;
	}
	if (PQntuples(res) == 0) {
		PQclear(res);
		lr_err("%s: unknown company '%s'", who, company);
		status = EX_DATAERR;
		goto done;
	}
	timezone = lr_xstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);

	long long rows = 0;
	if (out_path) {
		status = lr_report_to_file(who, conn, company, timezone, from, to, non_human,
					   out_path, true, &rows);
		if (status == EX_OK)
			fprintf(stderr, "report: %lld rows\n", rows);
	} else {
		status = lr_report_write(who, conn, company, timezone, from, to, non_human, stdout,
					 &rows);
		if (status == EX_OK && (fflush(stdout) != 0 || ferror(stdout))) {
			lr_err("%s: cannot write to standard output", who);
			status = EX_SOFTWARE;
		}
	}
done:
	free(timezone);
	PQfinish(conn);
	return status;
}
