/*
 * ua_bench: how right and how fast the edge's enrichment is, measured against work
 * nobody here wrote.
 *
 *   accuracy  uap-core's own test corpus (tests/test_ua.yaml, tests/test_os.yaml):
 *             agreement on browser family, OS family and OS major version, and every
 *             disagreement listed;
 *   speed     classification of user agents not seen before (median, p99), of cached
 *             ones, and GeoIP lookups per second (country and city names, as the
 *             module does them).
 *
 * Links the very same linkreport_ua.c as the nginx module.
 *
 * usage: ua_bench REGEXES.yaml TEST_UA.yaml TEST_OS.yaml GEOIP.mmdb [STRINGS_OUT]
 * STRINGS_OUT receives every distinct corpus user agent, one per line (for the
 * comparison with a second parser).
 */

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <maxminddb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <yaml.h>

#include "linkreport_ua.h"


typedef struct {
    char  *ua;
    char  *family;      /* expected family (browser or OS) */
    char  *major;       /* expected OS major, NULL when the corpus leaves it empty */
} corpus_case_t;

typedef struct {
    corpus_case_t  *cases;
    size_t          n;
} corpus_t;


static const char *
scalar_of(yaml_document_t *doc, yaml_node_t *map, const char *key)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
         p < map->data.mapping.pairs.top; p++)
    {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        yaml_node_t *v = yaml_document_get_node(doc, p->value);

        if (k && v && k->type == YAML_SCALAR_NODE && v->type == YAML_SCALAR_NODE
            && strcmp((char *) k->data.scalar.value, key) == 0)
        {
            /* an empty YAML value ("major:") means "none" */
            return v->data.scalar.length ? (char *) v->data.scalar.value : NULL;
        }
    }

    return NULL;
}


static char *
dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}


static int
load_corpus(const char *path, corpus_t *c)
{
    FILE             *f;
    yaml_parser_t     parser;
    yaml_document_t   doc;
    yaml_node_t      *root, *seq = NULL;

    f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        return -1;
    }

    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);

    if (!yaml_parser_load(&parser, &doc)) {
        fprintf(stderr, "%s: not valid YAML\n", path);
        yaml_parser_delete(&parser);
        fclose(f);
        return -1;
    }

    root = yaml_document_get_root_node(&doc);
    if (root && root->type == YAML_MAPPING_NODE) {
        for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
             p < root->data.mapping.pairs.top; p++)
        {
            yaml_node_t *v = yaml_document_get_node(&doc, p->value);
            if (v && v->type == YAML_SEQUENCE_NODE) {
                seq = v;
            }
        }
    }

    if (seq == NULL) {
        fprintf(stderr, "%s: no test_cases list\n", path);
        return -1;
    }

    c->n = 0;
    c->cases = calloc(seq->data.sequence.items.top - seq->data.sequence.items.start + 1,
                      sizeof(corpus_case_t));

    for (yaml_node_item_t *it = seq->data.sequence.items.start;
         it < seq->data.sequence.items.top; it++)
    {
        yaml_node_t *item = yaml_document_get_node(&doc, *it);
        const char  *ua;

        if (item == NULL || item->type != YAML_MAPPING_NODE) {
            continue;
        }

        ua = scalar_of(&doc, item, "user_agent_string");
        if (ua == NULL) {
            continue;
        }

        c->cases[c->n].ua = strdup(ua);
        c->cases[c->n].family = dup_or_null(scalar_of(&doc, item, "family"));
        c->cases[c->n].major = dup_or_null(scalar_of(&doc, item, "major"));
        c->n++;
    }

    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    fclose(f);

    return 0;
}


static int
same(const char *expected, const char *got)
{
    return strcmp(expected ? expected : "", got) == 0;
}


static double
now_ns(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}


static int
cmp_double(const void *a, const void *b)
{
    double  x = *(const double *) a, y = *(const double *) b;

    return (x > y) - (x < y);
}


static void
accuracy(lr_ua_parsers_t *p, corpus_t *ua, corpus_t *os)
{
    size_t          i, agree, agree_major, with_major;
    lr_ua_result_t  r;

    printf("== accuracy against uap-core's corpus\n");
    printf("-- browser family disagreements (expected | ours | user agent)\n");

    for (agree = 0, i = 0; i < ua->n; i++) {
        lr_ua_classify(p, ua->cases[i].ua, strlen(ua->cases[i].ua), &r);

        if (same(ua->cases[i].family, r.ua_family)) {
            agree++;
        } else {
            printf("   %s | %s | %s\n", ua->cases[i].family, r.ua_family,
                   ua->cases[i].ua);
        }
    }

    printf("browser family: %zu/%zu agree (%.2f%%)\n", agree, ua->n,
           100.0 * agree / ua->n);

    printf("-- OS disagreements (expected family major | ours | user agent)\n");

    for (agree = 0, agree_major = 0, with_major = 0, i = 0; i < os->n; i++) {
        int  fam_ok, major_ok;

        lr_ua_classify(p, os->cases[i].ua, strlen(os->cases[i].ua), &r);

        fam_ok = same(os->cases[i].family, r.os_family);
        major_ok = same(os->cases[i].major, r.os_major);
        agree += fam_ok;
        agree_major += major_ok;
        with_major += os->cases[i].major != NULL;

        if (!fam_ok || !major_ok) {
            printf("   %s %s | %s %s | %s\n", os->cases[i].family,
                   os->cases[i].major ? os->cases[i].major : "-", r.os_family,
                   r.os_major[0] ? r.os_major : "-", os->cases[i].ua);
        }
    }

    printf("OS family: %zu/%zu agree (%.2f%%)\n", agree, os->n, 100.0 * agree / os->n);
    printf("OS major version: %zu/%zu agree (%.2f%%; %zu cases name a major)\n",
           agree_major, os->n, 100.0 * agree_major / os->n, with_major);
}


