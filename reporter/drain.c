/* drain: Redis stream -> PostgreSQL clicks. At-least-once delivery from the stream plus
 * the unique key (click_id, visited_on) gives exactly-once rows: a batch is acknowledged
 * only after its transaction committed, so a crash re-delivers it and duplicates fall
 * away. A batch is written with one binary COPY straight into clicks, under a savepoint.
 * Only when that COPY hits a unique violation (the batch holds a click stored already:
 * a re-delivery after a crash, or an edge's spool replay) is the batch rolled back to the
 * savepoint and written the slow way: COPY into a per-connection temporary staging table
 * and INSERT ... SELECT ... ON CONFLICT DO NOTHING, in the same transaction. */
#include <errno.h>
#include <libpq-fe.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "db.h"
#include "drain_rows.h"
#include "ops.h"
#include "record.h"
#include "redis_conn.h"
#include "reply_arena.h"
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

/* The fast path: straight into clicks (PostgreSQL routes each row to its partition). */
static const char copy_clicks_sql[] = "COPY clicks " LR_CLICK_COPY_COLUMNS " FROM STDIN (FORMAT binary)";

/* The fallback: the staging table, one per connection, has the columns and types of
 * clicks and is emptied by every COMMIT (and ROLLBACK) that touched it. */
static const char create_stage_sql[] =
	"CREATE TEMP TABLE IF NOT EXISTS clicks_stage (LIKE clicks INCLUDING DEFAULTS)"
	" ON COMMIT DELETE ROWS";
static const char copy_stage_sql[] =
	"COPY clicks_stage " LR_CLICK_COPY_COLUMNS " FROM STDIN (FORMAT binary)";

/* The batch's rows have distinct click ids (see id_set): ON CONFLICT skips those stored
 * already. (DISTINCT ON (click_id) here would do the same at the cost of a sort.) No
 * conflict target: the unique key is (click_id, visited_on) since migration 4. */
static const char insert_clicks_sql[] =
	"INSERT INTO clicks SELECT * FROM clicks_stage ON CONFLICT DO NOTHING";

/* SQLSTATE unique_violation */
#define UNIQUE_VIOLATION "23505"

static const char insert_dead_letter_sql[] =
	"INSERT INTO dead_letters (stream, stream_id, record_no, reason, entry)"
	" VALUES ($1, $2, $3, $4, $5) ON CONFLICT (stream, stream_id, record_no) DO NOTHING";

/* With several Redis servers: the longest a read waits on one of them, and the most
 * batches of one server in a row. */
#define SHORT_BLOCK_MS 200
#define TURN_BATCHES 8

struct drain_options {
	const char *group;
	const char *consumer;
	long long count;
	long long block_ms;
	long long flush_ms; /* least time between the starts of two partial batches */
	long long claim_idle_ms;
	bool once;
	bool keep; /* --keep: never trim the stream */
	/* linkreport run: the scheduler ticks between reads */
	bool schedule;
	long long interval;
	struct lr_reports_config reports;
	time_t clock_offset; /* --now minus the system clock */
	time_t next_tick;
	time_t next_partitions; /* when to make the months ahead again */
	struct lr_tick_counts ticks;
};

struct counts {
	long long stored, duplicates, dead_letters;
	long long slow_batches; /* batches that fell back to the staging table */
};

/* One Redis server of the list (one per edge region): its own connection, consumer
 * group state and backoff. */
struct server {
	char *addr;
	char *dl_stream;    /* dead_letters.stream: the stream, or STREAM@ADDR with several */
	redisContext *redis; /* NULL while down */
	bool failed;        /* a Redis command on it failed during its turn */
	bool caught_up;     /* its pending entries were read since it (re)connected */
	bool tried;         /* --once: one connection attempt per run */
	/* entries and records of the last batch read from it: how many records an entry
	 * holds there, to ask for about --count records (0: none read yet) */
	long long ratio_entries, ratio_records;
	long long backoff_ms;
	struct timespec retry_at;
};

struct drainer {
	const struct lr_config *cfg;
	struct drain_options *opt;
	const char *who;
	struct server *servers, *cur;
	size_t n_servers;
	redisContext *redis; /* cur->redis */
	PGconn *pg;
	bool prepared; /* statement and staging table: made on first use, per connection */
	struct counts total;
};

/* A Redis command of the current server failed: printed (naming the server when there
 * are several) and remembered, so that only this server is set aside. */
static void redis_failed_keep(struct drainer *d, const char *what, const redisReply *reply)
{
	char why[256];
	lr_redis_describe(d->redis, reply, why, sizeof why);
	if (d->n_servers > 1)
		lr_err("%s: Redis at %s: %s failed: %s", d->who, d->cur->addr, what, why);
	else
		lr_err("%s: Redis %s failed: %s", d->who, what, why);
	d->cur->failed = true;
}

