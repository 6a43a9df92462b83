/* drain_rows: one click stream entry -> a row of a binary COPY into clicks per valid
 * record it holds, a dead letter per bad one. See docs/reporter.md (drain, steps 4
 * and 5). */
#include "drain_rows.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"
#include "util.h"
#include "validate.h"

enum field {
	F_CLICK_ID, F_COMPANY_ID, F_TXTLY_ID, F_CODE, F_RECIPIENT, F_SHORT_URL, F_MOBILE_NUMBER,
	F_CLIENT_IP, F_BROWSER, F_PLATFORM, F_PLATFORM_VERSION, F_ENGINE, F_COUNTRY, F_CITY,
	F_VISITED_ON, F_DEVICE_TYPE, F_CREATED_ON, F_LONG_URL, F_CHANNEL, F_MESSAGE_ID,
	F_CAMPAIGN_NAME, F_TEMPLATE_ID, F_USER_AGENT, F_METHOD, F_NON_HUMAN, N_FIELDS
};

/* Stream field names, in enum order; also the clicks columns of the same name. */
static const char *const field_names[N_FIELDS] = {
	"click_id", "company_id", "txtly_id", "code", "recipient", "short_url", "mobile_number",
	"client_ip", "browser", "platform", "platform_version", "engine", "country", "city",
	"visited_on", "device_type", "created_on", "long_url", "channel", "message_id",
	"campaign_name", "template_id", "user_agent", "method", "non_human",
};

/* Up to 9999-12-31T23:59:59.999Z: later values would make PostgreSQL fail the batch. */
#define MAX_VISITED_ON_MS 253402300799999LL
#define MAX_CREATED_ON_S 253402300799LL
#define MAX_BIGINT 9223372036854775807LL

/* PostgreSQL text takes neither NUL nor invalid UTF-8 (the edge copies raw header bytes):
 * such bytes become U+FFFD rather than failing the whole batch. */
static char *sanitized_copy(const char *s, size_t len)
{
	if (lr_utf8_valid(s, len)) {
		char *copy = lr_xmalloc(len + 1);
		memcpy(copy, s, len);
		copy[len] = '\0';
		return copy;
	}
	char *out = lr_xmalloc(len * 3 + 1);
	size_t o = 0, i = 0;
	while (i < len) {
		size_t step = 1;
		/* Find the longest valid sequence (1..4 bytes) starting here. */
		for (size_t n = 1; n <= 4 && i + n <= len; n++) {
			if (lr_utf8_valid(s + i, n)) {
				step = n;
				break;
			}
		}
		if (lr_utf8_valid(s + i, step)) {
			memcpy(out + o, s + i, step);
			o += step;
		} else {
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
		}
		i += step;
	}
	out[o] = '\0';
	return out;
}

/* A dead letter keeps at most this much of each field and value: a hostile entry of
 * hundreds of MiB would otherwise make a JSON text over PostgreSQL's 1 GiB message limit,
 * fail its batch again and again and hold up the good entries behind it. */
#define DEAD_LETTER_VALUE_MAX 65536

static void json_append_bytes(char **json, size_t *len, size_t *cap, const char *s, size_t n)
{
	bool cut = n > DEAD_LETTER_VALUE_MAX;
	char *text = sanitized_copy(s, cut ? DEAD_LETTER_VALUE_MAX : n);
	if (cut) {
		char *marked = lr_xasprintf("%s... [%zu bytes, cut]", text, n);
		free(text);
		text = marked;
	}
	size_t need = strlen(text) * 6 + 4;
	if (*len + need >= *cap) {
		*cap = (*len + need) * 2;
		*json = lr_xrealloc(*json, *cap);
	}
	char *out = *json;
	out[(*len)++] = '"';
	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		if (*p == '"' || *p == '\\') {
			out[(*len)++] = '\\';
			out[(*len)++] = (char)*p;
		} else if (*p < 0x20) {
			*len += (size_t)sprintf(out + *len, "\\u%04x", *p);
		} else {
			out[(*len)++] = (char)*p;
		}
	}
	out[(*len)++] = '"';
	free(text);
}

