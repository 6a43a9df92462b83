/*
 * One hiredis asynchronous connection per worker, driven by nginx's event loop.
 * Commands never wait: a caller asks for the context and gets NULL while the
 * connection is down; reconnection happens on a timer, never from a request.
 */

#ifndef NGX_HTTP_LINKREPORT_REDIS_H
#define NGX_HTTP_LINKREPORT_REDIS_H

#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include "ngx_http_linkreport_module.h"


ngx_int_t ngx_http_linkreport_redis_start(ngx_cycle_t *cycle,
    ngx_http_linkreport_main_conf_t *lmcf);
void ngx_http_linkreport_redis_stop(ngx_http_linkreport_redis_t *rd);

/* the context when connected, else NULL */
redisAsyncContext *ngx_http_linkreport_redis_context(ngx_http_linkreport_redis_t *rd);

/* true once the worker is shutting the connection down: callbacks must not respond */
ngx_flag_t ngx_http_linkreport_redis_stopping(ngx_http_linkreport_redis_t *rd);

#endif /* NGX_HTTP_LINKREPORT_REDIS_H */
