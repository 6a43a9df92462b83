#include "ngx_http_linkreport_handler.h"
#include "ngx_http_linkreport_redis.h"
#include "ngx_http_linkreport_click.h"
#include "ngx_http_linkreport_cache.h"
#include "ngx_http_linkreport_spool.h"


#define NGX_HTTP_LINKREPORT_SEGMENT_MAX  64

/* longer than any browser keeps in its address bar; the CLI stores at most 2048 */
#define NGX_HTTP_LINKREPORT_LONG_URL_MAX  8192


static ngx_str_t  ngx_http_linkreport_cache_control = ngx_string("private, no-store");
static ngx_str_t  ngx_http_linkreport_allow = ngx_string("GET, HEAD");


static ngx_flag_t
ngx_http_linkreport_valid_segment(u_char *p, size_t len)
{
    u_char  *end;

    if (len == 0 || len > NGX_HTTP_LINKREPORT_SEGMENT_MAX) {
        return 0;
    }

    for (end = p + len; p < end; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
              || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
        {
            return 0;
        }
    }

    return 1;
}


ngx_int_t
ngx_http_linkreport_parse_path(ngx_http_request_t *r, ngx_str_t *code,
    ngx_str_t *recipient)
{
    u_char                    *p, *end, *slash;
    ngx_http_core_loc_conf_t  *clcf;

    p = r->uri.data;
    end = r->uri.data + r->uri.len;

    /*
     * the code is what follows the location's prefix ("/l/QS6" under "location /l/" or
     * "location /l"); the configuration allows prefix locations only
     */
    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (r->uri.len >= clcf->name.len
        && ngx_strncmp(p, clcf->name.data, clcf->name.len) == 0)
    {
        p += clcf->name.len;

        if (clcf->name.len && clcf->name.data[clcf->name.len - 1] == '/') {
            p--;
        }
    }

    if (p == end || *p != '/') {
        return NGX_DECLINED;
    }

    p++;

    /* "/QS6/" and "/QS6/2rdK6/" are the same taps as without the slash */
    if (end > p && end[-1] == '/') {
        end--;
    }

    slash = ngx_strlchr(p, end, '/');

    code->data = p;
    code->len = (slash ? slash : end) - p;
    ngx_str_null(recipient);

    if (slash) {
        recipient->data = slash + 1;
        recipient->len = end - (slash + 1);

        if (!ngx_http_linkreport_valid_segment(recipient->data, recipient->len)) {
            return NGX_DECLINED;
        }
    }

    if (!ngx_http_linkreport_valid_segment(code->data, code->len)) {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


static ngx_flag_t
ngx_http_linkreport_http_url(ngx_str_t *url)
{
    return (url->len > 7 && ngx_strncasecmp(url->data, (u_char *) "http://", 7) == 0)
           || (url->len > 8
               && ngx_strncasecmp(url->data, (u_char *) "https://", 8) == 0);
}


/*
 * The stored URL's bytes go out unchanged, except those that cannot appear in a
 * header (controls, space, DEL, non-ASCII), which are percent-encoded: a Location
 * header can never be split, whatever Redis holds.
 */
static ngx_int_t
ngx_http_linkreport_location(ngx_http_request_t *r, ngx_str_t *stored)
{
    u_char                          *p, *s, *end, *hash;
    ngx_str_t                        joined, *url;
    ngx_table_elt_t                 *h;
    ngx_http_linkreport_loc_conf_t  *llcf;

    static u_char  hex[] = "0123456789ABCDEF";

    url = stored;
    llcf = ngx_http_get_module_loc_conf(r, ngx_http_linkreport_module);

    /* the tap's query goes before any #fragment, joined with "&" or "?" */
    if (llcf->forward_query && r->args.len) {
        hash = ngx_strlchr(stored->data, stored->data + stored->len, '#');
        if (hash == NULL) {
            hash = stored->data + stored->len;
        }

        joined.len = stored->len + 1 + r->args.len;
        joined.data = ngx_pnalloc(r->pool, joined.len);
        if (joined.data == NULL) {
            return NGX_ERROR;
        }

        p = ngx_cpymem(joined.data, stored->data, hash - stored->data);
        *p++ = ngx_strlchr(stored->data, hash, '?') ? '&' : '?';
        p = ngx_cpymem(p, r->args.data, r->args.len);
        ngx_memcpy(p, hash, stored->data + stored->len - hash);

        url = &joined;
    }

    p = ngx_pnalloc(r->pool, url->len * 3);
    if (p == NULL) {
        return NGX_ERROR;
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Location");
    h->value.data = p;

    for (s = url->data, end = url->data + url->len; s < end; s++) {
        if (*s <= 0x20 || *s >= 0x7f) {
            *p++ = '%';
            *p++ = hex[*s >> 4];
            *p++ = hex[*s & 0xf];
        } else {
            *p++ = *s;
        }
    }

    h->value.len = p - h->value.data;

    ngx_http_clear_location(r);
    r->headers_out.location = h;

    return NGX_OK;
}


static ngx_int_t
ngx_http_linkreport_add_header(ngx_http_request_t *r, char *key, ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) key;
    h->key.len = ngx_strlen(key);
    h->value = *value;

    return NGX_OK;
}


static ngx_str_t
ngx_http_linkreport_reply_str(redisReply *reply)
{
    ngx_str_t  s;

    if (reply->type == REDIS_REPLY_STRING) {
        s.data = (u_char *) reply->str;
        s.len = reply->len;
    } else {
        ngx_str_null(&s);
    }

    return s;
}


static void
ngx_http_linkreport_cleanup(void *data)
{
    ngx_http_linkreport_ctx_t  *ctx = data;

    if (ctx->lookup) {
        ctx->lookup->request = NULL;
        ctx->lookup = NULL;
    }

    if (ctx->timeout.timer_set) {
        ngx_del_timer(&ctx->timeout);
    }
}


/* the redirect for a link whose fields are in ctx->link; builds the click record too */
static ngx_int_t
ngx_http_linkreport_redirect(ngx_http_request_t *r, ngx_http_linkreport_ctx_t *ctx)
{
    ngx_str_t                        *f;
    ngx_http_linkreport_loc_conf_t   *llcf;
    ngx_http_linkreport_main_conf_t  *lmcf;

    lmcf = ngx_http_get_module_main_conf(r, ngx_http_linkreport_module);
    f = ctx->link.field;

    if (f[NGX_HTTP_LINKREPORT_LONG_URL].len > NGX_HTTP_LINKREPORT_LONG_URL_MAX) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "linkreport: link \"%V\" has a long_url of %uz bytes, more "
                      "than %d", &ctx->link.code, f[NGX_HTTP_LINKREPORT_LONG_URL].len,
                      NGX_HTTP_LINKREPORT_LONG_URL_MAX);
        return NGX_HTTP_BAD_GATEWAY;
    }

    if (!ngx_http_linkreport_http_url(&f[NGX_HTTP_LINKREPORT_LONG_URL])) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "linkreport: link \"%V\" has a long_url that is not http(s)",
                      &ctx->link.code);
        return NGX_HTTP_BAD_GATEWAY;
    }

    if (ngx_http_linkreport_location(r, &f[NGX_HTTP_LINKREPORT_LONG_URL]) != NGX_OK
        || ngx_http_linkreport_add_header(r, "Cache-Control",
                                          &ngx_http_linkreport_cache_control)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* queued: it leaves for Redis once this event is handled, after the response */
    if (ngx_http_linkreport_click_format(r, lmcf, &ctx->link, &ctx->click_id)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "linkreport: click on \"%V\" not recorded: out of memory",
                      &ctx->link.code);
    }

    llcf = ngx_http_get_module_loc_conf(r, ngx_http_linkreport_module);

    return (ngx_int_t) llcf->status;
}


