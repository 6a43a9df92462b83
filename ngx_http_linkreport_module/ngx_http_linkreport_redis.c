/*
 * hiredis <-> nginx event loop adapter and connection lifecycle.
 *
 * hiredis owns the socket; nginx gets a connection object that wraps the same fd so
 * the event module can watch it. Events are registered level-triggered: hiredis reads
 * at most one buffer per callback, and with edge-triggered epoll the rest of a large
 * reply would otherwise wait for the next packet.
 */

#include "ngx_http_linkreport_redis.h"

#include <poll.h>
#include <hiredis/sds.h>


#define NGX_HTTP_LINKREPORT_RETRY_MIN   100
#define NGX_HTTP_LINKREPORT_RETRY_MAX   5000

/* how long an exiting worker may spend handing its last click records to Redis */
#define NGX_HTTP_LINKREPORT_DRAIN_MAX   1000


struct ngx_http_linkreport_redis_s {
    redisAsyncContext                *ac;
    ngx_connection_t                 *conn;
    ngx_event_t                       connect_timer;
    ngx_event_t                       retry_timer;
    ngx_msec_t                        retry_delay;
    ngx_log_t                        *log;
    ngx_http_linkreport_main_conf_t  *conf;
    ngx_resolver_ctx_t               *resolving;       /* host name being resolved */
    ngx_uint_t                        setup_pending;   /* AUTH/SELECT unanswered */
    unsigned                          setup_failed:1;
    unsigned                          connected:1;
    unsigned                          stopping:1;
    unsigned                          writing:1;       /* in the write handler */
};


static void ngx_http_linkreport_redis_connect(ngx_http_linkreport_redis_t *rd);


static void
ngx_http_linkreport_redis_schedule_retry(ngx_http_linkreport_redis_t *rd)
{
    if (rd->stopping || rd->retry_timer.timer_set) {
        return;
    }

    /* +-25% jitter: the workers of all edges do not knock on Redis in step */
    ngx_add_timer(&rd->retry_timer,
                  rd->retry_delay - rd->retry_delay / 4
                  + (ngx_msec_t) ngx_random() % (rd->retry_delay / 2 + 1));

    rd->retry_delay = ngx_min(rd->retry_delay * 2, NGX_HTTP_LINKREPORT_RETRY_MAX);
}


static void
ngx_http_linkreport_redis_retry_handler(ngx_event_t *ev)
{
    ngx_http_linkreport_redis_connect(ev->data);
}


static void
ngx_http_linkreport_redis_set_event(ngx_http_linkreport_redis_t *rd, ngx_int_t write,
    ngx_flag_t on)
{
    ngx_event_t  *ev;

    if (rd->conn == NULL) {
        return;
    }

    ev = write ? rd->conn->write : rd->conn->read;

    if (on && !ev->active) {
        if (ngx_add_event(ev, write ? NGX_WRITE_EVENT : NGX_READ_EVENT,
                          NGX_LEVEL_EVENT) != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                          "linkreport: redis: cannot watch the connection");
        }

    } else if (!on && ev->active) {
        (void) ngx_del_event(ev, write ? NGX_WRITE_EVENT : NGX_READ_EVENT, 0);
    }
}


static void
ngx_http_linkreport_redis_add_read(void *data)
{
    ngx_http_linkreport_redis_set_event(data, 0, 1);
}


static void
ngx_http_linkreport_redis_del_read(void *data)
{
    ngx_http_linkreport_redis_set_event(data, 0, 0);
}


/*
 * Once connected, a command queued while the worker handles this cycle's events is
 * written after them, with every other command queued by then: one write() and no
 * epoll_ctl() pair per batch. epoll's writability is awaited only for a write the socket
 * could not take whole, and for a connect in progress (hiredis takes writability for
 * "connected", so a posted event would be a false signal).
 */
static void
ngx_http_linkreport_redis_add_write(void *data)
{
    ngx_http_linkreport_redis_t *rd = data;

    if (rd->conn && rd->ac && (rd->ac->c.flags & REDIS_CONNECTED) && !rd->writing) {
        if (!rd->conn->write->posted && !rd->conn->write->active) {
            ngx_post_event(rd->conn->write, &ngx_posted_events);
        }

        return;
    }

    ngx_http_linkreport_redis_set_event(rd, 1, 1);
}


static void
ngx_http_linkreport_redis_del_write(void *data)
{
    ngx_http_linkreport_redis_set_event(data, 1, 0);
}


