/* config: every setting in one table, and where each value comes from: option >
 * environment > configuration file > default. */
#include "config.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "validate.h"

#define G(field) offsetof(struct lr_config, field)
#define TEXT LR_KIND_TEXT, 0, 0, NULL
#define UINT(min, max) LR_KIND_UINT, min, max, NULL

const struct lr_key lr_keys[] = {
	/* global options */
	{"config", "LINKREPORT_CONFIG", NULL, LR_SCOPE_GLOBAL, TEXT, LR_KEY_NO_FILE, G(config),
	 "configuration file of key = value lines"},
	{"db", "LINKREPORT_DB", "postgresql:///linkreport", LR_SCOPE_GLOBAL, TEXT,
	 LR_KEY_HAS_PASSWORD, G(db), "PostgreSQL conninfo or URL"},
	{"redis", "LINKREPORT_REDIS", "127.0.0.1:6379", LR_SCOPE_GLOBAL, TEXT, 0, G(redis),
	 "host:port, [ipv6]:port or unix:/path; several, comma-separated: one per edge region"},
	{"stream", "LINKREPORT_STREAM", "linkreport:clicks", LR_SCOPE_GLOBAL, TEXT, 0, G(stream),
	 "click stream key"},
	{"key-prefix", "LINKREPORT_KEY_PREFIX", "linkreport:link:", LR_SCOPE_GLOBAL, TEXT, 0,
	 G(key_prefix), "link hash key prefix"},
	{"base-url", "LINKREPORT_BASE_URL", "http://localhost:8080", LR_SCOPE_GLOBAL, TEXT, 0,
	 G(base_url), "public base of short URLs"},
	{"now", "LINKREPORT_NOW", NULL, LR_SCOPE_GLOBAL, TEXT, LR_KEY_NO_FILE, G(now),
	 "clock for scheduling (tests), ISO 8601 with offset"},
	{"log-format", "LINKREPORT_LOG_FORMAT", "logfmt", LR_SCOPE_GLOBAL, LR_KIND_ENUM, 0, 0,
	 "logfmt|json|text", 0, G(log_format), "log lines of the daemons (run, drain, schedule)"},
	{"metrics-listen", "LINKREPORT_METRICS_LISTEN", NULL, LR_SCOPE_GLOBAL, LR_KIND_LISTEN, 0, 0,
	 NULL, 0, G(metrics_listen), "[HOST:]PORT for GET /metrics (run, drain; host 127.0.0.1)"},
	/* drain and run options */
	{"group", "LINKREPORT_GROUP", "linkreport", LR_SCOPE_DRAIN, TEXT, 0, -1, "consumer group"},
	{"consumer", "LINKREPORT_CONSUMER", NULL, LR_SCOPE_DRAIN, TEXT, 0, -1,
	 "consumer name (default HOSTNAME-PID)"},
	{"count", "LINKREPORT_COUNT", "2000", LR_SCOPE_DRAIN, UINT(1, 100000), 0, -1,
	 "clicks per batch, about"},
	{"block-ms", "LINKREPORT_BLOCK_MS", "5000", LR_SCOPE_DRAIN, UINT(0, 3600000), 0, -1,
	 "how long one read waits"},
	{"flush-ms", "LINKREPORT_FLUSH_MS", "0", LR_SCOPE_DRAIN, UINT(0, 60000), 0, -1,
	 "after a partial batch, wait until this long after its start"},
	{"claim-idle-ms", "LINKREPORT_CLAIM_IDLE_MS", "60000", LR_SCOPE_DRAIN,
	 UINT(0, 86400000LL * 365), 0, -1, "take over entries pending longer"},
	{"interval", "LINKREPORT_INTERVAL", "30", LR_SCOPE_RUN, UINT(1, 86400), 0, -1,
	 "seconds between scheduler ticks"},
	/* reports and mail (send.c reads them with lr_setting) */
	{"smtp-url", "LINKREPORT_SMTP_URL", "smtp://127.0.0.1:25", LR_SCOPE_REPORTS, TEXT, 0, -1,
	 "smtp://host:port or smtps://host:port"},
	{"smtp-tls", "LINKREPORT_SMTP_TLS", NULL, LR_SCOPE_REPORTS, LR_KIND_ENUM, 0, 0,
	 "none|starttls|smtps", 0, -1, "default smtps for an smtps:// URL, else starttls"},
	{"smtp-user", "LINKREPORT_SMTP_USER", NULL, LR_SCOPE_REPORTS, TEXT, 0, -1, "SMTP AUTH user"},
	{"smtp-password", "LINKREPORT_SMTP_PASSWORD", NULL, LR_SCOPE_REPORTS, TEXT, LR_KEY_SECRET,
	 -1, "SMTP AUTH password"},
	{"smtp-ca-file", "LINKREPORT_SMTP_CA_FILE", NULL, LR_SCOPE_REPORTS, TEXT, 0, -1,
	 "CA bundle (default: the system's)"},
	{"mail-from", "LINKREPORT_MAIL_FROM", NULL, LR_SCOPE_REPORTS, TEXT, 0, -1,
	 "sender address (required to send)"},
	{"reports-dir", "LINKREPORT_REPORTS_DIR", "/var/lib/linkreport/reports", LR_SCOPE_REPORTS,
	 TEXT, 0, -1, "where report files are kept"},
	{"reports-keep-days", "LINKREPORT_REPORTS_KEEP_DAYS", "30", LR_SCOPE_REPORTS,
	 UINT(1, 36500), 0, -1, "report files older than this are removed"},
	{"gzip-above-bytes", "LINKREPORT_GZIP_ABOVE_BYTES", "1048576", LR_SCOPE_REPORTS,
	 UINT(0, 1LL << 40), 0, -1, "larger CSVs are gzipped"},
	{"attach-max-bytes", "LINKREPORT_ATTACH_MAX_BYTES", "5242880", LR_SCOPE_REPORTS,
	 UINT(0, 1LL << 40), 0, -1, "larger files are not attached"},
	{"download-base-url", "LINKREPORT_DOWNLOAD_BASE_URL", NULL, LR_SCOPE_REPORTS, TEXT, 0, -1,
	 "public URL of the nginx download location (required to send)"},
	{"download-secret", "LINKREPORT_DOWNLOAD_SECRET", NULL, LR_SCOPE_REPORTS, TEXT,
	 LR_KEY_SECRET, -1, "secret shared with nginx's secure_link (required to send)"},
	{"download-ttl", "LINKREPORT_DOWNLOAD_TTL", "604800", LR_SCOPE_REPORTS,
	 UINT(60, 366 * 86400LL), 0, -1, "download link lifetime, seconds"},
	{"send-max-attempts", "LINKREPORT_SEND_MAX_ATTEMPTS", "8", LR_SCOPE_REPORTS,
	 UINT(1, 1000), 0, -1, "attempts before a run is failed"},
	{"retry-base-seconds", "LINKREPORT_RETRY_BASE_SECONDS", "300", LR_SCOPE_REPORTS,
	 UINT(1, 86400), 0, -1, "first retry delay, doubling, at most 6 h"},
};
const size_t lr_n_keys = sizeof lr_keys / sizeof lr_keys[0];