/*
 * Redis's answer to the HMGET: NGX_OK with the fields set, NGX_DECLINED for no such
 * link or recipient, or an HTTP status when the answer is unusable.
 */
static ngx_int_t
ngx_http_linkreport_read_reply(ngx_http_request_t *r, ngx_http_linkreport_ctx_t *ctx,
    redisReply *reply)
{
    u_char     *p;
    size_t      i, expected, total;
    ngx_str_t  *f, s;

    f = ctx->link.field;
    expected = ctx->link.recipient.len ? NGX_HTTP_LINKREPORT_LINK_FIELDS
                                       : NGX_HTTP_LINKREPORT_LINK_FIELDS - 1;

    if (reply == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "linkreport: redis connection lost while looking up \"%V\"",
                      &ctx->link.code);
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    if (reply->type == REDIS_REPLY_ERROR
        && ngx_strncmp(reply->str, "WRONGTYPE", 9) == 0)
    {
        /* bad data under the link's key, not an unavailable Redis */
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "linkreport: key of link \"%V\" does not hold a hash",
                      &ctx->link.code);
        return NGX_HTTP_BAD_GATEWAY;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != expected) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "linkreport: unexpected redis reply for \"%V\": %*s",
                      &ctx->link.code,
                      reply->type == REDIS_REPLY_ERROR ? reply->len : 0,
                      reply->type == REDIS_REPLY_ERROR ? reply->str : "");
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    /*
     * copied into the request: the reply is freed when this callback returns, and
     * $linkreport_* variables may be read later, in the log phase
     */
    for (total = 0, i = 0; i < expected; i++) {
        total += ngx_http_linkreport_reply_str(reply->element[i]).len;
    }

    p = ngx_pnalloc(r->pool, total ? total : 1);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; i < NGX_HTTP_LINKREPORT_LINK_FIELDS; i++) {
        ngx_str_null(&f[i]);

        if (i < expected) {
            s = ngx_http_linkreport_reply_str(reply->element[i]);
            f[i].data = p;
            f[i].len = s.len;
            p = ngx_cpymem(p, s.data, s.len);
        }
    }

    if (f[NGX_HTTP_LINKREPORT_LONG_URL].len == 0
        || (ctx->link.recipient.len && f[NGX_HTTP_LINKREPORT_RECIPIENT].len == 0))
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * Redis could not answer (connection down, lost, slow): a cached entry past its ttl
 * still within the stale window answers instead.
 */
