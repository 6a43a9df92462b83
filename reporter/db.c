#include "db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

static void ignore_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message; /* "relation already exists, skipping" and the like are not news */
}

static const char *or_default(const char *s, const char *fallback)
{
	return s && *s ? s : fallback;
}

PGconn *lr_db_connect(const struct lr_config *cfg, const char *who, int *status)
{
	char *parse_error = NULL;
	PQconninfoOption *parsed = PQconninfoParse(cfg->db, &parse_error);
	if (!parsed) {
		/* libpq's parse message quotes the string, which may contain a password. */
		PQfreemem(parse_error);
		lr_err("%s: LINKREPORT_DB/--db is not a valid PostgreSQL connection string", who);
		*status = EX_USAGE;
		return NULL;
	}
	PQconninfoFree(parsed);

	/* Later keywords win, so the caller's conninfo can override these defaults. */
	const char *keys[] = {"connect_timeout", "application_name", "dbname", NULL};
	const char *values[] = {"10", "linkreport", cfg->db, NULL};
	PGconn *conn = PQconnectdbParams(keys, values, 1);
	if (!conn) {
		lr_err("%s: out of memory connecting to PostgreSQL", who);
		*status = EX_SOFTWARE;
		return NULL;
	}
	if (PQstatus(conn) != CONNECTION_OK) {
		const char *msg = PQerrorMessage(conn);
		size_t msg_len = strcspn(msg, "\n");
		lr_err("%s: cannot connect to PostgreSQL (host %s, port %s, database %s): %.*s", who,
		       or_default(PQhost(conn), "default"), or_default(PQport(conn), "default"),
		       or_default(PQdb(conn), "default"), (int)msg_len, msg);
		PQfinish(conn);
		*status = EX_UNAVAILABLE;
		return NULL;
	}
	PQsetNoticeProcessor(conn, ignore_notice, NULL);
	return conn;
}

