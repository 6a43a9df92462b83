/* ops: counting and logging the daemons' events (see ops.h). */
#include "ops.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "util.h"

/* Trimmed-before-read dead letters of the batch in hand: counted when it commits. */
static long long batch_trimmed_before_read;
static struct timespec batch_started;
static bool redis_down, pg_down;

static const char trimmed_reason[] = "entry no longer in the stream";

static long long elapsed_ms(const struct timespec *since)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - since->tv_sec) * 1000LL + (now.tv_nsec - since->tv_nsec) / 1000000;
}

int lr_ops_start(const struct lr_config *cfg, const char *who, unsigned what)
{
	enum lr_log_format format;
	if (!lr_log_parse_format(cfg->log_format, &format)) {
		lr_err("%s: --log-format/LINKREPORT_LOG_FORMAT must be logfmt, json or text", who);
		return EX_USAGE;
	}
	long key = lr_config_key("metrics-listen");
	if (cfg->metrics_listen && lr_config_check(&lr_keys[key], cfg->metrics_listen)) {
		lr_err("%s: --metrics-listen/LINKREPORT_METRICS_LISTEN must be PORT, IPV4:PORT or "
		       "[IPV6]:PORT", who);
		return EX_USAGE;
	}
	if ((what & LR_OPS_METRICS) && cfg->metrics_listen) {
		int status = lr_metrics_start(cfg, who, cfg->metrics_listen);
		if (status)
			return status;
	}
	if (what & LR_OPS_LOG) {
		lr_log_set_format(format);
		struct lr_log l;
		lr_log_begin(&l, LR_INFO, "start");
		lr_log_str(&l, "command", who);
		lr_log_int(&l, "pid", (long long)getpid());
		lr_log_str(&l, "stream", cfg->stream);
		if ((what & LR_OPS_METRICS) && cfg->metrics_listen)
			lr_log_str(&l, "metrics", cfg->metrics_listen);
		lr_log_end(&l);
	}
	return EX_OK;
}

void lr_ops_stop(void)
{
	lr_metrics_stop();
	struct lr_log l;
	lr_log_begin(&l, LR_INFO, "stop");
	lr_log_end(&l);
	lr_log_set_format(LR_LOG_PLAIN);
}

void lr_ops_batch_begin(void)
{
	clock_gettime(CLOCK_MONOTONIC, &batch_started);
	batch_trimmed_before_read = 0;
}

void lr_ops_batch(const char *stream, size_t entries, size_t records, long long stored,
		  long long duplicates, long long dead_letters)
{
	struct timespec wall;
	clock_gettime(CLOCK_REALTIME, &wall);
	lr_metrics_add(LR_M_BATCHES, 1);
	lr_metrics_add(LR_M_CLICKS_STORED, stored);
	lr_metrics_add(LR_M_DUPLICATES, duplicates);
	lr_metrics_add(LR_M_DEAD_LETTERS, dead_letters);
	lr_metrics_add(LR_M_TRIMMED_BEFORE_READ, batch_trimmed_before_read);
	lr_metrics_set(LR_G_LAST_BATCH_MS, wall.tv_sec * 1000LL + wall.tv_nsec / 1000000);
	struct lr_log l;
	lr_log_begin(&l, LR_INFO, "batch_stored");
	lr_log_str(&l, "stream", stream);
	lr_log_int(&l, "entries", (long long)entries);
	lr_log_int(&l, "records", (long long)records);
	lr_log_int(&l, "count", stored);
	lr_log_int(&l, "duplicates", duplicates);
	lr_log_int(&l, "dead_letters", dead_letters);
	if (batch_trimmed_before_read)
		lr_log_int(&l, "trimmed_before_read", batch_trimmed_before_read);
	lr_log_int(&l, "ms", elapsed_ms(&batch_started));
	lr_log_end(&l);
	batch_trimmed_before_read = 0;
}

void lr_ops_dead_letter(const char *stream, const char *stream_id, const char *reason)
{
	if (strcmp(reason, trimmed_reason) == 0)
		batch_trimmed_before_read++;
	struct lr_log l;
	lr_log_begin(&l, LR_WARN, "dead_letter");
	lr_log_str(&l, "stream", stream);
	lr_log_str(&l, "stream_id", stream_id);
	lr_log_str(&l, "reason", reason);
	lr_log_end(&l);
}

