/* status: the outcome of every report run and delivery; with --drain, the drain's. */
#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "db.h"
#include "redis_conn.h"
#include "util.h"
#include "validate.h"

static const char usage[] =
	"usage: linkreport status [--company ID] [--limit N]\n"
	"       linkreport status --drain\n"
	"--drain: the click stream and its drain, one fact a line (tab-separated):\n"
	"  redis ADDR (only when LINKREPORT_REDIS/--redis lists several servers: the\n"
	"    lines of that server follow)\n"
	"  stream NAME length N\n"
	"  group NAME consumers N pending N lag N last-delivered ID\n"
	"  consumer GROUP NAME pending N idle-ms N\n"
	"  dead_letters N\n"
	"  last_stored TIME (UTC, empty when nothing is stored yet)\n"
	"Without --drain:\n"
	"Lists report runs, newest period first, one line each (tab-separated):\n"
	"  COMPANY FREQUENCY PERIOD_START PERIOD_END STATE ATTEMPTS ROWS SENT_AT LAST_ERROR\n"
	"followed by one indented line per recipient:\n"
	"  - RECIPIENT STATE ATTEMPTS SENT_AT LAST_ERROR\n"
	"STATE: pending (due, or waiting for a retry), sent, failed (gave up after\n"
	"LINKREPORT_SEND_MAX_ATTEMPTS), cancelled (switched off before it was sent).\n";

static long long reply_field(const redisReply *map, const char *key, const char **str)
{
	for (size_t i = 0; map->type == REDIS_REPLY_ARRAY && i + 1 < map->elements; i += 2) {
		const redisReply *k = map->element[i], *v = map->element[i + 1];
		if (k->type != REDIS_REPLY_STRING || strcmp(k->str, key) != 0)
			continue;
		if (str)
			*str = v->type == REDIS_REPLY_STRING ? v->str : "";
		return v->type == REDIS_REPLY_INTEGER ? v->integer : -1;
	}
	if (str)
		*str = "";
	return -1;
}

/* One Redis server's backlog (per group and consumer). */
static int server_status(const struct lr_config *cfg, const char *who, const char *addr)
{
	int status;
	redisContext *redis = lr_redis_connect_addr(addr, who, 5000, &status);
	if (!redis)
		return status;
	redisReply *len = redisCommand(redis, "XLEN %s", cfg->stream);
	redisReply *groups = redisCommand(redis, "XINFO GROUPS %s", cfg->stream);
	if (!len || len->type != REDIS_REPLY_INTEGER) {
		lr_redis_report(who, "XLEN", redis, len);
		freeReplyObject(groups);
		redisFree(redis);
		return EX_UNAVAILABLE;
	}
	printf("stream\t%s\tlength\t%lld\n", cfg->stream, len->integer);
	freeReplyObject(len);
	/* no group yet (nothing drained) is an error reply: simply no group lines */
	for (size_t g = 0; groups && groups->type == REDIS_REPLY_ARRAY && g < groups->elements; g++) {
		const redisReply *info = groups->element[g];
		const char *name, *last;
		reply_field(info, "name", &name);
		reply_field(info, "last-delivered-id", &last);
		/* lag: entries not yet read by the group; Redis cannot always tell (nil) */
		char lag[24] = "unknown";
		long long n = reply_field(info, "lag", NULL);
		if (n >= 0)
			snprintf(lag, sizeof lag, "%lld", n);
		printf("group\t%s\tconsumers\t%lld\tpending\t%lld\tlag\t%s\tlast-delivered\t%s\n",
		       name, reply_field(info, "consumers", NULL), reply_field(info, "pending", NULL),
		       lag, last);
		redisReply *consumers = redisCommand(redis, "XINFO CONSUMERS %s %s", cfg->stream, name);
		for (size_t c = 0; consumers && consumers->type == REDIS_REPLY_ARRAY &&
				   c < consumers->elements; c++) {
			const char *cname;
			reply_field(consumers->element[c], "name", &cname);
			printf("consumer\t%s\t%s\tpending\t%lld\tidle-ms\t%lld\n", name, cname,
			       reply_field(consumers->element[c], "pending", NULL),
			       reply_field(consumers->element[c], "idle", NULL));
		}
		freeReplyObject(consumers);
	}
	freeReplyObject(groups);
	redisFree(redis);
	return EX_OK;
}

