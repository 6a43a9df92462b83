/* send: produce one report file and mail it to each recipient, recording every outcome. */
#include "send.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "codec.h"
#include "config.h"
#include "db.h"
#include "mime.h"
#include "ops.h"
#include "report.h"
#include "signing.h"
#include "util.h"
#include "validate.h"

/* The environment, else the configuration file, else the default of the key table. */
static const char *env(const char *name, const char *fallback)
{
	const char *v = lr_setting(name);
	return v ? v : fallback;
}

static bool env_number(const char *who, const char *name, long long fallback, long long min,
		       long long max, long long *out)
{
	const char *v = lr_setting(name);
	if (!v) {
		*out = fallback;
		return true;
	}
	if (!lr_parse_uint(v, strlen(v), max, out) || *out < min) {
		lr_err("%s: %s must be an integer from %lld to %lld", who, name, min, max);
		return false;
	}
	return true;
}

int lr_reports_config_load(const char *who, struct lr_reports_config *rc, bool need_mail)
{
	memset(rc, 0, sizeof *rc);
	rc->dir = env("LINKREPORT_REPORTS_DIR", "/var/lib/linkreport/reports");
	rc->download_base = env("LINKREPORT_DOWNLOAD_BASE_URL", NULL);
	rc->secret = env("LINKREPORT_DOWNLOAD_SECRET", NULL);
	rc->from = env("LINKREPORT_MAIL_FROM", NULL);
	rc->smtp.url = env("LINKREPORT_SMTP_URL", "smtp://127.0.0.1:25");
	rc->smtp.tls = env("LINKREPORT_SMTP_TLS",
			   strncasecmp(rc->smtp.url, "smtps://", 8) == 0 ? "smtps" : "starttls");
	rc->smtp.user = env("LINKREPORT_SMTP_USER", NULL);
	rc->smtp.password = env("LINKREPORT_SMTP_PASSWORD", NULL);
	rc->smtp.ca_file = env("LINKREPORT_SMTP_CA_FILE", NULL);
	rc->smtp.timeout_s = 120;
	if (!env_number(who, "LINKREPORT_REPORTS_KEEP_DAYS", 30, 1, 36500, &rc->keep_days) ||
	    !env_number(who, "LINKREPORT_ATTACH_MAX_BYTES", 5 << 20, 0, 1LL << 40, &rc->attach_max) ||
	    !env_number(who, "LINKREPORT_GZIP_ABOVE_BYTES", 1 << 20, 0, 1LL << 40, &rc->gzip_above) ||
	    !env_number(who, "LINKREPORT_DOWNLOAD_TTL", 7 * 86400, 60, 366 * 86400LL, &rc->ttl) ||
	    !env_number(who, "LINKREPORT_SEND_MAX_ATTEMPTS", 8, 1, 1000, &rc->max_attempts) ||
	    !env_number(who, "LINKREPORT_RETRY_BASE_SECONDS", 300, 1, 86400, &rc->retry_base))
		return EX_USAGE;
	if (rc->download_base && lr_check_url(rc->download_base)) {
		lr_err("%s: LINKREPORT_DOWNLOAD_BASE_URL %s", who, lr_check_url(rc->download_base));
		return EX_USAGE;
	}
	if (rc->secret && strlen(rc->secret) < 16) {
		lr_err("%s: LINKREPORT_DOWNLOAD_SECRET must have at least 16 characters", who);
		return EX_USAGE;
	}
	if (rc->secret && (strchr(rc->secret, ' ') || strchr(rc->secret, '"'))) {
		lr_err("%s: LINKREPORT_DOWNLOAD_SECRET must not contain spaces or quotes", who);
		return EX_USAGE;
	}
	if (!need_mail)
		return EX_OK;
	if (!rc->download_base || !rc->secret) {
		lr_err("%s: LINKREPORT_DOWNLOAD_BASE_URL and LINKREPORT_DOWNLOAD_SECRET are required",
		       who);
		return EX_USAGE;
	}
	if (!rc->from || lr_check_email(rc->from)) {
		lr_err("%s: LINKREPORT_MAIL_FROM must be an email address", who);
		return EX_USAGE;
	}
	const char *why = lr_smtp_check(&rc->smtp);
	if (why) {
		lr_err("%s: %s", who, why);
		return EX_USAGE;
	}
	return EX_OK;
}

