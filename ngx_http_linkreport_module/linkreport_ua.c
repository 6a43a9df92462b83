/*
 * User-agent classification: uap-core's regexes.yaml compiled with PCRE2 (JIT where
 * available), plus the report's own rules for engine and device type.
 */

#define PCRE2_CODE_UNIT_WIDTH 8

#include <pcre2.h>
#include <yaml.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "linkreport_ua.h"


/* a parser's replacement strings, indexed by what they replace */
enum {
    LR_REPL_FAMILY = 0,     /* family_replacement / os_replacement */
    LR_REPL_V1,
    LR_REPL_V2,
    LR_REPL_COUNT
};

typedef struct {
    pcre2_code  *code;
    char        *repl[LR_REPL_COUNT];
} lr_ua_rule_t;

typedef struct {
    lr_ua_rule_t  *rules;
    unsigned       n;
} lr_ua_ruleset_t;

struct lr_ua_parsers_s {
    lr_ua_ruleset_t        browsers;
    lr_ua_ruleset_t        oses;
    lr_ua_ruleset_t        spiders;   /* only the device parsers that yield "Spider" */
    pcre2_match_data      *match;
    pcre2_match_context   *mctx;
    pcre2_jit_stack       *jit_stack;
    int                    captured;  /* pairs set by the last match: beyond it, stale */
};


static const char *
lr_yaml_scalar(yaml_document_t *doc, yaml_node_t *map, const char *key)
{
    yaml_node_pair_t  *pair;
    yaml_node_t       *k, *v;

    for (pair = map->data.mapping.pairs.start;
         pair < map->data.mapping.pairs.top; pair++)
    {
        k = yaml_document_get_node(doc, pair->key);
        v = yaml_document_get_node(doc, pair->value);

        if (k && v && k->type == YAML_SCALAR_NODE && v->type == YAML_SCALAR_NODE
            && strcmp((const char *) k->data.scalar.value, key) == 0)
        {
            return (const char *) v->data.scalar.value;
        }
    }

    return NULL;
}


static yaml_node_t *
lr_yaml_section(yaml_document_t *doc, const char *key)
{
    yaml_node_t       *root, *k, *v;
    yaml_node_pair_t  *pair;

    root = yaml_document_get_root_node(doc);
    if (root == NULL || root->type != YAML_MAPPING_NODE) {
        return NULL;
    }

    for (pair = root->data.mapping.pairs.start;
         pair < root->data.mapping.pairs.top; pair++)
    {
        k = yaml_document_get_node(doc, pair->key);
        v = yaml_document_get_node(doc, pair->value);

        if (k && v && k->type == YAML_SCALAR_NODE && v->type == YAML_SEQUENCE_NODE
            && strcmp((const char *) k->data.scalar.value, key) == 0)
        {
            return v;
        }
    }

    return NULL;
}


static char *
lr_strdup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}


/*
 * keys[] names the replacement fields of this section, in LR_REPL_* order.
 * only_spiders keeps the device parsers whose device_replacement is "Spider": the
 * report needs device parsers only to recognise bots.
 */
