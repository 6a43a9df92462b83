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

    /* linkreport_stream_maxlen: the stream's length, asked about once a second */
    ngx_msec_t                        xlen_asked;
    unsigned                          xlen_pending:1;
    unsigned                          stream_full:1;
};

#define NGX_HTTP_LINKREPORT_XLEN_EVERY     1000

/*
 * The click records of one event-loop cycle, sent as ONE stream entry: Redis spends
 * per entry, and per reply the worker spends hiredis's allocations, what the records of
 * a burst would otherwise each cost. Kept whole until Redis says it has it.
 */
typedef struct {
    ngx_http_linkreport_main_conf_t  *lmcf;
    ngx_uint_t                        records;
    u_char                           *cmd;      /* the XADD, once the batch is closed */
    size_t                            cmd_len;
    u_char                           *last;     /* end of the records so far */
    u_char                           *end;
    u_char                            data[1];  /* room for the XADD's head, records */
} ngx_http_linkreport_batch_t;


/* records this worker has sent and Redis has not answered yet */
static ngx_uint_t                    ngx_http_linkreport_inflight;

/* a spooled XADD being replayed: its records are counted once Redis confirms it */
typedef struct {
    ngx_http_linkreport_spool_t      *spool;
    ngx_uint_t                        records;
} ngx_http_linkreport_replay_t;


/* the batch of this cycle, and the posted event that closes it */
static ngx_http_linkreport_batch_t  *ngx_http_linkreport_batch;
static ngx_event_t                   ngx_http_linkreport_batch_event;
/* room a new batch starts with: what the last one used, so that a batch of a busy
 * worker is made once instead of grown by copying, and one of a quiet worker stays small */
static size_t                        ngx_http_linkreport_batch_size = 4096;


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
    size_t len, ngx_uint_t records)
{
    ssize_t                       n;
    ngx_file_info_t               fi;
    ngx_http_linkreport_spool_t  *sp = lmcf->spool;
    u_char                        path[NGX_MAX_PATH];

    if (sp == NULL || sp->stopping) {
        ngx_http_linkreport_count_n(lmcf, dropped, records);
        ngx_log_error(NGX_LOG_ERR, lmcf->log, 0,
                      "linkreport: %ui click record(s) lost: redis cannot take them "
                      "and %s", records,
                      sp ? "the worker is exiting" : "no linkreport_spool is set");
        return;
    }

    if ((size_t) sp->active_size + len > sp->limit) {
        ngx_http_linkreport_count_n(lmcf, dropped, records);
        ngx_log_error(NGX_LOG_ERR, sp->log, 0,
                      "linkreport: %ui click record(s) lost: spool share of %uz bytes "
                      "is full (%uA lost so far)", records, sp->limit,
                      lmcf->counters ? lmcf->counters->dropped : 0);
        return;
    }

    if (sp->active_fd == NGX_INVALID_FILE) {
        ngx_http_linkreport_spool_file(sp, path, "active-%P.rsp", ngx_pid);

        sp->active_fd = ngx_open_file(path, NGX_FILE_APPEND, NGX_FILE_CREATE_OR_OPEN,
                                      0600);
        if (sp->active_fd == NGX_INVALID_FILE) {
            ngx_http_linkreport_count_n(lmcf, dropped, records);
            ngx_log_error(NGX_LOG_ERR, sp->log, ngx_errno,
                          "linkreport: %ui click record(s) lost: cannot open \"%s\"",
                          records, path);
            return;
        }

        sp->active_size = (ngx_fd_info(sp->active_fd, &fi) == NGX_FILE_ERROR)
                          ? 0 : ngx_file_size(&fi);
    }

    n = write(sp->active_fd, data, len);

    if (n != (ssize_t) len) {
        /* a command is whole or absent: a torn one would be replayed as garbage */
        if (n > 0 && ftruncate(sp->active_fd, sp->active_size) != 0) {
            ngx_log_error(NGX_LOG_ALERT, sp->log, ngx_errno,
                          "linkreport: spool file left with a torn record");
        }

        ngx_http_linkreport_count_n(lmcf, dropped, records);
        ngx_log_error(NGX_LOG_ERR, sp->log, ngx_errno,
                      "linkreport: %ui click record(s) lost: spool write failed",
                      records);
        return;
    }

    sp->active_size += len;
    ngx_http_linkreport_count_n(lmcf, spooled, records);
}


/* "{prefix}{n}\r\n" */
static u_char *
ngx_http_linkreport_resp_number(u_char *p, u_char prefix, size_t n)
{
    *p++ = prefix;
    p = ngx_http_linkreport_decimal(p, n);
    *p++ = '\r';
    *p++ = '\n';

    return p;
}


