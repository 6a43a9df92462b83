/*
 * Click delivery and the spool. Files in the spool folder:
 *   active-PID.rsp                  records a worker is appending (Redis protocol)
 *   ready-MS-PID-SEQ.rsp            closed, waiting to be replayed, oldest name first
 *   replay-PID-ready-....rsp        being replayed by worker PID
 * A worker that finds another's active or replay file whose process is gone (a crash,
 * a restart) makes it ready again. Local file writes are what nginx's own access log
 * does in a worker; they happen only while Redis cannot take the records.
 */

#include "ngx_http_linkreport_spool.h"
#include "ngx_http_linkreport_redis.h"
#include "ngx_http_linkreport_status.h"

#include <dirent.h>


#define NGX_HTTP_LINKREPORT_REPLAY_CHUNK   (256 * 1024)
#define NGX_HTTP_LINKREPORT_TICK_IDLE      1000
#define NGX_HTTP_LINKREPORT_TICK_BUSY      10


struct ngx_http_linkreport_spool_s {
    ngx_http_linkreport_main_conf_t  *lmcf;
    ngx_log_t                        *log;
    ngx_event_t                       timer;
    size_t                            limit;         /* this worker's share */

    ngx_fd_t                          active_fd;
    off_t                             active_size;
    ngx_uint_t                        seq;

    ngx_fd_t                          replay_fd;
    u_char                            replay_path[NGX_MAX_PATH];
    u_char                            replay_ready[256];    /* its name when ready */
    off_t                             replay_offset;
    ngx_uint_t                        replay_pending;
    ngx_uint_t                        replay_sent;
    unsigned                          replay_failed:1;
    unsigned                          replay_eof:1;
    unsigned                          stopping:1;
    u_char                           *buf;
};

/* a record on its way to Redis: kept until Redis says it has it */
typedef struct {
    ngx_http_linkreport_main_conf_t  *lmcf;
    size_t                            len;
    u_char                            data[1];
} ngx_http_linkreport_record_t;


/* records this worker has sent and Redis has not answered yet */
static ngx_uint_t  ngx_http_linkreport_inflight;


char *
ngx_http_linkreport_spool_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_linkreport_main_conf_t *lmcf = conf;

    ssize_t           size;
    ngx_str_t        *value, s;
    ngx_uint_t        i;
    ngx_file_info_t   fi;

    if (lmcf->spool_path.data) {
        return "is duplicate";
    }

    value = cf->args->elts;
    lmcf->spool_path = value[1];
    lmcf->spool_size = 64 * 1024 * 1024;

    if (ngx_conf_full_name(cf->cycle, &lmcf->spool_path, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    for (i = 2; i < cf->args->nelts; i++) {
        if (ngx_strncmp(value[i].data, "size=", 5) == 0) {
            s.data = value[i].data + 5;
            s.len = value[i].len - 5;
            size = ngx_parse_size(&s);
            if (size == NGX_ERROR || size < 4096) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid spool size \"%V\" (at least 4k)", &value[i]);
                return NGX_CONF_ERROR;
            }
            lmcf->spool_size = size;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid parameter \"%V\"",
                           &value[i]);
        return NGX_CONF_ERROR;
    }

    if (ngx_file_info(lmcf->spool_path.data, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "spool folder \"%V\" cannot be used", &lmcf->spool_path);
        return NGX_CONF_ERROR;
    }

    if (!ngx_is_dir(&fi)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "spool \"%V\" is not a folder",
                           &lmcf->spool_path);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static void
ngx_http_linkreport_spool_file(ngx_http_linkreport_spool_t *sp, u_char *buf,
    const char *fmt, ...)
{
    u_char   *p;
    va_list   args;

    p = ngx_snprintf(buf, NGX_MAX_PATH - 1, "%V/", &sp->lmcf->spool_path);

    va_start(args, fmt);
    p = ngx_vslprintf(p, buf + NGX_MAX_PATH - 1, fmt, args);
    va_end(args);

    *p = '\0';
}