static int
lr_ua_load_section(yaml_document_t *doc, const char *section,
    const char *const keys[LR_REPL_COUNT], int only_spiders,
    lr_ua_ruleset_t *set, unsigned *skipped, char *err, size_t err_len)
{
    int           errcode;
    size_t        n, erroff;
    uint32_t      options;
    const char   *regex, *flag, *dev;
    yaml_node_t  *seq, *item;
    yaml_node_item_t  *it;
    lr_ua_rule_t *rule;

    seq = lr_yaml_section(doc, section);
    if (seq == NULL) {
        snprintf(err, err_len, "no \"%s\" list", section);
        return -1;
    }

    n = seq->data.sequence.items.top - seq->data.sequence.items.start;
    set->rules = calloc(n ? n : 1, sizeof(lr_ua_rule_t));
    if (set->rules == NULL) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }

    for (it = seq->data.sequence.items.start; it < seq->data.sequence.items.top; it++) {
        item = yaml_document_get_node(doc, *it);
        if (item == NULL || item->type != YAML_MAPPING_NODE) {
            continue;
        }

        regex = lr_yaml_scalar(doc, item, "regex");
        if (regex == NULL) {
            continue;
        }

        if (only_spiders) {
            dev = lr_yaml_scalar(doc, item, "device_replacement");
            if (dev == NULL || strcmp(dev, "Spider") != 0) {
                continue;
            }
        }

        flag = lr_yaml_scalar(doc, item, "regex_flag");
        options = (flag && strchr(flag, 'i')) ? PCRE2_CASELESS : 0;

        rule = &set->rules[set->n];
        rule->code = pcre2_compile((PCRE2_SPTR) regex, PCRE2_ZERO_TERMINATED,
                                   options, &errcode, &erroff, NULL);
        if (rule->code == NULL) {
            (*skipped)++;
            continue;
        }

        /* JIT is an optimisation: a regex JIT cannot take still matches interpreted */
        (void) pcre2_jit_compile(rule->code, PCRE2_JIT_COMPLETE);

        if (keys) {
            rule->repl[LR_REPL_FAMILY] = lr_strdup_or_null(
                                      lr_yaml_scalar(doc, item, keys[LR_REPL_FAMILY]));
            rule->repl[LR_REPL_V1] = lr_strdup_or_null(
                                      lr_yaml_scalar(doc, item, keys[LR_REPL_V1]));
            rule->repl[LR_REPL_V2] = lr_strdup_or_null(
                                      lr_yaml_scalar(doc, item, keys[LR_REPL_V2]));
        }

        set->n++;
    }

    return 0;
}


static void
lr_ua_free_set(lr_ua_ruleset_t *set)
{
    unsigned  i, j;

    for (i = 0; i < set->n; i++) {
        pcre2_code_free(set->rules[i].code);
        for (j = 0; j < LR_REPL_COUNT; j++) {
            free(set->rules[i].repl[j]);
        }
    }

    free(set->rules);
}


lr_ua_parsers_t *
lr_ua_load(const char *path, char *err, size_t err_len, unsigned *skipped)
{
    FILE             *f;
    yaml_parser_t     parser;
    yaml_document_t   doc;
    lr_ua_parsers_t  *p;

    static const char *const ua_keys[LR_REPL_COUNT] =
        { "family_replacement", "v1_replacement", "v2_replacement" };
    static const char *const os_keys[LR_REPL_COUNT] =
        { "os_replacement", "os_v1_replacement", "os_v2_replacement" };

    *skipped = 0;

    f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, err_len, "cannot open: %s", strerror(errno));
        return NULL;
    }

    if (!yaml_parser_initialize(&parser)) {
        fclose(f);
        snprintf(err, err_len, "out of memory");
        return NULL;
    }

    yaml_parser_set_input_file(&parser, f);

    if (!yaml_parser_load(&parser, &doc)) {
        snprintf(err, err_len, "not valid YAML: %s at line %lu",
                 parser.problem ? parser.problem : "parse error",
                 (unsigned long) parser.problem_mark.line + 1);
        yaml_parser_delete(&parser);
        fclose(f);
        return NULL;
    }

    yaml_parser_delete(&parser);
    fclose(f);

    p = calloc(1, sizeof(lr_ua_parsers_t));
    if (p == NULL) {
        yaml_document_delete(&doc);
        snprintf(err, err_len, "out of memory");
        return NULL;
    }

    if (lr_ua_load_section(&doc, "user_agent_parsers", ua_keys, 0, &p->browsers,
                           skipped, err, err_len) != 0
        || lr_ua_load_section(&doc, "os_parsers", os_keys, 0, &p->oses,
                              skipped, err, err_len) != 0
        || lr_ua_load_section(&doc, "device_parsers", NULL, 1, &p->spiders,
                              skipped, err, err_len) != 0)
    {
        yaml_document_delete(&doc);
        lr_ua_free(p);
        return NULL;
    }

    yaml_document_delete(&doc);

    if (p->browsers.n == 0 || p->oses.n == 0) {
        snprintf(err, err_len, "no usable user_agent_parsers or os_parsers");
        lr_ua_free(p);
        return NULL;
    }

    p->match = pcre2_match_data_create(32, NULL);
    p->mctx = pcre2_match_context_create(NULL);
    p->jit_stack = pcre2_jit_stack_create(32 * 1024, 512 * 1024, NULL);

    if (p->match == NULL || p->mctx == NULL || p->jit_stack == NULL) {
        snprintf(err, err_len, "out of memory");
        lr_ua_free(p);
        return NULL;
    }

    pcre2_jit_stack_assign(p->mctx, NULL, p->jit_stack);

    /* bounds backtracking so that no user agent can stall a worker */
    pcre2_set_match_limit(p->mctx, 100000);

    return p;
}