/* Where each global key's value came from (options override what init found). */
static enum lr_source sources[sizeof lr_keys / sizeof lr_keys[0]];

static const char *env_value(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

long lr_config_key(const char *name)
{
	for (size_t k = 0; k < lr_n_keys; k++)
		if (strcmp(lr_keys[k].name, name) == 0)
			return (long)k;
	return -1;
}

/* Environment, else file, else default; sets *src. */
static const char *lookup(size_t k, enum lr_source *src)
{
	const char *v = env_value(lr_keys[k].env);
	int line;
	if (v) {
		*src = LR_SRC_ENV;
	} else if ((v = lr_config_file_value(k, &line))) {
		*src = LR_SRC_FILE;
	} else {
		v = lr_keys[k].def;
		*src = LR_SRC_DEFAULT;
	}
	return v;
}

const char *lr_setting(const char *env)
{
	for (size_t k = 0; k < lr_n_keys; k++) {
		if (strcmp(lr_keys[k].env, env) == 0) {
			enum lr_source src;
			return lookup(k, &src);
		}
	}
	return env_value(env);
}

enum lr_source lr_config_source(size_t key, int *line)
{
	*line = 0;
	if (lr_keys[key].scope == LR_SCOPE_GLOBAL && sources[key] == LR_SRC_OPTION)
		return LR_SRC_OPTION;
	enum lr_source src;
	lookup(key, &src);
	if (src == LR_SRC_FILE)
		lr_config_file_value(key, line);
	return src;
}

const char *lr_config_value(const struct lr_config *cfg, size_t key)
{
	if (lr_keys[key].scope == LR_SCOPE_GLOBAL)
		return *(const char *const *)((const char *)cfg + lr_keys[key].offset);
	enum lr_source src;
	return lookup(key, &src);
}

/* "[HOST:]PORT": a numeric IPv4 host or [IPv6], port 1-65535. The server parses it
 * again; this is the check for the error message. */
static bool valid_listen(const char *v)
{
	const char *colon = strrchr(v, ':');
	const char *port = colon ? colon + 1 : v;
	long long n;
	if (!lr_parse_uint(port, strlen(port), 65535, &n) || n == 0)
		return false;
	if (!colon)
		return true;
	size_t host_len = (size_t)(colon - v);
	if (host_len >= 2 && v[0] == '[' && v[host_len - 1] == ']')
		return strspn(v + 1, "0123456789abcdefABCDEF:.") == host_len - 2;
	return host_len > 0 && strspn(v, "0123456789.") == host_len;
}

const char *lr_config_check(const struct lr_key *key, const char *value)
{
	static char why[96]; /* only used while reading the configuration, one thread */
	long long n;
	if (!*value)
		return "must not be empty";
	for (const unsigned char *p = (const unsigned char *)value; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return "must not contain control characters";
	switch (key->kind) {
	case LR_KIND_TEXT: return NULL;
	case LR_KIND_UINT:
		if (lr_parse_uint(value, strlen(value), key->max, &n) && n >= key->min)
			return NULL;
		snprintf(why, sizeof why, "must be an integer from %lld to %lld", key->min, key->max);
		return why;
	case LR_KIND_ENUM: {
		size_t len = strlen(value);
		for (const char *c = key->choices; *c;) {
			size_t n_choice = strcspn(c, "|");
			if (n_choice == len && strncmp(c, value, len) == 0)
				return NULL;
			c += n_choice + (c[n_choice] == '|');
		}
		snprintf(why, sizeof why, "must be one of %s", key->choices);
		return why;
	}
	case LR_KIND_LISTEN:
		return valid_listen(value) ? NULL : "must be PORT, IPV4:PORT or [IPV6]:PORT";
	}
	return NULL;
}

int lr_config_init(struct lr_config *cfg, int argc, char **argv)
{
	memset(cfg, 0, sizeof *cfg);
	/* The file first: it supplies what neither option nor environment sets. */
	const char *path = env_value("LINKREPORT_CONFIG");
	bool config_option = false, help = false;
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
		help |= strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0;
		bool given = strcmp(argv[i], "--config") == 0 || strncmp(argv[i], "--config=", 9) == 0;
		if (given && config_option) {
			/* checked here, before reading either file (lr_config_take_option would
			 * say it too, but only after the first file's errors) */
			lr_err("option --config given twice");
			return EX_USAGE;
		}
		config_option |= given;
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			path = argv[++i];
		else if (strncmp(argv[i], "--config=", 9) == 0)
			path = argv[i] + 9;
	}
	/* --help answers even when the file is broken: it is what one reads to mend it */
	if (path && *path && !help) {
		int status = lr_config_file_read(path);
		if (status)
			return status;
	}
	for (size_t k = 0; k < lr_n_keys; k++) {
		if (lr_keys[k].scope != LR_SCOPE_GLOBAL)
			continue;
		*(const char **)((char *)cfg + lr_keys[k].offset) = lookup(k, &sources[k]);
	}
	return EX_OK;
}

int lr_config_take_option(struct lr_config *cfg, int argc, char **argv, int *i)
{
	const char *arg = argv[*i];
	if (strncmp(arg, "--", 2) != 0)
		return 0;
	for (size_t k = 0; k < lr_n_keys; k++) {
		if (lr_keys[k].scope != LR_SCOPE_GLOBAL)
			continue;
		const char *name = lr_keys[k].name;
		size_t n = strlen(name);
		if (strncmp(arg + 2, name, n) != 0 || (arg[n + 2] != '\0' && arg[n + 2] != '='))
			continue;
		const char *value;
		if (arg[n + 2] == '=') {
			value = arg + n + 3;
		} else if (*i + 1 < argc) {
			value = argv[++*i];
		} else {
			lr_err("option --%s needs a value", name);
			return -1;
		}
		if (!*value) {
			lr_err("option --%s must not be empty", name);
			return -1;
		}
		if (sources[k] == LR_SRC_OPTION) {
			lr_err("option --%s given twice", name); /* the last one used to win silently */
			return -1;
		}
		*(const char **)((char *)cfg + lr_keys[k].offset) = value;
		sources[k] = LR_SRC_OPTION;
		return 1;
	}
	return 0;
}

int lr_config_command_defaults(const char *command, struct lr_strv *out)
{
	bool drain = strcmp(command, "drain") == 0, run = strcmp(command, "run") == 0;
	bool schedule = strcmp(command, "schedule") == 0;
	for (size_t k = 0; k < lr_n_keys; k++) {
		const struct lr_key *key = &lr_keys[k];
		bool applies = key->scope == LR_SCOPE_DRAIN ? drain || run
			     : key->scope == LR_SCOPE_RUN   ? run || schedule
							    : false;
		if (!applies)
			continue;
		enum lr_source src;
		const char *v = lookup(k, &src);
		if (src == LR_SRC_DEFAULT)
			continue; /* the command's own default */
		const char *why = lr_config_check(key, v);
		if (why) {
			/* file values were checked when read: this one is the environment's */
			lr_err("%s: %s %s", command, key->env, why);
			return EX_USAGE;
		}
		lr_strv_push(out, lr_xasprintf("--%s=%s", key->name, v));
	}
	return EX_OK;
}

void lr_config_print_usage(FILE *out)
{
	fputs("Global options (also accepted after the subcommand) [environment, default]:\n", out);
	for (size_t k = 0; k < lr_n_keys; k++) {
		const struct lr_key *key = &lr_keys[k];
		if (key->scope != LR_SCOPE_GLOBAL)
			continue;
		char option[64];
		snprintf(option, sizeof option, "--%s %s", key->name,
			 key->kind == LR_KIND_ENUM ? key->choices : "VALUE");
		fprintf(out, "  %-30s %s [%s, %s]\n", option, key->help, key->env,
			key->def ? key->def : "none");
	}
	fputs("Precedence: option > environment > configuration file > default.\n"
	      "'linkreport config --help' lists every file key; 'linkreport config' prints the\n"
	      "effective configuration (secrets hidden) and where each value came from.\n",
	      out);
}

bool lr_config_now(const struct lr_config *cfg, const char *who, time_t *now)
{
	if (!cfg->now) {
		*now = time(NULL);
		return true;
	}
	if (!lr_parse_instant(cfg->now, now)) {
		lr_err("%s: --now/LINKREPORT_NOW must be ISO 8601 with an offset, e.g. "
		       "2024-03-31T10:00:05+02:00", who);
		return false;
	}
	return true;
}
