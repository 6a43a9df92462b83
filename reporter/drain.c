/* drain: Redis stream -> PostgreSQL clicks. At-least-once delivery from the stream plus
 * ON CONFLICT (click_id) DO NOTHING gives exactly-once rows: a batch is acknowledged only
 * after its transaction committed, so a crash re-delivers it and duplicates fall away.
 * A batch is written with one COPY into a per-connection temporary staging table and one
 * INSERT ... SELECT from it into clicks, in the same transaction. */
#include <errno.h>
#include <libpq-fe.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "db.h"
#include "ops.h"
#include "record.h"
#include "redis_conn.h"
#include "schedule.h"
#include "util.h"
#include "validate.h"

/* Set from the signal handler, which can reach nothing else. */
static volatile sig_atomic_t stop_requested;

static void request_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

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

/* The staging table: one per connection, emptied by every COMMIT (and ROLLBACK). Numbers
 * stay raw here and are converted by the INSERT. */
static const char create_stage_sql[] =
	"CREATE TEMP TABLE IF NOT EXISTS clicks_stage (stream_id text NOT NULL,"
	" click_id text NOT NULL, company_id text NOT NULL, txtly_id bigint, code text,"
	" recipient text, short_url text, mobile_number text, client_ip text, browser text,"
	" platform text, platform_version text, engine text, country text, city text,"
	" visited_on bigint NOT NULL, device_type text, created_on bigint, long_url text,"
	" channel text, message_id text, campaign_name text, template_id text, user_agent text,"
	" method text, non_human text) ON COMMIT DELETE ROWS";

/* COPY rows are: stream_id, then the fields in enum order. */
static const char copy_stage_sql[] =
	"COPY clicks_stage (stream_id, click_id, company_id, txtly_id, code, recipient,"
	" short_url, mobile_number, client_ip, browser, platform, platform_version, engine,"
	" country, city, visited_on, device_type, created_on, long_url, channel, message_id,"
	" campaign_name, template_id, user_agent, method, non_human) FROM STDIN";

/* The batch's rows have distinct click ids (see id_set): ON CONFLICT skips those stored
 * already. (DISTINCT ON (click_id) here would do the same at the cost of a sort, about a
 * quarter of the statement's time.) */
static const char insert_clicks_sql[] =
	"INSERT INTO clicks (stream_id, click_id, company_id, txtly_id, code, recipient,"
	" short_url, mobile_number, client_ip, browser, platform, platform_version, engine,"
	" country, city, visited_on, device_type, created_on, long_url, channel, message_id,"
	" campaign_name, template_id, user_agent, method, non_human)"
	" SELECT stream_id, click_id, company_id, txtly_id, code,"
	" recipient, short_url, mobile_number, client_ip, browser, platform, platform_version,"
	" engine, country, city, to_timestamp(visited_on / 1000.0), device_type,"
	" to_timestamp(created_on), long_url, channel, message_id, campaign_name, template_id,"
	" user_agent, method, coalesce(non_human, '')"
	" FROM clicks_stage"
	" ON CONFLICT (click_id) DO NOTHING";

static const char insert_dead_letter_sql[] =
	"INSERT INTO dead_letters (stream, stream_id, reason, entry) VALUES ($1, $2, $3, $4)"
	" ON CONFLICT (stream, stream_id) DO NOTHING";

/* Up to 9999-12-31T23:59:59.999Z: later values would make PostgreSQL fail the batch. */
#define MAX_VISITED_ON_MS 253402300799999LL
#define MAX_CREATED_ON_S 253402300799LL
#define MAX_BIGINT 9223372036854775807LL

struct drain_options {
	const char *group;
	const char *consumer;
	long long count;
	long long block_ms;
	long long claim_idle_ms;
	bool once;
	bool keep; /* --keep: never trim the stream */
	/* linkreport run: the scheduler ticks between reads */
	bool schedule;
	long long interval;
	struct lr_reports_config reports;
	time_t clock_offset; /* --now minus the system clock */
	time_t next_tick;
	struct lr_tick_counts ticks;
};

struct counts {
	long long stored, duplicates, dead_letters;
};

struct drainer {
	const struct lr_config *cfg;
	struct drain_options *opt;
	const char *who;
	redisContext *redis;
	PGconn *pg;
	bool prepared; /* statement and staging table: made on first use, per connection */
	struct counts total;
};

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

