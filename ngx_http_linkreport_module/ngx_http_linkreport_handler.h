/*
 * The redirect: GET/HEAD /{code} and /{code}/{recipient} under a location with
 * "linkreport", answered with a 302 once Redis has resolved the link.
 */

#ifndef NGX_HTTP_LINKREPORT_HANDLER_H
#define NGX_HTTP_LINKREPORT_HANDLER_H

#include "ngx_http_linkreport_module.h"


ngx_int_t ngx_http_linkreport_handler(ngx_http_request_t *r);

/* splits the path below the location into code and recipient; NGX_DECLINED if invalid */
ngx_int_t ngx_http_linkreport_parse_path(ngx_http_request_t *r, ngx_str_t *code,
    ngx_str_t *recipient);

#endif /* NGX_HTTP_LINKREPORT_HANDLER_H */