void
lr_ua_free(lr_ua_parsers_t *p)
{
    if (p == NULL) {
        return;
    }

    lr_ua_free_set(&p->browsers);
    lr_ua_free_set(&p->oses);
    lr_ua_free_set(&p->spiders);

    if (p->match) {
        pcre2_match_data_free(p->match);
    }

    if (p->mctx) {
        pcre2_match_context_free(p->mctx);
    }

    if (p->jit_stack) {
        pcre2_jit_stack_free(p->jit_stack);
    }

    free(p);
}


unsigned
lr_ua_count(const lr_ua_parsers_t *p)
{
    return p->browsers.n + p->oses.n + p->spiders.n;
}


/* returns the index of the first matching rule, or -1 */
static int
lr_ua_match(lr_ua_parsers_t *p, lr_ua_ruleset_t *set, const char *s, size_t len)
{
    unsigned  i;

    int       rc;

    for (i = 0; i < set->n; i++) {
        rc = pcre2_match(set->rules[i].code, (PCRE2_SPTR) s, len, 0, 0, p->match,
                         p->mctx);
        if (rc > 0) {
            p->captured = rc;
            return (int) i;
        }
    }

    return -1;
}


static void
lr_copy_trimmed(char *dst, const char *src, size_t len)
{
    while (len && (*src == ' ' || *src == '\t')) {
        src++;
        len--;
    }

    while (len && (src[len - 1] == ' ' || src[len - 1] == '\t')) {
        len--;
    }

    if (len >= LR_UA_FIELD_MAX) {
        len = LR_UA_FIELD_MAX - 1;
    }

    memcpy(dst, src, len);
    dst[len] = '\0';
}


/*
 * uap-core semantics: a replacement string has "$N" substituted by capture N (empty
 * when it did not take part); without a replacement, the value is capture "group".
 */
static void
lr_ua_value(lr_ua_parsers_t *p, const char *s, const char *repl, int group,
    char *out)
{
    int          rc, n;
    size_t       len, glen;
    char         buf[LR_UA_FIELD_MAX * 2];
    PCRE2_SIZE  *ov;

    ov = pcre2_get_ovector_pointer(p->match);
    rc = p->captured;

    if (repl == NULL) {
        if (group < rc && ov[2 * group] != PCRE2_UNSET) {
            lr_copy_trimmed(out, s + ov[2 * group], ov[2 * group + 1] - ov[2 * group]);
        } else {
            out[0] = '\0';
        }
        return;
    }

    len = 0;

    while (*repl && len < sizeof(buf) - 1) {
        if (repl[0] == '$' && repl[1] >= '1' && repl[1] <= '9') {
            n = repl[1] - '0';
            repl += 2;

            if (n < rc && ov[2 * n] != PCRE2_UNSET) {
                glen = ov[2 * n + 1] - ov[2 * n];
                if (glen > sizeof(buf) - 1 - len) {
                    glen = sizeof(buf) - 1 - len;
                }
                memcpy(buf + len, s + ov[2 * n], glen);
                len += glen;
            }
            continue;
        }

        buf[len++] = *repl++;
    }

    lr_copy_trimmed(out, buf, len);
}


typedef struct {
    const char  *from;
    const char  *to;
} lr_name_map_t;