/* Streams src into a gzip file dst (via a temporary file), constant memory. */
static bool gzip_file(const char *src, const char *dst)
{
	char *tmp = lr_xasprintf("%s.tmp.XXXXXX", dst);
	int fd = mkstemp(tmp);
	FILE *in = fopen(src, "rb");
	gzFile gz = fd >= 0 ? gzdopen(fd, "wb6") : NULL;
	bool ok = in && gz;
	if (fd >= 0 && !gz)
		close(fd);
	unsigned char buf[65536];
	size_t n;
	while (ok && (n = fread(buf, 1, sizeof buf, in)) > 0)
		ok = gzwrite(gz, buf, (unsigned)n) == (int)n;
	if (in && ferror(in))
		ok = false;
	if (in)
		fclose(in);
	if (gz && gzclose(gz) != Z_OK)
		ok = false;
	if (fd >= 0) {
		mode_t mask = umask(0);
		umask(mask);
		chmod(tmp, 0666 & ~mask);
	}
	if (ok && rename(tmp, dst) != 0)
		ok = false;
	if (!ok && fd >= 0)
		unlink(tmp);
	free(tmp);
	return ok;
}

static bool make_dir(const char *path)
{
	return mkdir(path, 0755) == 0 || errno == EEXIST;
}

static long long file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode) ? (long long)st.st_size : -1;
}

/* Writes the file of the run; *rel is its path below the reports folder (malloc'd). */
static int produce(const char *who, PGconn *conn, const struct lr_reports_config *rc,
		   const struct lr_run_key *run, const char *tz, bool non_human, char **rel,
		   long long *rows)
{
	char *company_dir = lr_xasprintf("%s/%s", rc->dir, run->company);
	if (!make_dir(rc->dir) || !make_dir(company_dir)) {
		lr_err("%s: cannot create %s: %m", who, company_dir);
		free(company_dir);
		return EX_SOFTWARE;
	}
	char *name = lr_xasprintf("%s/%s_%s_%s_%s.csv", run->company, run->company, run->frequency,
				  run->period_start, run->period_end);
	char *path = lr_xasprintf("%s/%s", rc->dir, name);
	int status = lr_report_to_file(who, conn, run->company, tz, run->period_start,
				       run->period_end, non_human, path, false, rows);
	if (status == EX_OK && file_size(path) > rc->gzip_above) {
		char *gz_path = lr_xasprintf("%s.gz", path);
		if (gzip_file(path, gz_path)) {
			unlink(path);
			char *gz_name = lr_xasprintf("%s.gz", name);
			free(name);
			name = gz_name;
		} else {
			lr_err("%s: cannot compress %s: %m", who, path);
			status = EX_SOFTWARE;
		}
		free(gz_path);
	}
	free(path);
	free(company_dir);
	if (status == EX_OK)
		*rel = name;
	else
		free(name);
	return status;
}

static char *period_text(const struct lr_run_key *run)
{
	if (strcmp(run->period_start, run->period_end) == 0)
		return lr_xstrdup(run->period_start);
	return lr_xasprintf("%s to %s", run->period_start, run->period_end);
}

struct message_facts {
	const char *company_name, *tz, *url, *attach_path, *attach_name;
	long long rows;
	time_t expires;
	bool too_large;
};

