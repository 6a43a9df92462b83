/*
 * The link cache: a shared-memory zone (rbtree + LRU, as limit_req's) that all workers
 * read before asking Redis. Entries are per tapped path, "{code}" or
 * "{code}/{recipient}", and hold every field the redirect and the click record need.
 * An unknown path is cached too (negative entry), so a scan of random codes does not
 * reach Redis; when Redis cannot answer, an expired entry is still served (stale).
 */

#ifndef NGX_HTTP_LINKREPORT_CACHE_H
#define NGX_HTTP_LINKREPORT_CACHE_H

#include "ngx_http_linkreport_module.h"
#include "ngx_http_linkreport_click.h"


typedef enum {
    NGX_HTTP_LINKREPORT_CACHE_NONE = 0,   /* no cache configured */
    NGX_HTTP_LINKREPORT_CACHE_MISS,
    NGX_HTTP_LINKREPORT_CACHE_HIT,
    NGX_HTTP_LINKREPORT_CACHE_NEGATIVE,   /* a cached "no such link" */
    NGX_HTTP_LINKREPORT_CACHE_EXPIRED,    /* found, too old: asked Redis again */
    NGX_HTTP_LINKREPORT_CACHE_STALE       /* too old, served because Redis failed */
} ngx_http_linkreport_cache_status_e;

extern ngx_str_t  ngx_http_linkreport_cache_status_names[];


/* "linkreport_cache zone=name:size [ttl=time] [negative_ttl=time] [stale=time]" */
char *ngx_http_linkreport_cache_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/*
 * Looks the tapped path up. With allow_stale, an entry past its ttl but within the
 * stale window is returned too (the status says STALE). Found fields are copied into
 * the request pool. Returns the status; link->field[] is filled on HIT and STALE.
 */
ngx_http_linkreport_cache_status_e ngx_http_linkreport_cache_get(
    ngx_http_linkreport_cache_t *cache, ngx_http_request_t *r,
    ngx_http_linkreport_link_t *link, ngx_flag_t allow_stale);

/* stores Redis's answer: the link's fields, or "none" when found is 0 */
void ngx_http_linkreport_cache_put(ngx_http_linkreport_cache_t *cache,
    ngx_http_linkreport_link_t *link, ngx_flag_t found, ngx_log_t *log);

#endif /* NGX_HTTP_LINKREPORT_CACHE_H */