/* A name or value that is not a string (hiredis says what it is) is kept as "". */
static void json_append_string(char **json, size_t *len, size_t *cap, const redisReply *item)
{
	bool string = item->type == REDIS_REPLY_STRING;
	json_append_bytes(json, len, cap, string ? item->str : "", string ? item->len : 0);
}

static char *json_end(char *json, size_t len)
{
	json = lr_xrealloc(json, len + 2);
	json[len++] = '}';
	json[len] = '\0';
	return json;
}

/* The entry as a JSON object, for dead_letters.entry. */
static char *entry_json(const redisReply *fields)
{
	size_t cap = 64, len = 0;
	char *json = lr_xmalloc(cap);
	json[len++] = '{';
	for (size_t i = 0; fields && i + 1 < fields->elements; i += 2) {
		if (i > 0)
			json[len++] = ',';
		json_append_string(&json, &len, &cap, fields->element[i]);
		json[len++] = ':';
		json_append_string(&json, &len, &cap, fields->element[i + 1]);
	}
	return json_end(json, len);
}

/* One record of a batched entry as the entry it would be alone: {"record": "..."}. */
static char *record_json(const char *record, size_t n)
{
	size_t cap = 64, len = 0;
	char *json = lr_xmalloc(cap);
	json[len++] = '{';
	json_append_bytes(&json, &len, &cap, LR_RECORD_FIELD, sizeof LR_RECORD_FIELD - 1);
	json[len++] = ':';
	json_append_bytes(&json, &len, &cap, record, n);
	return json_end(json, len);
}

/* An entry's field values: v[f] is NULL when absent. Valid UTF-8 without NUL (nearly
 * every value) points into the Redis reply, which hiredis NUL-terminates; anything else
 * is a sanitized copy held in owned[f]. */
struct entry_values {
	const char *v[N_FIELDS];
	char *owned[N_FIELDS];
	char *record; /* a version-2 record's values, split in place */
	long long visited_ms, txtly_id, created_s; /* parsed; the last two when v[] is set */
};

static void free_values(struct entry_values *e)
{
	free(e->record);
	e->record = NULL;
	for (int f = 0; f < N_FIELDS; f++) {
		free(e->owned[f]);
		e->owned[f] = NULL;
		e->v[f] = NULL;
	}
}

static void drop_value(struct entry_values *e, int f)
{
	free(e->owned[f]);
	e->owned[f] = NULL;
	e->v[f] = NULL;
}

static void set_value(struct entry_values *e, int f, const char *value, size_t len)
{
	drop_value(e, f); /* a repeated field: the last one wins */
	if (lr_utf8_valid(value, len))
		e->v[f] = value;
	else
		e->v[f] = e->owned[f] = sanitized_copy(value, len);
}

/* The values of a version-2 record, in the contract's order. */
static const enum field record_order[N_FIELDS] = {
	F_CLICK_ID, F_CODE, F_RECIPIENT, F_SHORT_URL, F_TXTLY_ID, F_MOBILE_NUMBER, F_CLIENT_IP,
	F_BROWSER, F_PLATFORM, F_PLATFORM_VERSION, F_ENGINE, F_COUNTRY, F_CITY, F_VISITED_ON,
	F_DEVICE_TYPE, F_CREATED_ON, F_LONG_URL, F_CHANNEL, F_MESSAGE_ID, F_COMPANY_ID,
	F_CAMPAIGN_NAME, F_TEMPLATE_ID, F_USER_AGENT, F_METHOD, F_NON_HUMAN,
};

/* One version-2 record (len bytes of a batched entry's value, without its LF). */
static const char *read_record(const char *record, size_t len, struct entry_values *e)
{
	const char *values[N_FIELDS];
	size_t lens[N_FIELDS], count;
	e->record = lr_xmalloc(len + 1);
	memcpy(e->record, record, len);
	const char *why = lr_record_split(e->record, len, values, lens, N_FIELDS, &count);
	if (why)
		return why;
	if (count < N_FIELDS)
		return "record has fewer values than the contract's fields";
	for (int i = 0; i < N_FIELDS; i++)
		set_value(e, record_order[i], values[i], lens[i]);
	return NULL;
}

