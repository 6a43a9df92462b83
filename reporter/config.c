#include "config.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "validate.h"

const char lr_config_usage[] =
	"Global options (also accepted after the subcommand):\n"
	"  --db CONNINFO        PostgreSQL conninfo or URL  [LINKREPORT_DB, postgresql:///linkreport]\n"
	"  --redis ADDR[,ADDR]  host:port or unix:/path; several: one per region\n"
	"                                                    [LINKREPORT_REDIS, 127.0.0.1:6379]\n"
	"  --stream KEY         click stream key             [LINKREPORT_STREAM, linkreport:clicks]\n"
	"  --key-prefix PREFIX  link hash key prefix         [LINKREPORT_KEY_PREFIX, linkreport:link:]\n"
	"  --base-url URL       public base of short URLs    [LINKREPORT_BASE_URL, http://localhost:8080]\n"
	"  --now TIME           clock for scheduling (tests) [LINKREPORT_NOW, the system clock]\n"
	"                       ISO 8601 with offset, e.g. 2024-03-31T10:00:05+02:00\n";

static const char *env_or(const char *name, const char *fallback)
{
	const char *v = getenv(name);
	return v && *v ? v : fallback;
}

void lr_config_from_env(struct lr_config *cfg)
{
	cfg->db = env_or("LINKREPORT_DB", "postgresql:///linkreport");
	cfg->redis = env_or("LINKREPORT_REDIS", "127.0.0.1:6379");
	cfg->stream = env_or("LINKREPORT_STREAM", "linkreport:clicks");
	cfg->key_prefix = env_or("LINKREPORT_KEY_PREFIX", "linkreport:link:");
	cfg->base_url = env_or("LINKREPORT_BASE_URL", "http://localhost:8080");
	cfg->now = env_or("LINKREPORT_NOW", NULL);
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

int lr_config_take_option(struct lr_config *cfg, int argc, char **argv, int *i)
{
	static const struct {
		const char *name;
		size_t offset;
	} options[] = {
		{"--db", offsetof(struct lr_config, db)},
		{"--redis", offsetof(struct lr_config, redis)},
		{"--stream", offsetof(struct lr_config, stream)},
		{"--key-prefix", offsetof(struct lr_config, key_prefix)},
		{"--base-url", offsetof(struct lr_config, base_url)},
		{"--now", offsetof(struct lr_config, now)},
	};
	const char *arg = argv[*i];
	for (size_t k = 0; k < sizeof options / sizeof options[0]; k++) {
		size_t n = strlen(options[k].name);
		if (strncmp(arg, options[k].name, n) != 0 || (arg[n] != '\0' && arg[n] != '='))
			continue;
		const char *value;
		if (arg[n] == '=') {
			value = arg + n + 1;
		} else if (*i + 1 < argc) {
			value = argv[++*i];
		} else {
			lr_err("option %s needs a value", options[k].name);
			return -1;
		}
		if (!*value) {
			lr_err("option %s must not be empty", options[k].name);
			return -1;
		}
		*(const char **)((char *)cfg + options[k].offset) = value;
		return 1;
	}
	return 0;
}