static void json_append_string(char **json, size_t *len, size_t *cap, const redisReply *item)
{
	char *text = item->type == REDIS_REPLY_STRING ? sanitized_copy(item->str, item->len)
						       : lr_xstrdup("");
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

/* The entry as a JSON object, for dead_letters.entry. */
static char *entry_as_json(const redisReply *fields)
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
	json = lr_xrealloc(json, len + 2);
	json[len++] = '}';
	json[len] = '\0';
	return json;
}

/* An entry's field values: v[f] is NULL when absent. Valid UTF-8 without NUL (nearly
 * every value) points into the Redis reply, which hiredis NUL-terminates; anything else
 * is a sanitized copy held in owned[f]. */
struct entry_values {
	const char *v[N_FIELDS];
	char *owned[N_FIELDS];
	char *record; /* a version-2 record's values, split in place */
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

static const char *check_values(struct entry_values *e);

static const char *read_record(const redisReply *record, struct entry_values *e)
{
	const char *values[N_FIELDS];
	size_t lens[N_FIELDS], count;
	e->record = lr_xmalloc(record->len + 1);
	memcpy(e->record, record->str, record->len);
	const char *why = lr_record_split(e->record, record->len, values, lens, N_FIELDS, &count);
	if (why)
		return why;
	if (count < N_FIELDS)
		return "record has fewer values than the contract's fields";
	for (int i = 0; i < N_FIELDS; i++)
		set_value(e, record_order[i], values[i], lens[i]);
	return NULL;
}

/* Fills e (which must start empty) and returns NULL, or the reason to dead-letter. Takes
 * the edge's one-field record (version 2) and the field/value pairs of version 1. */
static const char *read_entry(const redisReply *fields, struct entry_values *e)
{
	static size_t name_lens[N_FIELDS];
	if (!name_lens[0])
		for (int f = 0; f < N_FIELDS; f++)
			name_lens[f] = strlen(field_names[f]);
	if (!fields || fields->type != REDIS_REPLY_ARRAY)
		return "entry no longer in the stream";
	if (fields->elements % 2 != 0)
		return "odd number of field/value items";
	if (fields->elements == 2 && fields->element[0]->type == REDIS_REPLY_STRING &&
	    strcmp(fields->element[0]->str, LR_RECORD_FIELD) == 0) {
		if (fields->element[1]->type != REDIS_REPLY_STRING)
			return "field or value is not a string";
		const char *why = read_record(fields->element[1], e);
		if (why)
			return why;
		return check_values(e);
	}
	for (size_t i = 0; i + 1 < fields->elements; i += 2) {
		const redisReply *name = fields->element[i], *value = fields->element[i + 1];
		if (name->type != REDIS_REPLY_STRING || value->type != REDIS_REPLY_STRING)
			return "field or value is not a string";
		for (int f = 0; f < N_FIELDS; f++) {
			if (name->len == name_lens[f] && memcmp(name->str, field_names[f], name->len) == 0) {
				set_value(e, f, value->str, value->len);
				break;
			}
		}
	}
	return check_values(e);
}

/* The checks every click passes, whichever form it came in. */
static const char *check_values(struct entry_values *e)
{
	const char *const *values = e->v;
	long long number;
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
			   &number))
		return "visited_on is not Unix milliseconds";
	/* Optional numbers: a bad value is stored as NULL rather than losing the click. */
	if (values[F_TXTLY_ID] &&
	    !lr_parse_uint(values[F_TXTLY_ID], strlen(values[F_TXTLY_ID]), MAX_BIGINT, &number))
		drop_value(e, F_TXTLY_ID);
	if (values[F_CREATED_ON] && !lr_parse_uint(values[F_CREATED_ON], strlen(values[F_CREATED_ON]),
						   MAX_CREATED_ON_S, &number))
		drop_value(e, F_CREATED_ON);
	return NULL;
}

/* The click ids of one batch, to keep only the first entry of an id the batch holds
 * twice (the edge retried): an INSERT may not touch the same row twice, even with
 * ON CONFLICT. Open addressing; ids are 32 lowercase hex, so their first 16 digits hash. */
struct id_set {
	const char **slots;
	size_t mask;
};

