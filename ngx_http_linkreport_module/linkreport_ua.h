/*
 * User-agent classification for the Links Detailed Report.
 *
 * Plain C (libyaml + PCRE2), with no nginx types, so the same code is used by the
 * module, by the unit tests and by the accuracy check against uap-core's corpus.
 * Browser, OS and OS version come from uap-core's regexes.yaml; engine and device
 * type are derived by the rules documented in the README ("User agents").
 */

#ifndef LINKREPORT_UA_H
#define LINKREPORT_UA_H

#include <stddef.h>

#define LR_UA_FIELD_MAX  64

typedef struct lr_ua_parsers_s  lr_ua_parsers_t;

typedef struct {
    /* raw uap-core results */
    char  ua_family[LR_UA_FIELD_MAX];
    char  os_family[LR_UA_FIELD_MAX];
    char  os_major[LR_UA_FIELD_MAX];
    char  os_minor[LR_UA_FIELD_MAX];
    int   spider;                       /* a uap-core "Spider" device or family */

    /* the report's vocabulary */
    char  browser[LR_UA_FIELD_MAX];
    char  platform[LR_UA_FIELD_MAX];
    char  platform_version[LR_UA_FIELD_MAX];
    const char  *engine;                /* static string, "" when unknown */
    const char  *device_type;           /* static string, never empty */
    const char  *non_human;             /* "", "bot" or "preview" (static string) */
} lr_ua_result_t;

typedef struct lr_ua_cache_s  lr_ua_cache_t;

/*
 * Loads and compiles regexes.yaml. Returns NULL on failure with a message in err.
 * Regexes that PCRE2 cannot compile are skipped and counted in *skipped.
 */
lr_ua_parsers_t *lr_ua_load(const char *path, char *err, size_t err_len,
    unsigned *skipped);
void lr_ua_free(lr_ua_parsers_t *p);
unsigned lr_ua_count(const lr_ua_parsers_t *p);

/* The input need not be NUL-terminated; only the first LR_UA_MAX_INPUT bytes count. */
#define LR_UA_MAX_INPUT  2048
void lr_ua_classify(lr_ua_parsers_t *p, const char *ua, size_t len,
    lr_ua_result_t *res);

/*
 * A cache of recent verdicts, for one process (one nginx worker): each agent may live in
 * either of two 4-way sets (two-choice hashing), keyed by the whole user agent (compared
 * byte for byte, so a hash collision never returns another agent's verdict). Agents
 * longer than LR_UA_CACHE_KEY_MAX are not cached. slots is rounded up to a power of two;
 * memory is about 1 KB a slot. lr_ua_classify_cached returns 1 when the verdict came
 * from the cache, 0 when the agent was classified.
 */
#define LR_UA_CACHE_KEY_MAX  512
lr_ua_cache_t *lr_ua_cache_create(unsigned slots);
void lr_ua_cache_free(lr_ua_cache_t *c);
int lr_ua_classify_cached(lr_ua_parsers_t *p, lr_ua_cache_t *c, const char *ua,
    size_t len, lr_ua_result_t *res);

#endif /* LINKREPORT_UA_H */