/* Returns NULL and sets *records to the value holding the edge's records (version 2: one
 * field "record"), or to NULL for the field/value pairs of version 1; else why the whole
 * entry is a dead letter. */
static const char *entry_form(const redisReply *fields, const redisReply **records)
{
	*records = NULL;
	if (!fields || fields->type != REDIS_REPLY_ARRAY)
		return "entry no longer in the stream";
	if (fields->elements % 2 != 0)
		return "odd number of field/value items";
	if (fields->elements == 2 && fields->element[0]->type == REDIS_REPLY_STRING &&
	    strcmp(fields->element[0]->str, LR_RECORD_FIELD) == 0) {
		if (fields->element[1]->type != REDIS_REPLY_STRING)
			return "field or value is not a string";
		*records = fields->element[1];
	}
	return NULL;
}

/* Version 1: fills e (which must start empty) from the field/value pairs. Returns NULL,
 * or why they cannot be read. */
static const char *read_fields(const redisReply *fields, struct entry_values *e)
{
	static size_t name_lens[N_FIELDS];
	if (!name_lens[0])
		for (int f = 0; f < N_FIELDS; f++)
			name_lens[f] = strlen(field_names[f]);
	for (size_t i = 0; i + 1 < fields->elements; i += 2) {
		const redisReply *name = fields->element[i], *value = fields->element[i + 1];
		if (name->type != REDIS_REPLY_STRING || value->type != REDIS_REPLY_STRING)
			return "field or value is not a string";
		if (strcmp(name->str, LR_RECORD_FIELD) == 0)
			return "a record field beside other fields";
		for (int f = 0; f < N_FIELDS; f++) {
			if (name->len == name_lens[f] && memcmp(name->str, field_names[f], name->len) == 0) {
				set_value(e, f, value->str, value->len);
				break;
			}
		}
	}
	return NULL;
}

/* The checks every click passes, whichever form it came in. */
static const char *check_values(struct entry_values *e)
{
	const char *const *values = e->v;
	if (!values[F_CLICK_ID] || !*values[F_CLICK_ID])
		return "missing click_id";
	if (!lr_valid_click_id(values[F_CLICK_ID], strlen(values[F_CLICK_ID])))
		return "click_id is not 32 lowercase hex characters";
	if (!values[F_COMPANY_ID] || !*values[F_COMPANY_ID])
		return "missing company_id";
	if (!lr_valid_code(values[F_COMPANY_ID]))
		return "company_id is not [A-Za-z0-9_-]{1,64}";
	if (!values[F_VISITED_ON] || !*values[F_VISITED_ON])
		return "missing visited_on";
	if (!lr_parse_uint(values[F_VISITED_ON], strlen(values[F_VISITED_ON]), MAX_VISITED_ON_MS,
			   &e->visited_ms))
		return "visited_on is not Unix milliseconds";
	/* The edge's verdicts only: anything else (say a stray CR LF at a record's end) would
	 * silently take the click out of the default report. */
	const char *nh = values[F_NON_HUMAN];
	if (nh && *nh && strcmp(nh, "bot") != 0 && strcmp(nh, "preview") != 0 &&
	    strcmp(nh, "head") != 0 && strcmp(nh, "prefetch") != 0)
		return "non_human is not empty, bot, preview, head or prefetch";
	/* Optional numbers: a bad value is stored as NULL rather than losing the click. */
	if (values[F_TXTLY_ID] &&
	    !lr_parse_uint(values[F_TXTLY_ID], strlen(values[F_TXTLY_ID]), MAX_BIGINT, &e->txtly_id))
		drop_value(e, F_TXTLY_ID);
	if (values[F_CREATED_ON] && !lr_parse_uint(values[F_CREATED_ON], strlen(values[F_CREATED_ON]),
						   MAX_CREATED_ON_S, &e->created_s))
		drop_value(e, F_CREATED_ON);
	return NULL;
}