/* uap-core names -> the report's vocabulary (README, "User agents") */
static const lr_name_map_t  lr_browser_names[] = {
    { "Chrome Mobile", "Chrome" },
    { "Chrome Mobile iOS", "Chrome" },
    { "Chrome Mobile WebView", "Chrome WebView" },
    { "Mobile Safari", "Safari" },
    { "Mobile Safari UI/WKWebView", "Safari WebView" },
    { "Firefox Mobile", "Firefox" },
    { "Firefox iOS", "Firefox" },
    { "Edge Mobile", "Edge" },
    { "Opera Mobile", "Opera" },
    { "Other", "" },
    { NULL, NULL }
};

static const lr_name_map_t  lr_platform_names[] = {
    { "Android", "AndroidOS" },
    { "Mac OS X", "OS X" },
    { "Chrome OS", "ChromeOS" },
    { "Other", "" },
    { NULL, NULL }
};


static void
lr_map_name(const lr_name_map_t *map, const char *from, char *to)
{
    for ( /* void */ ; map->from; map++) {
        if (strcmp(map->from, from) == 0) {
            from = map->to;
            break;
        }
    }

    snprintf(to, LR_UA_FIELD_MAX, "%s", from);
}


/* memmem bounded to the classifier's input */
static int
lr_has(const char *s, size_t len, const char *token)
{
    size_t  tlen = strlen(token);

    if (tlen > len) {
        return 0;
    }

    for (size_t i = 0; i + tlen <= len; i++) {
        if (s[i] == token[0] && memcmp(s + i, token, tlen) == 0) {
            return 1;
        }
    }

    return 0;
}


/* the major version following "token", e.g. "Chrome/" -> 120; -1 if absent */
static int
lr_version_after(const char *s, size_t len, const char *token)
{
    int     v;
    size_t  i, tlen = strlen(token);

    for (i = 0; i + tlen <= len; i++) {
        if (memcmp(s + i, token, tlen) == 0) {
            v = -1;
            for (i += tlen; i < len && s[i] >= '0' && s[i] <= '9' && v < 100000; i++) {
                v = (v < 0 ? 0 : v * 10) + (s[i] - '0');
            }
            return v;
        }
    }

    return -1;
}


static const char *
lr_ua_engine(const char *s, size_t len, const lr_ua_result_t *res)
{
    int  chrome;

    /*
     * every browser on iOS and iPadOS must use Apple's WebKit, whatever it calls
     * itself; an app that only fetches (CFNetwork) renders nothing and gets no engine
     */
    if ((strcmp(res->os_family, "iOS") == 0 || strcmp(res->os_family, "iPadOS") == 0)
        && lr_has(s, len, "AppleWebKit"))
    {
        return "WebKit";
    }

    if (lr_has(s, len, "Trident/") || lr_has(s, len, "MSIE ")) {
        return "Trident";
    }

    if (lr_has(s, len, " Edge/")) {
        return "EdgeHTML";
    }

    if (lr_has(s, len, "Presto/")) {
        return "Presto";
    }

    chrome = lr_version_after(s, len, "Chrome/");
    if (chrome < 0) {
        chrome = lr_version_after(s, len, "Chromium/");
    }

    if (chrome >= 0) {
        /* Blink forked from WebKit in Chrome 28 */
        return chrome >= 28 ? "Blink" : "WebKit";
    }

    if (lr_has(s, len, "Gecko/") || lr_has(s, len, "Firefox/")) {
        return "Gecko";
    }

    if (lr_has(s, len, "AppleWebKit/")) {
        return "WebKit";
    }

    return "";
}


/*
 * Link-preview fetchers: what messengers and social apps send to draw a card for a
 * link. Matched anywhere in the string, so a fetcher that also claims to be a browser
 * (Apple's iMessage sends "... Safari ... facebookexternalhit/1.1 Facebot Twitterbot")
 * is still a preview.
 */
static const char *const  lr_preview_tokens[] = {
    "facebookexternalhit", "Facebot", "WhatsApp/", "TelegramBot", "Twitterbot",
    "Slackbot", "Slack-ImgProxy", "Discordbot", "LinkedInBot", "SkypeUriPreview",
    "Pinterestbot", "redditbot", "vkShare", "Embedly", "Iframely",
    "Google-PageRenderer", "Snap URL Preview", "Mattermost-Bot", "kakaotalk-scrap",
    "MicrosoftPreview", "Microsoft Office", "Outlook-iOS", "Yahoo Link Preview",
    NULL
};