static ngx_int_t
ngx_http_linkreport_serve_stale(ngx_http_request_t *r, ngx_http_linkreport_ctx_t *ctx,
    ngx_int_t status)
{
    ngx_http_linkreport_main_conf_t  *lmcf;

    lmcf = ngx_http_get_module_main_conf(r, ngx_http_linkreport_module);

    if (lmcf->cache
        && ngx_http_linkreport_cache_get(lmcf->cache, r, &ctx->link, 1)
           == NGX_HTTP_LINKREPORT_CACHE_STALE)
    {
        ctx->cache_status = NGX_HTTP_LINKREPORT_CACHE_STALE;
        return ngx_http_linkreport_redirect(r, ctx);
    }

    return status;
}


static void
ngx_http_linkreport_timeout_handler(ngx_event_t *ev)
{
    ngx_int_t                         rc;
    ngx_http_request_t               *r = ev->data;
    ngx_connection_t                 *c = r->connection;
    ngx_http_linkreport_ctx_t        *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_linkreport_module);

    ngx_log_error(NGX_LOG_ERR, c->log, 0,
                  "linkreport: redis lookup of \"%V\" timed out", &ctx->link.code);

    ngx_http_linkreport_cleanup(ctx);

    rc = ngx_http_linkreport_serve_stale(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE);

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