static void
ngx_http_linkreport_spool_write(ngx_http_linkreport_main_conf_t *lmcf, u_char *data,
    size_t len)
{
    ssize_t                       n;
    ngx_file_info_t               fi;
    ngx_http_linkreport_spool_t  *sp = lmcf->spool;
    u_char                        path[NGX_MAX_PATH];

    if (sp == NULL || sp->stopping) {
        ngx_http_linkreport_count(lmcf, dropped);
        ngx_log_error(NGX_LOG_ERR, lmcf->log, 0,
                      "linkreport: click record lost: redis cannot take it and %s",
                      sp ? "the worker is exiting" : "no linkreport_spool is set");
        return;
    }

    if ((size_t) sp->active_size + len > sp->limit) {
        ngx_http_linkreport_count(lmcf, dropped);
        ngx_log_error(NGX_LOG_ERR, sp->log, 0,
                      "linkreport: click record lost: spool share of %uz bytes "
                      "is full (%uA lost so far)", sp->limit,
                      lmcf->counters ? lmcf->counters->dropped : 0);
        return;
    }

    if (sp->active_fd == NGX_INVALID_FILE) {
        ngx_http_linkreport_spool_file(sp, path, "active-%P.rsp", ngx_pid);

        sp->active_fd = ngx_open_file(path, NGX_FILE_APPEND, NGX_FILE_CREATE_OR_OPEN,
                                      0600);
        if (sp->active_fd == NGX_INVALID_FILE) {
            ngx_http_linkreport_count(lmcf, dropped);
            ngx_log_error(NGX_LOG_ERR, sp->log, ngx_errno,
                          "linkreport: click record lost: cannot open \"%s\"", path);
            return;
        }

        sp->active_size = (ngx_fd_info(sp->active_fd, &fi) == NGX_FILE_ERROR)
                          ? 0 : ngx_file_size(&fi);
    }

    n = write(sp->active_fd, data, len);

    if (n != (ssize_t) len) {
        /* a record is whole or absent: a torn one would be replayed as garbage */
        if (n > 0 && ftruncate(sp->active_fd, sp->active_size) != 0) {
            ngx_log_error(NGX_LOG_ALERT, sp->log, ngx_errno,
                          "linkreport: spool file left with a torn record");
        }

        ngx_http_linkreport_count(lmcf, dropped);
        ngx_log_error(NGX_LOG_ERR, sp->log, ngx_errno,
                      "linkreport: click record lost: spool write failed");
        return;
    }

    sp->active_size += len;
    ngx_http_linkreport_count(lmcf, spooled);
}


static void
ngx_http_linkreport_delivered(redisAsyncContext *ac, void *data, void *privdata)
{
    redisReply                    *reply = data;
    ngx_http_linkreport_record_t  *rec = privdata;

    ngx_http_linkreport_inflight--;

    if (reply != NULL && reply->type != REDIS_REPLY_ERROR) {
        ngx_http_linkreport_count(rec->lmcf, sent);
        ngx_free(rec);
        return;
    }

    /* Redis may or may not have it: spooled, it may arrive twice, never zero times */
    ngx_log_error(NGX_LOG_WARN, rec->lmcf->log, 0,
                  "linkreport: click record not confirmed by redis (%s), spooling it",
                  reply ? reply->str : "connection closed");

    ngx_http_linkreport_spool_write(rec->lmcf, rec->data, rec->len);
    ngx_free(rec);
}


void
ngx_http_linkreport_deliver(ngx_http_linkreport_main_conf_t *lmcf, char *cmd,
    size_t len)
{
    redisAsyncContext             *ac;
    ngx_http_linkreport_record_t  *rec;

    ac = ngx_http_linkreport_redis_context(lmcf->redis);

    if (ac != NULL && ngx_http_linkreport_inflight < lmcf->max_inflight) {

        rec = ngx_alloc(offsetof(ngx_http_linkreport_record_t, data) + len, lmcf->log);

        if (rec != NULL) {
            rec->lmcf = lmcf;
            rec->len = len;
            ngx_memcpy(rec->data, cmd, len);

            if (redisAsyncFormattedCommand(ac, ngx_http_linkreport_delivered, rec, cmd,
                                           len)
                == REDIS_OK)
            {
                ngx_http_linkreport_inflight++;
                free(cmd);
                return;
            }

            ngx_free(rec);
        }
    }

    ngx_http_linkreport_spool_write(lmcf, (u_char *) cmd, len);
    free(cmd);
}