static const char *
lr_ua_device_type(const char *s, size_t len, const lr_ua_result_t *res)
{
    static const char *const tv[] = {
        "SmartTV", "SMART-TV", "Smart-TV", "SmartTv", "GoogleTV", "AppleTV",
        "Apple TV", "CrKey", "Roku", "BRAVIA", "HbbTV", "NetCast", "AFTB", "AFTS",
        "AFTM", "AFTT", "Web0S", "WebOS TV", "Tizen TV", NULL
    };
    static const char *const console[] = {
        "PlayStation", "PLAYSTATION", "Xbox", "Nintendo", NULL
    };
    static const char *const tablet[] = {
        "iPad", "Tablet", "tablet", "Kindle", "Silk/", "PlayBook", NULL
    };
    static const char *const phone[] = {
        "iPhone", "iPod", "Windows Phone", "BlackBerry", "BB10", "Opera Mini",
        "KaiOS", "J2ME", "MIDP", "Symbian", "SymbOS", "Series60", "Series 60", "S60",
        "Series40", "Series30", "Nokia", "BREW", "UCWEB", NULL
    };
    static const char *const desktop_os[] = {
        "Windows", "OS X", "Mac OS X", "Linux", "Ubuntu", "ChromeOS", "Chrome OS",
        "Fedora", "FreeBSD", "OpenBSD", "NetBSD", "Debian", "Red Hat", "SUSE",
        "Mint", NULL
    };
    const char *const  *t;

    if (res->non_human[0] != '\0') {
        return "Bot";
    }

    for (t = tv; *t; t++) {
        if (lr_has(s, len, *t)) {
            return "TV";
        }
    }

    for (t = console; *t; t++) {
        if (lr_has(s, len, *t)) {
            return "Console";
        }
    }

    for (t = tablet; *t; t++) {
        if (lr_has(s, len, *t)) {
            return "Tablet";
        }
    }

    for (t = phone; *t; t++) {
        if (lr_has(s, len, *t)) {
            return "Phone";
        }
    }

    /*
     * Android phones' browsers say "Mobile" (Opera "Mobi"); tablets' do not. An app's own user agent
     * ("okhttp", "Dalvik", "MyApp/2 Android") says neither and tells nothing.
     */
    if (strcmp(res->os_family, "Android") == 0 || lr_has(s, len, "Android")) {
        if (lr_has(s, len, "Mobi")) {
            return "Phone";
        }

        if (lr_has(s, len, "AppleWebKit/") || lr_has(s, len, "Gecko/")
            || lr_has(s, len, "Presto/"))
        {
            return "Tablet";
        }

        return "Other";
    }

    /* "Mobi" anywhere is how browsers say "phone" (Mozilla's advice to sites) */
    if (lr_has(s, len, "Mobi") || lr_has(s, len, "mobile")) {
        return "Phone";
    }

    for (t = desktop_os; *t; t++) {
        if (strcmp(res->os_family, *t) == 0) {
            return "Desktop";
        }
    }

    if (lr_has(s, len, "Windows NT") || lr_has(s, len, "Macintosh")
        || lr_has(s, len, "X11"))
    {
        return "Desktop";
    }

    return "Other";
}


