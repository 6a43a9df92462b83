#ifndef LR_CONFIG_H
#define LR_CONFIG_H

#include <stdbool.h>
#include <stdio.h>
#include <time.h>

/* Settings shared by every subcommand. Each comes from a command-line option, else the
 * environment, else the configuration file (--config / LINKREPORT_CONFIG), else a
 * default. The strings are borrowed (argv, environ, or the file's values, kept for the
 * life of the process) and never freed. */
struct lr_config {
	const char *db;         /* libpq conninfo or URL; may hold a password: never print it */
	const char *redis;      /* "host:port" or "unix:/path", or several comma-separated */
	const char *stream;     /* click stream key */
	const char *key_prefix; /* link hash key prefix */
	const char *base_url;   /* public base of short URLs, without trailing slash concerns */
	const char *now;        /* NULL, or the clock for the scheduler (tests): ISO 8601 */
	const char *log_format; /* daemons' log lines: logfmt, json or text */
	const char *metrics_listen; /* NULL, or where `run`/`drain` serve GET /metrics */
	const char *config;     /* the configuration file, NULL for none */
};

/* Every setting, one table (config.c): the options, the environment, the file keys,
 * `--help`, `linkreport config` and the docs all follow it. */
enum lr_key_scope {
	LR_SCOPE_GLOBAL,  /* a global option, a field of struct lr_config */
	LR_SCOPE_DRAIN,   /* an option of drain and run */
	LR_SCOPE_RUN,     /* an option of run (and schedule) */
	LR_SCOPE_REPORTS, /* report and mail settings (send.c), no option */
};
enum lr_key_kind { LR_KIND_TEXT, LR_KIND_UINT, LR_KIND_ENUM, LR_KIND_LISTEN };
#define LR_KEY_SECRET 1u  /* never printed, nor logged */
#define LR_KEY_NO_FILE 2u /* not accepted in the file (the file's own name, the test clock) */
#define LR_KEY_HAS_PASSWORD 4u /* a conninfo that may hold a password */

struct lr_key {
	const char *name; /* file key; the option is --name */
	const char *env;
	const char *def;  /* NULL: none (or computed, see help) */
	enum lr_key_scope scope;
	enum lr_key_kind kind;
	long long min, max;  /* LR_KIND_UINT */
	const char *choices; /* LR_KIND_ENUM: "a|b|c" */
	unsigned flags;
	long offset; /* LR_SCOPE_GLOBAL: offset in struct lr_config */
	const char *help;
};
extern const struct lr_key lr_keys[];
extern const size_t lr_n_keys;

enum lr_source { LR_SRC_DEFAULT, LR_SRC_ENV, LR_SRC_FILE, LR_SRC_OPTION };

/* Before the options: finds --config in argv (or LINKREPORT_CONFIG), reads the file, and
 * fills cfg from the environment, the file and the defaults. Returns 0, or EX_USAGE after
 * printing (unreadable file, FILE:LINE errors, a secret in a file others can read). */
int lr_config_init(struct lr_config *cfg, int argc, char **argv);

/* If argv[*i] is a global option, stores it, advances *i past its value and returns 1;
 * returns 0 when it is not one, -1 (after printing) when its value is missing or empty. */
int lr_config_take_option(struct lr_config *cfg, int argc, char **argv, int *i);

/* The value of a setting by its environment name: environment (non-empty), else the
 * file, else the table's default; NULL when none. For the report and mail settings. */
const char *lr_setting(const char *env);

/* Where the key's value came from; *line is the file line for LR_SRC_FILE. */
enum lr_source lr_config_source(size_t key, int *line);
/* The key's effective value (option > environment > file > default), or NULL. */
const char *lr_config_value(const struct lr_config *cfg, size_t key);
/* The index of a key by name, or -1. */
long lr_config_key(const char *name);

/* Checks one value against its key: NULL when fine, else why not (static text). */
const char *lr_config_check(const struct lr_key *key, const char *value);

/* Options of drain/run/schedule (group, count, ...) set in the environment or the file,
 * as "--name=value" strings (owned) to place before the command's own options, so that
 * those still win. Checks the values; returns 0 or EX_USAGE after printing. */
struct lr_strv;
int lr_config_command_defaults(const char *command, struct lr_strv *out);

/* Reads the file into the table (config_file.c). Returns 0 or EX_USAGE after printing. */
int lr_config_file_read(const char *path);
/* The file's value of key, and its line; NULL when the file does not set it. */
const char *lr_config_file_value(size_t key, int *line);

void lr_config_print_usage(FILE *out);

/* The current time: cfg->now when given (ISO 8601 with offset, e.g.
 * 2024-03-31T10:00:05+02:00), else the system clock. Returns false (after printing) when
 * cfg->now is malformed. */
bool lr_config_now(const struct lr_config *cfg, const char *who, time_t *now);

#endif