/* hiredis is about to close the fd: forget it without closing it a second time */
static void
ngx_http_linkreport_redis_cleanup(void *data)
{
    ngx_http_linkreport_redis_t *rd = data;
    ngx_connection_t            *c;

    c = rd->conn;
    if (c == NULL) {
        return;
    }

    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, NGX_CLOSE_EVENT);
    }

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, NGX_CLOSE_EVENT);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    ngx_free_connection(c);
    c->fd = (ngx_socket_t) -1;

    rd->conn = NULL;
    rd->ac = NULL;
    rd->connected = 0;
}


static void
ngx_http_linkreport_redis_read_handler(ngx_event_t *ev)
{
    ngx_connection_t            *c = ev->data;
    ngx_http_linkreport_redis_t *rd = c->data;

    if (rd->ac) {
        redisAsyncHandleRead(rd->ac);
    }
}


static void
ngx_http_linkreport_redis_write_handler(ngx_event_t *ev)
{
    ngx_connection_t            *c = ev->data;
    ngx_http_linkreport_redis_t *rd = c->data;

    if (rd->ac) {
        rd->writing = 1;
        redisAsyncHandleWrite(rd->ac);
        rd->writing = 0;
    }
}


static void
ngx_http_linkreport_redis_ready(ngx_http_linkreport_redis_t *rd)
{
    rd->connected = 1;
    rd->retry_delay = NGX_HTTP_LINKREPORT_RETRY_MIN;

    ngx_log_error(NGX_LOG_INFO, rd->log, 0, "linkreport: redis: connected to %V",
                  &rd->conf->redis_addr);
}


static void
ngx_http_linkreport_redis_setup_done(redisAsyncContext *ac, void *data, void *privdata)
{
    redisReply                   *reply = data;
    ngx_http_linkreport_redis_t  *rd = privdata;

    rd->setup_pending--;

    if (reply == NULL) {
        return;     /* the connection went; the disconnect callback retries */
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        /* the reply names the command's problem, never the password */
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "linkreport: redis: %V refused the connection setup: %s",
                      &rd->conf->redis_addr, reply->str);
        rd->setup_failed = 1;
        redisAsyncDisconnect(ac);
        return;
    }

    if (rd->setup_pending == 0 && !rd->setup_failed) {
        ngx_http_linkreport_redis_ready(rd);
    }
}


static void
ngx_http_linkreport_redis_on_connect(const redisAsyncContext *ac, int status)
{
    ngx_http_linkreport_redis_t *rd = ac->data;

    if (rd->connect_timer.timer_set) {
        ngx_del_timer(&rd->connect_timer);
    }

    if (status != REDIS_OK) {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "linkreport: redis: cannot connect to %V: %s",
                      &rd->conf->redis_addr, ac->errstr);
        /* hiredis frees the context after this callback returns */
        rd->ac = NULL;
        rd->connected = 0;
        ngx_http_linkreport_redis_schedule_retry(rd);
        return;
    }

    /*
     * AUTH and SELECT go first on the connection; lookups wait for their answers
     * (the connection counts as up only then) so none runs unauthenticated.
     */
    if (rd->conf->redis_password.len) {
        const char  *argv[2] = { "AUTH", (const char *) rd->conf->redis_password.data };
        size_t       argvlen[2] = { 4, rd->conf->redis_password.len };

        rd->setup_pending++;
        (void) redisAsyncCommandArgv((redisAsyncContext *) ac,
                                     ngx_http_linkreport_redis_setup_done, rd, 2, argv,
                                     argvlen);
    }

    if (rd->conf->redis_db) {
        u_char       db[NGX_INT_T_LEN];
        const char  *argv[2] = { "SELECT", (const char *) db };
        size_t       argvlen[2] = { 6, 0 };

        argvlen[1] = ngx_sprintf(db, "%ui", rd->conf->redis_db) - db;

        rd->setup_pending++;
        (void) redisAsyncCommandArgv((redisAsyncContext *) ac,
                                     ngx_http_linkreport_redis_setup_done, rd, 2, argv,
                                     argvlen);
    }

    if (rd->setup_pending == 0) {
        ngx_http_linkreport_redis_ready(rd);
    }
}


static void
ngx_http_linkreport_redis_on_disconnect(const redisAsyncContext *ac, int status)
{
    ngx_http_linkreport_redis_t *rd = ac->data;

    rd->ac = NULL;
    rd->connected = 0;

    if (rd->stopping) {
        return;
    }

    ngx_uint_t  level = (status == REDIS_OK) ? NGX_LOG_INFO : NGX_LOG_ERR;

    ngx_log_error(level, rd->log, 0,
                  "linkreport: redis: connection to %V lost: %s",
                  &rd->conf->redis_addr, ac->errstr[0] ? ac->errstr : "closed");

    ngx_http_linkreport_redis_schedule_retry(rd);
}