bool lr_db_ok(const PGresult *res)
{
	ExecStatusType st = PQresultStatus(res);
	return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

bool lr_db_connection_lost(PGconn *conn, const PGresult *res)
{
	if (PQstatus(conn) != CONNECTION_OK)
		return true;
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	return state && (strncmp(state, "08", 2) == 0 || strcmp(state, "57P01") == 0 ||
			 strcmp(state, "57P02") == 0 || strcmp(state, "57P03") == 0);
}

int lr_db_fail(const char *who, PGconn *conn, PGresult *res)
{
	const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	if (!msg) {
		msg = PQerrorMessage(conn);
	}
	size_t len = strcspn(msg, "\n");
	bool gone = lr_db_connection_lost(conn, res);
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	/* 42P01, undefined table: the schema is missing or old, which migrate fixes */
	bool unmigrated = state && strcmp(state, "42P01") == 0;
	lr_err("%s: PostgreSQL %s: %.*s%s", who, gone ? "connection lost" : "error", (int)len, msg,
	       unmigrated ? " (run 'linkreport migrate')" : "");
	PQclear(res);
	return gone ? EX_UNAVAILABLE : EX_SOFTWARE;
}

int lr_db_exec(const char *who, PGconn *conn, const char *sql)
{
	PGresult *res = PQexec(conn, sql);
	if (!lr_db_ok(res))
		return lr_db_fail(who, conn, res);
	PQclear(res);
	return EX_OK;
}

PGresult *lr_db_query(PGconn *conn, const char *sql, int nparams, const char *const *params)
{
	return PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
}

void lr_db_rollback(PGconn *conn)
{
	PQclear(PQexec(conn, "ROLLBACK"));
}

/* Append-only: a released migration is never edited, a change is a new entry. */
static const char *const migrations[] = {
	/* 1: initial schema */
	"CREATE TABLE companies ("
	"  id text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_-]{1,64}$'),"
	"  name text NOT NULL,"
	"  timezone text NOT NULL,"
	"  owner_email text NOT NULL,"
	"  created_at timestamptz NOT NULL DEFAULT now());"
	"CREATE TABLE links ("
	"  txtly_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
	"  code text NOT NULL UNIQUE,"
	"  company_id text NOT NULL REFERENCES companies,"
	"  long_url text NOT NULL,"
	"  short_url text NOT NULL,"
	"  campaign_name text NOT NULL DEFAULT '',"
	"  template_id text NOT NULL DEFAULT '',"
	"  channel text NOT NULL DEFAULT '',"
	"  message_id text NOT NULL DEFAULT '',"
	"  track_user boolean NOT NULL DEFAULT false,"
	"  created_on timestamptz NOT NULL DEFAULT now());"
	"CREATE TABLE link_recipients ("
	"  txtly_id bigint REFERENCES links,"
	"  token text,"
	"  mobile_number text NOT NULL,"
	"  message_id text NOT NULL DEFAULT '',"
	"  PRIMARY KEY (txtly_id, token));"
	"CREATE TABLE clicks ("
	"  click_id text PRIMARY KEY,"
	"  stream_id text NOT NULL,"
	"  company_id text NOT NULL,"
	"  txtly_id bigint, code text, recipient text, short_url text, mobile_number text,"
	"  client_ip text, browser text, platform text, platform_version text, engine text,"
	"  country text, city text,"
	"  visited_on timestamptz NOT NULL,"
	"  device_type text, created_on timestamptz, long_url text, channel text,"
	"  message_id text, campaign_name text, template_id text, user_agent text, method text,"
	"  stored_at timestamptz NOT NULL DEFAULT now());"
	"CREATE INDEX clicks_company_visited_on ON clicks (company_id, visited_on);"
	"CREATE TABLE dead_letters ("
	"  id bigserial PRIMARY KEY,"
	"  stream text,"
	"  stream_id text,"
	"  reason text NOT NULL,"
	"  entry text NOT NULL,"
	"  received_at timestamptz DEFAULT now());"
	/* A batch stored but not acknowledged is read again; this keeps its dead letters single. */
	"CREATE UNIQUE INDEX dead_letters_stream_entry ON dead_letters (stream, stream_id);",
	/* 2: why the edge judged a tap not a person's ('' for a person): bot, preview, head,
	 * prefetch. Reports leave such clicks out unless a company asks for them. */
	"ALTER TABLE clicks ADD COLUMN non_human text NOT NULL DEFAULT '';",
	/* 3: scheduled reports. Settings per company; one run per (company, frequency,
	 * period_start), claimed under a row lock so it is produced once; one delivery per
	 * recipient of a run. *_since: when the frequency last became active (toggle on and
	 * frequency on), NULL while inactive; no period whose send time is earlier is sent. */
	"CREATE TABLE report_settings ("
	"  company_id text PRIMARY KEY REFERENCES companies,"
	"  enabled boolean NOT NULL DEFAULT false,"
	"  daily boolean NOT NULL DEFAULT false,"
	"  weekly boolean NOT NULL DEFAULT false,"
	"  monthly boolean NOT NULL DEFAULT false,"
	"  recipients text NOT NULL CHECK (recipients <> ''),"
	"  include_non_human boolean NOT NULL DEFAULT false,"
	"  daily_since timestamptz, weekly_since timestamptz, monthly_since timestamptz,"
	"  updated_at timestamptz NOT NULL DEFAULT now());"
	"CREATE TABLE report_runs ("
	"  company_id text NOT NULL REFERENCES companies,"
	"  frequency text NOT NULL CHECK (frequency IN ('daily', 'weekly', 'monthly')),"
	"  period_start date NOT NULL,"
	"  period_end date NOT NULL,"
	"  send_at timestamptz NOT NULL,"
	"  state text NOT NULL DEFAULT 'pending'"
	"    CHECK (state IN ('pending', 'sent', 'failed', 'cancelled')),"
	"  manual boolean NOT NULL DEFAULT false,"
	"  attempts int NOT NULL DEFAULT 0,"
	"  next_attempt_at timestamptz NOT NULL,"
	"  last_error text NOT NULL DEFAULT '',"
	"  rows bigint,"
	"  file text,"
	"  sent_at timestamptz,"
	"  created_at timestamptz NOT NULL DEFAULT now(),"
	"  PRIMARY KEY (company_id, frequency, period_start));"
	"CREATE INDEX report_runs_due ON report_runs (next_attempt_at) WHERE state = 'pending';"
	"CREATE TABLE report_deliveries ("
	"  company_id text NOT NULL,"
	"  frequency text NOT NULL,"
	"  period_start date NOT NULL,"
	"  recipient text NOT NULL,"
	"  state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed')),"
	"  attempts int NOT NULL DEFAULT 0,"
	"  last_error text NOT NULL DEFAULT '',"
	"  message_id text,"
	"  sent_at timestamptz,"
	"  PRIMARY KEY (company_id, frequency, period_start, recipient),"
	"  FOREIGN KEY (company_id, frequency, period_start) REFERENCES report_runs);",
	/* 4: clicks partitioned by month of visited_on (UTC), so that old months can be
	 * detached or dropped whole and a report reads only its months. A unique constraint
	 * of a partitioned table must hold the partition key: the key is (click_id,
	 * visited_on), which still dedupes replays because a click's visited_on is part of
	 * its immutable record (docs/data-contract.md). A DEFAULT partition takes any click
	 * no monthly partition covers, so none is ever refused. linkreport_click_partition
	 * makes one month's partition, moving that month's rows out of the default partition
	 * first (PostgreSQL refuses to attach a range the default still holds rows of);
	 * linkreport_ensure_click_partitions makes a run of months (migrate and the drain
	 * call it for the current month and the next ones). The existing rows move in, into
	 * partitions made for the months they fall in (those within ten years of now; the
	 * rest goes to the default partition). */
	"ALTER TABLE clicks RENAME TO clicks_v3;"
	"ALTER INDEX clicks_pkey RENAME TO clicks_v3_pkey;"
	"ALTER INDEX clicks_company_visited_on RENAME TO clicks_v3_company_visited_on;"
	/* the same columns, in the same order (LIKE copies NOT NULL and, asked, defaults) */
	"CREATE TABLE clicks (LIKE clicks_v3 INCLUDING DEFAULTS, PRIMARY KEY (click_id, visited_on))"
	"  PARTITION BY RANGE (visited_on);"
	"CREATE INDEX clicks_company_visited_on ON clicks (company_id, visited_on);"
	"CREATE TABLE clicks_default PARTITION OF clicks DEFAULT;"
	"CREATE FUNCTION linkreport_click_partition(m date) RETURNS boolean"
	" LANGUAGE plpgsql AS $fn$"
	" DECLARE"
	"  lo timestamptz := date_trunc('month', m)::timestamp AT TIME ZONE 'UTC';"
	"  hi timestamptz := (date_trunc('month', m) + interval '1 month')::timestamp"
	"    AT TIME ZONE 'UTC';"
	"  part text := 'clicks_' || to_char(m, 'YYYY_MM');"
	" BEGIN"
	"  IF to_regclass(part) IS NOT NULL THEN RETURN false; END IF;"
	/* SHARE UPDATE EXCLUSIVE on clicks (which ATTACH takes anyway) serialises two makers
	 * without blocking reads or inserts; the default partition is locked before the move
	 * so that no click of the month lands there between the move and the attach. */
	"  LOCK TABLE clicks IN SHARE UPDATE EXCLUSIVE MODE;"
	"  LOCK TABLE clicks_default IN ACCESS EXCLUSIVE MODE;"
	"  IF to_regclass(part) IS NOT NULL THEN RETURN false; END IF;"
	"  EXECUTE format('CREATE TABLE %I (LIKE clicks INCLUDING DEFAULTS)', part);"
	"  EXECUTE format('WITH moved AS (DELETE FROM clicks_default"
	"    WHERE visited_on >= $1 AND visited_on < $2 RETURNING *)"
	"    INSERT INTO %I SELECT * FROM moved', part) USING lo, hi;"
	"  EXECUTE format('ALTER TABLE clicks ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',"
	"    part, lo, hi);"
	"  RETURN true;"
	" END $fn$;"
	"CREATE FUNCTION linkreport_ensure_click_partitions(first_month date, months int)"
	" RETURNS int LANGUAGE sql AS $fn$"
	"  SELECT count(*)::int FROM generate_series(0, months - 1) i"
	"  WHERE linkreport_click_partition("
	"    (date_trunc('month', first_month) + i * interval '1 month')::date)"
	" $fn$;"
	"SELECT linkreport_click_partition(m) FROM (SELECT DISTINCT"
	"  date_trunc('month', visited_on AT TIME ZONE 'UTC')::date AS m FROM clicks_v3"
	"  WHERE visited_on >= now() - interval '10 years'"
	"  AND visited_on < now() + interval '10 years') months ORDER BY m;"
	"INSERT INTO clicks SELECT * FROM clicks_v3;"
	"DROP TABLE clicks_v3;",
	/* 5: the edge puts several records into one stream entry (docs/data-contract.md) and
	 * each bad record is a dead letter of its own, so an entry may have several: a
	 * re-delivered batch is kept from doubling them by the record's number within its
	 * entry (1 for an entry of one record, as every dead letter before). */
	"ALTER TABLE dead_letters ADD COLUMN record_no int NOT NULL DEFAULT 1;"
	"CREATE UNIQUE INDEX dead_letters_stream_entry_record"
	"  ON dead_letters (stream, stream_id, record_no);"
	"DROP INDEX dead_letters_stream_entry;",
};

/* Arbitrary constant shared by every linkreport migrate: serialises concurrent runs. */
#define MIGRATE_LOCK "SELECT pg_advisory_xact_lock(7283146701)"

int lr_db_migrate(const char *who, PGconn *conn, int *applied, int *version)
{
	int status;
	*applied = 0;
	*version = 0;
	if ((status = lr_db_exec(who, conn, "BEGIN")) ||
	    (status = lr_db_exec(who, conn, MIGRATE_LOCK)) ||
	    (status = lr_db_exec(who, conn,
				 "CREATE TABLE IF NOT EXISTS schema_migrations ("
				 "  version int PRIMARY KEY,"
				 "  applied_at timestamptz NOT NULL DEFAULT now())")) ||
	    (status = lr_db_exec(who, conn, "COMMIT")))
		goto fail;

	for (size_t i = 0; i < sizeof migrations / sizeof migrations[0]; i++) {
		char version_text[16];
		snprintf(version_text, sizeof version_text, "%zu", i + 1);
		const char *params[] = {version_text};
		if ((status = lr_db_exec(who, conn, "BEGIN")) ||
		    (status = lr_db_exec(who, conn, MIGRATE_LOCK)))
			goto fail;
		PGresult *res = lr_db_query(conn, "SELECT 1 FROM schema_migrations WHERE version = $1",
					    1, params);
		if (!lr_db_ok(res)) {
			status = lr_db_fail(who, conn, res);
			goto fail;
		}
		bool done = PQntuples(res) > 0;
		PQclear(res);
		if (!done) {
			if ((status = lr_db_exec(who, conn, migrations[i])))
				goto fail;
			res = lr_db_query(conn, "INSERT INTO schema_migrations (version) VALUES ($1)", 1,
					  params);
			if (!lr_db_ok(res)) {
				status = lr_db_fail(who, conn, res);
				goto fail;
			}
			PQclear(res);
			++*applied;
		}
		if ((status = lr_db_exec(who, conn, "COMMIT")))
			goto fail;
		*version = (int)(i + 1);
	}
	return EX_OK;
fail:
	lr_db_rollback(conn);
	return status;
}

int lr_db_ensure_partitions(const char *who, PGconn *conn, time_t now, int *created)
{
	struct tm tm;
	char month[32], months[16];
	gmtime_r(&now, &tm);
	snprintf(month, sizeof month, "%04d-%02d-01", tm.tm_year + 1900, tm.tm_mon + 1);
	snprintf(months, sizeof months, "%d", 1 + LR_CLICK_PARTITIONS_AHEAD);
	const char *params[] = {month, months};
	PGresult *res = lr_db_query(conn, "SELECT linkreport_ensure_click_partitions($1, $2)", 2,
				    params);
	if (!lr_db_ok(res))
		return lr_db_fail(who, conn, res);
	*created = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	return EX_OK;
}
