#include "ngx_http_linkreport_geo.h"

#include <maxminddb.h>


/*
 * Names of one data record. Many addresses share a record (a city's networks point at one),
 * and reading the two names out of it costs eight times the tree walk (callgrind: 6k of
 * 6.8k instructions a tap), so each worker keeps the names of the records it met, keyed
 * by the record's offset in the database and the database's generation.
 */
#define NGX_HTTP_LINKREPORT_GEO_CACHE_BITS  13

typedef struct {
    ngx_uint_t         generation;   /* 0: empty */
    uint32_t           offset;
    ngx_str_t          country;
    ngx_str_t          city;
} ngx_http_linkreport_geo_slot_t;

/*
 * The tree walk itself (about 30 nodes, each a likely cache miss in a 70 MB file) is then
 * what a tap pays, and the clicks of a campaign come from few networks (a carrier's
 * address pools). So each worker also remembers, per IPv4 /24, the names (or none) the
 * database gives it, but only when the database's network holding the address is a
 * /24 or larger: then every address of the /24 has that answer. Networks smaller than a
 * /24 are looked up every time. IPv6 addresses are not cached.
 */
#define NGX_HTTP_LINKREPORT_GEO_NETS_BITS  14

typedef struct {
    ngx_uint_t         generation;   /* 0: empty */
    uint32_t           net;          /* the address's first 24 bits */
    ngx_str_t          country;      /* empty when the database has no record */
    ngx_str_t          city;
} ngx_http_linkreport_geo_net_t;


struct ngx_http_linkreport_geo_s {
    MMDB_s            *db;           /* in use */
    MMDB_s            *config_db;    /* opened by the configuration, closed by its pool */
    ngx_uint_t         generation;   /* of db: a reload makes every cached name stale */
    ngx_http_linkreport_geo_slot_t  *cache;   /* per worker, made on first lookup */
    ngx_http_linkreport_geo_net_t   *nets;    /* per worker, made with cache */
    ngx_flag_t         cache_failed;
    ngx_str_t          path;         /* NUL-terminated */
    ngx_file_info_t    seen;         /* the file as last looked at */
    ngx_event_t        timer;
    ngx_msec_t         interval;
};


static void
ngx_http_linkreport_geo_close(void *data)
{
    MMDB_close(data);
}


/* a Country database opens fine and then never names a city: refuse it up front */
static ngx_int_t
ngx_http_linkreport_geo_open_file(const char *path, MMDB_s *mmdb, const char **err)
{
    int  status;

    status = MMDB_open(path, MMDB_MODE_MMAP, mmdb);
    if (status != MMDB_SUCCESS) {
        *err = MMDB_strerror(status);
        return NGX_ERROR;
    }

    if (ngx_strstr(mmdb->metadata.database_type, "City") == NULL
        && ngx_strstr(mmdb->metadata.database_type, "Enterprise") == NULL)
    {
        MMDB_close(mmdb);
        *err = "not a City database (GeoLite2-City, GeoIP2-City)";
        return NGX_ERROR;
    }

    return NGX_OK;
}