static void
ngx_http_linkreport_redis_connect_timeout(ngx_event_t *ev)
{
    ngx_http_linkreport_redis_t *rd = ev->data;
    redisAsyncContext           *ac = rd->ac;

    ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                  "linkreport: redis: connecting to %V timed out",
                  &rd->conf->redis_addr);

    if (ac) {
        /* not yet connected, so no disconnect callback: retry from here */
        redisAsyncFree(ac);
    }

    ngx_http_linkreport_redis_schedule_retry(rd);
}


static void
ngx_http_linkreport_redis_connect_to(ngx_http_linkreport_redis_t *rd, char *host)
{
    ngx_http_linkreport_main_conf_t  *lmcf = rd->conf;
    redisAsyncContext                *ac;
    ngx_connection_t                 *c;

    if (rd->stopping || rd->ac) {
        return;
    }

    if (lmcf->redis_port) {
        ac = redisAsyncConnect(host, lmcf->redis_port);
    } else {
        ac = redisAsyncConnectUnix(host);
    }

    if (ac == NULL) {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0, "linkreport: redis: out of memory");
        ngx_http_linkreport_redis_schedule_retry(rd);
        return;
    }

    if (ac->err) {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "linkreport: redis: cannot connect to %V: %s",
                      &lmcf->redis_addr, ac->errstr);
        redisAsyncFree(ac);
        ngx_http_linkreport_redis_schedule_retry(rd);
        return;
    }

    c = ngx_get_connection(ac->c.fd, rd->log);
    if (c == NULL) {
        redisAsyncFree(ac);
        ngx_http_linkreport_redis_schedule_retry(rd);
        return;
    }

    c->data = rd;
    c->read->handler = ngx_http_linkreport_redis_read_handler;
    c->write->handler = ngx_http_linkreport_redis_write_handler;
    c->read->log = rd->log;
    c->write->log = rd->log;

    rd->ac = ac;
    rd->conn = c;
    rd->setup_pending = 0;
    rd->setup_failed = 0;

    ac->data = rd;
    ac->ev.data = rd;
    ac->ev.addRead = ngx_http_linkreport_redis_add_read;
    ac->ev.delRead = ngx_http_linkreport_redis_del_read;
    ac->ev.addWrite = ngx_http_linkreport_redis_add_write;
    ac->ev.delWrite = ngx_http_linkreport_redis_del_write;
    ac->ev.cleanup = ngx_http_linkreport_redis_cleanup;

    /* the connect callback is registered last: hiredis arms the write event then */
    redisAsyncSetDisconnectCallback(ac, ngx_http_linkreport_redis_on_disconnect);
    redisAsyncSetConnectCallback(ac, ngx_http_linkreport_redis_on_connect);

    ngx_add_timer(&rd->connect_timer, lmcf->redis_timeout);
}


/* a host name is resolved with nginx's own asynchronous resolver, never getaddrinfo() */
static void
ngx_http_linkreport_redis_resolved(ngx_resolver_ctx_t *ctx)
{
    ngx_http_linkreport_redis_t  *rd = ctx->data;

    u_char                        text[NGX_SOCKADDR_STRLEN + 1];
    size_t                        len;
    ngx_uint_t                    i;

    rd->resolving = NULL;

    if (ctx->state || ctx->naddrs == 0) {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "linkreport: redis: cannot resolve \"%V\": %s",
                      &ctx->name, ctx->state ? ngx_resolver_strerror(ctx->state)
                                             : "no address");
        ngx_resolve_name_done(ctx);
        ngx_http_linkreport_redis_schedule_retry(rd);
        return;
    }

    /* several addresses: any one, so that workers spread over them */
    i = ngx_random() % ctx->naddrs;
    len = ngx_sock_ntop(ctx->addrs[i].sockaddr, ctx->addrs[i].socklen, text,
                        NGX_SOCKADDR_STRLEN, 0);
    text[len] = '\0';

    ngx_resolve_name_done(ctx);

    ngx_http_linkreport_redis_connect_to(rd, (char *) text);
}


static void
ngx_http_linkreport_redis_connect(ngx_http_linkreport_redis_t *rd)
{
    ngx_resolver_ctx_t               *ctx;
    ngx_http_linkreport_main_conf_t  *lmcf = rd->conf;

    if (rd->stopping || rd->ac || rd->resolving) {
        return;
    }

    if (!lmcf->redis_resolve) {
        /* an IP address or a socket path, NUL-terminated at configuration time */
        ngx_http_linkreport_redis_connect_to(rd, (char *) lmcf->redis_host.data);
        return;
    }

    ctx = ngx_resolve_start(lmcf->resolver, NULL);
    if (ctx == NULL || ctx == NGX_NO_RESOLVER) {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "linkreport: redis: cannot start resolving \"%V\"",
                      &lmcf->redis_host);
        ngx_http_linkreport_redis_schedule_retry(rd);
        return;
    }

    ctx->name = lmcf->redis_host;
    ctx->handler = ngx_http_linkreport_redis_resolved;
    ctx->data = rd;
    ctx->timeout = lmcf->redis_timeout;
    ctx->cancelable = 1;

    rd->resolving = ctx;

    if (ngx_resolve_name(ctx) != NGX_OK) {
        rd->resolving = NULL;
        ngx_http_linkreport_redis_schedule_retry(rd);
    }
}