static void build_bodies(const struct lr_run_key *run, const struct message_facts *f,
			 char **text, char **html)
{
	char expires[40];
	struct tm tm;
	strftime(expires, sizeof expires, "%Y-%m-%d %H:%M UTC", gmtime_r(&f->expires, &tm));
	const char *note = f->attach_path ? "The report is attached to this email."
			   : f->too_large  ? "The report is too large to attach; download it with the link."
					   : "";
	*text = lr_xasprintf(
		"Links Detailed Report\n\n"
		"Company: %s (%s)\n"
		"Frequency: %s\n"
		"Period: %s 00:00 to %s 23:59:59 (%s)\n"
		"Clicks: %lld\n\n"
		"Download the report (this link is for you only and works until %s):\n%s\n\n%s\n",
		f->company_name, run->company, run->frequency, run->period_start, run->period_end,
		f->tz, f->rows, expires, f->url, note);
	char *name = lr_html_escape(f->company_name);
	char *url = lr_html_escape(f->url);
	*html = lr_xasprintf(
		"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Links Detailed Report"
		"</title></head>\n<body>\n<h1>Links Detailed Report</h1>\n<table>\n"
		"<tr><th align=\"left\">Company</th><td>%s (%s)</td></tr>\n"
		"<tr><th align=\"left\">Frequency</th><td>%s</td></tr>\n"
		"<tr><th align=\"left\">Period</th><td>%s 00:00 to %s 23:59:59 (%s)</td></tr>\n"
		"<tr><th align=\"left\">Clicks</th><td>%lld</td></tr>\n</table>\n"
		"<p><a href=\"%s\">Download the report</a> (this link is for you only and works "
		"until %s).</p>\n<p>%s</p>\n</body></html>\n",
		name, run->company, run->frequency, run->period_start, run->period_end, f->tz, f->rows,
		url, expires, note);
	free(name);
	free(url);
}

/* Mails one recipient. Returns true when the server accepted it. */
static bool mail_one(const struct lr_reports_config *rc, const struct lr_run_key *run,
		     const struct message_facts *facts_in, const char *rel, const char *recipient,
		     time_t now, char *message_id, size_t mid_size, char *err, size_t err_size)
{
	struct message_facts f = *facts_in;
	f.expires = now + (time_t)rc->ttl;
	char *url = lr_download_url(rc->download_base, rel, recipient, rc->secret, (long long)f.expires);
	if (!url) {
		snprintf(err, err_size, "cannot sign the download link");
		return false;
	}
	f.url = url;
	char rnd[17];
	const char *domain = strchr(rc->from, '@') + 1;
	if (!lr_random_base62(rnd, 16)) {
		free(url);
		snprintf(err, err_size, "no randomness for the Message-ID");
		return false;
	}
	/* Short, so the header stays below 78 columns; report_deliveries maps it to the run. */
	snprintf(message_id, mid_size, "lr.%s@%s", rnd, domain);
	char *text, *html;
	build_bodies(run, &f, &text, &html);
	char *period = period_text(run);
	char *subject = lr_xasprintf("Links Detailed Report: %s, %s %s", f.company_name,
				     run->frequency, period);
	struct lr_mime m = {
		.from = rc->from,
		.to = recipient,
		.subject = subject,
		.text = text,
		.html = html,
		.attach_path = f.attach_path,
		.attach_name = f.attach_name,
		.attach_type = f.attach_name && strstr(f.attach_name, ".gz") ? "application/gzip"
									     : "text/csv; charset=utf-8",
		.date = time(NULL),
		.message_id = message_id,
	};
	bool ok = false;
	FILE *msg = tmpfile();
	if (!msg) {
		snprintf(err, err_size, "cannot create a temporary file: %s", strerror(errno));
	} else if (!lr_mime_write(msg, &m)) {
		snprintf(err, err_size, "cannot build the message (attachment unreadable?)");
	} else {
		ok = lr_smtp_send(&rc->smtp, rc->from, recipient, msg, err, err_size);
	}
	if (msg)
		fclose(msg);
	free(subject);
	free(period);
	free(text);
	free(html);
	free(url);
	return ok;
}

static int exec_params(const char *who, PGconn *conn, const char *sql, int n,
		       const char *const *params)
{
	PGresult *res = lr_db_query(conn, sql, n, params);
	if (!lr_db_ok(res))
		return lr_db_fail(who, conn, res);
	PQclear(res);
	return EX_OK;
}

