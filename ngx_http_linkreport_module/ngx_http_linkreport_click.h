/*
 * The click record: one per tap, with every field the report needs
 * (docs/data-contract.md lists them); the records of a cycle share one stream entry.
 */

#ifndef NGX_HTTP_LINKREPORT_CLICK_H
#define NGX_HTTP_LINKREPORT_CLICK_H

#include "ngx_http_linkreport_module.h"


/* the link hash fields the edge reads, in HMGET order */
typedef enum {
    NGX_HTTP_LINKREPORT_LONG_URL = 0,
    NGX_HTTP_LINKREPORT_SHORT_URL,
    NGX_HTTP_LINKREPORT_TXTLY_ID,
    NGX_HTTP_LINKREPORT_COMPANY_ID,
    NGX_HTTP_LINKREPORT_CAMPAIGN_NAME,
    NGX_HTTP_LINKREPORT_TEMPLATE_ID,
    NGX_HTTP_LINKREPORT_CHANNEL,
    NGX_HTTP_LINKREPORT_MESSAGE_ID,
    NGX_HTTP_LINKREPORT_CREATED_ON,
    NGX_HTTP_LINKREPORT_RECIPIENT,     /* "r:{token}", asked only for /{code}/{token} */
    NGX_HTTP_LINKREPORT_LINK_FIELDS
} ngx_http_linkreport_link_field_e;

extern ngx_str_t  ngx_http_linkreport_link_field_names[];


typedef struct {
    ngx_str_t   code;
    ngx_str_t   recipient;                 /* empty for /{code} */
    ngx_str_t   field[NGX_HTTP_LINKREPORT_LINK_FIELDS];
} ngx_http_linkreport_link_t;


/* per-worker seed of click ids; called at worker start */
ngx_int_t ngx_http_linkreport_click_init(ngx_log_t *log);

/*
 * Writes the click record of a tap on link into this cycle's batch for the stream
 * (ngx_http_linkreport_spool.h). NGX_ERROR when out of memory.
 */
ngx_int_t ngx_http_linkreport_click_format(ngx_http_request_t *r,
    ngx_http_linkreport_main_conf_t *lmcf, ngx_http_linkreport_link_t *link,
    ngx_str_t *click_id);

#endif /* NGX_HTTP_LINKREPORT_CLICK_H */
