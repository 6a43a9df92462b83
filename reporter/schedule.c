/* schedule: which reports are due, each (company, frequency, period) sent once. */
#include "schedule.h"

#include <errno.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "db.h"
#include "ops.h"
#include "util.h"
#include "validate.h"

/* Every send day (local calendar day in the company's zone) from the day the frequency
 * became active up to today; a period is due when its send time, 10:00 local on the send
 * day, is at or after `since` and at or before now. Daily: the previous day. Weekly:
 * Mondays, for the previous Monday..Sunday. Monthly: the 3rd, for the 3rd of the previous
 * month..the 2nd. Local dates turn into instants with AT TIME ZONE, so DST is exact. */
static const char enqueue_sql[] =
	"INSERT INTO report_runs (company_id, frequency, period_start, period_end, send_at,"
	" next_attempt_at)"
	" SELECT a.company_id, a.frequency, p.period_start, p.send_day - 1, p.send_at, p.send_at"
	" FROM (SELECT s.company_id, c.timezone AS tz, f.frequency, f.since"
	"       FROM report_settings s JOIN companies c ON c.id = s.company_id"
	"       CROSS JOIN LATERAL (VALUES ('daily', s.daily_since), ('weekly', s.weekly_since),"
	"                                  ('monthly', s.monthly_since)) AS f(frequency, since)"
	"       WHERE s.enabled AND f.since IS NOT NULL AND f.since <= to_timestamp($1::bigint)) a"
	" CROSS JOIN LATERAL generate_series((a.since AT TIME ZONE a.tz)::date,"
	"     (to_timestamp($1::bigint) AT TIME ZONE a.tz)::date, interval '1 day') AS g(day)"
	" CROSS JOIN LATERAL (SELECT g.day::date AS send_day,"
	"     (g.day::date + time '10:00') AT TIME ZONE a.tz AS send_at,"
	"     CASE a.frequency WHEN 'daily' THEN g.day::date - 1"
	"       WHEN 'weekly' THEN g.day::date - 7"
	"       ELSE (g.day::date - interval '1 month')::date END AS period_start) p"
	" WHERE (a.frequency = 'daily'"
	"        OR (a.frequency = 'weekly' AND extract(isodow FROM p.send_day) = 1)"
	"        OR (a.frequency = 'monthly' AND extract(day FROM p.send_day) = 3))"
	"   AND p.send_at >= a.since AND p.send_at <= to_timestamp($1::bigint)"
	" ON CONFLICT (company_id, frequency, period_start) DO NOTHING";

static const char claim_sql[] =
	"SELECT company_id, frequency, period_start::text, period_end::text, manual"
	" FROM report_runs"
	" WHERE state = 'pending' AND next_attempt_at <= to_timestamp($1::bigint)"
	" ORDER BY send_at, array_position(ARRAY['daily', 'weekly', 'monthly'], frequency),"
	"   company_id"
	" LIMIT 1 FOR NO KEY UPDATE SKIP LOCKED";