static void id_set_init(struct id_set *set, size_t n)
{
	size_t size = 16;
	while (size < n * 2)
		size *= 2;
	set->slots = lr_xcalloc(size, sizeof *set->slots);
	set->mask = size - 1;
}

/* Returns false when id was already there. The set keeps the pointer, not a copy. */
static bool id_set_add(struct id_set *set, const char *id)
{
	unsigned long long h = 0;
	for (int i = 0; i < 16 && id[i]; i++)
		h = h * 16 + (unsigned long long)(id[i] <= '9' ? id[i] - '0' : id[i] - 'a' + 10);
	h *= 0x9e3779b97f4a7c15ULL;
	for (size_t i = (size_t)(h >> 32) & set->mask;; i = (i + 1) & set->mask) {
		if (!set->slots[i]) {
			set->slots[i] = id;
			return true;
		}
		if (strcmp(set->slots[i], id) == 0)
			return false;
	}
}

/* A growing byte buffer for COPY data. */
struct copy_buf {
	char *data;
	size_t len, cap;
};

static void buf_reserve(struct copy_buf *b, size_t more)
{
	if (b->len + more <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 65536;
	while (cap < b->len + more)
		cap *= 2;
	b->data = lr_xrealloc(b->data, cap);
	b->cap = cap;
}

/* One COPY text-format field: NULL is \N; backslash, TAB, LF and CR are escaped (the only
 * bytes COPY would otherwise read as syntax), everything else passes as is. */
static void copy_field(struct copy_buf *b, const char *s, char sep)
{
	if (!s) {
		buf_reserve(b, 3);
		memcpy(b->data + b->len, "\\N", 2);
		b->len += 2;
	} else {
		size_t n = strlen(s);
		buf_reserve(b, n * 2 + 1);
		char *out = b->data + b->len;
		for (const char *p = s; *p; p++) {
			switch (*p) {
			case '\\': *out++ = '\\'; *out++ = '\\'; break;
			case '\t': *out++ = '\\'; *out++ = 't'; break;
			case '\n': *out++ = '\\'; *out++ = 'n'; break;
			case '\r': *out++ = '\\'; *out++ = 'r'; break;
			default: *out++ = *p;
			}
		}
		b->len = (size_t)(out - b->data);
	}
	b->data[b->len++] = sep;
}

/* Appends one entry's COPY row, or inserts its dead letter (inside the open transaction,
 * before the COPY starts). *n_valid counts the valid entries. */
static int stage_entry(struct drainer *d, const redisReply *entry, struct id_set *seen,
		       struct copy_buf *rows, size_t *n_valid, struct counts *batch)
{
	const redisReply *id = entry->element[0];
	const redisReply *fields = entry->elements > 1 ? entry->element[1] : NULL;
	struct entry_values e = {0};
	const char *reason = read_entry(fields, &e);
	int status = EX_OK;
	if (reason) {
		lr_ops_dead_letter(d->cfg->stream, id->str, reason);
		char *json = entry_as_json(fields && fields->type == REDIS_REPLY_ARRAY ? fields : NULL);
		const char *params[] = {d->cfg->stream, id->str, reason, json};
		PGresult *res = PQexecPrepared(d->pg, "insert_dead_letter", 4, params, NULL, NULL, 0);
		free(json);
		if (lr_db_ok(res)) {
			batch->dead_letters++;
			PQclear(res);
		} else {
			lr_db_fail(d->who, d->pg, res);
			status = EX_UNAVAILABLE;
		}
	} else {
		++*n_valid;
		/* A later entry of an id already in this batch is a duplicate; the borrowed id
		 * stays valid as long as the reply, i.e. the batch. */
		if (id_set_add(seen, e.v[F_CLICK_ID])) {
			copy_field(rows, id->str, '\t');
			for (int f = 0; f < N_FIELDS; f++)
				copy_field(rows, e.v[f], f + 1 < N_FIELDS ? '\t' : '\n');
		}
	}
	free_values(&e);
	return status;
}

/* COPY rows into clicks_stage, then move them into clicks; *stored is what was new. */
static int write_rows(struct drainer *d, const struct copy_buf *rows, long long *stored)
{
	PGresult *res = PQexec(d->pg, copy_stage_sql);
	if (PQresultStatus(res) != PGRES_COPY_IN) {
		lr_db_fail(d->who, d->pg, res);
		return EX_UNAVAILABLE;
	}
	PQclear(res);
	const size_t chunk = 1 << 20;
	bool sent = true;
	for (size_t off = 0; off < rows->len && sent; off += chunk) {
		size_t n = rows->len - off < chunk ? rows->len - off : chunk;
		sent = PQputCopyData(d->pg, rows->data + off, (int)n) == 1;
	}
	/* Ends the COPY either way; with an error message the server aborts it. */
	if (PQputCopyEnd(d->pg, sent ? NULL : "drain: sending COPY data failed") != 1)
		sent = false;
	int status = EX_OK;
	while ((res = PQgetResult(d->pg)) != NULL) {
		if (status == EX_OK && !lr_db_ok(res)) {
			lr_db_fail(d->who, d->pg, res);
			status = EX_UNAVAILABLE;
		} else {
			PQclear(res);
		}
	}
	if (status == EX_OK && !sent) {
		lr_db_fail(d->who, d->pg, NULL);
		status = EX_UNAVAILABLE;
	}
	if (status)
		return status;
	res = PQexec(d->pg, insert_clicks_sql);
	if (!lr_db_ok(res)) {
		lr_db_fail(d->who, d->pg, res);
		return EX_UNAVAILABLE;
	}
	*stored = strtoll(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	return EX_OK;
}

static bool is_entry(const redisReply *entry)
{
	return entry->type == REDIS_REPLY_ARRAY && entry->elements >= 1 &&
	       entry->element[0]->type == REDIS_REPLY_STRING;
}

/* Per connection: the dead letter statement and the staging table. */
static int prepare_statements(struct drainer *d)
{
	if (d->prepared)
		return EX_OK;
	/* The COPY data is UTF-8 whatever the database's default client encoding. */
	if (lr_db_exec(d->who, d->pg, "SET client_encoding = 'UTF8'") ||
	    lr_db_exec(d->who, d->pg, create_stage_sql))
		return EX_UNAVAILABLE;
	PGresult *res = PQprepare(d->pg, "insert_dead_letter", insert_dead_letter_sql, 0, NULL);
	if (!lr_db_ok(res)) {
		lr_db_fail(d->who, d->pg, res);
		return EX_UNAVAILABLE;
	}
	PQclear(res);
	d->prepared = true;
	return EX_OK;
}

/* Compares two stream ids "ms-seq" numerically. */
static int compare_ids(const char *a, const char *b)
{
	unsigned long long am = 0, as = 0, bm = 0, bs = 0;
	sscanf(a, "%llu-%llu", &am, &as);
	sscanf(b, "%llu-%llu", &bm, &bs);
	if (am != bm)
		return am < bm ? -1 : 1;
	return as < bs ? -1 : as > bs;
}

/* Bounds the stream without ever losing a click: entries older than what every group
 * on the stream still needs (its oldest pending entry, or else its last read one) are
 * stored in PostgreSQL by that group already, and are trimmed (XTRIM MINID ~). A group
 * that has read nothing keeps everything. Failures only postpone the trim. */
static void trim_read_entries(struct drainer *d)
{
	char minid[64] = "";
	redisReply *groups = redisCommand(d->redis, "XINFO GROUPS %s", d->cfg->stream);
	if (!groups || groups->type != REDIS_REPLY_ARRAY || groups->elements == 0)
		goto out;
	for (size_t g = 0; g < groups->elements; g++) {
		const redisReply *info = groups->element[g];
		const char *name = NULL, *last = NULL;
		long long pending = 0;
		for (size_t i = 0; info->type == REDIS_REPLY_ARRAY && i + 1 < info->elements; i += 2) {
			const char *key = info->element[i]->str;
			const redisReply *val = info->element[i + 1];
			if (!key)
				continue;
			if (strcmp(key, "name") == 0 && val->type == REDIS_REPLY_STRING)
				name = val->str;
			else if (strcmp(key, "last-delivered-id") == 0 && val->type == REDIS_REPLY_STRING)
				last = val->str;
			else if (strcmp(key, "pending") == 0 && val->type == REDIS_REPLY_INTEGER)
				pending = val->integer;
		}
		if (!name || !last || strcmp(last, "0-0") == 0)
			goto out; /* a group that has read nothing yet: keep all */
		char need[64];
		snprintf(need, sizeof need, "%s", last);
		if (pending > 0) {
			redisReply *p = redisCommand(d->redis, "XPENDING %s %s", d->cfg->stream, name);
			if (!p || p->type != REDIS_REPLY_ARRAY || p->elements < 2 ||
			    p->element[1]->type != REDIS_REPLY_STRING) {
				freeReplyObject(p);
				goto out;
			}
			snprintf(need, sizeof need, "%s", p->element[1]->str);
			freeReplyObject(p);
		}
		if (!minid[0] || compare_ids(need, minid) < 0)
			snprintf(minid, sizeof minid, "%s", need);
	}
	if (minid[0]) {
		redisReply *t = redisCommand(d->redis, "XTRIM %s MINID ~ %s", d->cfg->stream, minid);
		lr_ops_trimmed(d->cfg->stream, t);
		freeReplyObject(t);
	}
out:
	freeReplyObject(groups);
}

/* One transaction for the batch (dead letters, then COPY and INSERT ... SELECT), then
 * XACK. Any PostgreSQL failure rolls back and acks nothing, so the entries stay pending
 * for the next attempt. */
static int process_batch(struct drainer *d, const redisReply *entries)
{
	struct counts batch = {0};
	lr_ops_batch_begin();
	if (prepare_statements(d))
		return EX_UNAVAILABLE;
	if (lr_db_exec(d->who, d->pg, "BEGIN"))
		return EX_UNAVAILABLE;
	struct copy_buf rows = {0};
	struct id_set seen;
	id_set_init(&seen, entries->elements);
	size_t n_valid = 0;
	int status = EX_OK;
	for (size_t i = 0; i < entries->elements && status == EX_OK; i++) {
		if (is_entry(entries->element[i]))
			status = stage_entry(d, entries->element[i], &seen, &rows, &n_valid, &batch);
	}
	if (status == EX_OK && rows.len > 0) {
		long long stored = 0;
		status = write_rows(d, &rows, &stored);
		batch.stored = stored;
		batch.duplicates = (long long)n_valid - stored;
	} else if (status == EX_OK) {
		batch.duplicates = (long long)n_valid;
	}
	free(rows.data);
	free(seen.slots);
	if (status) {
		lr_db_rollback(d->pg);
		return EX_UNAVAILABLE;
	}
	if (lr_db_exec(d->who, d->pg, "COMMIT"))
		return EX_UNAVAILABLE;

	size_t argc = 0;
	const char **argv = lr_xcalloc(entries->elements + 3, sizeof *argv);
	size_t *argvlen = lr_xcalloc(entries->elements + 3, sizeof *argvlen);
	argv[argc] = "XACK", argvlen[argc++] = 4;
	argv[argc] = d->cfg->stream, argvlen[argc++] = strlen(d->cfg->stream);
	argv[argc] = d->opt->group, argvlen[argc++] = strlen(d->opt->group);
	for (size_t i = 0; i < entries->elements; i++) {
		if (!is_entry(entries->element[i]))
			continue;
		argv[argc] = entries->element[i]->element[0]->str;
		argvlen[argc++] = entries->element[i]->element[0]->len;
	}
	if (argc > 3) {
		redisReply *reply = redisCommandArgv(d->redis, (int)argc, argv, argvlen);
		if (!reply || reply->type != REDIS_REPLY_INTEGER) {
			lr_redis_report(d->who, "XACK", d->redis, reply);
			status = EX_UNAVAILABLE;
		} else {
			freeReplyObject(reply);
		}
	}
	free(argv);
	free(argvlen);
	if (status == EX_OK && !d->opt->keep)
		trim_read_entries(d);
	/* Committed rows count even when the ack failed: a re-delivery finds them duplicates. */
	d->total.stored += batch.stored;
	d->total.duplicates += batch.duplicates;
	d->total.dead_letters += batch.dead_letters;
	lr_ops_batch(d->cfg->stream, entries->elements, batch.stored, batch.duplicates,
		     batch.dead_letters);
	return status;
}

/* XREADGROUP from `start` ("0": our pending entries; ">": new ones). Sets *n_read. */
static int read_and_store(struct drainer *d, const char *start, long long block_ms,
			  size_t *n_read)
{
	char count[24], block[24];
	snprintf(count, sizeof count, "%lld", d->opt->count);
	snprintf(block, sizeof block, "%lld", block_ms);
	const char *argv[12];
	int argc = 0;
	argv[argc++] = "XREADGROUP";
	argv[argc++] = "GROUP";
	argv[argc++] = d->opt->group;
	argv[argc++] = d->opt->consumer;
	argv[argc++] = "COUNT";
	argv[argc++] = count;
	if (block_ms > 0) {
		argv[argc++] = "BLOCK";
		argv[argc++] = block;
	}
	argv[argc++] = "STREAMS";
	argv[argc++] = d->cfg->stream;
	argv[argc++] = start;
	*n_read = 0;
	redisReply *reply = redisCommandArgv(d->redis, argc, argv, NULL);
	if (!reply || (reply->type != REDIS_REPLY_NIL && reply->type != REDIS_REPLY_ARRAY)) {
		lr_redis_report(d->who, "XREADGROUP", d->redis, reply);
		return EX_UNAVAILABLE;
	}
	int status = EX_OK;
	/* Reply: nil, or [[stream, [[id, [field, value, ...] or nil], ...]]]. */
	if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 1 &&
	    reply->element[0]->type == REDIS_REPLY_ARRAY && reply->element[0]->elements == 2 &&
	    reply->element[0]->element[1]->type == REDIS_REPLY_ARRAY) {
		const redisReply *entries = reply->element[0]->element[1];
		*n_read = entries->elements;
		if (entries->elements > 0)
			status = process_batch(d, entries);
	}
	freeReplyObject(reply);
	return status;
}

/* Takes over entries other consumers (e.g. a crashed drain with another default name)
 * left pending for longer than --claim-idle-ms; they then read as our own pending ones. */
static int claim_abandoned(struct drainer *d)
{
	char idle[24], count[24];
	snprintf(idle, sizeof idle, "%lld", d->opt->claim_idle_ms);
	snprintf(count, sizeof count, "%lld", d->opt->count);
	char *cursor = lr_xstrdup("0-0");
	int status = EX_OK;
	for (;;) {
		const char *argv[] = {"XAUTOCLAIM", d->cfg->stream, d->opt->group, d->opt->consumer,
				      idle,	    cursor,	    "COUNT",	   count,
				      "JUSTID"};
		redisReply *reply = redisCommandArgv(d->redis, 9, argv, NULL);
		if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 2 ||
		    reply->element[0]->type != REDIS_REPLY_STRING) {
			lr_redis_report(d->who, "XAUTOCLAIM", d->redis, reply);
			status = EX_UNAVAILABLE;
			break;
		}
		free(cursor);
		cursor = lr_xstrdup(reply->element[0]->str);
		freeReplyObject(reply);
		if (strcmp(cursor, "0-0") == 0 || stop_requested)
			break;
	}
	free(cursor);
	return status;
}