static size_t
ngx_http_linkreport_digits(size_t n)
{
    size_t  d;

    for (d = 1; n >= 10; n /= 10) {
        d++;
    }

    return d;
}


#define NGX_HTTP_LINKREPORT_XADD_HEAD      "*5\r\n$4\r\nXADD\r\n"
#define NGX_HTTP_LINKREPORT_XADD_FIELD     "\r\n$1\r\n*\r\n$6\r\nrecord\r\n"

/* room for the XADD's head before the records: its length is known only at the end */
static size_t
ngx_http_linkreport_batch_head_room(ngx_http_linkreport_main_conf_t *lmcf)
{
    return sizeof(NGX_HTTP_LINKREPORT_XADD_HEAD) - 1 + 1 + NGX_SIZE_T_LEN + 2
           + lmcf->stream.len + sizeof(NGX_HTTP_LINKREPORT_XADD_FIELD) - 1
           + 1 + NGX_SIZE_T_LEN + 2;
}


/*
 * Batches Redis did not confirm since the last one it did: the first is logged with
 * Redis's reason, the others only counted and summed up once Redis confirms again, so
 * that a Redis refusing every write under load does not write thousands of lines a
 * second into the error log.
 */
static ngx_uint_t  ngx_http_linkreport_unconfirmed_batches;
static ngx_uint_t  ngx_http_linkreport_unconfirmed_records;


static void
ngx_http_linkreport_delivered(redisAsyncContext *ac, void *data, void *privdata)
{
    redisReply                   *reply = data;
    ngx_http_linkreport_batch_t  *b = privdata;

    ngx_http_linkreport_inflight -= b->records;

    if (reply != NULL && reply->type != REDIS_REPLY_ERROR) {
        ngx_http_linkreport_count_n(b->lmcf, sent, b->records);

        if (ngx_http_linkreport_unconfirmed_batches > 1) {
            ngx_log_error(NGX_LOG_NOTICE, b->lmcf->log, 0,
                          "linkreport: redis confirms click records again; "
                          "%ui record(s) in %ui batch(es) were spooled meanwhile",
                          ngx_http_linkreport_unconfirmed_records,
                          ngx_http_linkreport_unconfirmed_batches);
        }

        ngx_http_linkreport_unconfirmed_batches = 0;
        ngx_http_linkreport_unconfirmed_records = 0;
        ngx_free(b);
        return;
    }

    /* Redis may or may not have it: spooled, it may arrive twice, never zero times */
    if (ngx_http_linkreport_unconfirmed_batches++ == 0) {
        ngx_log_error(NGX_LOG_WARN, b->lmcf->log, 0,
                      "linkreport: %ui click record(s) not confirmed by redis (%s), "
                      "spooling them (and the records of later batches Redis does "
                      "not confirm, logged once it does)", b->records,
                      reply ? reply->str : "connection closed");
    }

    ngx_http_linkreport_unconfirmed_records += b->records;

    ngx_http_linkreport_spool_write(b->lmcf, b->cmd, b->cmd_len, b->records);
    ngx_free(b);
}


/* this cycle's batch becomes one XADD, to Redis or to the spool */
void
ngx_http_linkreport_batch_flush(void)
{
    size_t                            len, head;
    u_char                           *p, *records;
    redisAsyncContext                *ac;
    ngx_http_linkreport_batch_t      *b = ngx_http_linkreport_batch;
    ngx_http_linkreport_main_conf_t  *lmcf;

    if (ngx_http_linkreport_batch_event.posted) {
        ngx_delete_posted_event(&ngx_http_linkreport_batch_event);
    }

    if (b == NULL) {
        return;
    }

    ngx_http_linkreport_batch = NULL;
    lmcf = b->lmcf;

    records = b->data + ngx_http_linkreport_batch_head_room(lmcf);
    len = b->last - records;

    /* an eighth more than this one: a batch a little larger does not grow */
    ngx_http_linkreport_batch_size = ngx_max(4096, len + len / 8);

    head = sizeof(NGX_HTTP_LINKREPORT_XADD_HEAD) - 1
           + 1 + ngx_http_linkreport_digits(lmcf->stream.len) + 2 + lmcf->stream.len
           + sizeof(NGX_HTTP_LINKREPORT_XADD_FIELD) - 1
           + 1 + ngx_http_linkreport_digits(len) + 2;

    b->cmd = records - head;
    p = ngx_cpymem(b->cmd, NGX_HTTP_LINKREPORT_XADD_HEAD,
                   sizeof(NGX_HTTP_LINKREPORT_XADD_HEAD) - 1);
    p = ngx_http_linkreport_resp_number(p, '$', lmcf->stream.len);
    p = ngx_cpymem(p, lmcf->stream.data, lmcf->stream.len);
    p = ngx_cpymem(p, NGX_HTTP_LINKREPORT_XADD_FIELD,
                   sizeof(NGX_HTTP_LINKREPORT_XADD_FIELD) - 1);
    (void) ngx_http_linkreport_resp_number(p, '$', len);

    *b->last++ = '\r';
    *b->last++ = '\n';
    b->cmd_len = b->last - b->cmd;

    ac = ngx_http_linkreport_redis_context(lmcf->redis);

    if (ac != NULL && ngx_http_linkreport_inflight < lmcf->max_inflight
        && !(lmcf->spool && lmcf->spool->stream_full)
        && redisAsyncFormattedCommand(ac, ngx_http_linkreport_delivered, b,
                                      (char *) b->cmd, b->cmd_len)
           == REDIS_OK)
    {
        ngx_http_linkreport_inflight += b->records;
        return;
    }

    ngx_http_linkreport_spool_write(lmcf, b->cmd, b->cmd_len, b->records);
    ngx_free(b);
}