int lr_schedule_tick(const struct lr_config *cfg, const char *who,
		     const struct lr_reports_config *rc, time_t now,
		     volatile const int *stop, struct lr_tick_counts *counts)
{
	int status;
	PGconn *a = lr_db_connect(cfg, who, &status);
	if (!a)
		return status;
	PGconn *b = lr_db_connect(cfg, who, &status);
	if (!b) {
		PQfinish(a);
		return status;
	}
	char now_text[32];
	snprintf(now_text, sizeof now_text, "%lld", (long long)now);
	const char *params[] = {now_text};
	PGresult *res = lr_db_query(a, enqueue_sql, 1, params);
	if (!lr_db_ok(res)) {
		status = lr_db_fail(who, a, res);
		goto out;
	}
	counts->due += atoll(PQcmdTuples(res));
	PQclear(res);

	while (!(stop && *stop)) {
		if ((status = lr_db_exec(who, a, "BEGIN")))
			goto out;
		res = lr_db_query(a, claim_sql, 1, params);
		if (!lr_db_ok(res)) {
			status = lr_db_fail(who, a, res);
			lr_db_rollback(a);
			goto out;
		}
		if (PQntuples(res) == 0) {
			PQclear(res);
			status = lr_db_exec(who, a, "COMMIT");
			break;
		}
		struct lr_run_key run = {
			.company = PQgetvalue(res, 0, 0),
			.frequency = PQgetvalue(res, 0, 1),
			.period_start = PQgetvalue(res, 0, 2),
			.period_end = PQgetvalue(res, 0, 3),
			.manual = PQgetvalue(res, 0, 4)[0] == 't',
		};
		bool all_sent = false;
		status = lr_process_run(who, a, b, rc, now, &run, &all_sent);
		if (status == EX_OK)
			lr_ops_report(run.company, run.frequency, run.period_start, all_sent);
		PQclear(res);
		if (status)
			goto out;
		if (all_sent)
			counts->sent++;
		else
			counts->failed++;
	}
	lr_reports_cleanup(rc, now);
out:
	PQfinish(a);
	PQfinish(b);
	return status;
}

static volatile sig_atomic_t stop_requested;
static void request_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static const char schedule_usage[] =
	"usage: linkreport schedule [--once] [--interval SECONDS]\n"
	"Sends the scheduled Links Detailed Reports that are due (see docs/reports.md):\n"
	"daily at 10:00 for the previous day, weekly on Monday at 10:00 for the previous\n"
	"Monday..Sunday, monthly on the 3rd at 10:00 for the 3rd of the previous month..the\n"
	"2nd, all in the company's time zone. Missed periods are sent oldest first.\n"
	"  --once              one tick, print a summary and exit (--now sets the clock)\n"
	"  --interval SECONDS  seconds between ticks without --once (default 30)\n"
	"'linkreport run' does this and drains clicks in one daemon.\n";

int cmd_schedule(const struct lr_config *cfg, int argc, char **argv)
{
	const char *who = "schedule";
	static const struct option options[] = {
		{"once", no_argument, NULL, 'o'},
		{"interval", required_argument, NULL, 'i'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	bool once = false;
	long long interval = 30;
	int opt;
	optind = 0;
	while ((opt = lr_getopt(who, argc, argv, options)) != -1) {
		switch (opt) {
		case 'o': once = true; break;
		case 'i':
			if (!lr_parse_uint(optarg, strlen(optarg), 86400, &interval) || interval < 1) {
				lr_err("%s: --interval must be an integer from 1 to 86400", who);
				return EX_USAGE;
			}
			break;
		case 'h': fputs(schedule_usage, stdout); return EX_OK;
		default: return EX_USAGE;
		}
	}
	int status = lr_no_operands(who, argc, argv);
	if (status)
		return status;
	struct lr_reports_config rc;
	if ((status = lr_reports_config_load(who, &rc, true)))
		return status;
	time_t now;
	if (!lr_config_now(cfg, who, &now))
		return EX_USAGE;
	struct lr_tick_counts counts = {0};
	if (once) {
		status = lr_schedule_tick(cfg, who, &rc, now, NULL, &counts);
		printf("schedule: %lld due, %lld sent, %lld failed\n", counts.due, counts.sent,
		       counts.failed);
		return status;
	}
	struct sigaction sa = {0};
	sa.sa_handler = request_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	time_t offset = cfg->now ? now - time(NULL) : 0; /* --now shifts the daemon's clock */
	if ((status = lr_ops_start(cfg, who, LR_OPS_LOG)))
		return status;
	while (!stop_requested) {
		status = lr_schedule_tick(cfg, who, &rc, time(NULL) + offset,
					  (volatile const int *)&stop_requested, &counts);
		if (status)
			lr_err("%s: tick failed; next one in %lld s", who, interval);
		struct timespec ts = {interval, 0};
		while (!stop_requested && nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
	}
	lr_ops_stop();
	printf("schedule: %lld due, %lld sent, %lld failed\n", counts.due, counts.sent,
	       counts.failed);
	return EX_OK;
}
