#ifndef LR_DRAIN_ROWS_H
#define LR_DRAIN_ROWS_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>

/* The columns of a COPY row: stream_id, then the contract fields. */
#define LR_CLICK_COPY_COLUMNS                                                                       \
	"(stream_id, click_id, company_id, txtly_id, code, recipient, short_url,"          \
	" mobile_number, client_ip, browser, platform, platform_version, engine, country,"  \
	" city, visited_on, device_type, created_on, long_url, channel, message_id,"        \
	" campaign_name, template_id, user_agent, method, non_human)"


/* A growing byte buffer for COPY data: the binary format's signature, then rows (the
 * caller adds the trailer). */
struct lr_copy_buf {
	char *data;
	size_t len, cap;
};

#define LR_CLICK_ID_LEN 32

/* The click ids of one batch, to keep only the first entry of an id the batch holds
 * twice (the edge retried): a COPY would fail on it, an INSERT may not touch the same row
 * twice. Open addressing; ids are 32 lowercase hex, so their first 16 digits hash. The
 * set holds copies of the ids (an empty slot starts with NUL). */
struct lr_id_set {
	char (*slots)[LR_CLICK_ID_LEN];
	size_t mask;
};

void lr_id_set_init(struct lr_id_set *set, size_t n);
void lr_id_set_free(struct lr_id_set *set);

/* Checks one entry's fields (a Redis array field, value, ...; NULL when the entry is
 * gone from the stream). Valid: returns NULL and appends its row to rows, unless its
 * click_id is in seen already (a duplicate within the batch). Invalid: returns the
 * reason to dead-letter it. */
const char *lr_click_row(const char *stream_id, const redisReply *fields, struct lr_id_set *seen,
			 struct lr_copy_buf *rows);

/* The entry as a JSON object, for dead_letters.entry (malloc'd). */
char *lr_entry_json(const redisReply *fields);

#endif
