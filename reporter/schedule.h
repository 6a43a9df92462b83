#ifndef LR_SCHEDULE_H
#define LR_SCHEDULE_H

#include <stdbool.h>
#include <time.h>

#include "config.h"
#include "send.h"

struct lr_tick_counts {
	long long due, sent, failed, cancelled;
};

/* One scheduler tick at `now`: records every period due since its frequency was enabled
 * (INSERT ... ON CONFLICT DO NOTHING), then claims ready runs oldest first with
 * FOR NO KEY UPDATE SKIP LOCKED and sends each, then removes expired report files.
 * *stop is polled between runs (may be NULL). Returns an exit status. */
int lr_schedule_tick(const struct lr_config *cfg, const char *who,
		     const struct lr_reports_config *rc, time_t now,
		     volatile const int *stop, struct lr_tick_counts *counts);

#endif
