/*
 * Directives, configuration and worker lifecycle of ngx_http_linkreport_module.
 *
 *   http {
 *       linkreport_redis          127.0.0.1:6379;      # or unix:/run/redis.sock
 *       linkreport_redis_timeout  1s;
 *       linkreport_cache          zone=links:10m ttl=60s negative_ttl=10s stale=1d;
 *       linkreport_spool          /var/spool/linkreport size=64m;
 *       linkreport_redis_max_inflight 1024;
 *       linkreport_stream         linkreport:clicks;
 *       linkreport_key_prefix     linkreport:link:;
 *       linkreport_geoip_db       /var/lib/GeoIP/GeoLite2-City.mmdb;
 *       linkreport_geoip_language en;
 *       linkreport_ua_regexes     /usr/share/uap-core/regexes.yaml;
 *       linkreport_ua_cache       1024;
 *       linkreport_geoip_check    60s;
 *       server { location / { linkreport; } }
 *   }
 */

#include "ngx_http_linkreport_module.h"
#include "ngx_http_linkreport_handler.h"
#include "ngx_http_linkreport_redis.h"
#include "ngx_http_linkreport_click.h"
#include "ngx_http_linkreport_geo.h"
#include "ngx_http_linkreport_cache.h"
#include "ngx_http_linkreport_spool.h"
#include "ngx_http_linkreport_status.h"


#define NGX_HTTP_LINKREPORT_DEFAULT_UA_REGEXES  "/usr/share/uap-core/regexes.yaml"