/* the length of the first whole Redis command in p, 0 when incomplete, -1 if garbage */
static ssize_t
ngx_http_linkreport_resp_len(u_char *p, size_t avail)
{
    u_char     *s, *end, *nl;
    ngx_int_t   n, len;

    s = p;
    end = p + avail;

    if (s == end) {
        return 0;
    }

    if (*s != '*') {
        return -1;
    }

    nl = ngx_strlchr(s, end, '\n');
    if (nl == NULL) {
        return 0;
    }

    n = ngx_atoi(s + 1, nl - 1 - (s + 1));
    if (n <= 0 || nl[-1] != '\r') {
        return -1;
    }

    s = nl + 1;

    while (n--) {
        if (s == end) {
            return 0;
        }

        if (*s != '$') {
            return -1;
        }

        nl = ngx_strlchr(s, end, '\n');
        if (nl == NULL) {
            return 0;
        }

        len = ngx_atoi(s + 1, nl - 1 - (s + 1));
        if (len < 0 || nl[-1] != '\r') {
            return -1;
        }

        s = nl + 1;

        if ((size_t) (end - s) < (size_t) len + 2) {
            return 0;
        }

        s += len + 2;
    }

    return s - p;
}


static void
ngx_http_linkreport_replayed(redisAsyncContext *ac, void *data, void *privdata)
{
    redisReply                   *reply = data;
    ngx_http_linkreport_spool_t  *sp = privdata;

    sp->replay_pending--;

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        /* the whole file goes again from its start once Redis is back */
        sp->replay_failed = 1;
        return;
    }

    ngx_http_linkreport_count(sp->lmcf, replayed);
}


/* the worker pid in "active-PID.rsp" or "replay-PID-...", 0 for other names */
static pid_t
ngx_http_linkreport_spool_owner(const char *name, const char *prefix)
{
    size_t       plen = ngx_strlen(prefix);
    const char  *p;
    pid_t        pid;

    if (ngx_strncmp(name, prefix, plen) != 0) {
        return 0;
    }

    for (pid = 0, p = name + plen; *p >= '0' && *p <= '9' && pid < 100000000; p++) {
        pid = pid * 10 + (*p - '0');
    }

    return pid;
}


/* takes over the files of workers that are gone; claims the oldest ready file */
static void
ngx_http_linkreport_spool_scan(ngx_http_linkreport_spool_t *sp, ngx_flag_t adopt,
    ngx_flag_t claim)
{
    DIR            *dir;
    pid_t           pid;
    struct dirent  *de;
    u_char          from[NGX_MAX_PATH], to[NGX_MAX_PATH], oldest[256];
    ngx_time_t     *tp;

    dir = opendir((char *) sp->lmcf->spool_path.data);
    if (dir == NULL) {
        ngx_log_error(NGX_LOG_ERR, sp->log, ngx_errno,
                      "linkreport: cannot read spool folder \"%V\"",
                      &sp->lmcf->spool_path);
        return;
    }

    oldest[0] = '\0';
    tp = ngx_timeofday();

    while ((de = readdir(dir)) != NULL) {
        const char *name = de->d_name;

        if (ngx_strlen(name) >= sizeof(oldest) - 1) {
            continue;
        }

        if (adopt) {
            pid = ngx_http_linkreport_spool_owner(name, "active-");
            if (pid == 0) {
                pid = ngx_http_linkreport_spool_owner(name, "replay-");
            }

            if (pid > 0 && pid != ngx_pid && kill(pid, 0) == -1 && errno == ESRCH) {
                ngx_http_linkreport_spool_file(sp, from, "%s", name);

                if (name[0] == 'a') {
                    ngx_http_linkreport_spool_file(sp, to, "ready-%013M-%P-%ui.rsp",
                                                   (ngx_msec_t) tp->sec * 1000
                                                   + tp->msec,
                                                   pid, sp->seq++);
                } else {
                    /* replay-PID-ready-...: back to its ready name */
                    ngx_http_linkreport_spool_file(sp, to, "%s",
                                                   ngx_strchr(name + 7, '-') + 1);
                }

                if (ngx_rename_file(from, to) == 0) {
                    ngx_log_error(NGX_LOG_NOTICE, sp->log, 0,
                                  "linkreport: spool file \"%s\" of exited worker %P "
                                  "taken over", name, pid);
                }
                continue;
            }
        }

        if (claim && ngx_strncmp(name, "ready-", 6) == 0
            && (oldest[0] == '\0' || ngx_strcmp(name, oldest) < 0))
        {
            ngx_cpystrn(oldest, (u_char *) name, sizeof(oldest));
        }
    }

    closedir(dir);

    if (!claim || oldest[0] == '\0') {
        return;
    }

    ngx_http_linkreport_spool_file(sp, from, "%s", oldest);
    ngx_http_linkreport_spool_file(sp, sp->replay_path, "replay-%P-%s", ngx_pid, oldest);
    ngx_cpystrn(sp->replay_ready, oldest, sizeof(sp->replay_ready));

    if (ngx_rename_file(from, sp->replay_path) != 0) {
        return;     /* another worker claimed it first */
    }

    sp->replay_fd = ngx_open_file(sp->replay_path, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (sp->replay_fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_ERR, sp->log, ngx_errno,
                      "linkreport: cannot open spool file \"%s\"", sp->replay_path);
        return;
    }

    sp->replay_offset = 0;
    sp->replay_pending = 0;
    sp->replay_sent = 0;
    sp->replay_failed = 0;
    sp->replay_eof = 0;
}