/* The backlog as each Redis server sees it and what PostgreSQL holds. With several
 * servers each one's lines follow a "redis ADDR" line; one that cannot be reached is
 * reported and the others are still shown (exit 69). */
static int stream_status(const struct lr_config *cfg, const char *who)
{
	char **addrs;
	size_t n = lr_redis_addrs(cfg->redis, who, &addrs);
	if (!n)
		return EX_USAGE;
	int status = EX_OK;
	for (size_t i = 0; i < n; i++) {
		if (n > 1) {
			printf("redis\t%s\n", addrs[i]);
			fflush(stdout);
		}
		int one = server_status(cfg, who, addrs[i]);
		if (one == EX_USAGE || (one && status == EX_OK))
			status = one;
		if (one == EX_USAGE)
			break;
	}
	lr_redis_addrs_free(addrs);
	if (status == EX_USAGE || (status && n == 1))
		return status;

	int db_status;
	PGconn *conn = lr_db_connect(cfg, who, &db_status);
	if (!conn)
		return db_status;
	const char *params[] = {cfg->stream};
	PGresult *res = lr_db_query(
		conn,
		/* with several servers the drain names the stream STREAM@ADDR */
		"SELECT (SELECT count(*) FROM dead_letters"
		"   WHERE stream = $1 OR starts_with(stream, $1 || '@')),"
		" coalesce((SELECT to_char(max(stored_at) AT TIME ZONE 'UTC',"
		"   'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM clicks), '')",
		1, params);
	if (!lr_db_ok(res)) {
		status = lr_db_fail(who, conn, res);
	} else {
		printf("dead_letters\t%s\nlast_stored\t%s\n", PQgetvalue(res, 0, 0),
		       PQgetvalue(res, 0, 1));
		PQclear(res);
	}
	PQfinish(conn);
	return status;
}

int cmd_status(const struct lr_config *cfg, int argc, char **argv)
{
	const char *who = "status";
	static const struct option options[] = {
		{"company", required_argument, NULL, 'c'},
		{"limit", required_argument, NULL, 'l'},
		{"drain", no_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *company = NULL, *limit = "100";
	bool stream = false;
	long long n;
	int opt;
	optind = 0;
	while ((opt = lr_getopt(who, argc, argv, options)) != -1) {
		switch (opt) {
		case 'c': company = optarg; break;
		case 'l':
			if (!lr_parse_uint(optarg, strlen(optarg), 1000000, &n) || n < 1) {
				lr_err("%s: --limit must be an integer from 1 to 1000000", who);
				return EX_USAGE;
			}
			limit = optarg;
			break;
		case 's': stream = true; break;
		case 'h': fputs(usage, stdout); return EX_OK;
		default: return EX_USAGE;
		}
	}
	int status = lr_no_operands(who, argc, argv);
	if (status)
		return status;
	if (stream)
		return stream_status(cfg, who);
	PGconn *conn = lr_db_connect(cfg, who, &status);
	if (!conn)
		return status;
	const char *params[] = {company, limit};
	PGresult *res = lr_db_query(
		conn,
		"SELECT r.company_id, r.frequency, r.period_start, r.period_end, r.state, r.attempts,"
		" coalesce(r.rows::text, ''),"
		" coalesce(to_char(r.sent_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), ''),"
		" r.last_error,"
		" coalesce((SELECT string_agg(concat_ws(E'\\t', '  -', d.recipient, d.state, d.attempts,"
		"   coalesce(to_char(d.sent_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
		"   ''), d.last_error), E'\\n' ORDER BY d.recipient) FROM report_deliveries d"
		"   WHERE (d.company_id, d.frequency, d.period_start) ="
		"   (r.company_id, r.frequency, r.period_start)), '')"
		" FROM report_runs r WHERE $1::text IS NULL OR r.company_id = $1"
		" ORDER BY r.period_start DESC, array_position(ARRAY['daily','weekly','monthly'],"
		"   r.frequency), r.company_id LIMIT $2::int",
		2, params);
	if (!lr_db_ok(res)) {
		status = lr_db_fail(who, conn, res);
	} else {
		for (int i = 0; i < PQntuples(res); i++) {
			for (int c = 0; c < 9; c++)
				printf("%s%s", c ? "\t" : "", PQgetvalue(res, i, c));
			putchar('\n');
			if (*PQgetvalue(res, i, 9))
				printf("%s\n", PQgetvalue(res, i, 9));
		}
		PQclear(res);
	}
	PQfinish(conn);
	return status;
}
