/*
 * Country and city names for a client address, from a MaxMind database (GeoIP2 or
 * GeoLite2 City) opened in mmap mode at configuration time. Each worker checks the
 * file on a timer and switches to a new database once one has been written in place.
 */

#ifndef NGX_HTTP_LINKREPORT_GEO_H
#define NGX_HTTP_LINKREPORT_GEO_H

#include "ngx_http_linkreport_module.h"


typedef struct ngx_http_linkreport_geo_s  ngx_http_linkreport_geo_t;

/* opens the database; NGX_CONF_OK or NGX_CONF_ERROR after a message for nginx -t */
char *ngx_http_linkreport_geo_open(ngx_conf_t *cf, ngx_str_t *path,
    ngx_http_linkreport_geo_t **geo);

/* NGX_OK when the database has names in this language */
ngx_int_t ngx_http_linkreport_geo_has_language(ngx_http_linkreport_geo_t *geo,
    ngx_str_t *lang);

/* per worker: watch the file every interval (0: never) */
void ngx_http_linkreport_geo_start(ngx_http_linkreport_geo_t *geo,
    ngx_msec_t interval, ngx_log_t *log);
void ngx_http_linkreport_geo_stop(ngx_http_linkreport_geo_t *geo);

/*
 * Fills country and city (empty when unknown). The strings point into the mapped
 * database: use them before returning to the event loop.
 */
void ngx_http_linkreport_geo_lookup(ngx_http_linkreport_geo_t *geo,
    const char *language, struct sockaddr *sa, ngx_str_t *country, ngx_str_t *city,
    ngx_log_t *log);

#endif /* NGX_HTTP_LINKREPORT_GEO_H */