static void *ngx_http_linkreport_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_linkreport_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_linkreport_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_linkreport_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_linkreport(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_http_linkreport_redis(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_linkreport_redirect_status(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_linkreport_resolver(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_linkreport_geoip_db(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_linkreport_check_key(ngx_conf_t *cf, void *post, void *data);
static ngx_int_t ngx_http_linkreport_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_linkreport_postconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_linkreport_init_process(ngx_cycle_t *cycle);
static void ngx_http_linkreport_exit_process(ngx_cycle_t *cycle);


static ngx_conf_post_t  ngx_http_linkreport_key_post = {
    ngx_http_linkreport_check_key
};


static ngx_command_t  ngx_http_linkreport_commands[] = {

    { ngx_string("linkreport"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_linkreport,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("linkreport_redirect_status"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_linkreport_redirect_status,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("linkreport_forward_query"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_linkreport_loc_conf_t, forward_query),
      NULL },

    { ngx_string("linkreport_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_linkreport_redis,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("linkreport_cache"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_linkreport_cache_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("linkreport_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_linkreport_status_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("linkreport_spool"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_http_linkreport_spool_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("linkreport_redis_max_inflight"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_linkreport_main_conf_t, max_inflight),
      NULL },

    { ngx_string("linkreport_stream_maxlen"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_linkreport_main_conf_t, stream_maxlen),
      NULL },

    { ngx_string("linkreport_resolver"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_linkreport_resolver,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("linkreport_redis_password"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_linkreport_main_conf_t, redis_password),
      NULL },

    { ngx_string("linkreport_redis_db"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_linkreport_main_conf_t, redis_db),
      NULL },

    { ngx_string("linkreport_redis_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_linkreport_main_conf_t, redis_timeout),
      NULL },

    { ngx_string("linkreport_stream"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_linkreport_main_conf_t, stream),
      &ngx_http_linkreport_key_post },

    { ngx_string("linkreport_key_prefix"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_linkreport_main_conf_t, key_prefix),
      &ngx_http_linkreport_key_post },

    { ngx_string("linkreport_geoip_db"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_linkreport_geoip_db,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("linkreport_geoip_check"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_linkreport_main_conf_t, geo_check),
      NULL },

    { ngx_string("linkreport_geoip_language"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_linkreport_main_conf_t, geo_language),
      NULL },

    { ngx_string("linkreport_ua_cache"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_linkreport_main_conf_t, ua_cache_slots),
      NULL },

    { ngx_string("linkreport_ua_regexes"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_linkreport_main_conf_t, ua_regexes),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_linkreport_module_ctx = {
    ngx_http_linkreport_add_variables,     /* preconfiguration */
    ngx_http_linkreport_postconfiguration, /* postconfiguration */

    ngx_http_linkreport_create_main_conf,  /* create main configuration */
    ngx_http_linkreport_init_main_conf,    /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_linkreport_create_loc_conf,   /* create location configuration */
    ngx_http_linkreport_merge_loc_conf     /* merge location configuration */
};


ngx_module_t  ngx_http_linkreport_module = {
    NGX_MODULE_V1,
    &ngx_http_linkreport_module_ctx,       /* module context */
    ngx_http_linkreport_commands,          /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_linkreport_init_process,      /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_linkreport_exit_process,      /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/* $linkreport_code, $linkreport_recipient, $linkreport_link_id, $linkreport_company,
 * $linkreport_click_id, $linkreport_cache_status: for log_format and add_header */
enum {
    NGX_HTTP_LINKREPORT_VAR_CODE = 0,
    NGX_HTTP_LINKREPORT_VAR_RECIPIENT,
    NGX_HTTP_LINKREPORT_VAR_LINK_ID,
    NGX_HTTP_LINKREPORT_VAR_COMPANY,
    NGX_HTTP_LINKREPORT_VAR_CLICK_ID,
    NGX_HTTP_LINKREPORT_VAR_CACHE_STATUS
};


static ngx_int_t
ngx_http_linkreport_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    ngx_str_t                  *s;
    ngx_http_linkreport_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_linkreport_module);
    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    switch (data) {
    case NGX_HTTP_LINKREPORT_VAR_CODE:
        s = &ctx->link.code;
        break;
    case NGX_HTTP_LINKREPORT_VAR_RECIPIENT:
        s = &ctx->link.recipient;
        break;
    case NGX_HTTP_LINKREPORT_VAR_LINK_ID:
        s = &ctx->link.field[NGX_HTTP_LINKREPORT_TXTLY_ID];
        break;
    case NGX_HTTP_LINKREPORT_VAR_COMPANY:
        s = &ctx->link.field[NGX_HTTP_LINKREPORT_COMPANY_ID];
        break;
    case NGX_HTTP_LINKREPORT_VAR_CLICK_ID:
        s = &ctx->click_id;
        break;
    default: /* NGX_HTTP_LINKREPORT_VAR_CACHE_STATUS */
        s = &ngx_http_linkreport_cache_status_names[ctx->cache_status];
        break;
    }

    v->len = s->len;
    v->data = s->data;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = (s->len == 0);

    return NGX_OK;
}


static ngx_int_t
ngx_http_linkreport_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var;

    static ngx_str_t  names[] = {
        ngx_string("linkreport_code"),
        ngx_string("linkreport_recipient"),
        ngx_string("linkreport_link_id"),
        ngx_string("linkreport_company"),
        ngx_string("linkreport_click_id"),
        ngx_string("linkreport_cache_status"),
    };

    for (ngx_uint_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        var = ngx_http_add_variable(cf, &names[i], NGX_HTTP_VAR_NOCACHEABLE);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = ngx_http_linkreport_variable;
        var->data = i;
    }

    return NGX_OK;
}


/* the counters' zone and the log-phase counting, when the module is used at all */
static ngx_int_t
ngx_http_linkreport_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_handler_pt              *h;
    ngx_http_core_main_conf_t        *cmcf;
    ngx_http_linkreport_main_conf_t  *lmcf;

    lmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_linkreport_module);
    if (!lmcf->used) {
        return NGX_OK;
    }

    if (ngx_http_linkreport_status_init(cf, lmcf) != NGX_OK) {
        return NGX_ERROR;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_linkreport_status_count;

    return NGX_OK;
}


static void *
ngx_http_linkreport_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_linkreport_main_conf_t  *lmcf;

    lmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_linkreport_main_conf_t));
    if (lmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     lmcf->redis_host = { 0, NULL };
     *     lmcf->stream = { 0, NULL };
     *     lmcf->key_prefix = { 0, NULL };
     *     lmcf->ua_regexes = { 0, NULL };
     *     lmcf->geo_language = { 0, NULL };
     *     lmcf->geo = NULL;
     *     lmcf->ua = NULL;
     */

    lmcf->used = 0;
    lmcf->redis_timeout = NGX_CONF_UNSET_MSEC;
    lmcf->ua_cache_slots = NGX_CONF_UNSET_UINT;
    lmcf->geo_check = NGX_CONF_UNSET_MSEC;
    lmcf->max_inflight = NGX_CONF_UNSET_UINT;
    lmcf->stream_maxlen = NGX_CONF_UNSET_UINT;
    lmcf->redis_db = NGX_CONF_UNSET_UINT;

    return lmcf;
}


static void
ngx_http_linkreport_ua_free(void *data)
{
    lr_ua_free(data);
}


static char *
ngx_http_linkreport_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_linkreport_main_conf_t *lmcf = conf;

    char                 err[256];
    unsigned             skipped;
    ngx_pool_cleanup_t  *cln;

    ngx_conf_init_msec_value(lmcf->redis_timeout, 1000);

    if (lmcf->redis_timeout == 0 || lmcf->redis_timeout > 60000) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"linkreport_redis_timeout\" must be from 1ms to 60s");
        return NGX_CONF_ERROR;
    }
    ngx_conf_init_uint_value(lmcf->ua_cache_slots, 1024);
    ngx_conf_init_msec_value(lmcf->geo_check, 60000);
    ngx_conf_init_uint_value(lmcf->max_inflight, 1024);
    ngx_conf_init_uint_value(lmcf->redis_db, 0);

    if (lmcf->max_inflight == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"linkreport_redis_max_inflight\" must be at least 1");
        return NGX_CONF_ERROR;
    }

    ngx_conf_init_uint_value(lmcf->stream_maxlen, 0);

    if (lmcf->stream_maxlen && lmcf->spool_path.data == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"linkreport_stream_maxlen\" needs \"linkreport_spool\": "
                           "the click records a full stream cannot take wait there");
        return NGX_CONF_ERROR;
    }

    if (lmcf->ua_cache_slots > 1048576) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"linkreport_ua_cache\" must be 0 to 1048576 slots");
        return NGX_CONF_ERROR;
    }

    if (lmcf->stream.data == NULL) {
        ngx_str_set(&lmcf->stream, "linkreport:clicks");
    }

    if (lmcf->key_prefix.data == NULL) {
        ngx_str_set(&lmcf->key_prefix, "linkreport:link:");
    }

    if (lmcf->geo_language.data == NULL) {
        ngx_str_set(&lmcf->geo_language, "en");
    }

    if (lmcf->ua_regexes.data == NULL) {
        ngx_str_set(&lmcf->ua_regexes, NGX_HTTP_LINKREPORT_DEFAULT_UA_REGEXES);
    }

    lmcf->log = &cf->cycle->new_log;

    /*
     * a warning, not an error: MaxMind's own test databases hold names in languages
     * their metadata does not list, so the list is a hint rather than the truth
     */
    if (lmcf->geo
        && ngx_http_linkreport_geo_has_language(lmcf->geo, &lmcf->geo_language) != NGX_OK)
    {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "the GeoIP database does not list language \"%V\" in its "
                           "metadata: country and city may stay empty",
                           &lmcf->geo_language);
    }

    if (!lmcf->used) {
        return NGX_CONF_OK;
    }

    if (lmcf->redis_host.data == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"linkreport\" is used but \"linkreport_redis\" is not set");
        return NGX_CONF_ERROR;
    }

    if (lmcf->redis_resolve && lmcf->resolver == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "redis host \"%V\" is a name: set \"linkreport_resolver\" "
                           "so that it is resolved without blocking", &lmcf->redis_host);
        return NGX_CONF_ERROR;
    }

    /* regexes are compiled once per configuration, before workers fork */
    lmcf->ua = lr_ua_load((char *) lmcf->ua_regexes.data, err, sizeof(err), &skipped);
    if (lmcf->ua == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "cannot load user-agent regexes \"%V\": %s",
                           &lmcf->ua_regexes, err);
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        lr_ua_free(lmcf->ua);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_linkreport_ua_free;
    cln->data = lmcf->ua;

    if (skipped) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "%ui user-agent regexes in \"%V\" could not be compiled "
                           "and are ignored", (ngx_uint_t) skipped, &lmcf->ua_regexes);
    }

    return NGX_CONF_OK;
}


