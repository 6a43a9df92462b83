#include "ngx_http_linkreport_geo.h"

#include <maxminddb.h>


static void
ngx_http_linkreport_geo_close(void *data)
{
    MMDB_close(data);
}


char *
ngx_http_linkreport_geo_open(ngx_conf_t *cf, ngx_str_t *path, void **geo)
{
    int                  status;
    MMDB_s              *mmdb;
    ngx_pool_cleanup_t  *cln;

    if (ngx_conf_full_name(cf->cycle, path, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    mmdb = ngx_pcalloc(cf->pool, sizeof(MMDB_s));
    if (mmdb == NULL) {
        return NGX_CONF_ERROR;
    }

    /* path is NUL-terminated: directive arguments and ngx_conf_full_name results are */
    status = MMDB_open((char *) path->data, MMDB_MODE_MMAP, mmdb);
    if (status != MMDB_SUCCESS) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "cannot open GeoIP database \"%V\": %s%s%s", path,
                           MMDB_strerror(status),
                           status == MMDB_IO_ERROR ? ": " : "",
                           status == MMDB_IO_ERROR ? strerror(errno) : "");
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        MMDB_close(mmdb);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_linkreport_geo_close;
    cln->data = mmdb;

    *geo = mmdb;

    return NGX_CONF_OK;
}


static void
ngx_http_linkreport_geo_name(MMDB_entry_s *entry, const char *section,
    const char *language, ngx_str_t *out)
{
    MMDB_entry_data_s  data;

    ngx_str_null(out);

    if (MMDB_get_value(entry, &data, section, "names", language, NULL) == MMDB_SUCCESS
        && data.has_data && data.type == MMDB_DATA_TYPE_UTF8_STRING)
    {
        out->data = (u_char *) data.utf8_string;
        out->len = data.data_size;
    }
}


void
ngx_http_linkreport_geo_lookup(void *geo, const char *language, struct sockaddr *sa,
    ngx_str_t *country, ngx_str_t *city, ngx_log_t *log)
{
    int                    mmdb_error;
    MMDB_lookup_result_s   res;

    ngx_str_null(country);
    ngx_str_null(city);

    if (geo == NULL || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)) {
        return;
    }

    res = MMDB_lookup_sockaddr(geo, sa, &mmdb_error);

    if (mmdb_error != MMDB_SUCCESS) {
        ngx_log_error(NGX_LOG_ERR, log, 0, "linkreport: GeoIP lookup failed: %s",
                      MMDB_strerror(mmdb_error));
        return;
    }

    if (!res.found_entry) {
        return;
    }

    ngx_http_linkreport_geo_name(&res.entry, "country", language, country);
    ngx_http_linkreport_geo_name(&res.entry, "city", language, city);
}