static void
ngx_http_linkreport_lookup_done(redisAsyncContext *ac, void *data, void *privdata)
{
    ngx_int_t                         rc;
    ngx_connection_t                 *c;
    ngx_http_request_t               *r;
    ngx_http_linkreport_ctx_t        *ctx;
    ngx_http_linkreport_lookup_t     *lookup = privdata;
    ngx_http_linkreport_main_conf_t  *lmcf;

    r = lookup->request;
    ngx_free(lookup);

    if (r == NULL) {
        return;
    }

    lmcf = ngx_http_get_module_main_conf(r, ngx_http_linkreport_module);

    if (ngx_http_linkreport_redis_stopping(lmcf->redis)) {
        /* the worker is exiting: the request goes with it */
        return;
    }

    c = r->connection;
    ctx = ngx_http_get_module_ctx(r, ngx_http_linkreport_module);
    ctx->lookup = NULL;

    if (ctx->timeout.timer_set) {
        ngx_del_timer(&ctx->timeout);
    }

    rc = ngx_http_linkreport_read_reply(r, ctx, data);

    if (rc == NGX_OK || rc == NGX_DECLINED) {
        if (lmcf->cache) {
            ngx_http_linkreport_cache_put(lmcf->cache, &ctx->link, rc == NGX_OK,
                                          c->log);
        }

        rc = (rc == NGX_OK) ? ngx_http_linkreport_redirect(r, ctx)
                            : NGX_HTTP_NOT_FOUND;

    } else if (rc == NGX_HTTP_SERVICE_UNAVAILABLE) {
        rc = ngx_http_linkreport_serve_stale(r, ctx, rc);
    }

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


ngx_int_t
ngx_http_linkreport_handler(ngx_http_request_t *r)
{
    size_t                            i, argc;
    u_char                           *key;
    ngx_int_t                         rc;
    ngx_str_t                        *name;
    const char                       *argv[NGX_HTTP_LINKREPORT_LINK_FIELDS + 2];
    size_t                            argvlen[NGX_HTTP_LINKREPORT_LINK_FIELDS + 2];
    redisAsyncContext                *ac;
    ngx_pool_cleanup_t               *cln;
    ngx_http_linkreport_ctx_t        *ctx;
    ngx_http_linkreport_main_conf_t  *lmcf;

    if (!(r->method & (NGX_HTTP_GET | NGX_HTTP_HEAD))) {
        if (ngx_http_linkreport_add_header(r, "Allow", &ngx_http_linkreport_allow)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_linkreport_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_linkreport_parse_path(r, &ctx->link.code, &ctx->link.recipient)
        != NGX_OK)
    {
        return NGX_HTTP_NOT_FOUND;
    }

    ngx_http_set_ctx(r, ctx, ngx_http_linkreport_module);

    lmcf = ngx_http_get_module_main_conf(r, ngx_http_linkreport_module);

    if (lmcf->cache) {
        ctx->cache_status = ngx_http_linkreport_cache_get(lmcf->cache, r, &ctx->link, 0);

        if (ctx->cache_status == NGX_HTTP_LINKREPORT_CACHE_NEGATIVE) {
            return NGX_HTTP_NOT_FOUND;
        }

        if (ctx->cache_status == NGX_HTTP_LINKREPORT_CACHE_HIT) {
            /* answered without a round trip */
            return ngx_http_linkreport_redirect(r, ctx);
        }
    }

    ac = ngx_http_linkreport_redis_context(lmcf->redis);
    if (ac == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "linkreport: redis is not connected, cannot resolve \"%V\"",
                      &ctx->link.code);
        return ngx_http_linkreport_serve_stale(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE);
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_linkreport_cleanup;
    cln->data = ctx;

    /* HMGET key long_url short_url ... [r:{recipient}] */
    key = ngx_pnalloc(r->pool, lmcf->key_prefix.len + ctx->link.code.len
                               + sizeof("r:") - 1 + ctx->link.recipient.len);
    if (key == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    argc = 0;
    argv[argc] = "HMGET";
    argvlen[argc++] = 5;
    argv[argc] = (const char *) key;
    argvlen[argc++] = lmcf->key_prefix.len + ctx->link.code.len;
    key = ngx_cpymem(key, lmcf->key_prefix.data, lmcf->key_prefix.len);
    key = ngx_cpymem(key, ctx->link.code.data, ctx->link.code.len);

    for (i = 0; i < NGX_HTTP_LINKREPORT_RECIPIENT; i++) {
        name = &ngx_http_linkreport_link_field_names[i];
        argv[argc] = (const char *) name->data;
        argvlen[argc++] = name->len;
    }

    if (ctx->link.recipient.len) {
        argv[argc] = (const char *) key;
        argvlen[argc++] = sizeof("r:") - 1 + ctx->link.recipient.len;
        key = ngx_cpymem(key, "r:", sizeof("r:") - 1);
        ngx_memcpy(key, ctx->link.recipient.data, ctx->link.recipient.len);
    }

    ctx->lookup = ngx_alloc(sizeof(ngx_http_linkreport_lookup_t), r->connection->log);
    if (ctx->lookup == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->lookup->request = r;

    if (redisAsyncCommandArgv(ac, ngx_http_linkreport_lookup_done, ctx->lookup,
                              (int) argc, argv, argvlen)
        != REDIS_OK)
    {
        ngx_free(ctx->lookup);
        ctx->lookup = NULL;
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    ctx->timeout.handler = ngx_http_linkreport_timeout_handler;
    ctx->timeout.data = r;
    ctx->timeout.log = r->connection->log;
    ngx_add_timer(&ctx->timeout, lmcf->redis_timeout);

    r->main->count++;

    return NGX_DONE;
}