static void *
ngx_http_linkreport_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_linkreport_loc_conf_t  *llcf;

    llcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_linkreport_loc_conf_t));
    if (llcf == NULL) {
        return NULL;
    }

    llcf->enable = NGX_CONF_UNSET;
    llcf->status = NGX_CONF_UNSET_UINT;
    llcf->forward_query = NGX_CONF_UNSET;

    return llcf;
}


static char *
ngx_http_linkreport_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_linkreport_loc_conf_t *prev = parent;
    ngx_http_linkreport_loc_conf_t *conf = child;

    ngx_conf_merge_value(conf->enable, prev->enable, 0);
    ngx_conf_merge_uint_value(conf->status, prev->status, NGX_HTTP_MOVED_TEMPORARILY);
    ngx_conf_merge_value(conf->forward_query, prev->forward_query, 0);

    return NGX_CONF_OK;
}


static char *
ngx_http_linkreport(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_linkreport_loc_conf_t *llcf = conf;

    ngx_http_core_loc_conf_t         *clcf;
    ngx_http_linkreport_main_conf_t  *lmcf;

    if (llcf->enable != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    /* the code is read below the location's prefix: a regex has none to read below */
    if (clcf->named || clcf->exact_match || clcf->noname
#if (NGX_PCRE)
        || clcf->regex
#endif
       )
    {
        return "must be in a prefix location, such as \"location / { ... }\" "
               "or \"location /l/ { ... }\"";
    }

    llcf->enable = 1;
    clcf->handler = ngx_http_linkreport_handler;

    lmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_linkreport_module);
    lmcf->used = 1;

    return NGX_CONF_OK;
}


