/*
 * ngx_http_linkreport_module: short-link redirects that record every tap as an enriched
 * click in a Redis stream. Shared configuration types; one .c/.h pair per concern:
 *   ngx_http_linkreport_module.c   directives, configuration, worker start and exit
 *   ngx_http_linkreport_handler.c  the redirect: path parsing, lookup, response
 *   ngx_http_linkreport_redis.c    one hiredis async connection per worker on nginx events
 *   ngx_http_linkreport_click.c    the click record sent to the stream
 *   ngx_http_linkreport_geo.c      country and city from a MaxMind database
 *   linkreport_ua.c                user-agent classification (plain C, shared with tools)
 */

#ifndef NGX_HTTP_LINKREPORT_MODULE_H
#define NGX_HTTP_LINKREPORT_MODULE_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "linkreport_ua.h"


typedef struct ngx_http_linkreport_redis_s  ngx_http_linkreport_redis_t;
typedef struct ngx_http_linkreport_geo_s    ngx_http_linkreport_geo_t;
typedef struct ngx_http_linkreport_cache_s  ngx_http_linkreport_cache_t;
typedef struct ngx_http_linkreport_spool_s  ngx_http_linkreport_spool_t;

/* all workers' counts, in shared memory (the status page prints them) */
typedef struct {
    ngx_atomic_t                  redirects;
    ngx_atomic_t                  not_found;
    ngx_atomic_t                  errors;        /* 5xx answers */
    ngx_atomic_t                  cache_hits;
    ngx_atomic_t                  cache_misses;  /* misses and expired entries */
    ngx_atomic_t                  cache_negative;
    ngx_atomic_t                  cache_stale;
    ngx_atomic_t                  sent;          /* records confirmed by Redis at once */
    ngx_atomic_t                  spooled;       /* records written to the spool */
    ngx_atomic_t                  replayed;      /* confirmed by Redis from the spool */
    ngx_atomic_t                  dropped;       /* lost: no spool, spool full */
    ngx_atomic_t                  ua_classified; /* agents not in the UA cache */
} ngx_http_linkreport_counters_t;

typedef struct {
    ngx_flag_t                    used;          /* a location enables the handler */

    ngx_str_t                     redis_addr;    /* as configured, for messages */
    ngx_str_t                     redis_host;    /* IP address, or a unix socket path */
    in_port_t                     redis_port;    /* 0 for a unix socket */
    ngx_flag_t                    redis_resolve; /* redis_host is a name to resolve */
    ngx_resolver_t               *resolver;
    ngx_msec_t                    redis_timeout;
    ngx_str_t                     redis_password;   /* never logged */
    ngx_uint_t                    redis_db;

    ngx_str_t                     stream;
    ngx_str_t                     key_prefix;

    ngx_str_t                     ua_regexes;
    lr_ua_parsers_t              *ua;
    ngx_uint_t                    ua_cache_slots;
    lr_ua_cache_t                *ua_cache;      /* per worker, set at worker start */

    ngx_http_linkreport_geo_t    *geo;           /* NULL without a database */
    ngx_str_t                     geo_language;
    ngx_msec_t                    geo_check;     /* how often workers look at the file */

    ngx_http_linkreport_cache_t  *cache;         /* NULL without linkreport_cache */

    ngx_str_t                     spool_path;    /* NULL data without linkreport_spool */
    size_t                        spool_size;
    ngx_uint_t                    max_inflight;
    ngx_uint_t                    stream_maxlen; /* 0: none */
    ngx_http_linkreport_spool_t  *spool;         /* per worker, set at worker start */
    ngx_http_linkreport_counters_t  *counters;   /* shared by all workers */

    ngx_http_linkreport_redis_t  *redis;         /* per worker, set at worker start */
    ngx_log_t                    *log;
} ngx_http_linkreport_main_conf_t;

typedef struct {
    ngx_flag_t                    enable;
    ngx_uint_t                    status;        /* 301, 302, 307 or 308 */
    ngx_flag_t                    forward_query;
} ngx_http_linkreport_loc_conf_t;


extern ngx_module_t  ngx_http_linkreport_module;


/* n in decimal at p, digits written by hand: ngx_sprintf()'s generic formatting cost
 * more than the rest of a record's numbers together (callgrind) */
static ngx_inline u_char *
ngx_http_linkreport_decimal(u_char *p, uint64_t n)
{
    u_char   digits[NGX_INT64_LEN];
    u_char  *d = digits + sizeof(digits);

    do {
        *--d = (u_char) ('0' + n % 10);
        n /= 10;
    } while (n);

    return ngx_cpymem(p, d, digits + sizeof(digits) - d);
}

#endif /* NGX_HTTP_LINKREPORT_MODULE_H */