void lr_id_set_init(struct lr_id_set *set, size_t n)
{
	size_t size = 16;
	while (size < n * 2)
		size *= 2;
	set->slots = lr_xcalloc(size, sizeof *set->slots);
	set->mask = size - 1;
	set->count = 0;
}

/* The slot holding id (32 lowercase hex, checked), or the empty one where it belongs. */
static char *id_slot(const struct lr_id_set *set, const char *id)
{
	unsigned long long h = 0;
	for (int i = 0; i < 16 && id[i]; i++)
		h = h * 16 + (unsigned long long)(id[i] <= '9' ? id[i] - '0' : id[i] - 'a' + 10);
	h *= 0x9e3779b97f4a7c15ULL;
	for (size_t i = (size_t)(h >> 32) & set->mask;; i = (i + 1) & set->mask)
		if (!set->slots[i][0] || memcmp(set->slots[i], id, LR_CLICK_ID_LEN) == 0)
			return set->slots[i];
}

/* Kept at most half full: an entry may hold many records, so the batch's entry count
 * does not bound its ids. */
static void id_set_grow(struct lr_id_set *set)
{
	struct lr_id_set bigger;
	lr_id_set_init(&bigger, set->mask + 1);
	for (size_t i = 0; i <= set->mask; i++)
		if (set->slots[i][0])
			memcpy(id_slot(&bigger, set->slots[i]), set->slots[i], LR_CLICK_ID_LEN);
	bigger.count = set->count;
	free(set->slots);
	*set = bigger;
}

/* Returns false when id was already there. The set keeps a copy: a version-2 record's id
 * lives in memory freed with the record. */
static bool id_set_add(struct lr_id_set *set, const char *id)
{
	char *slot = id_slot(set, id);
	if (slot[0])
		return false;
	memcpy(slot, id, LR_CLICK_ID_LEN);
	if (++set->count * 2 > set->mask + 1)
		id_set_grow(set);
	return true;
}

