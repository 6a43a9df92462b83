/*
 * The redirect: GET/HEAD /{code} and /{code}/{recipient} under a location with
 * "linkreport", answered with a 302 once Redis has resolved the link.
 */

#ifndef NGX_HTTP_LINKREPORT_HANDLER_H
#define NGX_HTTP_LINKREPORT_HANDLER_H

#include "ngx_http_linkreport_module.h"
#include "ngx_http_linkreport_click.h"


/*
 * Lives outside the request pool: the Redis reply can arrive after the request is
 * gone (lookup timed out), and the reply callback still needs to know that.
 */
typedef struct {
    ngx_http_request_t  *request;          /* NULL once the request is finished */
} ngx_http_linkreport_lookup_t;

typedef struct {
    ngx_http_linkreport_link_t     link;
    ngx_http_linkreport_lookup_t  *lookup;
    ngx_event_t                    timeout;
    ngx_uint_t                     cache_status;
    ngx_str_t                      click_id;
} ngx_http_linkreport_ctx_t;


ngx_int_t ngx_http_linkreport_handler(ngx_http_request_t *r);

/* splits the path below the location into code and recipient; NGX_DECLINED if invalid */
ngx_int_t ngx_http_linkreport_parse_path(ngx_http_request_t *r, ngx_str_t *code,
    ngx_str_t *recipient);

#endif /* NGX_HTTP_LINKREPORT_HANDLER_H */
