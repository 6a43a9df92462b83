/* settings: the Links Detailed Report configuration of a company (the product's
 * Notifications page): a toggle, daily/weekly/monthly, recipients, non-human clicks. */
#include "settings.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "commands.h"
#include "db.h"
#include "util.h"
#include "validate.h"

/* -1: not on/off */
static int parse_on_off(const char *v)
{
	if (strcmp(v, "on") == 0 || strcmp(v, "yes") == 0 || strcmp(v, "true") == 0)
		return 1;
	if (strcmp(v, "off") == 0 || strcmp(v, "no") == 0 || strcmp(v, "false") == 0)
		return 0;
	return -1;
}

static const char show_sql[] =
	"SELECT c.timezone, coalesce(s.enabled, false), coalesce(s.daily, false),"
	" coalesce(s.weekly, false), coalesce(s.monthly, false),"
	" coalesce(s.recipients, c.owner_email), coalesce(s.include_non_human, false),"
	" s.daily_since::text, s.weekly_since::text, s.monthly_since::text, s.company_id IS NOT NULL"
	" FROM companies c LEFT JOIN report_settings s ON s.company_id = c.id WHERE c.id = $1";

enum { S_TZ, S_ENABLED, S_DAILY, S_WEEKLY, S_MONTHLY, S_RECIPIENTS, S_NON_HUMAN, S_DAILY_SINCE,
       S_WEEKLY_SINCE, S_MONTHLY_SINCE, S_STORED };

static bool yes(const PGresult *res, int col)
{
	return PQgetvalue(res, 0, col)[0] == 't';
}

static void print_settings(const char *company, const PGresult *res)
{
	printf("company: %s\n", company);
	printf("enabled: %s\n", yes(res, S_ENABLED) ? "yes" : "no");
	char freq[32] = "";
	const char *names[] = {"daily", "weekly", "monthly"};
	for (int i = 0; i < 3; i++) {
		if (yes(res, S_DAILY + i)) {
			if (*freq)
				strcat(freq, ",");
			strcat(freq, names[i]);
		}
	}
	printf("frequencies: %s\n", *freq ? freq : "none");
	printf("recipients: %s\n", PQgetvalue(res, 0, S_RECIPIENTS));
	printf("include_non_human: %s\n", yes(res, S_NON_HUMAN) ? "yes" : "no");
	printf("timezone: %s\n", PQgetvalue(res, 0, S_TZ));
}

/* Reads the company's settings (defaults when never saved) into *out; 65 when unknown. */
static int load(const char *who, PGconn *conn, const char *company, bool lock, PGresult **out)
{
	const char *params[] = {company};
	char *sql = lr_xasprintf("%s%s", show_sql, lock ? " FOR UPDATE OF c" : "");
	PGresult *res = lr_db_query(conn, sql, 1, params);
	free(sql);
	if (!lr_db_ok(res))
		return lr_db_fail(who, conn, res);
	if (PQntuples(res) == 0) {
		PQclear(res);
		lr_err("%s: unknown company '%s'", who, company);
		return EX_DATAERR;
	}
	*out = res;
	return EX_OK;
}

static const char set_usage[] =
	"usage: linkreport settings set --company ID [--enable | --disable]\n"
	"         [--daily on|off] [--weekly on|off] [--monthly on|off]\n"
	"         [--recipients ADDR[,ADDR...]] [--include-non-human on|off]\n"
	"Changes the company's Links Detailed Report settings; what is not given is kept.\n"
	"The first time, recipients default to the company's owner email. Disabling keeps\n"
	"the configuration; enabling again applies it again. Prints the settings. Only\n"
	"periods whose send time (10:00 local) comes after a frequency was enabled are sent.\n";

static const char show_usage[] =
	"usage: linkreport settings show --company ID\n"
	"Prints the company's Links Detailed Report settings.\n";