static void
ngx_http_linkreport_batch_handler(ngx_event_t *ev)
{
    ngx_http_linkreport_batch_flush();
}


u_char *
ngx_http_linkreport_batch_record(ngx_http_linkreport_main_conf_t *lmcf, size_t len)
{
    size_t                        room, used, head;
    u_char                       *p;
    ngx_http_linkreport_batch_t  *b = ngx_http_linkreport_batch, *nb;

    head = ngx_http_linkreport_batch_head_room(lmcf);

    if (b != NULL
        && (b->records == NGX_HTTP_LINKREPORT_BATCH_RECORDS
            || (size_t) (b->last - b->data) - head + 1 + len
               > NGX_HTTP_LINKREPORT_BATCH_BYTES))
    {
        ngx_http_linkreport_batch_flush();
        b = NULL;
    }

    if (b == NULL) {
        /* as large as the last batch was: under load a batch then never grows */
        room = head + ngx_max(len, ngx_http_linkreport_batch_size) + 2;

        b = ngx_alloc(offsetof(ngx_http_linkreport_batch_t, data) + room, lmcf->log);
        if (b == NULL) {
            return NULL;
        }

        b->lmcf = lmcf;
        b->records = 0;
        b->last = b->data + head;
        b->end = b->data + room;
        ngx_http_linkreport_batch = b;

        /*
         * Closed once this cycle's events, posted ones included (nginx answers
         * pipelined requests from posted events), and the ready events of one more
         * look at epoll have been handled: nginx takes that look at once, without
         * waiting, when ngx_posted_next_events is not empty.
         */
        if (ngx_http_linkreport_batch_event.handler == NULL) {
            ngx_http_linkreport_batch_event.handler = ngx_http_linkreport_batch_handler;
            ngx_http_linkreport_batch_event.log = lmcf->log;
        }

        ngx_post_event(&ngx_http_linkreport_batch_event, &ngx_posted_next_events);

    } else if ((size_t) (b->end - b->last) < 1 + len + 2) {
        /* grows by doubling, up to the batch's bound */
        used = b->last - b->data;
        room = ngx_max(2 * (size_t) (b->end - b->data), used + 1 + len + 2);

        nb = ngx_alloc(offsetof(ngx_http_linkreport_batch_t, data) + room, lmcf->log);
        if (nb == NULL) {
            return NULL;
        }

        ngx_memcpy(nb, b, offsetof(ngx_http_linkreport_batch_t, data) + used);
        nb->last = nb->data + used;
        nb->end = nb->data + room;
        ngx_free(b);
        b = nb;
        ngx_http_linkreport_batch = b;
    }

    if (b->records) {
        *b->last++ = '\n';
    }

    p = b->last;
    b->last += len;
    b->records++;

    return p;
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
    redisReply                    *reply = data;
    ngx_http_linkreport_replay_t  *rp = privdata;
    ngx_http_linkreport_spool_t   *sp = rp->spool;

    sp->replay_pending--;

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        /* the whole file goes again from its start once Redis is back */
        sp->replay_failed = 1;

    } else {
        ngx_http_linkreport_count_n(sp->lmcf, replayed, rp->records);
    }

    ngx_free(rp);
}


/*
 * The click records in one spooled XADD: Redis's framing ends every line with CR LF,
 * and inside the records value a bare LF separates two records (a record's own LF is
 * escaped).
 */
