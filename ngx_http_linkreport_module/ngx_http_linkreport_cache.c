#include "ngx_http_linkreport_cache.h"


/* a field longer than this is not cached (long_url is at most 8192 by then) */
#define NGX_HTTP_LINKREPORT_CACHE_FIELD_MAX  65535

/* how many least recently used entries one allocation may push out of a full zone */
#define NGX_HTTP_LINKREPORT_CACHE_EVICT      16


ngx_str_t  ngx_http_linkreport_cache_status_names[] = {
    ngx_string(""),
    ngx_string("MISS"),
    ngx_string("HIT"),
    ngx_string("NEGATIVE"),
    ngx_string("EXPIRED"),
    ngx_string("STALE"),
    ngx_null_string
};


typedef struct {
    u_char                       color;
    u_char                       negative;
    u_short                      key_len;
    ngx_queue_t                  queue;
    ngx_msec_t                   fetched;
    u_short                      len[NGX_HTTP_LINKREPORT_LINK_FIELDS];
    u_char                       data[1];      /* key, then the fields */
} ngx_http_linkreport_cache_node_t;

typedef struct {
    ngx_rbtree_t                 rbtree;
    ngx_rbtree_node_t            sentinel;
    ngx_queue_t                  queue;        /* most recently used first */
} ngx_http_linkreport_cache_sh_t;

struct ngx_http_linkreport_cache_s {
    ngx_http_linkreport_cache_sh_t  *sh;
    ngx_slab_pool_t                 *shpool;
    ngx_shm_zone_t                  *shm_zone;
    ngx_msec_t                       ttl;
    ngx_msec_t                       negative_ttl;
    ngx_msec_t                       stale;
};


#define ngx_http_linkreport_cache_node(n)                                        \
    ((ngx_http_linkreport_cache_node_t *) &(n)->color)


static void
ngx_http_linkreport_cache_rbtree_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t                 **p;
    ngx_http_linkreport_cache_node_t   *ln, *lnt;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else { /* node->key == temp->key */

            ln = ngx_http_linkreport_cache_node(node);
            lnt = ngx_http_linkreport_cache_node(temp);

            p = (ngx_memn2cmp(ln->data, lnt->data, ln->key_len, lnt->key_len) < 0)
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


static ngx_int_t
ngx_http_linkreport_cache_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_linkreport_cache_t  *ocache = data;

    size_t                        len;
    ngx_http_linkreport_cache_t  *cache;

    cache = shm_zone->data;

    if (ocache) {
        /* a reload keeps the entries: the zone's layout has not changed */
        cache->sh = ocache->sh;
        cache->shpool = ocache->shpool;
        return NGX_OK;
    }

    cache->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        cache->sh = cache->shpool->data;
        return NGX_OK;
    }

    cache->sh = ngx_slab_alloc(cache->shpool, sizeof(ngx_http_linkreport_cache_sh_t));
    if (cache->sh == NULL) {
        return NGX_ERROR;
    }

    cache->shpool->data = cache->sh;

    ngx_rbtree_init(&cache->sh->rbtree, &cache->sh->sentinel,
                    ngx_http_linkreport_cache_rbtree_insert);
    ngx_queue_init(&cache->sh->queue);

    len = sizeof(" in linkreport_cache zone \"\"") + shm_zone->shm.name.len;

    cache->shpool->log_ctx = ngx_slab_alloc(cache->shpool, len);
    if (cache->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(cache->shpool->log_ctx, " in linkreport_cache zone \"%V\"%Z",
                &shm_zone->shm.name);

    cache->shpool->log_nomem = 0;

    return NGX_OK;
}


