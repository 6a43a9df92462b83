#include <libpq-fe.h>
#include <stdio.h>
#include <time.h>

#include "commands.h"
#include "db.h"
#include "util.h"

static const char usage[] =
	"usage: linkreport migrate\n"
	"Creates or upgrades the PostgreSQL schema. Safe to run again and concurrently.\n"
	"Then makes the monthly partitions of clicks for the current month (--now) and the\n"
	"next 3, if missing.\n";

int cmd_migrate(const struct lr_config *cfg, int argc, char **argv)
{
	const char *who = "migrate";
	static const struct option options[] = {{"help", no_argument, NULL, 'h'}, {0}};
	int opt;
	optind = 0;
	while ((opt = lr_getopt(who, argc, argv, options)) != -1) {
		if (opt == 'h') {
			fputs(usage, stdout);
			return EX_OK;
		}
		return EX_USAGE;
	}
	int status = lr_no_operands(who, argc, argv);
	if (status)
		return status;

	PGconn *conn = lr_db_connect(cfg, who, &status);
	if (!conn)
		return status;
	int applied, version, created = 0;
	status = lr_db_migrate(who, conn, &applied, &version);
	time_t now;
	if (status == EX_OK && !lr_config_now(cfg, who, &now))
		status = EX_USAGE;
	if (status == EX_OK)
		status = lr_db_ensure_partitions(who, conn, now, &created);
	if (status == EX_OK)
		printf("migrate: schema at version %d (%d applied)\n"
		       "migrate: click partitions up to %d months ahead (%d made)\n",
		       version, applied, LR_CLICK_PARTITIONS_AHEAD, created);
	PQfinish(conn);
	return status;
}
