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

/* The click ids of one batch, to keep only the first record of an id the batch holds
 * twice (the edge retried): a COPY would fail on it, an INSERT may not touch the same row
 * twice. Open addressing, grown to stay half empty; ids are 32 lowercase hex, so their
 * first 16 digits hash. The set holds copies of the ids (an empty slot starts with NUL). */
struct lr_id_set {
	char (*slots)[LR_CLICK_ID_LEN];
	size_t mask, count;
};

/* Room for about n ids to start with. */
void lr_id_set_init(struct lr_id_set *set, size_t n);
void lr_id_set_free(struct lr_id_set *set);

/* A record (or a whole entry) that cannot be stored as a click. */
struct lr_dead_letter {
	const char *stream_id;
	size_t record;      /* which record of the entry, from 1 (1 for an entry of one) */
	const char *reason; /* "record K of N: why" when the entry holds N > 1 records */
	const char *entry;  /* JSON object: the entry, or {"record": that record} */
};

/* Stores one dead letter; returns 0, or the exit status that fails the batch. */
typedef int lr_dead_letter_fn(void *ctx, const struct lr_dead_letter *dl);

/* One batch's rows: the COPY data of its valid records and their click ids; its dead
 * letters go to the callback. */
struct lr_batch_rows {
	struct lr_copy_buf rows;
	struct lr_id_set seen;
	size_t valid; /* valid records, the repeats of a click_id within the batch included */
	lr_dead_letter_fn *dead_letter;
	void *ctx;
};

/* The records an entry holds: a version-2 value's records (docs/data-contract.md), else 1
 * (a version-1 entry, or one that is a dead letter as a whole). */
size_t lr_entry_records(const redisReply *fields);

/* Checks one entry's fields (a Redis array field, value, ...; NULL when the entry is gone
 * from the stream), each of its records on its own. A valid record's row is appended,
 * unless its click_id is in b->seen already (a duplicate within the batch); an invalid
 * one (or an entry unreadable as a whole) goes to b->dead_letter. Returns 0 or the
 * callback's failure. */
int lr_entry_rows(struct lr_batch_rows *b, const char *stream_id, const redisReply *fields);

#endif