static void buf_reserve(struct lr_copy_buf *b, size_t more)
{
	if (b->len + more <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 65536;
	while (cap < b->len + more)
		cap *= 2;
	b->data = lr_xrealloc(b->data, cap);
	b->cap = cap;
}

/* COPY binary format: a signature and two zero words, then per row a 16-bit field count
 * and per field a 32-bit length (-1: NULL) and its bytes, all big-endian; -1 as the field
 * count ends the data. Text goes as is (no escaping, no parsing on the server); bigint is
 * 8 bytes; timestamptz is microseconds since 2000-01-01 UTC in 8 bytes. */
static const char copy_signature[19] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0";

static void put_be(struct lr_copy_buf *b, unsigned long long v, int bytes)
{
	for (int i = bytes - 1; i >= 0; i--)
		b->data[b->len++] = (char)(v >> (8 * i));
}

static void copy_text(struct lr_copy_buf *b, const char *s)
{
	if (!s) {
		buf_reserve(b, 4);
		put_be(b, 0xffffffffULL, 4);
		return;
	}
	size_t n = strlen(s);
	buf_reserve(b, n + 4);
	put_be(b, n, 4);
	memcpy(b->data + b->len, s, n);
	b->len += n;
}

static void copy_int8(struct lr_copy_buf *b, long long v)
{
	buf_reserve(b, 12);
	put_be(b, 8, 4);
	put_be(b, (unsigned long long)v, 8);
}

#define PG_EPOCH_S 946684800LL /* 2000-01-01T00:00:00Z in Unix seconds */

/* One row: stream_id, then the fields in enum order (LR_CLICK_COPY_COLUMNS). */
static void copy_row(struct lr_copy_buf *b, const char *stream_id, const struct entry_values *e)
{
	buf_reserve(b, 2);
	put_be(b, N_FIELDS + 1, 2);
	copy_text(b, stream_id);
	for (int f = 0; f < N_FIELDS; f++) {
		if (f == F_VISITED_ON)
			copy_int8(b, (e->visited_ms - PG_EPOCH_S * 1000) * 1000);
		else if (f == F_CREATED_ON && e->v[f])
			copy_int8(b, (e->created_s - PG_EPOCH_S) * 1000000);
		else if (f == F_TXTLY_ID && e->v[f])
			copy_int8(b, e->txtly_id);
		else if (f == F_NON_HUMAN && !e->v[f])
			copy_text(b, ""); /* NOT NULL: '' is a person */
		else
			copy_text(b, e->v[f]);
	}
}

void lr_id_set_free(struct lr_id_set *set)
{
	free(set->slots);
	set->slots = NULL;
}

/* A valid click's row, unless an earlier record of the batch had its click_id. */
static void add_row(struct lr_batch_rows *b, const char *stream_id, const struct entry_values *e)
{
	b->valid++;
	if (!id_set_add(&b->seen, e->v[F_CLICK_ID]))
		return;
	if (b->rows.len == 0) {
		buf_reserve(&b->rows, sizeof copy_signature);
		memcpy(b->rows.data, copy_signature, sizeof copy_signature);
		b->rows.len = sizeof copy_signature;
	}
	copy_row(&b->rows, stream_id, e);
}

/* Hands record k of an entry of n records to the dead letter callback; takes json. */
static int dead_letter(struct lr_batch_rows *b, const char *stream_id, size_t k, size_t n,
		       const char *why, char *json)
{
	char *reason = n > 1 ? lr_xasprintf("record %zu of %zu: %s", k, n, why) : NULL;
	struct lr_dead_letter dl = {stream_id, k, reason ? reason : why, json};
	int status = b->dead_letter(b->ctx, &dl);
	free(reason);
	free(json);
	return status;
}

/* Each of the n records of a version-2 entry on its own: a row or a dead letter. */
static int add_records(struct lr_batch_rows *b, const char *stream_id, const redisReply *value,
		       size_t n)
{
	size_t k = 0, pos = 0, len;
	const char *record;
	int status = 0;
	while (status == 0 && lr_record_next(value->str, value->len, &pos, &record, &len)) {
		struct entry_values e = {0};
		/* an empty value alone stays what it always was: a record of no version */
		const char *why = len == 0 && n > 1 ? "empty record" : read_record(record, len, &e);
		if (!why)
			why = check_values(&e);
		k++;
		if (why)
			status = dead_letter(b, stream_id, k, n, why, record_json(record, len));
		else
			add_row(b, stream_id, &e);
		free_values(&e);
	}
	return status;
}

size_t lr_entry_records(const redisReply *fields)
{
	const redisReply *records;
	if (entry_form(fields, &records) || !records)
		return 1;
	size_t n = lr_record_count(records->str, records->len);
	return n > LR_RECORDS_PER_ENTRY_MAX ? 1 : n; /* a dead letter as a whole */
}

int lr_entry_rows(struct lr_batch_rows *b, const char *stream_id, const redisReply *fields)
{
	const redisReply *records;
	const char *why = entry_form(fields, &records);
	char *too_many = NULL;
	if (!why && records) {
		/* More than an edge writes: one dead letter, not one per record, so that a
		 * value of LFs cannot make a batch insert (and log) a dead letter per byte. */
		size_t n = lr_record_count(records->str, records->len);
		if (n <= LR_RECORDS_PER_ENTRY_MAX)
			return add_records(b, stream_id, records, n);
		why = too_many = lr_xasprintf("entry holds %zu records, more than the %d an edge "
					      "writes", n, LR_RECORDS_PER_ENTRY_MAX);
	}
	struct entry_values e = {0};
	if (!why && !(why = read_fields(fields, &e)))
		why = check_values(&e);
	int status = 0;
	if (why) {
		bool gone = !fields || fields->type != REDIS_REPLY_ARRAY;
		status = dead_letter(b, stream_id, 1, 1, why, entry_json(gone ? NULL : fields));
	} else {
		add_row(b, stream_id, &e);
	}
	free_values(&e);
	free(too_many);
	return status;
}
