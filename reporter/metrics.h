#ifndef LR_METRICS_H
#define LR_METRICS_H

#include "config.h"

/* Counters and gauges of the daemon, served as Prometheus text (format 0.0.4) on
 * GET /metrics by a small thread (poll(2), strict limits), so a scrape never waits for the
 * drain and a slow or hostile client never stalls it. Updating is a relaxed atomic add. */
enum lr_counter {
	LR_M_CLICKS_STORED,
	LR_M_BATCHES,
	LR_M_DUPLICATES,
	LR_M_DEAD_LETTERS,
	LR_M_TRIMMED_BEFORE_READ,
	LR_M_STREAM_TRIMMED,
	LR_M_REDIS_ERRORS,
	LR_M_PG_ERRORS,
	LR_M_REPORTS_SENT,
	LR_M_REPORTS_FAILED,
	LR_M_EMAILS_SENT,
	LR_M_EMAILS_FAILED,
	LR_M_HTTP_REFUSED,
	LR_N_COUNTERS
};
enum lr_gauge {
	LR_G_LAST_BATCH_MS, /* served in seconds */
	LR_G_REDIS_UP,
	LR_G_PG_UP,
	LR_N_GAUGES
};

void lr_metrics_add(enum lr_counter counter, long long n);
void lr_metrics_set(enum lr_gauge gauge, long long value);
long long lr_metrics_gauge(enum lr_gauge gauge);

/* Binds `listen` ("PORT", "IPV4:PORT" or "[IPV6]:PORT"; a bare port is 127.0.0.1) and
 * starts the thread. Returns 0, or EX_USAGE after printing (bad address, cannot bind). */
int lr_metrics_start(const struct lr_config *cfg, const char *who, const char *listen);
void lr_metrics_stop(void);

/* The exposition text (caller frees); stream gauges come from one Redis round trip. */
char *lr_metrics_render(const struct lr_config *cfg);

#endif