ngx_int_t
ngx_http_linkreport_redis_start(ngx_cycle_t *cycle,
    ngx_http_linkreport_main_conf_t *lmcf)
{
    ngx_http_linkreport_redis_t  *rd;

    rd = ngx_pcalloc(cycle->pool, sizeof(ngx_http_linkreport_redis_t));
    if (rd == NULL) {
        return NGX_ERROR;
    }

    rd->conf = lmcf;
    rd->log = cycle->log;
    rd->retry_delay = NGX_HTTP_LINKREPORT_RETRY_MIN;

    rd->connect_timer.handler = ngx_http_linkreport_redis_connect_timeout;
    rd->connect_timer.data = rd;
    rd->connect_timer.log = cycle->log;
    rd->connect_timer.cancelable = 1;

    rd->retry_timer.handler = ngx_http_linkreport_redis_retry_handler;
    rd->retry_timer.data = rd;
    rd->retry_timer.log = cycle->log;
    rd->retry_timer.cancelable = 1;

    lmcf->redis = rd;

    ngx_http_linkreport_redis_connect(rd);

    return NGX_OK;
}


/*
 * A worker leaves (reload, quit) with click records still queued in hiredis's output
 * buffer or awaiting their replies; freeing the context now would drop them. The event
 * loop is over, so this waits on the socket itself, bounded in time: the worker has no
 * request left to serve.
 */
static void
ngx_http_linkreport_redis_drain(ngx_http_linkreport_redis_t *rd)
{
    int             n;
    ngx_msec_t      left;
    ngx_msec_int_t  elapsed;
    struct pollfd   pfd;
    ngx_time_t     *tp;
    ngx_msec_t      start;

    tp = ngx_timeofday();
    start = tp->sec * 1000 + tp->msec;
    left = NGX_HTTP_LINKREPORT_DRAIN_MAX;

    while (rd->ac && rd->connected && rd->ac->replies.head != NULL && left > 0) {
        pfd.fd = rd->ac->c.fd;
        pfd.events = POLLIN | (sdslen(rd->ac->c.obuf) ? POLLOUT : 0);
        pfd.revents = 0;

        n = poll(&pfd, 1, (int) left);

        if (n > 0 && (pfd.revents & (POLLOUT | POLLERR | POLLHUP)) && rd->ac) {
            redisAsyncHandleWrite(rd->ac);
        }

        if (n > 0 && (pfd.revents & (POLLIN | POLLERR | POLLHUP)) && rd->ac) {
            redisAsyncHandleRead(rd->ac);
        }

        if (n < 0 && ngx_errno != NGX_EINTR) {
            break;
        }

        ngx_time_update();
        tp = ngx_timeofday();
        elapsed = (ngx_msec_int_t) (tp->sec * 1000 + tp->msec - start);
        left = elapsed >= NGX_HTTP_LINKREPORT_DRAIN_MAX
               ? 0 : NGX_HTTP_LINKREPORT_DRAIN_MAX - (ngx_msec_t) elapsed;
    }

    if (rd->ac && rd->ac->replies.head != NULL) {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "linkreport: redis: exiting with commands still unanswered "
                      "after %ui ms; their click records may be lost",
                      (ngx_uint_t) NGX_HTTP_LINKREPORT_DRAIN_MAX);
    }
}


void
ngx_http_linkreport_redis_stop(ngx_http_linkreport_redis_t *rd)
{
    if (rd == NULL) {
        return;
    }

    rd->stopping = 1;

    ngx_http_linkreport_redis_drain(rd);

    if (rd->connect_timer.timer_set) {
        ngx_del_timer(&rd->connect_timer);
    }

    if (rd->retry_timer.timer_set) {
        ngx_del_timer(&rd->retry_timer);
    }

    if (rd->resolving) {
        ngx_resolve_name_done(rd->resolving);
        rd->resolving = NULL;
    }

    if (rd->ac) {
        redisAsyncFree(rd->ac);
    }
}


redisAsyncContext *
ngx_http_linkreport_redis_context(ngx_http_linkreport_redis_t *rd)
{
    return (rd && rd->connected && !rd->stopping) ? rd->ac : NULL;
}


ngx_flag_t
ngx_http_linkreport_redis_stopping(ngx_http_linkreport_redis_t *rd)
{
    return rd->stopping;
}
