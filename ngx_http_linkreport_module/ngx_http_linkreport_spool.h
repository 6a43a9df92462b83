/*
 * Getting click records to Redis without losing one.
 *
 * The records of one event-loop cycle (at most NGX_HTTP_LINKREPORT_BATCH_RECORDS, about
 * NGX_HTTP_LINKREPORT_BATCH_BYTES) make one stream entry, LF between two records. The
 * entry goes straight to Redis when the connection is up and fewer than
 * linkreport_redis_max_inflight records await their reply; it is kept until Redis
 * answers. Otherwise (Redis down, slow, or the reply lost with the connection) the record
 * is appended to this worker's file in the spool folder, bounded in size. Once Redis is
 * back, spooled files are replayed oldest first, in order, and deleted when every
 * record in them is acknowledged. A record may so reach the stream twice, never zero
 * times; the reporter stores each click id once. With linkreport_stream_maxlen, records
 * also wait in the spool while the stream holds that many entries (asked once a second).
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

/* 1 while this worker saw the stream at linkreport_stream_maxlen */
ngx_uint_t ngx_http_linkreport_spool_stream_full(ngx_http_linkreport_main_conf_t *lmcf);

#define NGX_HTTP_LINKREPORT_BATCH_RECORDS  64
#define NGX_HTTP_LINKREPORT_BATCH_BYTES    (32 * 1024)

/*
 * Room for one click record of len bytes in this cycle's batch, NULL when out of
 * memory. The batch leaves once the cycle's events are handled (a posted event), or at
 * once when it is full.
 */
u_char *ngx_http_linkreport_batch_record(ngx_http_linkreport_main_conf_t *lmcf,
    size_t len);

/* sends the batch in hand now: at worker exit, before the connection is drained */
void ngx_http_linkreport_batch_flush(void);

#endif /* NGX_HTTP_LINKREPORT_SPOOL_H */