/* The same, and frees reply (hiredis's own objects). */
static void redis_failed(struct drainer *d, const char *what, redisReply *reply)
{
	redis_failed_keep(d, what, reply);
	freeReplyObject(reply);
}

/* lr_batch_rows's dead letters: inserted inside the open transaction, before the COPY
 * starts. */
struct staging {
	struct drainer *d;
	struct counts *batch;
};

static int insert_dead_letter(void *ctx, const struct lr_dead_letter *dl)
{
	struct staging *st = ctx;
	struct drainer *d = st->d;
	char record[24];
	snprintf(record, sizeof record, "%zu", dl->record);
	lr_ops_dead_letter(d->cur->dl_stream, dl->stream_id, dl->reason);
	const char *params[] = {d->cur->dl_stream, dl->stream_id, record, dl->reason, dl->entry};
	PGresult *res = PQexecPrepared(d->pg, "insert_dead_letter", 5, params, NULL, NULL, 0);
	if (!lr_db_ok(res)) {
		lr_db_fail(d->who, d->pg, res);
		return EX_UNAVAILABLE;
	}
	st->batch->dead_letters++;
	PQclear(res);
	return EX_OK;
}

/* The next batch's XREADGROUP, sent before the current batch is written and received
 * while PostgreSQL works through the current batch's COPY: reading and parsing the next
 * batch overlaps with storing this one. */
struct prefetch {
	const char *start; /* NULL: no prefetch */
	long long count;   /* the COUNT it asked for */
	bool sent, failed;
	redisReply *reply; /* once received */
};

static bool wait_fd(int fd, short events)
{
	struct pollfd p = {fd, events, 0};
	return poll(&p, 1, -1) >= 0 || errno == EINTR;
}

/* Queues bytes of a COPY on a non-blocking connection (libpq buffers them; a 0 return
 * means its buffer is full for now). */
static bool queue_copy(PGconn *pg, const char *data, size_t len)
{
	int r;
	while ((r = len ? PQputCopyData(pg, data, (int)len) : PQputCopyEnd(pg, NULL)) == 0)
		if (PQflush(pg) < 0 || !wait_fd(PQsocket(pg), POLLOUT))
			return false;
	return r == 1;
}

/* Receives what Redis has sent of the prefetch reply; sets next->reply when complete. */
static void receive_prefetch(struct drainer *d, struct prefetch *next)
{
	void *reply = NULL;
	lr_arena_attach(d->redis);
	if (redisBufferRead(d->redis) != REDIS_OK ||
	    redisGetReplyFromReader(d->redis, &reply) != REDIS_OK)
		next->failed = true;
	else
		next->reply = reply;
	lr_arena_detach(d->redis, reply, next->failed);
}

/* One COPY ... FROM STDIN of the rows (the trailer is added here), sent on the connection
 * in non-blocking mode so that, while the server works, the prefetch reply (if one was
 * sent) is received. Returns the COPY's final result, or NULL after printing when the
 * data could not be sent. */
