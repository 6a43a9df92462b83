#include "ngx_http_linkreport_status.h"
#include "ngx_http_linkreport_spool.h"
#include "ngx_http_linkreport_handler.h"
#include "ngx_http_linkreport_cache.h"
#include "ngx_http_linkreport_redis.h"


static ngx_int_t
ngx_http_linkreport_status_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_slab_pool_t                  *shpool;
    ngx_http_linkreport_main_conf_t  *lmcf = shm_zone->data;

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (data) {
        /* a reload keeps counting where the previous configuration was */
        lmcf->counters = ((ngx_http_linkreport_main_conf_t *) data)->counters;
        return NGX_OK;
    }

    if (shm_zone->shm.exists) {
        lmcf->counters = shpool->data;
        return NGX_OK;
    }

    lmcf->counters = ngx_slab_calloc(shpool, sizeof(ngx_http_linkreport_counters_t));
    if (lmcf->counters == NULL) {
        return NGX_ERROR;
    }

    shpool->data = lmcf->counters;

    return NGX_OK;
}


ngx_int_t
ngx_http_linkreport_status_init(ngx_conf_t *cf, ngx_http_linkreport_main_conf_t *lmcf)
{
    ngx_shm_zone_t    *zone;
    static ngx_str_t   name = ngx_string("linkreport_counters");

    zone = ngx_shared_memory_add(cf, &name, 8 * ngx_pagesize,
                                 &ngx_http_linkreport_module);
    if (zone == NULL) {
        return NGX_ERROR;
    }

    zone->init = ngx_http_linkreport_status_init_zone;
    zone->data = lmcf;

    return NGX_OK;
}


static ngx_int_t
ngx_http_linkreport_status_handler(ngx_http_request_t *r)
{
    size_t                            len;
    ngx_buf_t                        *b;
    ngx_int_t                         rc;
    ngx_chain_t                       out;
    ngx_http_linkreport_counters_t   *c;
    ngx_http_linkreport_main_conf_t  *lmcf;

    if (!(r->method & (NGX_HTTP_GET | NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    lmcf = ngx_http_get_module_main_conf(r, ngx_http_linkreport_module);
    c = lmcf->counters;

    len = 18 * (sizeof("records_replayed ") + NGX_ATOMIC_T_LEN + 1) + 64;

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_sprintf(b->last,
                          "redirects %uA\n"
                          "not_found %uA\n"
                          "errors %uA\n"
                          "cache_hits %uA\n"
                          "cache_misses %uA\n"
                          "cache_negative %uA\n"
                          "cache_stale %uA\n"
                          "records_sent %uA\n"
                          "records_spooled %uA\n"
                          "records_replayed %uA\n"
                          "records_dropped %uA\n"
                          "ua_classified %uA\n"
                          "redis_connected %d\n"
                          "stream_full %ui\n",
                          c->redirects, c->not_found, c->errors, c->cache_hits,
                          c->cache_misses, c->cache_negative, c->cache_stale, c->sent,
                          c->spooled, c->replayed, c->dropped, c->ua_classified,
                          ngx_http_linkreport_redis_context(lmcf->redis) ? 1 : 0,
                          ngx_http_linkreport_spool_stream_full(lmcf));

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = b->last - b->pos;
    ngx_str_set(&r->headers_out.content_type, "text/plain");
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    rc = ngx_http_send_header(r);
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;
    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


char *
ngx_http_linkreport_status_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t         *clcf;
    ngx_http_linkreport_main_conf_t  *lmcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_linkreport_status_handler;

    /* the page reports on the module's traffic: it needs the module configured */
    lmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_linkreport_module);
    lmcf->used = 1;

    return NGX_CONF_OK;
}


ngx_int_t
ngx_http_linkreport_status_count(ngx_http_request_t *r)
{
    ngx_uint_t                        status;
    ngx_http_linkreport_ctx_t        *ctx;
    ngx_http_linkreport_main_conf_t  *lmcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_linkreport_module);
    if (ctx == NULL) {
        return NGX_OK;
    }

    lmcf = ngx_http_get_module_main_conf(r, ngx_http_linkreport_module);
    status = r->headers_out.status;

    if (status >= 300 && status < 400) {
        ngx_http_linkreport_count(lmcf, redirects);
    } else if (status == NGX_HTTP_NOT_FOUND) {
        ngx_http_linkreport_count(lmcf, not_found);
    } else if (status >= 500) {
        ngx_http_linkreport_count(lmcf, errors);
    }

    switch (ctx->cache_status) {
    case NGX_HTTP_LINKREPORT_CACHE_HIT:
        ngx_http_linkreport_count(lmcf, cache_hits);
        break;
    case NGX_HTTP_LINKREPORT_CACHE_NEGATIVE:
        ngx_http_linkreport_count(lmcf, cache_negative);
        break;
    case NGX_HTTP_LINKREPORT_CACHE_STALE:
        ngx_http_linkreport_count(lmcf, cache_stale);
        break;
    case NGX_HTTP_LINKREPORT_CACHE_MISS:
    case NGX_HTTP_LINKREPORT_CACHE_EXPIRED:
        ngx_http_linkreport_count(lmcf, cache_misses);
        break;
    default:
        break;
    }

    return NGX_OK;
}