void
lr_ua_classify(lr_ua_parsers_t *p, const char *ua, size_t len, lr_ua_result_t *res)
{
    int            i;
    lr_ua_rule_t  *rule;

    memset(res, 0, sizeof(lr_ua_result_t));

    if (len > LR_UA_MAX_INPUT) {
        len = LR_UA_MAX_INPUT;
    }

    strcpy(res->ua_family, "Other");
    strcpy(res->os_family, "Other");

    if (ua != NULL && len > 0) {
        i = lr_ua_match(p, &p->browsers, ua, len);
        if (i >= 0) {
            rule = &p->browsers.rules[i];
            lr_ua_value(p, ua, rule->repl[LR_REPL_FAMILY], 1, res->ua_family);
            if (res->ua_family[0] == '\0') {
                strcpy(res->ua_family, "Other");
            }
        }

        i = lr_ua_match(p, &p->oses, ua, len);
        if (i >= 0) {
            rule = &p->oses.rules[i];
            lr_ua_value(p, ua, rule->repl[LR_REPL_FAMILY], 1, res->os_family);
            lr_ua_value(p, ua, rule->repl[LR_REPL_V1], 2, res->os_major);
            lr_ua_value(p, ua, rule->repl[LR_REPL_V2], 3, res->os_minor);
            if (res->os_family[0] == '\0') {
                strcpy(res->os_family, "Other");
            }
        }

        res->spider = strcmp(res->ua_family, "Spider") == 0
                      || lr_ua_match(p, &p->spiders, ua, len) >= 0;
    } else {
        ua = "";
        len = 0;
    }

    lr_map_name(lr_browser_names, res->ua_family, res->browser);
    lr_map_name(lr_platform_names, res->os_family, res->platform);

    /* the report shows the major version only, as the seed's sample "10" does */
    snprintf(res->platform_version, LR_UA_FIELD_MAX, "%s", res->os_major);

    res->non_human = "";

    for (const char *const *t = lr_preview_tokens; *t; t++) {
        if (lr_has(ua, len, *t)) {
            res->non_human = "preview";
            break;
        }
    }

    if (res->non_human[0] == '\0' && res->spider) {
        res->non_human = "bot";
    }

    res->engine = lr_ua_engine(ua, len, res);
    res->device_type = lr_ua_device_type(ua, len, res);
}


typedef struct {
    size_t          len;
    uint64_t        used;              /* when last hit: the oldest of both sets is evicted */
    char            key[LR_UA_CACHE_KEY_MAX];
    lr_ua_result_t  res;
} lr_ua_cache_slot_t;

/*
 * Two 4-way sets per agent (two-choice hashing): an agent lives in either, a new one
 * replaces the least recently used of the eight. With one set per agent, the few sets
 * that more than four agents of a working set hash to thrash (LRU under a cycle misses
 * every time): at 41% fill, uap-core's 1,676 corpus agents cycled through 4,096 slots
 * missed 8.5% of the time, each miss a full classification; with two choices, none
 * after the second cycle (t/status.t TEST 3 checks a cycle of 480 similar agents).
 * A new agent whose two sets are full first moves one of their entries to its other set
 * when that has room (one cuckoo step): without it, a few of those 480 were lost.
 * The hashes of a set's slots sit together in tags (0: empty), so a lookup reads two
 * cache lines of tags and then only the slot whose tag matches, not eight 1 KB slots.
 */
#define LR_UA_CACHE_WAYS  4

struct lr_ua_cache_s {
    unsigned             sets_mask;
    uint64_t             clock;
    uint64_t            *tags;
    lr_ua_cache_slot_t  *slots;
};


lr_ua_cache_t *
lr_ua_cache_create(unsigned slots)
{
    unsigned        n;
    lr_ua_cache_t  *c;

    for (n = 1; n * LR_UA_CACHE_WAYS < slots && n < (1u << 18); n <<= 1) { /* void */ }

    c = malloc(sizeof(lr_ua_cache_t));
    if (c == NULL) {
        return NULL;
    }

    c->tags = calloc((size_t) n * LR_UA_CACHE_WAYS, sizeof(uint64_t));
    c->slots = calloc((size_t) n * LR_UA_CACHE_WAYS, sizeof(lr_ua_cache_slot_t));
    if (c->tags == NULL || c->slots == NULL) {
        free(c->tags);
        free(c->slots);
        free(c);
        return NULL;
    }

    c->sets_mask = n - 1;
    c->clock = 0;

    return c;
}


void
lr_ua_cache_free(lr_ua_cache_t *c)
{
    if (c) {
        free(c->tags);
        free(c->slots);
        free(c);
    }
}