static PGresult *copy_in(struct drainer *d, const char *sql, struct lr_copy_buf *rows,
			 struct prefetch *next)
{
	PGresult *res = PQexec(d->pg, sql);
	if (PQresultStatus(res) != PGRES_COPY_IN) {
		lr_db_fail(d->who, d->pg, res);
		return NULL;
	}
	PQclear(res);
	static const char trailer[2] = {'\xff', '\xff'};
	const size_t chunk = 1 << 20;
	bool sent = PQsetnonblocking(d->pg, 1) == 0;
	for (size_t off = 0; off < rows->len && sent; off += chunk)
		sent = queue_copy(d->pg, rows->data + off,
				  rows->len - off < chunk ? rows->len - off : chunk);
	sent = sent && queue_copy(d->pg, trailer, 2) && queue_copy(d->pg, NULL, 0);
	PGresult *last = NULL;
	bool pg_done = !sent;
	bool redis_done = !next || !next->sent || next->reply || next->failed;
	/* Only while PostgreSQL works: a Redis reply still missing then is awaited after the
	 * COMMIT with the connection's command timeout (a silent server must not hold the
	 * drain, nor SIGTERM, here). */
	while (!pg_done) {
		int flush = pg_done ? 0 : PQflush(d->pg);
		struct pollfd fds[2];
		nfds_t n = 0;
		if (flush < 0)
			break;
		if (!pg_done)
			fds[n++] = (struct pollfd){PQsocket(d->pg), POLLIN | (flush ? POLLOUT : 0), 0};
		if (!redis_done)
			fds[n++] = (struct pollfd){d->redis->fd, POLLIN, 0};
		if (poll(fds, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (!pg_done && (fds[0].revents & (POLLIN | POLLERR | POLLHUP))) {
			if (!PQconsumeInput(d->pg))
				break;
			while (!PQisBusy(d->pg)) {
				if (!(res = PQgetResult(d->pg))) {
					pg_done = true;
					break;
				}
				PQclear(last);
				last = res;
			}
		}
		if (!redis_done && fds[n - 1].revents) {
			receive_prefetch(d, next);
			redis_done = next->reply || next->failed;
		}
	}
	PQsetnonblocking(d->pg, 0);
	if (!sent || !pg_done || !last) {
		lr_db_fail(d->who, d->pg, last);
		return NULL;
	}
	return last;
}

static bool is_unique_violation(const PGresult *res)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	return state && strcmp(state, UNIQUE_VIOLATION) == 0;
}

/* Writes the rows into clicks; *stored is what was new. The fast path copies straight
 * into clicks under a savepoint; a unique violation means the batch holds a click stored
 * already, and only then does the batch go through the staging table, where ON CONFLICT
 * skips the stored ones. */
static int write_rows(struct drainer *d, struct lr_copy_buf *rows, long long *stored,
		      struct counts *batch, struct prefetch *next)
{
	if (lr_db_exec(d->who, d->pg, "SAVEPOINT batch"))
		return EX_UNAVAILABLE;
	PGresult *res = copy_in(d, copy_clicks_sql, rows, next);
	if (!res)
		return EX_UNAVAILABLE;
	if (lr_db_ok(res)) {
		*stored = strtoll(PQcmdTuples(res), NULL, 10);
		PQclear(res);
		return EX_OK;
	}
	if (!is_unique_violation(res)) {
		lr_db_fail(d->who, d->pg, res);
		return EX_UNAVAILABLE;
	}
	PQclear(res);
	batch->slow_batches++;
	if (lr_db_exec(d->who, d->pg, "ROLLBACK TO SAVEPOINT batch") ||
	    lr_db_exec(d->who, d->pg, create_stage_sql))
		return EX_UNAVAILABLE;
	res = copy_in(d, copy_stage_sql, rows, NULL);
	if (!res)
		return EX_UNAVAILABLE;
	if (!lr_db_ok(res)) {
		lr_db_fail(d->who, d->pg, res);
		return EX_UNAVAILABLE;
	}
	PQclear(res);
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

/* Per connection: the dead letter statement. (The staging table is made when first
 * needed, by the fallback.) */
static int prepare_statements(struct drainer *d)
{
	if (d->prepared)
		return EX_OK;
	/* The COPY data is UTF-8 whatever the database's default client encoding. */
	if (lr_db_exec(d->who, d->pg, "SET client_encoding = 'UTF8'"))
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

static int send_read(struct drainer *d, const char *start, long long block_ms,
		     long long *asked);

/* XACK stream group id...: the argv of the batch's ids, copied out of the reply. */
struct ack_list {
	const char **argv;
	size_t *argvlen, argc;
	char *ids;
};

static struct ack_list ack_list_make(const struct drainer *d, const redisReply *entries)
{
	struct ack_list a = {0};
	size_t bytes = 0;
	for (size_t i = 0; i < entries->elements; i++)
		if (is_entry(entries->element[i]))
			bytes += entries->element[i]->element[0]->len + 1;
	a.ids = lr_xmalloc(bytes + 1);
	a.argv = lr_xcalloc(entries->elements + 3, sizeof *a.argv);
	a.argvlen = lr_xcalloc(entries->elements + 3, sizeof *a.argvlen);
	a.argv[a.argc] = "XACK", a.argvlen[a.argc++] = 4;
	a.argv[a.argc] = d->cfg->stream, a.argvlen[a.argc++] = strlen(d->cfg->stream);
	a.argv[a.argc] = d->opt->group, a.argvlen[a.argc++] = strlen(d->opt->group);
	char *p = a.ids;
	for (size_t i = 0; i < entries->elements; i++) {
		if (!is_entry(entries->element[i]))
			continue;
		const redisReply *id = entries->element[i]->element[0];
		memcpy(p, id->str, id->len + 1);
		a.argv[a.argc] = p;
		a.argvlen[a.argc++] = id->len;
		p += id->len + 1;
	}
	return a;
}

static void ack_list_free(struct ack_list *a)
{
	free(a->argv);
	free(a->argvlen);
	free(a->ids);
}

/* The records of a batch's entries; remembered per server, so that the next read asks
 * for about --count records however many an entry holds there. */
static size_t count_records(struct server *s, const redisReply *entries)
{
	size_t n = 0;
	for (size_t i = 0; i < entries->elements; i++)
		if (is_entry(entries->element[i]))
			n += lr_entry_records(entries->element[i]->elements > 1
						      ? entries->element[i]->element[1]
						      : NULL);
	if (n > 0) {
		s->ratio_entries = (long long)entries->elements;
		s->ratio_records = (long long)n;
	}
	return n;
}

/* XREADGROUP's and XAUTOCLAIM's COUNT counts entries, and an entry holds up to
 * LR_RECORDS_PER_ENTRY_MAX records: --count entries could be 64 times the records (and
 * memory) meant. So COUNT is --count scaled by the entries per record of the server's
 * last batch; before the first one, by the most records an entry may hold, so that not
 * even the first batch after a restart in front of a backlog exceeds --count records. */
static long long read_count(const struct drainer *d)
{
	const struct server *s = d->cur;
	long long count = d->opt->count;
	long long n = s->ratio_records
			      ? (count * s->ratio_entries + s->ratio_records / 2) / s->ratio_records
			      : (count + LR_RECORDS_PER_ENTRY_MAX - 1) / LR_RECORDS_PER_ENTRY_MAX;
	return n > 0 ? n : 1;
}

/* One transaction for the batch (dead letters, then the COPY), then XACK. Any
 * PostgreSQL failure rolls back and acks nothing, so the entries stay pending for the
 * next attempt. With next->start set, the next batch's read is sent first and its reply
 * received while the COPY runs (next->reply, or NULL when that failed: the caller then
 * reads again). */
static int process_batch(struct drainer *d, redisReply **owned, const redisReply *entries,
			 struct prefetch *next)
{
	struct counts batch = {0};
	lr_ops_batch_begin();
	if (prepare_statements(d))
		return EX_UNAVAILABLE;
	/* Counted first: the next read's COUNT follows this batch's records per entry. */
	size_t n_records = count_records(d->cur, entries);
	/* Redis makes the next reply while the batch is prepared. */
	if (next->start)
		next->sent = send_read(d, next->start, 0, &next->count) == EX_OK;
	if (lr_db_exec(d->who, d->pg, "BEGIN"))
		return EX_UNAVAILABLE;
	struct staging st = {d, &batch};
	struct lr_batch_rows b = {.dead_letter = insert_dead_letter, .ctx = &st};
	/* sized for the batch --count means; a hostile entry of many records grows it */
	size_t expect = (size_t)d->opt->count;
	lr_id_set_init(&b.seen, n_records < expect ? n_records : expect);
	int status = EX_OK;
	for (size_t i = 0; i < entries->elements && status == EX_OK; i++) {
		const redisReply *entry = entries->element[i];
		if (is_entry(entry))
			status = lr_entry_rows(&b, entry->element[0]->str,
					       entry->elements > 1 ? entry->element[1] : NULL);
	}
	/* Only the ids are needed after the COPY data is made: the reply is freed before the
	 * next one is received, so that two batches' replies are never held at once. */
	size_t n_entries = entries->elements;
	struct ack_list ack = ack_list_make(d, entries);
	lr_arena_reply_free(*owned);
	*owned = NULL;
	entries = NULL;
	if (status == EX_OK && b.rows.len > 0) {
		long long stored = 0;
		status = write_rows(d, &b.rows, &stored, &batch, next);
		batch.stored = stored;
		batch.duplicates = (long long)b.valid - stored;
	} else if (status == EX_OK) {
		batch.duplicates = (long long)b.valid;
	}
	free(b.rows.data);
	lr_id_set_free(&b.seen);
	if (status) {
		lr_db_rollback(d->pg);
		ack_list_free(&ack);
		return EX_UNAVAILABLE;
	}
	if (lr_db_exec(d->who, d->pg, "COMMIT")) {
		ack_list_free(&ack);
		return EX_UNAVAILABLE;
	}
	/* The prefetch reply must be in before the XACK's reply can be read. */
	if (next->sent && !next->reply && !next->failed) {
		void *reply = NULL;
		lr_arena_attach(d->redis);
		if (redisGetReply(d->redis, &reply) == REDIS_OK && reply)
			next->reply = reply;
		else
			next->failed = true;
		lr_arena_detach(d->redis, reply, next->failed);
	}
	if (next->failed) {
		redis_failed(d, "XREADGROUP", NULL);
		ack_list_free(&ack);
		return EX_UNAVAILABLE;
	}
	if (batch.slow_batches)
		lr_err("%s: %lld of a batch of %zu clicks were stored already (a re-delivery); "
		       "the batch went through the staging table", d->who, batch.duplicates,
		       n_records);

	if (ack.argc > 3) {
		redisReply *reply = redisCommandArgv(d->redis, (int)ack.argc, ack.argv, ack.argvlen);
		if (!reply || reply->type != REDIS_REPLY_INTEGER) {
			redis_failed(d, "XACK", reply);
			status = EX_UNAVAILABLE;
		} else {
			freeReplyObject(reply);
		}
	}
	ack_list_free(&ack);
	if (status == EX_OK && !d->opt->keep)
		trim_read_entries(d);
	/* Committed rows count even when the ack failed: a re-delivery finds them duplicates. */
	d->total.stored += batch.stored;
	d->total.duplicates += batch.duplicates;
	d->total.dead_letters += batch.dead_letters;
	lr_ops_batch(d->cfg->stream, n_entries, n_records, batch.stored, batch.duplicates,
		     batch.dead_letters);
	d->total.slow_batches += batch.slow_batches;
	return status;
}

/* Sends XREADGROUP from `start` ("0" or an id: our pending entries after it; ">": new
 * ones) without waiting for its reply. */
static int send_read(struct drainer *d, const char *start, long long block_ms,
		     long long *asked)
{
	char count[24], block[24];
	*asked = read_count(d);
	snprintf(count, sizeof count, "%lld", *asked);
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
	int done = 0;
	if (redisAppendCommandArgv(d->redis, argc, argv, NULL) != REDIS_OK)
		done = -1;
	while (done == 0)
		if (redisBufferWrite(d->redis, &done) != REDIS_OK)
			done = -1;
	if (done < 0) {
		redis_failed(d, "XREADGROUP", NULL);
		return EX_UNAVAILABLE;
	}
	return EX_OK;
}

/* The entries of an XREADGROUP reply: nil, or [[stream, [[id, [field, value, ...] or
 * nil], ...]]]. NULL when there are none. */
static const redisReply *reply_entries(const redisReply *reply)
{
	if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 1 &&
	    reply->element[0]->type == REDIS_REPLY_ARRAY && reply->element[0]->elements == 2 &&
	    reply->element[0]->element[1]->type == REDIS_REPLY_ARRAY &&
	    reply->element[0]->element[1]->elements > 0)
		return reply->element[0]->element[1];
	return NULL;
}

/* XREADGROUP, waiting for the reply; *asked: its COUNT. */
static int read_batch(struct drainer *d, const char *start, long long block_ms,
		      redisReply **out, long long *asked)
{
	*out = NULL;
	void *reply = NULL;
	if (send_read(d, start, block_ms, asked))
		return EX_UNAVAILABLE;
	lr_arena_attach(d->redis);
	bool ok = redisGetReply(d->redis, &reply) == REDIS_OK && reply;
	lr_arena_detach(d->redis, reply, !ok);
	redisReply *r = reply;
	if (!ok || (r->type != REDIS_REPLY_NIL && r->type != REDIS_REPLY_ARRAY)) {
		redis_failed_keep(d, "XREADGROUP", r);
		lr_arena_reply_free(r);
		return EX_UNAVAILABLE;
	}
	*out = r;
	return EX_OK;
}

static void sleep_ms(long long ms);
static void maybe_tick(struct drainer *d);
static void maybe_make_partitions(struct drainer *d);

/* Reads and stores batches: pending ones (what an earlier run read but did not ack)
 * until none is left, or new ones. While a full batch is stored the next one is read
 * (struct prefetch). A partial batch means the stream is nearly drained: then the next
 * read waits, if --flush-ms says so, until that long after the batch's start, so that a
 * trickle of clicks makes fewer, larger transactions. In --once mode and for pending
 * entries reads never block and the phase ends when nothing more comes. */
static int drain_phase(struct drainer *d, bool pending, long long max_batches, bool *more)
{
	char start[64];
	snprintf(start, sizeof start, "%s", pending ? "0" : ">");
	bool nonblocking = pending || d->opt->once;
	/* With several servers a blocking read is short and a turn ends at the first empty
	 * read, so that a quiet server holds the others up little. */
	long long block_ms = d->n_servers > 1 && d->opt->block_ms > SHORT_BLOCK_MS
				     ? SHORT_BLOCK_MS
				     : d->opt->block_ms;
	long long batches = 0, asked = 0;
	*more = false;
	redisReply *reply = NULL;
	int status = EX_OK;
	while (status == EX_OK) {
		if (!reply) {
			if (stop_requested)
				break;
			if (!nonblocking) {
				maybe_tick(d);
				maybe_make_partitions(d);
			}
			if (max_batches && batches >= max_batches) {
				*more = true;
				break;
			}
			status = read_batch(d, start, nonblocking ? 0 : block_ms, &reply, &asked);
			if (status)
				break;
		}
		const redisReply *entries = reply_entries(reply);
		if (!entries) {
			lr_arena_reply_free(reply);
			reply = NULL;
			if (nonblocking || d->n_servers > 1)
				break;
			continue;
		}
		batches++;
		struct timespec began;
		clock_gettime(CLOCK_MONOTONIC, &began);
		/* as many entries as asked: more are likely waiting */
		bool full = (long long)entries->elements >= asked;
		/* pending entries: the next read starts after this batch's last one */
		if (pending && is_entry(entries->element[entries->elements - 1]))
			snprintf(start, sizeof start, "%s",
				 entries->element[entries->elements - 1]->element[0]->str);
		/* A stop, or the end of this server's turn, ends the loop after the batch in
		 * hand: no read for a next one (its entries would wait, pending, for a restart). */
		bool last = stop_requested || (max_batches && batches >= max_batches);
		struct prefetch next = {.start = full && !last ? start : NULL};
		status = process_batch(d, &reply, entries, &next);
		lr_arena_reply_free(reply); /* NULL unless process_batch failed early */
		reply = next.reply;
		asked = next.count;
		if (status == EX_OK && !full && !nonblocking && d->opt->flush_ms > 0) {
			struct timespec now;
			clock_gettime(CLOCK_MONOTONIC, &now);
			long long spent = (now.tv_sec - began.tv_sec) * 1000 +
					  (now.tv_nsec - began.tv_nsec) / 1000000;
			if (spent < d->opt->flush_ms)
				sleep_ms(d->opt->flush_ms - spent);
		}
	}
	lr_arena_reply_free(reply);
	return status;
}

/* Takes over entries other consumers (e.g. a crashed drain with another default name)
 * left pending for longer than --claim-idle-ms; they then read as our own pending ones. */
static int claim_abandoned(struct drainer *d)
{
	char idle[24], count[24];
	snprintf(idle, sizeof idle, "%lld", d->opt->claim_idle_ms);
	snprintf(count, sizeof count, "%lld", read_count(d));
	char *cursor = lr_xstrdup("0-0");
	int status = EX_OK;
	for (;;) {
		const char *argv[] = {"XAUTOCLAIM", d->cfg->stream, d->opt->group, d->opt->consumer,
				      idle,	    cursor,	    "COUNT",	   count,
				      "JUSTID"};
		redisReply *reply = redisCommandArgv(d->redis, 9, argv, NULL);
		if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 2 ||
		    reply->element[0]->type != REDIS_REPLY_STRING) {
			redis_failed(d, "XAUTOCLAIM", reply);
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

static void select_server(struct drainer *d, struct server *s)
{
	d->cur = s;
	d->redis = s->redis;
}

static void disconnect_server(struct server *s)
{
	if (s->redis) {
		lr_arena_detach(s->redis, NULL, true); /* a prefetch reply may be half read */
		redisFree(s->redis);
	}
	s->redis = NULL;
}

static void disconnect(struct drainer *d)
{
	for (size_t i = 0; i < d->n_servers; i++)
		disconnect_server(&d->servers[i]);
	d->redis = NULL;
	if (d->pg)
		PQfinish(d->pg);
	d->pg = NULL;
}

/* Connects one server and makes sure its consumer group exists. */
static int connect_server(struct drainer *d, struct server *s)
{
	/* The command timeout must outlast a blocking XREADGROUP; with several servers a
	 * hung one may hold the others up only briefly. */
	int timeout_ms = d->n_servers > 1 ? (int)(SHORT_BLOCK_MS + 5000)
					   : (int)(d->opt->block_ms + 10000);
	int status;
	s->redis = lr_redis_connect_addr(s->addr, d->who, timeout_ms, &status);
	if (!s->redis)
		return status;
	lr_ops_redis_up();
	select_server(d, s);
	const char *argv[] = {"XGROUP", "CREATE", d->cfg->stream, d->opt->group, "0", "MKSTREAM"};
	redisReply *reply = redisCommandArgv(d->redis, 6, argv, NULL);
	if (!reply || (reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "BUSYGROUP", 9) != 0)) {
		redis_failed(d, "XGROUP CREATE", reply);
		disconnect_server(s);
		return EX_UNAVAILABLE;
	}
	freeReplyObject(reply);
	s->caught_up = false;
	return EX_OK;
}

/* A failed server is set aside; the others go on. The daemon tries it again after a
 * backoff of its own (0.5 s doubling to 30 s). */
static void server_down(struct drainer *d, struct server *s)
{
	disconnect_server(s);
	if (d->cur == s)
		d->redis = NULL;
	if (d->opt->once)
		return;
	lr_ops_retry(d->who, s->addr, s->backoff_ms);
	clock_gettime(CLOCK_MONOTONIC, &s->retry_at);
	s->retry_at.tv_sec += s->backoff_ms / 1000;
	s->retry_at.tv_nsec += (s->backoff_ms % 1000) * 1000000;
	if (s->retry_at.tv_nsec >= 1000000000) {
		s->retry_at.tv_sec++;
		s->retry_at.tv_nsec -= 1000000000;
	}
	s->backoff_ms = s->backoff_ms * 2 > 30000 ? 30000 : s->backoff_ms * 2;
}

static long long ms_until(const struct timespec *t)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (t->tv_sec - now.tv_sec) * 1000 + (t->tv_nsec - now.tv_nsec) / 1000000;
}

static int connect_all(struct drainer *d)
{
	int status;
	d->pg = lr_db_connect(d->cfg, d->who, &status);
	if (!d->pg)
		return status;
	d->prepared = false;
	return EX_OK;
}

/* One server's turn: after (re)connecting, entries other consumers abandoned and its
 * own pending ones; then new ones (with several servers, at most a few batches, so that
 * a busy server does not starve the others). *more: it may have more right away. */
static int server_turn(struct drainer *d, struct server *s, bool *more)
{
	*more = false;
	select_server(d, s);
	s->failed = false;
	int status = EX_OK;
	if (!s->caught_up) {
		bool unused;
		status = claim_abandoned(d);
		if (status == EX_OK && !stop_requested)
			status = drain_phase(d, true, 0, &unused);
		s->caught_up = status == EX_OK && !stop_requested;
	}
	struct counts before = d->total;
	if (status == EX_OK && !stop_requested)
		status = drain_phase(d, false, d->n_servers > 1 ? TURN_BATCHES : 0, more);
	if (d->total.stored + d->total.duplicates + d->total.dead_letters >
	    before.stored + before.duplicates + before.dead_letters)
		s->backoff_ms = 500; /* it works: a later failure starts the backoff afresh */
	return status;
}

/* Every server in turn until stopped (--once: until none has more). A Redis failure
 * sets that server aside (the others go on); a PostgreSQL failure ends the pass, for the
 * caller to reconnect. */
static int run_pass(struct drainer *d)
{
	d->opt->next_partitions = 0;
	maybe_make_partitions(d);
	bool redis_trouble = false;
	for (;;) {
		bool any_more = false, any_up = false;
		long long wait_ms = 1000;
		for (size_t i = 0; i < d->n_servers && !stop_requested; i++) {
			struct server *s = &d->servers[i];
			if (!s->redis) {
				long long until = ms_until(&s->retry_at);
				if (d->opt->once ? s->tried : until > 0) {
					if (!d->opt->once && until < wait_ms)
						wait_ms = until;
					continue;
				}
				s->tried = true;
				int status = connect_server(d, s);
				if (status == EX_USAGE)
					return status;
				if (status) {
					redis_trouble = true;
					server_down(d, s);
					continue;
				}
			}
			any_up = true;
			bool more;
			int status = server_turn(d, s, &more);
			if (status && s->failed) {
				redis_trouble = true;
				server_down(d, s);
			} else if (status) {
				return status;
			}
			any_more = any_more || more;
		}
		if (stop_requested || (d->opt->once && !any_more))
			break;
		/* every server down: wait for the first one's retry rather than spin (the
		 * scheduler still ticks) */
		if (!any_up) {
			maybe_tick(d);
			sleep_ms(wait_ms > 10 ? wait_ms : 10);
		}
	}
	return redis_trouble && d->opt->once ? EX_UNAVAILABLE : EX_OK;
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

/* Every hour (and at each start), the monthly partitions of clicks for this month and the
 * next ones. A failure is logged and does not stop the drain: until it works, clicks of a
 * month without its partition go to the default partition, from where making the
 * partition later moves them. */
static void maybe_make_partitions(struct drainer *d)
{
	struct drain_options *o = d->opt;
	if (stop_requested || time(NULL) < o->next_partitions)
		return;
	int created;
	if (lr_db_ensure_partitions(d->who, d->pg, time(NULL) + o->clock_offset, &created))
		lr_err("%s: making the click partitions ahead failed; next try in an hour", d->who);
	o->next_partitions = time(NULL) + 3600;
}

static void sleep_ms(long long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !stop_requested)
		;
}

static const char usage[] =
	"usage: linkreport drain [--group G] [--consumer NAME] [--count N] [--block-ms MS]\n"
	"         [--flush-ms MS] [--claim-idle-ms MS] [--once] [--keep]\n"
	"  --group G           consumer group (default linkreport)\n"
	"  --consumer NAME     consumer name (default HOSTNAME-PID); keep it stable per worker\n"
	"  --count N           clicks per batch and transaction, about (default 2000): a\n"
	"                      read asks for N scaled by the records per entry of the\n"
	"                      server's last batch (the edge puts up to 64 in one entry)\n"
	"  --block-ms MS       how long one read waits for new entries (default 5000)\n"
	"  --flush-ms MS       after a partial batch, wait until MS after its start before\n"
	"                      reading again: fewer, larger transactions for a trickle of\n"
	"                      clicks, each waiting at most MS longer (default 0: none)\n"
	"  --claim-idle-ms MS  take over other consumers' entries pending longer (default 60000)\n"
	"  --once              drain what is there, print a summary and exit\n"
	"  --keep              never trim the stream (default: after each batch, entries every\n"
	"                      group on the stream has read and acknowledged are trimmed)\n"
	"Without --once runs until SIGTERM/SIGINT, retrying with backoff when PostgreSQL or\n"
	"Redis fails. Makes the monthly partitions of clicks ahead (at start, then hourly).\n"
	"With several Redis servers (--redis A,B: one per edge region) it reads each in\n"
	"turn; one that fails is set aside and retried while the others go on.\n";

/* One message for every bad value, naming the real range. */
static bool parse_ranged(const char *who, const char *option, const char *value,
			 long long min, long long max, long long *out)
{
	if (!lr_parse_uint(value, strlen(value), max, out) || *out < min) {
		lr_err("%s: %s must be an integer from %lld to %lld", who, option, min, max);
		return false;
	}
	return true;
}

static const char run_usage[] =
	"usage: linkreport run [--interval SECONDS] [--once] [drain options]\n"
	"The daemon: drains clicks like 'linkreport drain' and, every --interval seconds\n"
	"(default 30), sends the scheduled reports that are due like 'linkreport schedule'.\n"
	"  --once  drain what is there, run one scheduler tick, print summaries and exit\n"
	"Drain options: --group, --consumer, --count, --block-ms, --flush-ms, --claim-idle-ms (see\n"
	"'linkreport drain --help'). Reports are configured by the environment or the\n"
	"configuration file: see docs/reports.md and 'linkreport config --help'. --now\n"
	"(global) shifts the daemon's clock, for tests.\n";

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
		{"flush-ms", required_argument, NULL, 'f'},
		{"claim-idle-ms", required_argument, NULL, 'i'},
		{"once", no_argument, NULL, 'o'},
		{"keep", no_argument, NULL, 'k'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct drain_options opt = {.group = "linkreport",
				    .count = 2000,
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
			if (!parse_ranged(who, "--count", optarg, 1, 100000, &opt.count))
				return EX_USAGE;
			break;
		case 'b':
			if (!parse_ranged(who, "--block-ms", optarg, 0, 3600000, &opt.block_ms))
				return EX_USAGE;
			break;
		case 'f':
			if (!parse_ranged(who, "--flush-ms", optarg, 0, 60000, &opt.flush_ms))
				return EX_USAGE;
			break;
		case 'i':
			if (!parse_ranged(who, "--claim-idle-ms", optarg, 0, 86400000LL * 365,
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
			if (!parse_ranged(who, "--interval", optarg, 1, 86400, &opt.interval))
				return EX_USAGE;
			break;
		case 'h': fputs(schedule ? run_usage : usage, stdout); return EX_OK;
		default: return EX_USAGE;
		}
	}
	int status = lr_no_operands(who, argc, argv);
	if (status)
		return status;
	if (!*opt.group || (opt.consumer && !*opt.consumer)) {
		lr_err("%s: --group and --consumer must not be empty", who);
		return EX_USAGE;
	}
	if (schedule && (status = lr_reports_config_load(who, &opt.reports, true)))
		return status;
	time_t now;
	if (!lr_config_now(cfg, who, &now))
		return EX_USAGE;
	opt.clock_offset = now - time(NULL);
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

	/* Many small allocations freed at once (a batch's dead letters and other replies; the
	 * XREADGROUP reply itself is in an arena, see reply_arena.c), parked in fastbins,
	 * would be walked again (malloc_consolidate) on the next large allocation: that
	 * profiled at about 40% of the drain's CPU before the arena. */
	mallopt(M_MXFAST, 0);

	/* structured logs and /metrics for the daemon */
	if ((status = lr_ops_start(cfg, who, opt.once ? 0 : LR_OPS_LOG | LR_OPS_METRICS)))
		return status;

	struct drainer d = {.cfg = cfg, .opt = &opt, .who = who};
	char **addrs;
	d.n_servers = lr_redis_addrs(cfg->redis, who, &addrs);
	if (!d.n_servers) {
		lr_ops_stop(); /* joins the metrics thread started above */
		return EX_USAGE;
	}
	d.servers = lr_xcalloc(d.n_servers, sizeof *d.servers);
	for (size_t i = 0; i < d.n_servers; i++) {
		d.servers[i].addr = addrs[i];
		d.servers[i].dl_stream = d.n_servers > 1 ? lr_xasprintf("%s@%s", cfg->stream, addrs[i])
							 : lr_xstrdup(cfg->stream);
		d.servers[i].backoff_ms = 500;
	}
	long long backoff_ms = 500;
	for (;;) {
		struct counts before = d.total;
		status = connect_all(&d);
		if (status == EX_OK) {
			lr_ops_postgres_up();
			status = run_pass(&d);
		}
		if (d.total.stored + d.total.duplicates + d.total.dead_letters >
		    before.stored + before.duplicates + before.dead_letters)
			backoff_ms = 500; /* it worked for a while: start the backoff afresh */
		if (opt.once || stop_requested || status == EX_USAGE)
			break;
		/* Daemon: the failed batch is still pending and is read again after reconnecting. */
		/* Redis failures are retried per server inside the pass: this is PostgreSQL's */
		lr_ops_retry(who, NULL, backoff_ms);
		disconnect(&d);
		sleep_ms(backoff_ms);
		if (stop_requested)
			break;
		backoff_ms = backoff_ms * 2 > 30000 ? 30000 : backoff_ms * 2;
	}
	disconnect(&d);
	for (size_t i = 0; i < d.n_servers; i++)
		free(d.servers[i].dl_stream);
	free(d.servers);
	lr_redis_addrs_free(addrs);
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
