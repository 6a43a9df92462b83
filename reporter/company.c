#include <libpq-fe.h>
#include <stdio.h>

#include "commands.h"
#include "db.h"
#include "util.h"
#include "validate.h"

static const char zone_hint[] = "use an IANA region zone such as Europe/Berlin, or UTC";

/* The name's form first (validate.c), so that "localtime", "Factory", posix/... and the
 * like are refused although PostgreSQL knows them; existence is checked in SQL. */
static int check_timezone(const char *who, const char *timezone)
{
	if (lr_check_text(timezone, 64)) {
		lr_err("%s: unknown time zone", who); /* not echoed: control characters */
		return EX_DATAERR;
	}
	if (lr_check_timezone(timezone)) {
		lr_err("%s: unknown time zone '%s' (%s)", who, timezone, zone_hint);
		return EX_DATAERR;
	}
	return EX_OK;
}

static const char usage[] =
	"usage: linkreport company create --id ID --name NAME --timezone TZ --owner-email EMAIL\n"
	"  --id ID              [A-Za-z0-9_-]{1,64}\n"
	"  --name NAME          display name (no control characters, at most 256 bytes)\n"
	"  --timezone TZ        IANA region zone (Area/Location) known to PostgreSQL, e.g.\n"
	"                       Asia/Kolkata, or UTC\n"
	"  --owner-email EMAIL  address the reports go to\n"
	"Prints the company id.\n";

int cmd_company_create(const struct lr_config *cfg, int argc, char **argv)
{
	const char *who = argv[0];
	static const struct option options[] = {
		{"id", required_argument, NULL, 'i'},
		{"name", required_argument, NULL, 'n'},
		{"timezone", required_argument, NULL, 't'},
		{"owner-email", required_argument, NULL, 'e'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *id = NULL, *name = NULL, *timezone = NULL, *email = NULL;
	int opt;
	optind = 0;
	while ((opt = lr_getopt(who, argc, argv, options)) != -1) {
		switch (opt) {
		case 'i': id = optarg; break;
		case 'n': name = optarg; break;
		case 't': timezone = optarg; break;
		case 'e': email = optarg; break;
		case 'h': fputs(usage, stdout); return EX_OK;
		default: return EX_USAGE;
		}
	}
	int status = lr_no_operands(who, argc, argv);
	if (status)
		return status;
	if (!id)
		return lr_missing(who, "--id");
	if (!name)
		return lr_missing(who, "--name");
	if (!timezone)
		return lr_missing(who, "--timezone");
	if (!email)
		return lr_missing(who, "--owner-email");

	const char *why;
	if (!lr_valid_code(id)) {
		lr_err("%s: --id must match [A-Za-z0-9_-]{1,64}", who);
		return EX_DATAERR;
	}
	if (!*name) {
		lr_err("%s: --name must not be empty", who);
		return EX_DATAERR;
	}
	if ((why = lr_check_text(name, LR_TEXT_MAX))) {
		lr_err("%s: --name %s", who, why);
		return EX_DATAERR;
	}
	if ((why = lr_check_email(email))) {
		lr_err("%s: --owner-email %s", who, why);
		return EX_DATAERR;
	}
	if ((status = check_timezone(who, timezone)))
		return status;

	PGconn *conn = lr_db_connect(cfg, who, &status);
	if (!conn)
		return status;
	const char *tz_params[] = {timezone};
	PGresult *res =
		lr_db_query(conn, "SELECT 1 FROM pg_timezone_names WHERE name = $1", 1, tz_params);
	if (!lr_db_ok(res)) {
		status = lr_db_fail(who, conn, res);
		goto out;
	}
	bool known = PQntuples(res) > 0;
	PQclear(res);
	if (!known) {
		lr_err("%s: unknown time zone '%s' (%s)", who, timezone, zone_hint);
		status = EX_DATAERR;
		goto out;
	}

	const char *params[] = {id, name, timezone, email};
	res = lr_db_query(conn,
			  "INSERT INTO companies (id, name, timezone, owner_email) "
			  "VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING",
			  4, params);
	if (!lr_db_ok(res)) {
		status = lr_db_fail(who, conn, res);
		goto out;
	}
	bool inserted = PQcmdTuples(res)[0] == '1';
	PQclear(res);
	if (!inserted) {
		lr_err("%s: company '%s' already exists", who, id);
		status = EX_DATAERR;
		goto out;
	}
	printf("%s\n", id);
out:
	PQfinish(conn);
	return status;
}

static const char set_usage[] =
	"usage: linkreport company set --id ID [--timezone TZ] [--owner-email EMAIL]\n"
	"Changes a company's time zone (reports follow it from their next period) or owner\n"
	"email. Prints the id.\n";

int cmd_company_set(const struct lr_config *cfg, int argc, char **argv)
{
	const char *who = argv[0];
	static const struct option options[] = {
		{"id", required_argument, NULL, 'i'},
		{"timezone", required_argument, NULL, 't'},
		{"owner-email", required_argument, NULL, 'e'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *id = NULL, *timezone = NULL, *email = NULL;
	int opt;
	optind = 0;
	while ((opt = lr_getopt(who, argc, argv, options)) != -1) {
		switch (opt) {
		case 'i': id = optarg; break;
		case 't': timezone = optarg; break;
		case 'e': email = optarg; break;
		case 'h': fputs(set_usage, stdout); return EX_OK;
		default: return EX_USAGE;
		}
	}
	int status = lr_no_operands(who, argc, argv);
	if (status)
		return status;
	if (!id)
		return lr_missing(who, "--id");
	const char *why;
	if (!lr_valid_code(id)) {
		lr_err("%s: unknown company '%s'", who, id);
		return EX_DATAERR;
	}
	if (email && (why = lr_check_email(email))) {
		lr_err("%s: --owner-email %s", who, why);
		return EX_DATAERR;
	}
	if (timezone && (status = check_timezone(who, timezone)))
		return status;
	PGconn *conn = lr_db_connect(cfg, who, &status);
	if (!conn)
		return status;
	const char *params[] = {id, timezone, email};
	PGresult *res = lr_db_query(
		conn,
		"UPDATE companies SET timezone = coalesce($2::text, timezone),"
		" owner_email = coalesce($3::text, owner_email) WHERE id = $1"
		" AND ($2::text IS NULL OR EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $2))"
		" RETURNING id",
		3, params);
	if (!lr_db_ok(res)) {
		status = lr_db_fail(who, conn, res);
		goto out;
	}
	bool updated = PQntuples(res) > 0;
	PQclear(res);
	if (!updated) {
		res = lr_db_query(conn, "SELECT 1 FROM companies WHERE id = $1", 1, params);
		bool exists = lr_db_ok(res) && PQntuples(res) > 0;
		PQclear(res);
		if (exists)
			lr_err("%s: unknown time zone '%s' (%s)", who, timezone, zone_hint);
		else
			lr_err("%s: unknown company '%s'", who, id);
		status = EX_DATAERR;
		goto out;
	}
	printf("%s\n", id);
out:
	PQfinish(conn);
	return status;
}
