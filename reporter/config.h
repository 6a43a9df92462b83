#ifndef LR_CONFIG_H
#define LR_CONFIG_H

/* Settings shared by every subcommand; each comes from an option, else the environment,
 * else a default. The strings are borrowed from argv/environ and never freed. */
struct lr_config {
	const char *db;         /* libpq conninfo or URL; may hold a password: never print it */
	const char *redis;      /* "host:port" or "unix:/path", or several comma-separated */
	const char *stream;     /* click stream key */
	const char *key_prefix; /* link hash key prefix */
	const char *base_url;   /* public base of short URLs, without trailing slash concerns */
	const char *now;        /* NULL, or the clock for the scheduler (tests): ISO 8601 */
};

void lr_config_from_env(struct lr_config *cfg);

/* If argv[*i] is a global option, stores it, advances *i past its value and returns 1;
 * returns 0 when it is not one, -1 (after printing) when its value is missing or empty. */
int lr_config_take_option(struct lr_config *cfg, int argc, char **argv, int *i);

extern const char lr_config_usage[];

/* The current time: cfg->now when given (ISO 8601 with offset, e.g.
 * 2024-03-31T10:00:05+02:00), else the system clock. Returns false (after printing) when
 * cfg->now is malformed. */
#include <stdbool.h>
#include <time.h>
bool lr_config_now(const struct lr_config *cfg, const char *who, time_t *now);

#endif
