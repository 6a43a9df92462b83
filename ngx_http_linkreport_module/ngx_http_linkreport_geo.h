/*
 * Country and city names for a client address, from a MaxMind database (GeoIP2 or
 * GeoLite2 City) opened in mmap mode at configuration time.
 */

#ifndef NGX_HTTP_LINKREPORT_GEO_H
#define NGX_HTTP_LINKREPORT_GEO_H

#include "ngx_http_linkreport_module.h"


/* opens the database; NGX_CONF_OK or an error message for nginx -t */
char *ngx_http_linkreport_geo_open(ngx_conf_t *cf, ngx_str_t *path, void **geo);

/*
 * Fills country and city (empty when unknown). The strings point into the mapped
 * database and stay valid for the configuration's lifetime.
 */
void ngx_http_linkreport_geo_lookup(void *geo, const char *language,
    struct sockaddr *sa, ngx_str_t *country, ngx_str_t *city, ngx_log_t *log);

#endif /* NGX_HTTP_LINKREPORT_GEO_H */
