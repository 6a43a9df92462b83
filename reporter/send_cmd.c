/* send, download-url: ad-hoc delivery of one report, and the signed link on its own. */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "db.h"
#include "send.h"
#include "signing.h"
#include "util.h"
#include "validate.h"

static const char send_usage[] =
	"usage: linkreport send --company ID --frequency daily|weekly|monthly\n"
	"         --period-start YYYY-MM-DD\n"
	"(Re)sends one report now, whatever the schedule and settings say, to the company's\n"
	"current recipients. --period-start must begin a period of that frequency: any day\n"
	"(daily), a Monday (weekly), a 3rd (monthly). The outcome is recorded like a\n"
	"scheduled run's (see 'linkreport status'). Exit 69 when a delivery failed.\n";

static const char period_sql[] =
	"SELECT extract(isodow FROM $2::date), extract(day FROM $2::date),"
	" CASE $1 WHEN 'daily' THEN $2::date WHEN 'weekly' THEN $2::date + 6"
	"   ELSE ($2::date + interval '1 month')::date - 1 END::text";

int cmd_send(const struct lr_config *cfg, int argc, char **argv)
{
	const char *who = "send";
	static const struct option options[] = {
		{"company", required_argument, NULL, 'c'},
		{"frequency", required_argument, NULL, 'f'},
		{"period-start", required_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *company = NULL, *frequency = NULL, *start = NULL;
	int opt;
	optind = 0;
	while ((opt = lr_getopt(who, argc, argv, options)) != -1) {
		switch (opt) {
		case 'c': company = optarg; break;
		case 'f': frequency = optarg; break;
		case 's': start = optarg; break;
		case 'h': fputs(send_usage, stdout); return EX_OK;
		default: return EX_USAGE;
		}
	}
	int status = lr_no_operands(who, argc, argv);
	if (status)
		return status;
	if (!company)
		return lr_missing(who, "--company");
	if (!frequency)
		return lr_missing(who, "--frequency");
	if (!start)
		return lr_missing(who, "--period-start");
	if (strcmp(frequency, "daily") && strcmp(frequency, "weekly") && strcmp(frequency, "monthly")) {
		lr_err("%s: --frequency must be daily, weekly or monthly", who);
		return EX_USAGE;
	}
	if (!lr_valid_code(company)) {
		lr_err("%s: unknown company '%s'", who, company);
		return EX_DATAERR;
	}
	if (!lr_valid_date(start)) {
		lr_err("%s: --period-start must be a date YYYY-MM-DD", who);
		return EX_DATAERR;
	}
	struct lr_reports_config rc;
	if ((status = lr_reports_config_load(who, &rc, true)))
		return status;
	time_t now;
	if (!lr_config_now(cfg, who, &now))
		return EX_USAGE;
	char now_text[32];
	snprintf(now_text, sizeof now_text, "%lld", (long long)now);

	PGconn *a = lr_db_connect(cfg, who, &status);
	if (!a)
		return status;
	PGconn *b = lr_db_connect(cfg, who, &status);
	if (!b) {
		PQfinish(a);
		return status;
	}
	char *end = NULL;
	const char *pp[] = {frequency, start};
	PGresult *res = lr_db_query(a, period_sql, 2, pp);
	if (!lr_db_ok(res)) {
		status = lr_db_fail(who, a, res);
		goto out;
	}
	bool monday = strcmp(PQgetvalue(res, 0, 0), "1") == 0;
	bool third = strcmp(PQgetvalue(res, 0, 1), "3") == 0;
	end = lr_xstrdup(PQgetvalue(res, 0, 2));
	PQclear(res);
	if ((!strcmp(frequency, "weekly") && !monday) || (!strcmp(frequency, "monthly") && !third)) {
		lr_err("%s: a %s period starts on a %s; %s is not one", who, frequency,
		       monday || !strcmp(frequency, "weekly") ? "Monday" : "3rd", start);
		status = EX_DATAERR;
		goto out;
	}
	/* (Re)open the run: a new file from the current clicks, the current recipients. */
	const char *rp[] = {company, frequency, start, end, now_text};
	res = lr_db_query(
		a,
		"WITH c AS (SELECT id, timezone FROM companies WHERE id = $1),"
		" d AS (DELETE FROM report_deliveries WHERE company_id = $1 AND frequency = $2"
		"   AND period_start = $3::date AND EXISTS (SELECT 1 FROM c))"
		" INSERT INTO report_runs (company_id, frequency, period_start, period_end, send_at,"
		"   next_attempt_at, manual)"
		" SELECT id, $2, $3::date, $4::date, (($4::date + 1) + time '10:00') AT TIME ZONE"
		"   timezone, to_timestamp($5::bigint), true FROM c"
		" ON CONFLICT (company_id, frequency, period_start) DO UPDATE SET state = 'pending',"
		"   manual = true, file = NULL, rows = NULL, next_attempt_at = EXCLUDED.next_attempt_at"
		" RETURNING 1",
		5, rp);
	if (!lr_db_ok(res)) {
		status = lr_db_fail(who, a, res);
		goto out;
	}
	bool known = PQntuples(res) > 0;
	PQclear(res);
	if (!known) {
		lr_err("%s: unknown company '%s'", who, company);
		status = EX_DATAERR;
		goto out;
	}
	const char *key[] = {company, frequency, start};
	if ((status = lr_db_exec(who, a, "BEGIN")))
		goto out;
	res = lr_db_query(a,
			  "SELECT 1 FROM report_runs WHERE company_id = $1 AND frequency = $2"
			  " AND period_start = $3::date FOR NO KEY UPDATE",
			  3, key);
	if (!lr_db_ok(res)) {
		status = lr_db_fail(who, a, res);
		lr_db_rollback(a);
		goto out;
	}
	PQclear(res);
	struct lr_run_key run = {company, frequency, start, end, true};
	bool all_sent = false;
	status = lr_process_run(who, a, b, &rc, now, &run, &all_sent);
	if (status == EX_OK) {
		res = lr_db_query(b,
				  "SELECT r.rows, count(*) FILTER (WHERE d.state = 'sent'), count(d.*)"
				  " FROM report_runs r LEFT JOIN report_deliveries d USING (company_id,"
				  " frequency, period_start) WHERE r.company_id = $1 AND r.frequency = $2"
				  " AND r.period_start = $3::date GROUP BY r.rows",
				  3, key);
		if (lr_db_ok(res) && PQntuples(res) == 1)
			printf("send: %s %s %s..%s: %s rows, %s of %s recipients\n", company, frequency,
			       start, end, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1),
			       PQgetvalue(res, 0, 2));
		PQclear(res);
		if (!all_sent)
			status = EX_UNAVAILABLE;
	}
out:
	free(end);
	PQfinish(a);
	PQfinish(b);
	return status;
}

static const char url_usage[] =
	"usage: linkreport download-url --file PATH --recipient EMAIL [--ttl SECONDS]\n"
	"Prints the signed download link of a report file (PATH below the reports folder,\n"
	"e.g. acme/acme_daily_2024-03-30_2024-03-30.csv) for one recipient, valid from --now\n"
	"(or the clock) for --ttl seconds (default LINKREPORT_DOWNLOAD_TTL).\n";

int cmd_download_url(const struct lr_config *cfg, int argc, char **argv)
{
	const char *who = "download-url";
	static const struct option options[] = {
		{"file", required_argument, NULL, 'f'},
		{"recipient", required_argument, NULL, 'r'},
		{"ttl", required_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *file = NULL, *recipient = NULL, *ttl_text = NULL;
	int opt;
	optind = 0;
	while ((opt = lr_getopt(who, argc, argv, options)) != -1) {
		switch (opt) {
		case 'f': file = optarg; break;
		case 'r': recipient = optarg; break;
		case 't': ttl_text = optarg; break;
		case 'h': fputs(url_usage, stdout); return EX_OK;
		default: return EX_USAGE;
		}
	}
	int status = lr_no_operands(who, argc, argv);
	if (status)
		return status;
	if (!file)
		return lr_missing(who, "--file");
	if (!recipient)
		return lr_missing(who, "--recipient");
	const char *why;
	if ((why = lr_check_email(recipient))) {
		lr_err("%s: --recipient %s", who, why);
		return EX_DATAERR;
	}
	if (!*file || strspn(file, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				   "0123456789._/-") != strlen(file) || strstr(file, "..") ||
	    file[0] == '/') {
		lr_err("%s: --file must be a relative path of [A-Za-z0-9._/-] without ..", who);
		return EX_DATAERR;
	}
	struct lr_reports_config rc;
	if ((status = lr_reports_config_load(who, &rc, false)))
		return status;
	if (!rc.download_base || !rc.secret) {
		lr_err("%s: LINKREPORT_DOWNLOAD_BASE_URL and LINKREPORT_DOWNLOAD_SECRET are required",
		       who);
		return EX_USAGE;
	}
	long long ttl = rc.ttl;
	if (ttl_text && !lr_parse_uint(ttl_text, strlen(ttl_text), 366 * 86400LL, &ttl)) {
		lr_err("%s: --ttl must be an integer from 0 to %lld", who, 366 * 86400LL);
		return EX_USAGE;
	}
	time_t now;
	if (!lr_config_now(cfg, who, &now))
		return EX_USAGE;
	char *url = lr_download_url(rc.download_base, file, recipient, rc.secret,
				    (long long)now + ttl);
	if (!url) {
		lr_err("%s: cannot compute MD5", who);
		return EX_SOFTWARE;
	}
	printf("%s\n", url);
	free(url);
	return EX_OK;
}