static void disconnect(struct drainer *d)
{
	if (d->redis)
		redisFree(d->redis);
	if (d->pg)
		PQfinish(d->pg);
	d->redis = NULL;
	d->pg = NULL;
}

static int connect_all(struct drainer *d)
{
	/* The command timeout must outlast a blocking XREADGROUP. */
	int timeout_ms = (int)(d->opt->block_ms + 10000);
	int status;
	d->redis = lr_redis_connect(d->cfg, d->who, timeout_ms, &status);
	if (!d->redis)
		return status;
	const char *argv[] = {"XGROUP", "CREATE", d->cfg->stream, d->opt->group, "0", "MKSTREAM"};
	redisReply *reply = redisCommandArgv(d->redis, 6, argv, NULL);
	if (!reply || (reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "BUSYGROUP", 9) != 0)) {
		lr_redis_report(d->who, "XGROUP CREATE", d->redis, reply);
		return EX_UNAVAILABLE;
	}
	freeReplyObject(reply);

	d->pg = lr_db_connect(d->cfg, d->who, &status);
	if (!d->pg)
		return status;
	d->prepared = false;
	return EX_OK;
}

/* linkreport run: a scheduler tick when one is due. Its failures are logged and do not
 * stop the drain; the next tick tries again. */
static void maybe_tick(struct drainer *d)
{
	struct drain_options *o = d->opt;
	if (!o->schedule || stop_requested || time(NULL) < o->next_tick)
		return;
	int status = lr_schedule_tick(d->cfg, d->who, &o->reports, time(NULL) + o->clock_offset,
				      (volatile const int *)&stop_requested, &o->ticks);
	if (status)
		lr_err("%s: scheduler tick failed; next one in %lld s", d->who, o->interval);
	o->next_tick = time(NULL) + (time_t)o->interval;
}