static void
ngx_http_linkreport_spool_rotate(ngx_http_linkreport_spool_t *sp)
{
    u_char       from[NGX_MAX_PATH], to[NGX_MAX_PATH];
    ngx_time_t  *tp;

    if (sp->active_fd == NGX_INVALID_FILE) {
        return;
    }

    (void) fsync(sp->active_fd);
    ngx_close_file(sp->active_fd);
    sp->active_fd = NGX_INVALID_FILE;
    sp->active_size = 0;

    tp = ngx_timeofday();
    ngx_http_linkreport_spool_file(sp, from, "active-%P.rsp", ngx_pid);
    ngx_http_linkreport_spool_file(sp, to, "ready-%013M-%P-%ui.rsp",
                                   (ngx_msec_t) tp->sec * 1000 + tp->msec, ngx_pid,
                                   sp->seq++);

    if (ngx_rename_file(from, to) != 0) {
        ngx_log_error(NGX_LOG_ERR, sp->log, ngx_errno,
                      "linkreport: cannot rename spool file \"%s\"", from);
    }
}


/* sends the next part of the file being replayed; deletes it once all is confirmed */
static ngx_flag_t
ngx_http_linkreport_spool_replay(ngx_http_linkreport_spool_t *sp,
    redisAsyncContext *ac)
{
    u_char   *p;
    ssize_t   n, len;

    if (sp->replay_failed) {
        if (sp->replay_pending) {
            return 1;
        }
        sp->replay_failed = 0;
        sp->replay_eof = 0;
        sp->replay_offset = 0;
    }

    if (sp->replay_eof) {
        if (sp->replay_pending) {
            return 1;
        }

        ngx_close_file(sp->replay_fd);
        sp->replay_fd = NGX_INVALID_FILE;

        if (ngx_delete_file(sp->replay_path) != 0) {
            ngx_log_error(NGX_LOG_ALERT, sp->log, ngx_errno,
                          "linkreport: cannot delete replayed \"%s\"", sp->replay_path);
        }

        ngx_log_error(NGX_LOG_NOTICE, sp->log, 0,
                      "linkreport: %ui spooled click records replayed to redis",
                      sp->replay_sent);
        return 0;
    }

    if (sp->replay_pending >= sp->lmcf->max_inflight) {
        return 1;
    }

    n = pread(sp->replay_fd, sp->buf, NGX_HTTP_LINKREPORT_REPLAY_CHUNK,
              sp->replay_offset);

    if (n <= 0) {
        sp->replay_eof = 1;
        return 1;
    }

    for (p = sp->buf; p < sp->buf + n; p += len) {
        len = ngx_http_linkreport_resp_len(p, sp->buf + n - p);

        if (len <= 0) {
            if (len < 0 || n < NGX_HTTP_LINKREPORT_REPLAY_CHUNK) {
                /* garbage, or a record torn by a crash at the very end */
                ngx_log_error(NGX_LOG_ERR, sp->log, 0,
                              "linkreport: spool file \"%s\" has %z unreadable bytes "
                              "at offset %O, skipped", sp->replay_path,
                              sp->buf + n - p, sp->replay_offset + (p - sp->buf));
                sp->replay_eof = 1;
                p = sp->buf + n;
            }
            break;
        }

        if (redisAsyncFormattedCommand(ac, ngx_http_linkreport_replayed, sp,
                                       (char *) p, len)
            != REDIS_OK)
        {
            sp->replay_failed = 1;
            return 1;
        }

        sp->replay_pending++;
        sp->replay_sent++;
    }

    sp->replay_offset += p - sp->buf;

    return 1;
}


