/* status: the outcome of every report run and delivery. */
#include <libpq-fe.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "db.h"
#include "util.h"
#include "validate.h"

static const char usage[] =
	"usage: linkreport status [--company ID] [--limit N]\n"
	"Lists report runs, newest period first, one line each (tab-separated):\n"
	"  COMPANY FREQUENCY PERIOD_START PERIOD_END STATE ATTEMPTS ROWS SENT_AT LAST_ERROR\n"
	"followed by one indented line per recipient:\n"
	"  - RECIPIENT STATE ATTEMPTS SENT_AT LAST_ERROR\n"
	"STATE: pending (due, or waiting for a retry), sent, failed (gave up after\n"
	"LINKREPORT_SEND_MAX_ATTEMPTS), cancelled (switched off before it was sent).\n";

int cmd_status(const struct lr_config *cfg, int argc, char **argv)
{
	const char *who = "status";
	static const struct option options[] = {
		{"company", required_argument, NULL, 'c'},
		{"limit", required_argument, NULL, 'l'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *company = NULL, *limit = "100";
	long long n;
	int opt;
	optind = 0;
	while ((opt = lr_getopt(who, argc, argv, options)) != -1) {
		switch (opt) {
		case 'c': company = optarg; break;
		case 'l':
			if (!lr_parse_uint(optarg, strlen(optarg), 1000000, &n) || n < 1) {
				lr_err("%s: --limit must be an integer from 1 to 1000000", who);
				return EX_USAGE;
			}
			limit = optarg;
			break;
		case 'h': fputs(usage, stdout); return EX_OK;
		default: return EX_USAGE;
		}
	}
	int status = lr_no_operands(who, argc, argv);
	if (status)
		return status;
	PGconn *conn = lr_db_connect(cfg, who, &status);
	if (!conn)
		return status;
	const char *params[] = {company, limit};
	PGresult *res = lr_db_query(
		conn,
		"SELECT r.company_id, r.frequency, r.period_start, r.period_end, r.state, r.attempts,"
		" coalesce(r.rows::text, ''),"
		" coalesce(to_char(r.sent_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), ''),"
		" r.last_error,"
		" coalesce((SELECT string_agg(concat_ws(E'\\t', '  -', d.recipient, d.state, d.attempts,"
		"   coalesce(to_char(d.sent_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
		"   ''), d.last_error), E'\\n' ORDER BY d.recipient) FROM report_deliveries d"
		"   WHERE (d.company_id, d.frequency, d.period_start) ="
		"   (r.company_id, r.frequency, r.period_start)), '')"
		" FROM report_runs r WHERE $1::text IS NULL OR r.company_id = $1"
		" ORDER BY r.period_start DESC, array_position(ARRAY['daily','weekly','monthly'],"
		"   r.frequency), r.company_id LIMIT $2::int",
		2, params);
	if (!lr_db_ok(res)) {
		status = lr_db_fail(who, conn, res);
	} else {
		for (int i = 0; i < PQntuples(res); i++) {
			for (int c = 0; c < 9; c++)
				printf("%s%s", c ? "\t" : "", PQgetvalue(res, i, c));
			putchar('\n');
			if (*PQgetvalue(res, i, 9))
				printf("%s\n", PQgetvalue(res, i, 9));
		}
		PQclear(res);
	}
	PQfinish(conn);
	return status;
}