/* Pending first (what an earlier run read but did not ack), then new entries. In --once
 * mode reads never block and the pass ends when the stream has nothing more. */
static int run_pass(struct drainer *d)
{
	int status = claim_abandoned(d);
	size_t n;
	while (status == EX_OK && !stop_requested) {
		status = read_and_store(d, "0", 0, &n);
		if (n == 0)
			break;
	}
	while (status == EX_OK && !stop_requested) {
		if (!d->opt->once)
			maybe_tick(d);
		status = read_and_store(d, ">", d->opt->once ? 0 : d->opt->block_ms, &n);
		if (n == 0 && d->opt->once)
			break;
	}
	return status;
}

static void sleep_ms(long long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !stop_requested)
		;
}

static const char usage[] =
	"usage: linkreport drain [--group G] [--consumer NAME] [--count N] [--block-ms MS]\n"
	"         [--claim-idle-ms MS] [--once] [--keep]\n"
	"  --group G           consumer group (default linkreport)\n"
	"  --consumer NAME     consumer name (default HOSTNAME-PID); keep it stable per worker\n"
	"  --count N           entries per batch and transaction (default 500)\n"
	"  --block-ms MS       how long one read waits for new entries (default 5000)\n"
	"  --claim-idle-ms MS  take over other consumers' entries pending longer (default 60000)\n"
	"  --once              drain what is there, print a summary and exit\n"
	"  --keep              never trim the stream (default: after each batch, entries every\n"
	"                      group on the stream has read and acknowledged are trimmed)\n"
	"Without --once runs until SIGTERM/SIGINT, retrying with backoff when PostgreSQL or\n"
	"Redis fails.\n";

