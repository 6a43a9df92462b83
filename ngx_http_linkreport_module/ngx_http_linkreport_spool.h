/*
 * Getting click records to Redis without losing one.
 *
 * A record goes straight to Redis when the connection is up and fewer than
 * linkreport_redis_max_inflight records await their reply; a copy is kept until Redis
 * answers. Otherwise (Redis down, slow, or the reply lost with the connection) the record
 * is appended to this worker's file in the spool folder, bounded in size. Once Redis is
 * back, spooled files are replayed oldest first, in order, and deleted when every
 * record in them is acknowledged. A record may so reach the stream twice, never zero
 * times; the reporter stores each click id once.
 */

#ifndef NGX_HTTP_LINKREPORT_SPOOL_H
#define NGX_HTTP_LINKREPORT_SPOOL_H

#include "ngx_http_linkreport_module.h"


/* "linkreport_spool PATH [size=SIZE]" */
char *ngx_http_linkreport_spool_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* per worker: adopts dead workers' files, starts the replay timer */
ngx_int_t ngx_http_linkreport_spool_start(ngx_cycle_t *cycle,
    ngx_http_linkreport_main_conf_t *lmcf);
void ngx_http_linkreport_spool_stop(ngx_http_linkreport_main_conf_t *lmcf);

/* hands one formatted XADD to Redis or to the spool; takes ownership of cmd (malloc) */
void ngx_http_linkreport_deliver(ngx_http_linkreport_main_conf_t *lmcf, char *cmd,
    size_t len);

#endif /* NGX_HTTP_LINKREPORT_SPOOL_H */