static char *
ngx_http_linkreport_redirect_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_linkreport_loc_conf_t *llcf = conf;

    ngx_int_t   status;
    ngx_str_t  *value;

    if (llcf->status != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;
    status = ngx_atoi(value[1].data, value[1].len);

    if (status != NGX_HTTP_MOVED_PERMANENTLY && status != NGX_HTTP_MOVED_TEMPORARILY
        && status != NGX_HTTP_TEMPORARY_REDIRECT && status != NGX_HTTP_PERMANENT_REDIRECT)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid redirect status \"%V\": 301, 302, 307 or 308",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    llcf->status = (ngx_uint_t) status;

    return NGX_CONF_OK;
}


static ngx_flag_t
ngx_http_linkreport_valid_host(ngx_str_t *host)
{
    u_char  *p;

    for (p = host->data; p < host->data + host->len; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
              || (*p >= '0' && *p <= '9') || *p == '-' || *p == '.'))
        {
            return 0;
        }
    }

    return host->len > 0 && host->len < 254;
}


static char *
ngx_http_linkreport_resolver(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_linkreport_main_conf_t *lmcf = conf;

    ngx_str_t  *value;

    if (lmcf->resolver) {
        return "is duplicate";
    }

    value = cf->args->elts;

    lmcf->resolver = ngx_resolver_create(cf, &value[1], cf->args->nelts - 1);
    if (lmcf->resolver == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * "ip:port", "[ipv6]:port", "name:port" or "unix:/path". A name is resolved with
 * linkreport_resolver: hiredis would call a blocking getaddrinfo() inside the worker.
 */
static char *
ngx_http_linkreport_redis(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_linkreport_main_conf_t *lmcf = conf;

    u_char     *p, *last, *colon;
    ngx_int_t   port;
    ngx_str_t  *value, host;
    u_char      addr6[16];

    if (lmcf->redis_host.data) {
        return "is duplicate";
    }

    value = cf->args->elts;
    lmcf->redis_addr = value[1];

    if (value[1].len > 5 && ngx_strncmp(value[1].data, "unix:", 5) == 0) {
        if (value[1].data[5] != '/') {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "unix socket path in \"%V\" must be absolute",
                               &value[1]);
            return NGX_CONF_ERROR;
        }

        lmcf->redis_host.data = value[1].data + 5;   /* still NUL-terminated */
        lmcf->redis_host.len = value[1].len - 5;
        lmcf->redis_port = 0;
        return NGX_CONF_OK;
    }

    p = value[1].data;
    last = p + value[1].len;

    colon = NULL;
    for (u_char *s = last - 1; s >= p; s--) {
        if (*s == ':') {
            colon = s;
            break;
        }
    }

    if (colon == NULL || colon == p || colon + 1 == last) {
        goto invalid;
    }

    port = ngx_atoi(colon + 1, last - (colon + 1));
    if (port < 1 || port > 65535) {
        goto invalid;
    }

    host.data = p;
    host.len = colon - p;

    if (host.len > 2 && host.data[0] == '[' && host.data[host.len - 1] == ']') {
        host.data++;
        host.len -= 2;
        if (ngx_inet6_addr(host.data, host.len, addr6) != NGX_OK) {
            goto invalid;
        }

    } else if (ngx_inet_addr(host.data, host.len) == INADDR_NONE) {
        /* a host name: resolved by linkreport_resolver, checked once all is read */
        if (!ngx_http_linkreport_valid_host(&host)) {
            goto invalid;
        }
        lmcf->redis_resolve = 1;
    }

    lmcf->redis_host.data = ngx_pnalloc(cf->pool, host.len + 1);
    if (lmcf->redis_host.data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memcpy(lmcf->redis_host.data, host.data, host.len);
    lmcf->redis_host.data[host.len] = '\0';
    lmcf->redis_host.len = host.len;
    lmcf->redis_port = (in_port_t) port;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid redis address \"%V\": expected host and port such as "
                       "\"127.0.0.1:6379\", \"[::1]:6379\" or \"redis.internal:6379\", "
                       "or \"unix:/path/to/redis.sock\"", &value[1]);
    return NGX_CONF_ERROR;
}


static char *
ngx_http_linkreport_geoip_db(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_linkreport_main_conf_t *lmcf = conf;

    ngx_str_t  *value;

    if (lmcf->geo) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0) {
        return "needs the path of a MaxMind City database";
    }

    return ngx_http_linkreport_geo_open(cf, &value[1], &lmcf->geo);
}