static bool parse_positive(const char *who, const char *option, const char *value,
			   long long max, long long *out)
{
	if (!lr_parse_uint(value, strlen(value), max, out)) {
		lr_err("%s: %s must be an integer from 0 to %lld", who, option, max);
		return false;
	}
	return true;
}

static const char run_usage[] =
	"usage: linkreport run [--interval SECONDS] [--once] [drain options]\n"
	"The daemon: drains clicks like 'linkreport drain' and, every --interval seconds\n"
	"(default 30), sends the scheduled reports that are due like 'linkreport schedule'.\n"
	"  --once  drain what is there, run one scheduler tick, print summaries and exit\n"
	"Drain options: --group, --consumer, --count, --block-ms, --claim-idle-ms (see\n"
	"'linkreport drain --help'). Reports are configured by the environment: see\n"
	"docs/reports.md. --now (global) shifts the daemon's clock, for tests.\n";

static int drain_command(const struct lr_config *cfg, int argc, char **argv, bool schedule);

int cmd_drain(const struct lr_config *cfg, int argc, char **argv)
{
	return drain_command(cfg, argc, argv, false);
}

int cmd_run(const struct lr_config *cfg, int argc, char **argv)
{
	return drain_command(cfg, argc, argv, true);
}

static int drain_command(const struct lr_config *cfg, int argc, char **argv, bool schedule)
{
	const char *who = schedule ? "run" : "drain";
	static const struct option options[] = {
		{"interval", required_argument, NULL, 'I'},
		{"group", required_argument, NULL, 'g'},
		{"consumer", required_argument, NULL, 'c'},
		{"count", required_argument, NULL, 'n'},
		{"block-ms", required_argument, NULL, 'b'},
		{"claim-idle-ms", required_argument, NULL, 'i'},
		{"once", no_argument, NULL, 'o'},
		{"keep", no_argument, NULL, 'k'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct drain_options opt = {.group = "linkreport",
				    .count = 500,
				    .block_ms = 5000,
				    .claim_idle_ms = 60000,
				    .schedule = schedule,
				    .interval = 30};
	char consumer_buf[300];
	int c;
	optind = 0;
	while ((c = lr_getopt(who, argc, argv, options)) != -1) {
		switch (c) {
		case 'g': opt.group = optarg; break;
		case 'c': opt.consumer = optarg; break;
		case 'n':
			if (!parse_positive(who, "--count", optarg, 100000, &opt.count))
				return EX_USAGE;
			break;
		case 'b':
			if (!parse_positive(who, "--block-ms", optarg, 3600000, &opt.block_ms))
				return EX_USAGE;
			break;
		case 'i':
			if (!parse_positive(who, "--claim-idle-ms", optarg, 86400000LL * 365,
					    &opt.claim_idle_ms))
				return EX_USAGE;
			break;
		case 'o': opt.once = true; break;
		case 'k': opt.keep = true; break;
		case 'I':
			if (!schedule) {
				lr_err("%s: unknown option '--interval' (see --help)", who);
				return EX_USAGE;
			}
			if (!parse_positive(who, "--interval", optarg, 86400, &opt.interval))
				return EX_USAGE;
			if (opt.interval == 0) {
				lr_err("%s: --interval must be at least 1", who);
				return EX_USAGE;
			}
			break;
		case 'h': fputs(schedule ? run_usage : usage, stdout); return EX_OK;
		default: return EX_USAGE;
		}
	}
	int status = lr_no_operands(who, argc, argv);
	if (status)
		return status;
	if (opt.count == 0) {
		lr_err("%s: --count must be at least 1", who);
		return EX_USAGE;
	}
	if (!*opt.group || (opt.consumer && !*opt.consumer)) {
		lr_err("%s: --group and --consumer must not be empty", who);
		return EX_USAGE;
	}
	if (schedule) {
		time_t now;
		if ((status = lr_reports_config_load(who, &opt.reports, true)))
			return status;
		if (!lr_config_now(cfg, who, &now))
			return EX_USAGE;
		opt.clock_offset = now - time(NULL);
	}
	if (!opt.consumer) {
		char host[256];
		if (gethostname(host, sizeof host) != 0)
			snprintf(host, sizeof host, "linkreport");
		host[sizeof host - 1] = '\0';
		snprintf(consumer_buf, sizeof consumer_buf, "%s-%ld", host, (long)getpid());
		opt.consumer = consumer_buf;
	}

	struct sigaction sa = {0};
	sa.sa_handler = request_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	/* A batch's reply is hundreds of thousands of small hiredis objects, all freed at once;
	 * parked in fastbins, glibc would walk them all again (malloc_consolidate) on the next
	 * large allocation, which profiled at about 40% of the drain's CPU. */
	mallopt(M_MXFAST, 0);

	/* structured logs and /metrics for the daemon */
	if ((status = lr_ops_start(cfg, who, opt.once ? 0 : LR_OPS_LOG | LR_OPS_METRICS)))
		return status;

	struct drainer d = {.cfg = cfg, .opt = &opt, .who = who};
	long long backoff_ms = 500;
	for (;;) {
		struct counts before = d.total;
		status = connect_all(&d);
		if (status == EX_OK) {
			lr_ops_connected();
			status = run_pass(&d);
		}
		if (d.total.stored + d.total.duplicates + d.total.dead_letters >
		    before.stored + before.duplicates + before.dead_letters)
			backoff_ms = 500; /* it worked for a while: start the backoff afresh */
		if (opt.once || stop_requested || status == EX_USAGE)
			break;
		/* Daemon: the failed batch is still pending and is read again after reconnecting. */
		lr_ops_retry(who, d.redis, backoff_ms);
		disconnect(&d);
		sleep_ms(backoff_ms);
		if (stop_requested)
			break;
		backoff_ms = backoff_ms * 2 > 30000 ? 30000 : backoff_ms * 2;
	}
	disconnect(&d);
	if (schedule && opt.once && status == EX_OK) {
		time_t now;
		lr_config_now(cfg, who, &now);
		status = lr_schedule_tick(cfg, who, &opt.reports, now, NULL, &opt.ticks);
	}
	if (stop_requested)
		status = EX_OK;
	lr_ops_stop();
	printf("drained: %lld stored, %lld duplicates, %lld dead letters\n", d.total.stored,
	       d.total.duplicates, d.total.dead_letters);
	if (schedule)
		printf("schedule: %lld due, %lld sent, %lld failed\n", opt.ticks.due, opt.ticks.sent,
		       opt.ticks.failed);
	return status;
}