char *
ngx_http_linkreport_cache_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_linkreport_main_conf_t *lmcf = conf;

    u_char                       *p;
    ssize_t                       size;
    ngx_str_t                    *value, name, s;
    ngx_uint_t                    i;
    ngx_msec_t                    ms;
    ngx_http_linkreport_cache_t  *cache;

    if (lmcf->cache) {
        return "is duplicate";
    }

    cache = ngx_pcalloc(cf->pool, sizeof(ngx_http_linkreport_cache_t));
    if (cache == NULL) {
        return NGX_CONF_ERROR;
    }

    cache->ttl = 60000;
    cache->negative_ttl = 10000;
    cache->stale = 86400000;

    value = cf->args->elts;
    size = 0;
    ngx_str_null(&name);

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0) {

            name.data = value[i].data + 5;
            p = (u_char *) ngx_strchr(name.data, ':');

            if (p == NULL) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid zone size \"%V\": expected "
                                   "zone=name:size", &value[i]);
                return NGX_CONF_ERROR;
            }

            name.len = p - name.data;

            s.data = p + 1;
            s.len = value[i].data + value[i].len - s.data;

            size = ngx_parse_size(&s);

            if (size == NGX_ERROR || name.len == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid zone \"%V\": expected zone=name:size",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }

            if (size < (ssize_t) (8 * ngx_pagesize)) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "zone \"%V\" is too small: at least %uzk",
                                   &value[i], 8 * ngx_pagesize / 1024);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "ttl=", 4) == 0
            || ngx_strncmp(value[i].data, "negative_ttl=", 13) == 0
            || ngx_strncmp(value[i].data, "stale=", 6) == 0)
        {
            p = (u_char *) ngx_strchr(value[i].data, '=') + 1;
            s.data = p;
            s.len = value[i].data + value[i].len - p;

            ms = ngx_parse_time(&s, 0);
            if (ms == (ngx_msec_t) NGX_ERROR) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid time in \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            if (value[i].data[0] == 't') {
                cache->ttl = ms;
            } else if (value[i].data[0] == 'n') {
                cache->negative_ttl = ms;
            } else {
                cache->stale = ms;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    if (name.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must have \"zone\" parameter", &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (cache->ttl == 0) {
        return "needs a ttl above 0 (a cache whose entries are never fresh is none)";
    }

    cache->shm_zone = ngx_shared_memory_add(cf, &name, size,
                                            &ngx_http_linkreport_module);
    if (cache->shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (cache->shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is already used", &name);
        return NGX_CONF_ERROR;
    }

    cache->shm_zone->init = ngx_http_linkreport_cache_init_zone;
    cache->shm_zone->data = cache;

    lmcf->cache = cache;

    return NGX_CONF_OK;
}


static size_t
ngx_http_linkreport_cache_key(ngx_http_linkreport_link_t *link, u_char *key)
{
    u_char  *p;

    p = ngx_cpymem(key, link->code.data, link->code.len);

    if (link->recipient.len) {
        *p++ = '/';
        p = ngx_cpymem(p, link->recipient.data, link->recipient.len);
    }

    return p - key;
}


/* called with the zone locked */
static ngx_http_linkreport_cache_node_t *
ngx_http_linkreport_cache_lookup(ngx_http_linkreport_cache_t *cache, uint32_t hash,
    u_char *key, size_t len)
{
    ngx_int_t                          rc;
    ngx_rbtree_node_t                 *node, *sentinel;
    ngx_http_linkreport_cache_node_t  *ln;

    node = cache->sh->rbtree.root;
    sentinel = cache->sh->rbtree.sentinel;

    while (node != sentinel) {

        if (hash < node->key) {
            node = node->left;
            continue;
        }

        if (hash > node->key) {
            node = node->right;
            continue;
        }

        ln = ngx_http_linkreport_cache_node(node);
        rc = ngx_memn2cmp(key, ln->data, len, (size_t) ln->key_len);

        if (rc == 0) {
            return ln;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


/* called with the zone locked */
static void
ngx_http_linkreport_cache_delete(ngx_http_linkreport_cache_t *cache,
    ngx_http_linkreport_cache_node_t *ln)
{
    ngx_rbtree_node_t  *node;

    node = (ngx_rbtree_node_t *)
               ((u_char *) ln - offsetof(ngx_rbtree_node_t, color));

    ngx_queue_remove(&ln->queue);
    ngx_rbtree_delete(&cache->sh->rbtree, node);
    ngx_slab_free_locked(cache->shpool, node);
}


ngx_http_linkreport_cache_status_e
ngx_http_linkreport_cache_get(ngx_http_linkreport_cache_t *cache,
    ngx_http_request_t *r, ngx_http_linkreport_link_t *link, ngx_flag_t allow_stale)
{
    u_char                              *p, *copy, key[2 * 64 + 1];
    size_t                               len, total;
    uint32_t                             hash;
    ngx_uint_t                           i;
    ngx_msec_int_t                       age;
    ngx_http_linkreport_cache_node_t    *ln;
    ngx_http_linkreport_cache_status_e   status;

    len = ngx_http_linkreport_cache_key(link, key);
    hash = ngx_crc32_short(key, len);

    ngx_shmtx_lock(&cache->shpool->mutex);

    ln = ngx_http_linkreport_cache_lookup(cache, hash, key, len);

    if (ln == NULL) {
        ngx_shmtx_unlock(&cache->shpool->mutex);
        return NGX_HTTP_LINKREPORT_CACHE_MISS;
    }

    age = (ngx_msec_int_t) (ngx_current_msec - ln->fetched);

    if (ln->negative) {
        status = (age < (ngx_msec_int_t) cache->negative_ttl)
                 ? NGX_HTTP_LINKREPORT_CACHE_NEGATIVE
                 : NGX_HTTP_LINKREPORT_CACHE_EXPIRED;

    } else if (age < (ngx_msec_int_t) cache->ttl) {
        status = NGX_HTTP_LINKREPORT_CACHE_HIT;

    } else if (allow_stale && age < (ngx_msec_int_t) (cache->ttl + cache->stale)) {
        status = NGX_HTTP_LINKREPORT_CACHE_STALE;

    } else {
        status = NGX_HTTP_LINKREPORT_CACHE_EXPIRED;
    }

    if (status == NGX_HTTP_LINKREPORT_CACHE_HIT
        || status == NGX_HTTP_LINKREPORT_CACHE_STALE)
    {
        for (total = 0, i = 0; i < NGX_HTTP_LINKREPORT_LINK_FIELDS; i++) {
            total += ln->len[i];
        }

        /* copied out under the lock: the entry may be replaced right after */
        copy = ngx_pnalloc(r->pool, total ? total : 1);
        if (copy == NULL) {
            ngx_shmtx_unlock(&cache->shpool->mutex);
            return NGX_HTTP_LINKREPORT_CACHE_MISS;
        }

        ngx_memcpy(copy, ln->data + ln->key_len, total);

        for (p = copy, i = 0; i < NGX_HTTP_LINKREPORT_LINK_FIELDS; i++) {
            link->field[i].data = p;
            link->field[i].len = ln->len[i];
            p += ln->len[i];
        }
    }

    if (status != NGX_HTTP_LINKREPORT_CACHE_EXPIRED) {
        ngx_queue_remove(&ln->queue);
        ngx_queue_insert_head(&cache->sh->queue, &ln->queue);
    }

    ngx_shmtx_unlock(&cache->shpool->mutex);

    return status;
}


void
ngx_http_linkreport_cache_put(ngx_http_linkreport_cache_t *cache,
    ngx_http_linkreport_link_t *link, ngx_flag_t found, ngx_log_t *log)
{
    u_char                            *p, key[2 * 64 + 1];
    size_t                             len, size, total;
    uint32_t                           hash;
    ngx_uint_t                         i, n;
    ngx_queue_t                       *q;
    ngx_rbtree_node_t                 *node;
    ngx_http_linkreport_cache_node_t  *ln;

    len = ngx_http_linkreport_cache_key(link, key);
    hash = ngx_crc32_short(key, len);

    total = 0;

    if (found) {
        for (i = 0; i < NGX_HTTP_LINKREPORT_LINK_FIELDS; i++) {
            if (link->field[i].len > NGX_HTTP_LINKREPORT_CACHE_FIELD_MAX) {
                return;
            }
            total += link->field[i].len;
        }
    }

    size = offsetof(ngx_rbtree_node_t, color)
           + offsetof(ngx_http_linkreport_cache_node_t, data) + len + total;

    ngx_shmtx_lock(&cache->shpool->mutex);

    ln = ngx_http_linkreport_cache_lookup(cache, hash, key, len);
    if (ln) {
        ngx_http_linkreport_cache_delete(cache, ln);
    }

    node = ngx_slab_alloc_locked(cache->shpool, size);

    /* full: the least recently used entries make room */
    for (n = 0; node == NULL && n < NGX_HTTP_LINKREPORT_CACHE_EVICT; n++) {

        if (ngx_queue_empty(&cache->sh->queue)) {
            break;
        }

        q = ngx_queue_last(&cache->sh->queue);
        ngx_http_linkreport_cache_delete(cache,
                      ngx_queue_data(q, ngx_http_linkreport_cache_node_t, queue));

        node = ngx_slab_alloc_locked(cache->shpool, size);
    }

    if (node == NULL) {
        ngx_shmtx_unlock(&cache->shpool->mutex);
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "linkreport: could not cache \"%*s\": zone \"%V\" is full",
                      len, key, &cache->shm_zone->shm.name);
        return;
    }

    node->key = hash;

    ln = ngx_http_linkreport_cache_node(node);
    ln->negative = found ? 0 : 1;
    ln->key_len = (u_short) len;
    ln->fetched = ngx_current_msec;

    p = ngx_cpymem(ln->data, key, len);

    for (i = 0; i < NGX_HTTP_LINKREPORT_LINK_FIELDS; i++) {
        ln->len[i] = found ? (u_short) link->field[i].len : 0;
        if (found) {
            p = ngx_cpymem(p, link->field[i].data, link->field[i].len);
        }
    }

    ngx_rbtree_insert(&cache->sh->rbtree, node);
    ngx_queue_insert_head(&cache->sh->queue, &ln->queue);

    ngx_shmtx_unlock(&cache->shpool->mutex);
}