int cmd_settings_set(const struct lr_config *cfg, int argc, char **argv)
{
	const char *who = argv[0];
	static const struct option options[] = {
		{"company", required_argument, NULL, 'c'},
		{"enable", no_argument, NULL, 'e'},
		{"disable", no_argument, NULL, 'd'},
		{"daily", required_argument, NULL, '1'},
		{"weekly", required_argument, NULL, '7'},
		{"monthly", required_argument, NULL, 'm'},
		{"recipients", required_argument, NULL, 'r'},
		{"include-non-human", required_argument, NULL, 'N'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *company = NULL, *recipients = NULL;
	int enable = -1, freq[3] = {-1, -1, -1}, non_human = -1;
	int opt;
	optind = 0;
	while ((opt = lr_getopt(who, argc, argv, options)) != -1) {
		int *target = NULL;
		const char *name = NULL;
		switch (opt) {
		case 'c': company = optarg; break;
		case 'e':
		case 'd':
			if (enable >= 0 && enable != (opt == 'e')) {
				lr_err("%s: --enable and --disable exclude each other", who);
				return EX_USAGE;
			}
			enable = opt == 'e';
			break;
		case '1': target = &freq[0]; name = "--daily"; break;
		case '7': target = &freq[1]; name = "--weekly"; break;
		case 'm': target = &freq[2]; name = "--monthly"; break;
		case 'N': target = &non_human; name = "--include-non-human"; break;
		case 'r': recipients = optarg; break;
		case 'h': fputs(set_usage, stdout); return EX_OK;
		default: return EX_USAGE;
		}
		if (target && (*target = parse_on_off(optarg)) < 0) {
			lr_err("%s: %s must be on or off", who, name);
			return EX_USAGE;
		}
	}
	int status = lr_no_operands(who, argc, argv);
	if (status)
		return status;
	if ((status = lr_company_option(who, company)))
		return status;
	char *list = NULL;
	if (recipients) {
		char *bad = NULL;
		const char *why = lr_parse_recipients(recipients, &list, &bad);
		if (why) {
			for (char *c = bad; c && *c; c++)
				if ((unsigned char)*c < 0x20 || *c == 0x7f)
					*c = '?'; /* one line, no terminal escapes */
			if (bad)
				lr_err("%s: --recipients: '%s' %s", who, bad, why);
			else
				lr_err("%s: --recipients %s", who, why);
			free(bad);
			return EX_DATAERR;
		}
	}
	time_t now;
	if (!lr_config_now(cfg, who, &now)) {
		free(list);
		return EX_USAGE;
	}
	char now_text[40];
	struct tm tm;
	strftime(now_text, sizeof now_text, "%Y-%m-%d %H:%M:%S+00", gmtime_r(&now, &tm));

	PGconn *conn = lr_db_connect(cfg, who, &status);
	if (!conn) {
		free(list);
		return status;
	}
	PGresult *old = NULL;
	if ((status = lr_db_exec(who, conn, "BEGIN")) ||
	    (status = load(who, conn, company, true, &old)))
		goto fail;

	bool was_enabled = yes(old, S_ENABLED);
	bool is_enabled = enable >= 0 ? enable : was_enabled;
	const char *values[11];
	char *since[3] = {NULL, NULL, NULL};
	for (int i = 0; i < 3; i++) {
		bool was_on = yes(old, S_DAILY + i);
		bool is_on = freq[i] >= 0 ? freq[i] : was_on;
		values[2 + i] = is_on ? "true" : "false";
		if (is_enabled && is_on) {
			if (was_enabled && was_on && !PQgetisnull(old, 0, S_DAILY_SINCE + i))
				since[i] = lr_xstrdup(PQgetvalue(old, 0, S_DAILY_SINCE + i));
			else
				since[i] = lr_xstrdup(now_text); /* became active now */
		}
	}
	values[0] = company;
	values[1] = is_enabled ? "true" : "false";
	values[5] = list ? list : PQgetvalue(old, 0, S_RECIPIENTS);
	values[6] = non_human >= 0 ? (non_human ? "true" : "false")
				   : (yes(old, S_NON_HUMAN) ? "true" : "false");
	for (int i = 0; i < 3; i++)
		values[7 + i] = since[i];
	values[10] = now_text;
	static const char upsert_sql[] =
		"INSERT INTO report_settings (company_id, enabled, daily, weekly, monthly, recipients,"
		" include_non_human, daily_since, weekly_since, monthly_since, updated_at)"
		" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
		" ON CONFLICT (company_id) DO UPDATE SET enabled = EXCLUDED.enabled,"
		" daily = EXCLUDED.daily, weekly = EXCLUDED.weekly, monthly = EXCLUDED.monthly,"
		" recipients = EXCLUDED.recipients, include_non_human = EXCLUDED.include_non_human,"
		" daily_since = EXCLUDED.daily_since, weekly_since = EXCLUDED.weekly_since,"
		" monthly_since = EXCLUDED.monthly_since, updated_at = EXCLUDED.updated_at";
	PGresult *res = lr_db_query(conn, upsert_sql, 11, values);
	for (int i = 0; i < 3; i++)
		free(since[i]);
	if (!lr_db_ok(res)) {
		status = lr_db_fail(who, conn, res);
		goto fail;
	}
	PQclear(res);
	PQclear(old);
	old = NULL;
	if ((status = load(who, conn, company, false, &old)) ||
	    (status = lr_db_exec(who, conn, "COMMIT")))
		goto fail;
	print_settings(company, old);
	PQclear(old);
	free(list);
	PQfinish(conn);
	return EX_OK;
fail:
	PQclear(old);
	lr_db_rollback(conn);
	free(list);
	PQfinish(conn);
	return status;
}

int cmd_settings_show(const struct lr_config *cfg, int argc, char **argv)
{
	const char *who = argv[0];
	static const struct option options[] = {
		{"company", required_argument, NULL, 'c'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *company = NULL;
	int opt;
	optind = 0;
	while ((opt = lr_getopt(who, argc, argv, options)) != -1) {
		switch (opt) {
		case 'c': company = optarg; break;
		case 'h': fputs(show_usage, stdout); return EX_OK;
		default: return EX_USAGE;
		}
	}
	int status = lr_no_operands(who, argc, argv);
	if (status)
		return status;
	if ((status = lr_company_option(who, company)))
		return status;
	PGconn *conn = lr_db_connect(cfg, who, &status);
	if (!conn)
		return status;
	PGresult *res = NULL;
	if ((status = load(who, conn, company, false, &res)) == EX_OK) {
		print_settings(company, res);
		PQclear(res);
	}
	PQfinish(conn);
	return status;
}
