#ifndef LR_DB_H
#define LR_DB_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <time.h>

#include "config.h"

/* Connects to PostgreSQL. On failure prints one line naming host, port and database (never
 * the conninfo, which may hold a password), sets *status (64 for an unparsable conninfo,
 * 69 otherwise) and returns NULL. `who` prefixes messages, e.g. "link create". */
PGconn *lr_db_connect(const struct lr_config *cfg, const char *who, int *status);

/* Prints the error of a failed command and returns the exit status it deserves: 69 when
 * the connection is gone, 70 otherwise. Clears res. */
/* The connection broke: the server went away, an administrator ended the backend
 * (pg_terminate_backend), a crash restart. That is "unavailable" (69) like a failed
 * connect: when the server's FATAL message arrives before the socket closes, PQstatus
 * still says CONNECTION_OK, so the SQLSTATE (08xxx, 57P01-57P03) decides too. */
bool lr_db_connection_lost(PGconn *conn, const PGresult *res);

int lr_db_fail(const char *who, PGconn *conn, PGresult *res);

/* Runs a statement without parameters; on failure prints, returns the exit status. */
int lr_db_exec(const char *who, PGconn *conn, const char *sql);

/* Like PQexecParams with text parameters and results. */
PGresult *lr_db_query(PGconn *conn, const char *sql, int nparams, const char *const *params);

bool lr_db_ok(const PGresult *res);

/* Best effort, for error paths. */
void lr_db_rollback(PGconn *conn);

/* Applies pending migrations; *applied and *version describe the outcome. */
int lr_db_migrate(const char *who, PGconn *conn, int *applied, int *version);

/* Monthly partitions of clicks (UTC months of visited_on) made ahead of time: the month of
 * `now` and this many after it. */
#define LR_CLICK_PARTITIONS_AHEAD 3

/* Makes the missing partitions of clicks for the month of `now` and the
 * LR_CLICK_PARTITIONS_AHEAD next ones (rows the default partition holds for such a month
 * move into it); *created says how many were made. Run outside a transaction. */
int lr_db_ensure_partitions(const char *who, PGconn *conn, time_t now, int *created);

#endif