int lr_process_run(const char *who, PGconn *a, PGconn *b, const struct lr_reports_config *rc,
		   time_t now, const struct lr_run_key *run, bool *all_sent)
{
	*all_sent = false;
	char now_text[32];
	snprintf(now_text, sizeof now_text, "%lld", (long long)now);
	const char *key[] = {run->company, run->frequency, run->period_start};
	PGresult *res = lr_db_query(
		a,
		"SELECT c.name, c.timezone, coalesce(s.recipients, c.owner_email),"
		" coalesce(s.include_non_human, false),"
		" coalesce(s.enabled AND CASE $2 WHEN 'daily' THEN s.daily WHEN 'weekly' THEN s.weekly"
		"   ELSE s.monthly END, false),"
		" r.file, r.rows, r.attempts"
		" FROM report_runs r JOIN companies c ON c.id = r.company_id"
		" LEFT JOIN report_settings s ON s.company_id = r.company_id"
		" WHERE r.company_id = $1 AND r.frequency = $2 AND r.period_start = $3",
		3, key);
	if (!lr_db_ok(res))
		return lr_db_fail(who, a, res);
	if (PQntuples(res) != 1) {
		PQclear(res);
		lr_err("%s: run %s %s %s vanished", who, run->company, run->frequency,
		       run->period_start);
		return EX_SOFTWARE;
	}
	char *name = lr_xstrdup(PQgetvalue(res, 0, 0));
	char *tz = lr_xstrdup(PQgetvalue(res, 0, 1));
	char *recipients = lr_xstrdup(PQgetvalue(res, 0, 2));
	bool non_human = PQgetvalue(res, 0, 3)[0] == 't';
	bool active = PQgetvalue(res, 0, 4)[0] == 't';
	char *rel = PQgetisnull(res, 0, 5) ? NULL : lr_xstrdup(PQgetvalue(res, 0, 5));
	long long rows = PQgetisnull(res, 0, 6) ? 0 : atoll(PQgetvalue(res, 0, 6));
	long long attempts = atoll(PQgetvalue(res, 0, 7));
	PQclear(res);
	int status = EX_OK;
	char *path = NULL;

	if (!run->manual && !active) {
		/* Switched off after the period fell due: not sent, never later either. */
		const char *p[] = {run->company, run->frequency, run->period_start};
		status = exec_params(who, a,
				     "UPDATE report_runs SET state = 'cancelled',"
				     " last_error = 'reports switched off before sending'"
				     " WHERE company_id = $1 AND frequency = $2 AND period_start = $3",
				     3, p);
		if (status == EX_OK)
			status = lr_db_exec(who, a, "COMMIT");
		goto out;
	}

	/* Reuse the file of an earlier attempt if it is still there. */
	if (rel) {
		path = lr_xasprintf("%s/%s", rc->dir, rel);
		if (file_size(path) < 0) {
			free(rel);
			rel = NULL;
			free(path);
			path = NULL;
		}
	}
	if (!rel) {
		if ((status = produce(who, a, rc, run, tz, non_human, &rel, &rows)))
			goto out;
		path = lr_xasprintf("%s/%s", rc->dir, rel);
		char rows_text[32];
		snprintf(rows_text, sizeof rows_text, "%lld", rows);
		const char *p[] = {run->company, run->frequency, run->period_start, rel, rows_text};
		if ((status = exec_params(who, a,
					  "UPDATE report_runs SET file = $4, rows = $5::bigint"
					  " WHERE company_id = $1 AND frequency = $2 AND period_start = $3",
					  5, p)))
			goto out;
	}

	/* The recipients of the first attempt stay those of the run. */
	const char *dp[] = {run->company, run->frequency, run->period_start, recipients};
	if ((status = exec_params(
		     who, b,
		     "INSERT INTO report_deliveries (company_id, frequency, period_start, recipient)"
		     " SELECT $1, $2, $3, r FROM unnest(string_to_array($4, ',')) AS r"
		     " WHERE NOT EXISTS (SELECT 1 FROM report_deliveries WHERE company_id = $1"
		     "   AND frequency = $2 AND period_start = $3)"
		     " ON CONFLICT DO NOTHING",
		     4, dp)))
		goto out;
	res = lr_db_query(b,
			  "SELECT recipient FROM report_deliveries WHERE company_id = $1"
			  " AND frequency = $2 AND period_start = $3 AND state <> 'sent'"
			  " ORDER BY recipient",
			  3, key);
	if (!lr_db_ok(res)) {
		status = lr_db_fail(who, b, res);
		goto out;
	}
	long long size = file_size(path);
	const char *slash = strrchr(rel, '/');
	struct message_facts facts = {
		.company_name = name,
		.tz = tz,
		.rows = rows,
		.attach_path = size >= 0 && size <= rc->attach_max ? path : NULL,
		.attach_name = slash ? slash + 1 : rel,
		.too_large = size > rc->attach_max,
	};
	int failed = 0;
	char first_error[512] = "";
	for (int i = 0; i < PQntuples(res) && status == EX_OK; i++) {
		const char *recipient = PQgetvalue(res, i, 0);
		char message_id[400], err[512] = "";
		bool ok = mail_one(rc, run, &facts, rel, recipient, now, message_id,
				   sizeof message_id, err, sizeof err);
		if (!ok) {
			failed++;
			if (!*first_error)
				snprintf(first_error, sizeof first_error, "%s: %s", recipient, err);
		}
		lr_ops_email(who, run->company, run->frequency, run->period_start, recipient, ok, err);
		const char *up[] = {run->company, run->frequency, run->period_start, recipient,
				    ok ? "sent" : "pending", err, ok ? message_id : NULL, now_text};
		status = exec_params(who, b,
				     "UPDATE report_deliveries SET state = $5, attempts = attempts + 1,"
				     " last_error = $6, message_id = coalesce($7, message_id),"
				     " sent_at = CASE WHEN $5 = 'sent' THEN to_timestamp($8::bigint) END"
				     " WHERE company_id = $1 AND frequency = $2 AND period_start = $3"
				     " AND recipient = $4",
				     8, up);
	}
	PQclear(res);
	if (status)
		goto out;

	attempts++;
	char attempts_text[32], max_text[32], delay_text[32];
	snprintf(attempts_text, sizeof attempts_text, "%lld", attempts);
	snprintf(max_text, sizeof max_text, "%lld", rc->max_attempts);
	/* retry_base, doubling, at most 6 hours */
	long long delay = rc->retry_base;
	for (long long k = 1; k < attempts && delay < 6 * 3600; k++)
		delay *= 2;
	if (delay > 6 * 3600)
		delay = 6 * 3600;
	snprintf(delay_text, sizeof delay_text, "%lld", delay);
	const char *rp[] = {run->company, run->frequency, run->period_start,
			    failed ? "1" : "0", first_error, now_text, attempts_text, max_text,
			    delay_text};
	status = exec_params(
		who, a,
		"UPDATE report_runs SET attempts = $7::int, last_error = $5,"
		" state = CASE WHEN $4 = '0' THEN 'sent' WHEN $7::int >= $8::int THEN 'failed'"
		"   ELSE 'pending' END,"
		" sent_at = CASE WHEN $4 = '0' THEN to_timestamp($6::bigint) END,"
		" next_attempt_at = CASE WHEN $4 = '0' THEN next_attempt_at"
		"   ELSE to_timestamp($6::bigint + $9::bigint) END"
		" WHERE company_id = $1 AND frequency = $2 AND period_start = $3",
		9, rp);
	if (status == EX_OK)
		status = lr_db_exec(who, a, "COMMIT");
	if (status == EX_OK)
		*all_sent = failed == 0;
out:
	if (status != EX_OK)
		lr_db_rollback(a);
	free(path);
	free(rel);
	free(name);
	free(tz);
	free(recipients);
	return status;
}

void lr_reports_cleanup(const struct lr_reports_config *rc, time_t now)
{
	DIR *top = opendir(rc->dir);
	if (!top)
		return;
	time_t limit = now - (time_t)(rc->keep_days * 86400);
	struct dirent *e;
	while ((e = readdir(top)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		char *sub = lr_xasprintf("%s/%s", rc->dir, e->d_name);
		DIR *d = opendir(sub);
		if (d) {
			struct dirent *f;
			while ((f = readdir(d)) != NULL) {
				if (f->d_name[0] == '.')
					continue;
				char *file = lr_xasprintf("%s/%s", sub, f->d_name);
				struct stat st;
				if (stat(file, &st) == 0 && S_ISREG(st.st_mode) && st.st_mtime < limit)
					unlink(file);
				free(file);
			}
			closedir(d);
		}
		free(sub);
	}
	closedir(top);
}