void lr_ops_trimmed(const char *stream, const redisReply *reply)
{
	if (!reply || reply->type != REDIS_REPLY_INTEGER || reply->integer <= 0)
		return;
	lr_metrics_add(LR_M_STREAM_TRIMMED, reply->integer);
	struct lr_log l;
	lr_log_begin(&l, LR_INFO, "stream_trimmed");
	lr_log_str(&l, "stream", stream);
	lr_log_int(&l, "count", reply->integer);
	lr_log_end(&l);
}

static void recovered(const char *service, bool *down, enum lr_gauge gauge)
{
	lr_metrics_set(gauge, 1);
	if (!*down)
		return;
	*down = false;
	struct lr_log l;
	lr_log_begin(&l, LR_INFO, "recovered");
	lr_log_str(&l, "service", service);
	lr_log_end(&l);
}

void lr_ops_redis_up(void)
{
	recovered("redis", &redis_down, LR_G_REDIS_UP);
}

void lr_ops_postgres_up(void)
{
	recovered("postgres", &pg_down, LR_G_PG_UP);
}

void lr_ops_retry(const char *who, const char *server, long long backoff_ms)
{
	bool redis_failed = server != NULL;
	const char *service = redis_failed ? "redis" : "postgres";
	bool *down = redis_failed ? &redis_down : &pg_down;
	lr_metrics_add(redis_failed ? LR_M_REDIS_ERRORS : LR_M_PG_ERRORS, 1);
	lr_metrics_set(redis_failed ? LR_G_REDIS_UP : LR_G_PG_UP, 0);
	struct lr_log l;
	if (!*down) {
		*down = true;
		lr_log_begin(&l, LR_ERROR, "outage");
		lr_log_str(&l, "service", service);
		lr_log_end(&l);
	}
	if (lr_log_format() == LR_LOG_PLAIN || lr_log_format() == LR_LOG_TEXT) {
		if (server)
			lr_err("%s: Redis at %s: retrying in %lld ms", who, server, backoff_ms);
		else
			lr_err("%s: retrying in %lld ms", who, backoff_ms);
		return;
	}
	lr_log_begin(&l, LR_WARN, "retry");
	lr_log_str(&l, "service", service);
	if (server)
		lr_log_str(&l, "server", server);
	lr_log_int(&l, "backoff_ms", backoff_ms);
	lr_log_end(&l);
}

void lr_ops_report(const char *company, const char *frequency, const char *period_start,
		   bool all_sent)
{
	lr_metrics_add(all_sent ? LR_M_REPORTS_SENT : LR_M_REPORTS_FAILED, 1);
	struct lr_log l;
	lr_log_begin(&l, all_sent ? LR_INFO : LR_WARN, all_sent ? "report_sent" : "report_failed");
	lr_log_str(&l, "company", company);
	lr_log_str(&l, "frequency", frequency);
	lr_log_str(&l, "period_start", period_start);
	lr_log_end(&l);
}

void lr_ops_email(const char *who, const char *company, const char *frequency,
		  const char *period_start, const char *recipient, bool ok, const char *err)
{
	lr_metrics_add(ok ? LR_M_EMAILS_SENT : LR_M_EMAILS_FAILED, 1);
	if (lr_log_format() == LR_LOG_PLAIN) {
		if (!ok)
			fprintf(stderr, "linkreport: %s: %s %s %s to %s failed: %s\n", who, company,
				frequency, period_start, recipient, err);
		return;
	}
	struct lr_log l;
	lr_log_begin(&l, ok ? LR_INFO : LR_WARN, ok ? "email_sent" : "email_failed");
	lr_log_str(&l, "company", company);
	lr_log_str(&l, "frequency", frequency);
	lr_log_str(&l, "period_start", period_start);
	lr_log_str(&l, "recipient", recipient);
	if (!ok)
		lr_log_str(&l, "error", err);
	lr_log_end(&l);
}