char *
ngx_http_linkreport_geo_open(ngx_conf_t *cf, ngx_str_t *path,
    ngx_http_linkreport_geo_t **geop)
{
    const char                 *err;
    ngx_pool_cleanup_t         *cln;
    ngx_http_linkreport_geo_t  *geo;

    if (ngx_conf_full_name(cf->cycle, path, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    geo = ngx_pcalloc(cf->pool, sizeof(ngx_http_linkreport_geo_t));
    if (geo == NULL) {
        return NGX_CONF_ERROR;
    }

    geo->config_db = ngx_pcalloc(cf->pool, sizeof(MMDB_s));
    if (geo->config_db == NULL) {
        return NGX_CONF_ERROR;
    }

    /* path is NUL-terminated: directive arguments and ngx_conf_full_name results are */
    geo->path = *path;
    geo->generation = 1;

    if (ngx_file_info(path->data, &geo->seen) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "cannot open GeoIP database \"%V\"", path);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_linkreport_geo_open_file((char *) path->data, geo->config_db, &err)
        != NGX_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "cannot open GeoIP database \"%V\": %s", path, err);
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        MMDB_close(geo->config_db);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_linkreport_geo_close;
    cln->data = geo->config_db;

    cln->handler = ngx_http_linkreport_geo_close;
    cln->data = geo->config_db;

    geo->db = geo->config_db;
    *geop = geo;

    return NGX_CONF_OK;
}


ngx_int_t
ngx_http_linkreport_geo_has_language(ngx_http_linkreport_geo_t *geo, ngx_str_t *lang)
{
    size_t   i;
    MMDB_s  *db = geo->config_db;

    for (i = 0; i < db->metadata.languages.count; i++) {
        if (ngx_strlen(db->metadata.languages.names[i]) == lang->len
            && ngx_strncmp(db->metadata.languages.names[i], lang->data, lang->len) == 0)
        {
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


static ngx_flag_t
ngx_http_linkreport_geo_changed(ngx_file_info_t *a, ngx_file_info_t *b)
{
    return ngx_file_uniq(a) != ngx_file_uniq(b)
           || ngx_file_mtime(a) != ngx_file_mtime(b)
           || ngx_file_size(a) != ngx_file_size(b);
}


/*
 * A database is replaced by writing a new file and renaming it over the old one (or
 * by copying in place); either way inode, size or mtime change. A file that does not
 * open (still being written, corrupt) leaves the current database in use.
 */
static void
ngx_http_linkreport_geo_check(ngx_event_t *ev)
{
    const char                 *err;
    MMDB_s                     *fresh;
    ngx_file_info_t             fi;
    ngx_http_linkreport_geo_t  *geo = ev->data;

    if (ngx_file_info(geo->path.data, &fi) == NGX_FILE_ERROR) {
        if (ngx_file_mtime(&geo->seen) != 0) {
            ngx_log_error(NGX_LOG_WARN, ev->log, ngx_errno,
                          "linkreport: GeoIP database \"%V\" is gone, "
                          "keeping the one in use", &geo->path);
            ngx_memzero(&geo->seen, sizeof(ngx_file_info_t));
        }
        goto next;
    }

    if (!ngx_http_linkreport_geo_changed(&fi, &geo->seen)) {
        goto next;
    }

    geo->seen = fi;

    fresh = ngx_alloc(sizeof(MMDB_s), ev->log);
    if (fresh == NULL) {
        goto next;
    }

    if (ngx_http_linkreport_geo_open_file((char *) geo->path.data, fresh, &err)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, ev->log, 0,
                      "linkreport: new GeoIP database \"%V\" cannot be used (%s), "
                      "keeping the one in use", &geo->path, err);
        ngx_free(fresh);
        goto next;
    }

    if (geo->db != geo->config_db) {
        MMDB_close(geo->db);
        ngx_free(geo->db);
    }

    geo->db = fresh;
    geo->generation++;

    ngx_log_error(NGX_LOG_NOTICE, ev->log, 0,
                  "linkreport: GeoIP database \"%V\" reloaded", &geo->path);

next:

    ngx_add_timer(&geo->timer, geo->interval);
}


void
ngx_http_linkreport_geo_start(ngx_http_linkreport_geo_t *geo, ngx_msec_t interval,
    ngx_log_t *log)
{
    if (geo == NULL || interval == 0) {
        return;
    }

    geo->interval = interval;
    geo->timer.handler = ngx_http_linkreport_geo_check;
    geo->timer.data = geo;
    geo->timer.log = log;
    geo->timer.cancelable = 1;

    ngx_add_timer(&geo->timer, interval);
}


void
ngx_http_linkreport_geo_stop(ngx_http_linkreport_geo_t *geo)
{
    if (geo == NULL) {
        return;
    }

    if (geo->timer.timer_set) {
        ngx_del_timer(&geo->timer);
    }

    if (geo->cache) {
        ngx_free(geo->cache);
        geo->cache = NULL;
    }

    if (geo->nets) {
        ngx_free(geo->nets);
        geo->nets = NULL;
    }

    if (geo->db != geo->config_db) {
        MMDB_close(geo->db);
        ngx_free(geo->db);
        geo->db = geo->config_db;
    }
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


/*
 * Fibonacci hashing in 64 bits: with the 32-bit constant, the /24 keys of varied
 * addresses filled a third of the slots they would have (a simulation of bench-edge's
 * addresses: 29% hits in 2^14 slots, 90% with this)
 */
static ngx_inline ngx_uint_t
ngx_http_linkreport_geo_slot(uint32_t key, ngx_uint_t bits)
{
    return (ngx_uint_t) (((uint64_t) key * 0x9e3779b97f4a7c15ULL) >> (64 - bits));
}


/* the per-worker caches, made on the first lookup; tried once (no alert per tap) */
static ngx_flag_t
ngx_http_linkreport_geo_caches(ngx_http_linkreport_geo_t *geo, ngx_log_t *log)
{
    if (geo->cache == NULL && !geo->cache_failed) {
        geo->cache = ngx_calloc(sizeof(ngx_http_linkreport_geo_slot_t)
                                << NGX_HTTP_LINKREPORT_GEO_CACHE_BITS, log);
        geo->nets = ngx_calloc(sizeof(ngx_http_linkreport_geo_net_t)
                               << NGX_HTTP_LINKREPORT_GEO_NETS_BITS, log);

        if (geo->cache == NULL || geo->nets == NULL) {
            geo->cache_failed = 1;
            ngx_free(geo->cache);
            ngx_free(geo->nets);
            geo->cache = NULL;
            geo->nets = NULL;
        }
    }

    return geo->cache != NULL;
}


void
ngx_http_linkreport_geo_lookup(ngx_http_linkreport_geo_t *geo, const char *language,
    struct sockaddr *sa, ngx_str_t *country, ngx_str_t *city, ngx_log_t *log)
{
    int                              mmdb_error;
    uint32_t                         addr;
    ngx_int_t                        bits;
    MMDB_lookup_result_s             res;
    ngx_http_linkreport_geo_net_t   *net;
    ngx_http_linkreport_geo_slot_t  *slot;

    ngx_str_null(country);
    ngx_str_null(city);

    if (geo == NULL || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)) {
        return;
    }

    net = NULL;

    if (sa->sa_family == AF_INET && ngx_http_linkreport_geo_caches(geo, log)) {
        addr = ntohl(((struct sockaddr_in *) sa)->sin_addr.s_addr) >> 8;
        net = &geo->nets[ngx_http_linkreport_geo_slot(addr,
                                                       NGX_HTTP_LINKREPORT_GEO_NETS_BITS)];

        if (net->generation == geo->generation && net->net == addr) {
            *country = net->country;
            *city = net->city;
            return;
        }
    }

    res = MMDB_lookup_sockaddr(geo->db, sa, &mmdb_error);

    if (mmdb_error != MMDB_SUCCESS) {
        ngx_log_error(NGX_LOG_ERR, log, 0, "linkreport: GeoIP lookup failed: %s",
                      MMDB_strerror(mmdb_error));
        return;
    }

    if (res.found_entry) {
        if (!ngx_http_linkreport_geo_caches(geo, log)) {
            ngx_http_linkreport_geo_name(&res.entry, "country", language, country);
            ngx_http_linkreport_geo_name(&res.entry, "city", language, city);
            return;
        }

        slot = &geo->cache[ngx_http_linkreport_geo_slot(res.entry.offset,
                                                NGX_HTTP_LINKREPORT_GEO_CACHE_BITS)];

        if (slot->generation != geo->generation || slot->offset != res.entry.offset) {
            slot->generation = geo->generation;
            slot->offset = res.entry.offset;
            ngx_http_linkreport_geo_name(&res.entry, "country", language, &slot->country);
            ngx_http_linkreport_geo_name(&res.entry, "city", language, &slot->city);
        }

        *country = slot->country;
        *city = slot->city;
    }

    if (net) {
        /* an IPv6 database answers an IPv4 address below its IPv4 subtree's depth */
        bits = (ngx_int_t) res.netmask
               - (geo->db->metadata.ip_version == 6 ? geo->db->ipv4_start_node.netmask : 0);

        if (bits >= 0 && bits <= 24) {
            net->generation = geo->generation;
            net->net = addr;
            net->country = *country;
            net->city = *city;
        }
    }
}
