#ifndef LR_CONFIG_H
#define LR_CONFIG_H

/* Settings shared by every subcommand; each comes from an option, else the environment,
 * else a default. The strings are borrowed from argv/environ and never freed. */
struct lr_config {
	const char *db;         /* libpq conninfo or URL; may hold a password: never print it */
	const char *redis;      /* "host:port" or "unix:/path" */
	const char *stream;     /* click stream key */
	const char *key_prefix; /* link hash key prefix */
	const char *base_url;   /* public base of short URLs, without trailing slash concerns */
};

void lr_config_from_env(struct lr_config *cfg);

/* If argv[*i] is a global option, stores it, advances *i past its value and returns 1;
 * returns 0 when it is not one, -1 (after printing) when its value is missing or empty. */
int lr_config_take_option(struct lr_config *cfg, int argc, char **argv, int *i);

extern const char lr_config_usage[];

#endif