static ngx_uint_t
ngx_http_linkreport_records_in(u_char *p, size_t len)
{
    u_char      *lf, *start, *end;
    ngx_uint_t   n;

    n = 1;
    start = p;

    for (end = p + len; (lf = memchr(p, '\n', end - p)) != NULL; p = lf + 1) {
        if (lf > start && lf[-1] != '\r') {
            n++;
        }
    }

    return n;
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
    u_char                        *p;
    ssize_t                        n, len;
    ngx_http_linkreport_replay_t  *rp;

    if (sp->replay_failed) {
        if (sp->replay_pending) {
            return 1;
        }
        sp->replay_failed = 0;
        sp->replay_eof = 0;
        sp->replay_offset = 0;

        /*
         * Again from the start, but at the next idle tick: a Redis that answers and
         * refuses (out of memory, read-only replica) is not sent the file every 10 ms.
         */
        return 0;
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

        rp = ngx_alloc(sizeof(ngx_http_linkreport_replay_t), sp->log);
        if (rp == NULL) {
            sp->replay_failed = 1;
            return 1;
        }

        rp->spool = sp;
        rp->records = ngx_http_linkreport_records_in(p, len);

        if (redisAsyncFormattedCommand(ac, ngx_http_linkreport_replayed, rp,
                                       (char *) p, len)
            != REDIS_OK)
        {
            ngx_free(rp);
            sp->replay_failed = 1;
            return 1;
        }

        sp->replay_pending++;
        sp->replay_sent += rp->records;
    }

    sp->replay_offset += p - sp->buf;

    return 1;
}


static void
ngx_http_linkreport_stream_length(redisAsyncContext *ac, void *data, void *privdata)
{
    redisReply                   *reply = data;
    ngx_http_linkreport_spool_t  *sp = privdata;
    ngx_uint_t                    full;

    sp->xlen_pending = 0;

    if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
        return;   /* asked again in a second; meanwhile the last answer stands */
    }

    full = (reply->integer >= (long long) sp->lmcf->stream_maxlen);

    if (full && !sp->stream_full) {
        ngx_log_error(NGX_LOG_WARN, sp->log, 0,
                      "linkreport: stream \"%V\" holds %L entries, "
                      "linkreport_stream_maxlen is %ui: click records wait in the spool "
                      "until the reporter has read and trimmed it",
                      &sp->lmcf->stream, (int64_t) reply->integer,
                      sp->lmcf->stream_maxlen);

    } else if (!full && sp->stream_full) {
        ngx_log_error(NGX_LOG_NOTICE, sp->log, 0,
                      "linkreport: stream \"%V\" holds %L entries again, below "
                      "linkreport_stream_maxlen: click records go to it, the spooled "
                      "ones follow", &sp->lmcf->stream, (int64_t) reply->integer);
    }

    sp->stream_full = full;
}


/*
 * linkreport_stream_maxlen bounds the stream without trimming anything: once a second
 * the worker asks for its length and, while it is at the bound, keeps its records in
 * the spool (and does not replay), until the reporter has read and trimmed what every
 * group acknowledged. A stream may overshoot by about a second of clicks.
 */
static void
ngx_http_linkreport_stream_check(ngx_http_linkreport_spool_t *sp, redisAsyncContext *ac)
{
    ngx_str_t  *stream = &sp->lmcf->stream;

    if (sp->lmcf->stream_maxlen == 0 || sp->xlen_pending
        || ngx_current_msec - sp->xlen_asked < NGX_HTTP_LINKREPORT_XLEN_EVERY)
    {
        return;
    }

    sp->xlen_asked = ngx_current_msec;

    if (redisAsyncCommand(ac, ngx_http_linkreport_stream_length, sp, "XLEN %b",
                          stream->data, stream->len)
        == REDIS_OK)
    {
        sp->xlen_pending = 1;
    }
}


ngx_uint_t
ngx_http_linkreport_spool_stream_full(ngx_http_linkreport_main_conf_t *lmcf)
{
    return lmcf->spool ? lmcf->spool->stream_full : 0;
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

        ngx_http_linkreport_stream_check(sp, ac);

        if (sp->active_size > 0) {
            ngx_http_linkreport_spool_rotate(sp);
        }

        if (sp->replay_fd == NGX_INVALID_FILE && !sp->stream_full) {
            /* also picks up what a crashed or replaced worker left behind */
            ngx_http_linkreport_spool_scan(sp, 1, 1);
        }

        if (sp->replay_fd != NGX_INVALID_FILE && !sp->stream_full) {
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