/* stream names and key prefixes end up in Redis commands: keep them printable */
static char *
ngx_http_linkreport_check_key(ngx_conf_t *cf, void *post, void *data)
{
    ngx_str_t  *key = data;
    u_char     *p;

    if (key->len == 0 || key->len > 200) {
        return "must be 1 to 200 characters long";
    }

    for (p = key->data; p < key->data + key->len; p++) {
        if (*p <= 0x20 || *p >= 0x7f) {
            return "must hold printable ASCII characters only";
        }
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_linkreport_init_process(ngx_cycle_t *cycle)
{
    ngx_http_linkreport_main_conf_t  *lmcf;

    if (ngx_process != NGX_PROCESS_WORKER && ngx_process != NGX_PROCESS_SINGLE) {
        return NGX_OK;
    }

    lmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_linkreport_module);
    if (lmcf == NULL || !lmcf->used) {
        return NGX_OK;
    }

    if (ngx_http_linkreport_click_init(cycle->log) != NGX_OK) {
        return NGX_ERROR;
    }

    /* a worker's own cache: no locking, and bounded (about 1 KB a slot) */
    if (lmcf->ua_cache_slots) {
        lmcf->ua_cache = lr_ua_cache_create(lmcf->ua_cache_slots);
        if (lmcf->ua_cache == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                          "linkreport: cannot allocate the user-agent cache");
            return NGX_ERROR;
        }
    }

    ngx_http_linkreport_geo_start(lmcf->geo, lmcf->geo_check, cycle->log);

    if (ngx_http_linkreport_spool_start(cycle, lmcf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_linkreport_redis_start(cycle, lmcf);
}


static void
ngx_http_linkreport_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_linkreport_main_conf_t  *lmcf;

    lmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_linkreport_module);
    if (lmcf == NULL) {
        return;
    }

    /* the last batch, then Redis: records it cannot confirm in time reach the spool */
    ngx_http_linkreport_batch_flush();
    ngx_http_linkreport_redis_stop(lmcf->redis);
    ngx_http_linkreport_spool_stop(lmcf);
    lmcf->redis = NULL;

    lr_ua_cache_free(lmcf->ua_cache);
    lmcf->ua_cache = NULL;

    ngx_http_linkreport_geo_stop(lmcf->geo);
}