static void
ngx_http_linkreport_spool_tick(ngx_event_t *ev)
{
    ngx_flag_t                    busy;
    redisAsyncContext            *ac;
    ngx_http_linkreport_spool_t  *sp = ev->data;

    busy = 0;
    ac = ngx_http_linkreport_redis_context(sp->lmcf->redis);

    if (ac != NULL && !sp->stopping) {

        if (sp->active_size > 0) {
            ngx_http_linkreport_spool_rotate(sp);
        }

        if (sp->replay_fd == NGX_INVALID_FILE) {
            /* also picks up what a crashed or replaced worker left behind */
            ngx_http_linkreport_spool_scan(sp, 1, 1);
        }

        if (sp->replay_fd != NGX_INVALID_FILE) {
            busy = ngx_http_linkreport_spool_replay(sp, ac);
        }
    }

    ngx_add_timer(&sp->timer, busy ? NGX_HTTP_LINKREPORT_TICK_BUSY
                                   : NGX_HTTP_LINKREPORT_TICK_IDLE);
}


ngx_int_t
ngx_http_linkreport_spool_start(ngx_cycle_t *cycle,
    ngx_http_linkreport_main_conf_t *lmcf)
{
    ngx_core_conf_t              *ccf;
    ngx_http_linkreport_spool_t  *sp;

    if (lmcf->spool_path.data == NULL) {
        return NGX_OK;
    }

    sp = ngx_pcalloc(cycle->pool, sizeof(ngx_http_linkreport_spool_t));
    if (sp == NULL) {
        return NGX_ERROR;
    }

    sp->buf = ngx_palloc(cycle->pool, NGX_HTTP_LINKREPORT_REPLAY_CHUNK);
    if (sp->buf == NULL) {
        return NGX_ERROR;
    }

    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);

    sp->lmcf = lmcf;
    sp->log = cycle->log;
    sp->limit = lmcf->spool_size / (ccf->worker_processes ? ccf->worker_processes : 1);
    sp->active_fd = NGX_INVALID_FILE;
    sp->replay_fd = NGX_INVALID_FILE;

    sp->timer.handler = ngx_http_linkreport_spool_tick;
    sp->timer.data = sp;
    sp->timer.log = cycle->log;
    sp->timer.cancelable = 1;

    lmcf->spool = sp;

    ngx_http_linkreport_spool_scan(sp, 1, 0);

    ngx_add_timer(&sp->timer, NGX_HTTP_LINKREPORT_TICK_IDLE);

    return NGX_OK;
}


void
ngx_http_linkreport_spool_stop(ngx_http_linkreport_main_conf_t *lmcf)
{
    ngx_http_linkreport_spool_t  *sp = lmcf->spool;

    if (sp == NULL) {
        return;
    }

    sp->stopping = 1;

    if (sp->timer.timer_set) {
        ngx_del_timer(&sp->timer);
    }

    /* what this worker holds goes back to the pool of ready files for the others */
    if (sp->active_fd != NGX_INVALID_FILE) {
        ngx_http_linkreport_spool_rotate(sp);
    }

    if (sp->replay_fd != NGX_INVALID_FILE) {
        u_char  to[NGX_MAX_PATH];

        ngx_close_file(sp->replay_fd);
        sp->replay_fd = NGX_INVALID_FILE;

        /* back to its ready name: replayed again from its start, by whoever claims it */
        ngx_http_linkreport_spool_file(sp, to, "%s", sp->replay_ready);
        (void) ngx_rename_file(sp->replay_path, to);
    }

    lmcf->spool = NULL;
}