static void
speed(lr_ua_parsers_t *p, corpus_t *ua, corpus_t *os, FILE *strings)
{
    size_t           i, n = 0, rep, reps = 200, hot, hits = 0;
    double           t0, *lat, *per_call, sum;
    const char     **all;
    lr_ua_result_t   r;
    lr_ua_cache_t   *cache;

    all = malloc((ua->n + os->n) * sizeof(char *));
    for (i = 0; i < ua->n; i++) {
        all[n++] = ua->cases[i].ua;
    }
    for (i = 0; i < os->n; i++) {
        all[n++] = os->cases[i].ua;
    }

    if (strings) {
        for (i = 0; i < n; i++) {
            if (strchr(all[i], '\n') == NULL) {
                fprintf(strings, "%s\n", all[i]);
            }
        }
    }

    /* not seen before: the classifier itself, each agent timed on its own */
    lat = malloc(n * sizeof(double));
    for (i = 0; i < n; i++) {
        t0 = now_ns();
        lr_ua_classify(p, all[i], strlen(all[i]), &r);
        lat[i] = now_ns() - t0;
    }

    qsort(lat, n, sizeof(double), cmp_double);
    for (sum = 0, i = 0; i < n; i++) {
        sum += lat[i];
    }

    printf("== speed\n");
    printf("uncached classification: %zu agents, median %.1f us, p99 %.1f us, "
           "mean %.1f us, max %.1f us\n", n, lat[n / 2] / 1e3, lat[n * 99 / 100] / 1e3,
           sum / n / 1e3, lat[n - 1] / 1e3);

    /* seen before: the same 1,000 agents over and over, as a campaign burst does */
    hot = n < 1000 ? n : 1000;
    cache = lr_ua_cache_create(4096);
    for (i = 0; i < hot; i++) {
        lr_ua_classify_cached(p, cache, all[i], strlen(all[i]), &r);
    }

    per_call = malloc(reps * sizeof(double));
    for (rep = 0; rep < reps; rep++) {
        t0 = now_ns();
        for (i = 0; i < hot; i++) {
            hits += lr_ua_classify_cached(p, cache, all[i], strlen(all[i]), &r);
        }
        per_call[rep] = (now_ns() - t0) / hot;
    }

    qsort(per_call, reps, sizeof(double), cmp_double);
    /* a cycle through a quarter of the slots: every call after the first round must hit */
    printf("cached classification: %zu agents x %zu rounds, median %.3f us a call, "
           "%.2f%% hits\n", hot, reps, per_call[reps / 2] / 1e3, 100.0 * hits / (hot * reps));

    lr_ua_cache_free(cache);
    free(per_call);
    free(lat);
    free(all);
}


static void
geoip(const char *path)
{
    int                   err, found = 0;
    size_t                i, n = 1000000;
    double                t0, secs;
    MMDB_s                db;
    MMDB_entry_data_s     data;
    MMDB_lookup_result_s  res;
    struct sockaddr_in    sin;
    uint32_t              x = 2463534242u;

    if (MMDB_open(path, MMDB_MODE_MMAP, &db) != MMDB_SUCCESS) {
        fprintf(stderr, "ua_bench: cannot open %s\n", path);
        return;
    }

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;

    t0 = now_ns();
    for (i = 0; i < n; i++) {
        x ^= x << 13; x ^= x >> 17; x ^= x << 5;      /* xorshift: spread addresses */
        sin.sin_addr.s_addr = x;
        res = MMDB_lookup_sockaddr(&db, (struct sockaddr *) &sin, &err);
        if (err == MMDB_SUCCESS && res.found_entry) {
            found++;
            MMDB_get_value(&res.entry, &data, "country", "names", "en", NULL);
            MMDB_get_value(&res.entry, &data, "city", "names", "en", NULL);
        }
    }
    secs = (now_ns() - t0) / 1e9;

    printf("GeoIP lookups (country + city names): %.0f per second "
           "(%zu random IPv4 addresses, %d found)\n", n / secs, n, found);

    MMDB_close(&db);
}


int
main(int argc, char **argv)
{
    char              err[256];
    unsigned          skipped;
    corpus_t          ua, os;
    FILE             *strings = NULL;
    lr_ua_parsers_t  *p;

    if (argc < 5 || argc > 6) {
        fprintf(stderr, "usage: ua_bench REGEXES.yaml TEST_UA.yaml TEST_OS.yaml "
                        "GEOIP.mmdb [STRINGS_OUT]\n");
        return 64;
    }

    p = lr_ua_load(argv[1], err, sizeof(err), &skipped);
    if (p == NULL) {
        fprintf(stderr, "ua_bench: %s: %s\n", argv[1], err);
        return 66;
    }

    if (load_corpus(argv[2], &ua) != 0 || load_corpus(argv[3], &os) != 0) {
        return 66;
    }

    if (argc == 6 && (strings = fopen(argv[5], "w")) == NULL) {
        perror(argv[5]);
        return 73;
    }

    printf("regexes: %u compiled, %u skipped\n", lr_ua_count(p), skipped);

    accuracy(p, &ua, &os);
    speed(p, &ua, &os, strings);
    geoip(argv[4]);

    if (strings) {
        fclose(strings);
    }

    lr_ua_free(p);
    return 0;
}