/*
 * Eight bytes a step (a byte-at-a-time FNV-1a was a chain of 100 dependent multiplies
 * for a typical agent), then MurmurHash3's 64-bit finaliser, so that the low and the high
 * half both spread agents that differ in a few digits (versions, device models) over the
 * sets. Never 0: 0 marks an empty slot.
 */
static uint64_t
lr_ua_hash(const char *s, size_t len)
{
    uint64_t  h, w;

    h = 0xcbf29ce484222325ULL ^ len;

    for ( /* void */ ; len >= 8; s += 8, len -= 8) {
        memcpy(&w, s, 8);
        h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
        h ^= h >> 32;
    }

    w = 0;
    memcpy(&w, s, len);
    h = (h ^ w) * 0x9e3779b97f4a7c15ULL;

    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;

    return h ? h : 1;
}


/* the set an entry of this tag may also live in, besides the one at base */
static size_t
lr_ua_cache_other_set(lr_ua_cache_t *c, uint64_t tag, size_t base)
{
    size_t  a = (tag & c->sets_mask) * LR_UA_CACHE_WAYS;

    return a != base ? a : ((tag >> 32) & c->sets_mask) * LR_UA_CACHE_WAYS;
}


/*
 * The slot a new agent takes: an empty one of its two sets; else, as in cuckoo hashing,
 * the slot of one of the eight whose entry can move to an empty slot of its own other
 * set (so that no entry is lost while the cache is not full); else the least recently
 * used of the eight. Only on a miss, which costs a classification anyway.
 */
static size_t
lr_ua_cache_victim(lr_ua_cache_t *c, const size_t set[2])
{
    int     i, w, k;
    size_t  x, other, victim = set[0];

    for (i = 0; i < 2; i++) {
        for (w = 0; w < LR_UA_CACHE_WAYS; w++) {
            if (c->slots[set[i] + w].used < c->slots[victim].used) {
                victim = set[i] + w;
            }
        }
    }

    if (c->slots[victim].used == 0) {
        return victim;
    }

    for (i = 0; i < 2; i++) {
        for (w = 0; w < LR_UA_CACHE_WAYS; w++) {
            x = set[i] + w;
            other = lr_ua_cache_other_set(c, c->tags[x], set[i]);

            if (other == set[i]) {
                continue;
            }

            for (k = 0; k < LR_UA_CACHE_WAYS; k++) {
                if (c->slots[other + k].used == 0) {
                    c->tags[other + k] = c->tags[x];
                    c->slots[other + k] = c->slots[x];
                    return x;
                }
            }
        }
    }

    return victim;
}


int
lr_ua_classify_cached(lr_ua_parsers_t *p, lr_ua_cache_t *c, const char *ua,
    size_t len, lr_ua_result_t *res)
{
    int                  i, w;
    size_t               set[2], victim;
    uint64_t             h;
    lr_ua_cache_slot_t  *slot;

    if (len > LR_UA_MAX_INPUT) {
        len = LR_UA_MAX_INPUT;
    }

    if (c == NULL || ua == NULL || len == 0 || len > LR_UA_CACHE_KEY_MAX) {
        lr_ua_classify(p, ua, len, res);
        return 0;
    }

    h = lr_ua_hash(ua, len);

    /* the low and the high bits choose the two sets (they may be the same one) */
    set[0] = (h & c->sets_mask) * LR_UA_CACHE_WAYS;
    set[1] = ((h >> 32) & c->sets_mask) * LR_UA_CACHE_WAYS;

    for (i = 0; i < 2; i++) {
        for (w = 0; w < LR_UA_CACHE_WAYS; w++) {
            if (c->tags[set[i] + w] != h) {
                continue;
            }

            slot = &c->slots[set[i] + w];

            if (slot->len == len && memcmp(slot->key, ua, len) == 0) {
                slot->used = ++c->clock;
                *res = slot->res;
                return 1;
            }
        }
    }

    lr_ua_classify(p, ua, len, res);

    victim = lr_ua_cache_victim(c, set);

    c->tags[victim] = h;
    slot = &c->slots[victim];
    slot->len = len;
    slot->used = ++c->clock;
    memcpy(slot->key, ua, len);
    slot->res = *res;

    return 0;
}
