/*
 * Counters shared by all workers (a small shared-memory zone) and the status page
 * that prints them: "location = /linkreport-status { linkreport_status; }".
 */

#ifndef NGX_HTTP_LINKREPORT_STATUS_H
#define NGX_HTTP_LINKREPORT_STATUS_H

#include "ngx_http_linkreport_module.h"


/* creates the counters' zone; called once the configuration is read */
ngx_int_t ngx_http_linkreport_status_init(ngx_conf_t *cf,
    ngx_http_linkreport_main_conf_t *lmcf);

char *ngx_http_linkreport_status_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* log phase: counts each tap by its final status and cache status */
ngx_int_t ngx_http_linkreport_status_count(ngx_http_request_t *r);

#define ngx_http_linkreport_count_n(lmcf, field, n)                              \
    if ((lmcf)->counters) {                                                      \
        (void) ngx_atomic_fetch_add(&(lmcf)->counters->field, n);                \
    }

#define ngx_http_linkreport_count(lmcf, field)                                   \
    ngx_http_linkreport_count_n(lmcf, field, 1)

#endif /* NGX_HTTP_LINKREPORT_STATUS_H */
