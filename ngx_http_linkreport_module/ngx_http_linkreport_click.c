#include "ngx_http_linkreport_click.h"
#include "ngx_http_linkreport_geo.h"

#include <sys/random.h>


#define NGX_HTTP_LINKREPORT_UA_RECORD_MAX  2048


ngx_str_t  ngx_http_linkreport_link_field_names[] = {
    ngx_string("long_url"),
    ngx_string("short_url"),
    ngx_string("txtly_id"),
    ngx_string("company_id"),
    ngx_string("campaign_name"),
    ngx_string("template_id"),
    ngx_string("channel"),
    ngx_string("message_id"),
    ngx_string("created_on"),
    ngx_string("r:"),
    ngx_null_string
};


/* click id = 48-bit ms time | 48-bit per-worker random | 32-bit per-worker counter */
static u_char    ngx_http_linkreport_click_seed[6];
static uint32_t  ngx_http_linkreport_click_seq;


ngx_int_t
ngx_http_linkreport_click_init(ngx_log_t *log)
{
    if (getrandom(ngx_http_linkreport_click_seed,
                  sizeof(ngx_http_linkreport_click_seed), 0)
        != (ssize_t) sizeof(ngx_http_linkreport_click_seed))
    {
        ngx_log_error(NGX_LOG_EMERG, log, ngx_errno,
                      "linkreport: getrandom() failed");
        return NGX_ERROR;
    }

    ngx_http_linkreport_click_seq = 0;

    return NGX_OK;
}


static u_char *
ngx_http_linkreport_click_id(u_char *p, uint64_t ms)
{
    u_char  raw[16];

    raw[0] = (u_char) (ms >> 40);
    raw[1] = (u_char) (ms >> 32);
    raw[2] = (u_char) (ms >> 24);
    raw[3] = (u_char) (ms >> 16);
    raw[4] = (u_char) (ms >> 8);
    raw[5] = (u_char) ms;
    ngx_memcpy(&raw[6], ngx_http_linkreport_click_seed, 6);
    ngx_http_linkreport_click_seq++;
    raw[12] = (u_char) (ngx_http_linkreport_click_seq >> 24);
    raw[13] = (u_char) (ngx_http_linkreport_click_seq >> 16);
    raw[14] = (u_char) (ngx_http_linkreport_click_seq >> 8);
    raw[15] = (u_char) ngx_http_linkreport_click_seq;

    return ngx_hex_dump(p, raw, sizeof(raw));
}


/*
 * A browser that fetches a page before anyone asked for it says so: Chrome's
 * speculation rules "Sec-Purpose: prefetch" (or "prefetch;prerender"), older Chrome
 * "Purpose: prefetch", Firefox "X-Moz: prefetch", Safari "X-Purpose: preview".
 */
static ngx_flag_t
ngx_http_linkreport_is_prefetch(ngx_http_request_t *r)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    static ngx_str_t  names[] = {
        ngx_string("Sec-Purpose"), ngx_string("Purpose"), ngx_string("X-Purpose"),
        ngx_string("X-Moz"), ngx_null_string
    };

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return 0;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        for (ngx_str_t *n = names; n->len; n++) {
            if (h[i].key.len == n->len
                && ngx_strncasecmp(h[i].key.data, n->data, n->len) == 0
                && (ngx_strlcasestrn(h[i].value.data, h[i].value.data + h[i].value.len,
                                     (u_char *) "prefetch", 8 - 1)
                    || ngx_strlcasestrn(h[i].value.data,
                                        h[i].value.data + h[i].value.len,
                                        (u_char *) "prerender", 9 - 1)
                    || ngx_strlcasestrn(h[i].value.data,
                                        h[i].value.data + h[i].value.len,
                                        (u_char *) "preview", 7 - 1)))
            {
                return 1;
            }
        }
    }
}


/* why this tap is not a person's, "" when it is; the user agent's verdict wins */
static const char *
ngx_http_linkreport_non_human(ngx_http_request_t *r, lr_ua_result_t *ua)
{
    if (ua->non_human[0] != '\0') {
        return ua->non_human;
    }

    if (r->method == NGX_HTTP_HEAD) {
        return "head";
    }

    if (ngx_http_linkreport_is_prefetch(r)) {
        return "prefetch";
    }

    return "";
}


typedef struct {
    const char  *argv[64];
    size_t       argvlen[64];
    int          argc;
} ngx_http_linkreport_argv_t;


static void
ngx_http_linkreport_arg(ngx_http_linkreport_argv_t *a, const char *name,
    u_char *data, size_t len)
{
    a->argv[a->argc] = name;
    a->argvlen[a->argc] = ngx_strlen(name);
    a->argv[a->argc + 1] = data ? (const char *) data : "";
    a->argvlen[a->argc + 1] = data ? len : 0;
    a->argc += 2;
}


#define ngx_http_linkreport_arg_str(a, name, s)                                  \
    ngx_http_linkreport_arg(a, name, (s)->data, (s)->len)


/* "{prefix}{n}\r\n" with the digits written by hand: see resp_format */
static u_char *
ngx_http_linkreport_resp_len(u_char *p, u_char prefix, size_t n)
{
    u_char   digits[NGX_SIZE_T_LEN];
    u_char  *d = digits + sizeof(digits);

    do {
        *--d = (u_char) ('0' + n % 10);
        n /= 10;
    } while (n);

    *p++ = prefix;
    p = ngx_cpymem(p, d, digits + sizeof(digits) - d);
    *p++ = '\r';
    *p++ = '\n';

    return p;
}


/*
 * The command in Redis's protocol, as redisFormatCommandArgv() would write it.
 * hiredis formats every length with sprintf(): with the record's 50-odd arguments
 * that was half of all the instructions an nginx worker spent per tap (callgrind).
 */
static int
ngx_http_linkreport_resp_format(char **cmd, ngx_http_linkreport_argv_t *a)
{
    int      i;
    u_char  *p, *start;
    size_t   total;

    total = 1 + NGX_SIZE_T_LEN + 2;

    for (i = 0; i < a->argc; i++) {
        total += 1 + NGX_SIZE_T_LEN + 2 + a->argvlen[i] + 2;
    }

    start = malloc(total);
    if (start == NULL) {
        return -1;
    }

    p = ngx_http_linkreport_resp_len(start, '*', (size_t) a->argc);

    for (i = 0; i < a->argc; i++) {
        p = ngx_http_linkreport_resp_len(p, '$', a->argvlen[i]);
        p = ngx_cpymem(p, a->argv[i], a->argvlen[i]);
        *p++ = '\r';
        *p++ = '\n';
    }

    *cmd = (char *) start;

    return (int) (p - start);
}


int
ngx_http_linkreport_click_format(ngx_http_request_t *r,
    ngx_http_linkreport_main_conf_t *lmcf, ngx_http_linkreport_link_t *link,
    char **cmd, ngx_str_t *click_id)
{
    u_char                      *p, *id, *visited, *short_url;
    size_t                       ua_len;
    const char                  *non_human;
    uint64_t                     ms;
    ngx_str_t                   *f, mobile, message_id, country, city;
    ngx_time_t                  *tp;
    lr_ua_result_t               ua;
    ngx_table_elt_t             *ua_header;
    ngx_http_linkreport_argv_t   a;

    f = link->field;

    id = ngx_pnalloc(r->pool, 32 + NGX_INT64_LEN + f[NGX_HTTP_LINKREPORT_SHORT_URL].len
                                  + 1 + link->recipient.len);
    if (id == NULL) {
        return -1;
    }

    tp = ngx_timeofday();
    ms = (uint64_t) tp->sec * 1000 + tp->msec;

    visited = ngx_http_linkreport_click_id(id, ms);
    click_id->data = id;
    click_id->len = 32;
    p = ngx_sprintf(visited, "%uL", ms);

    short_url = p;
    p = ngx_cpymem(p, f[NGX_HTTP_LINKREPORT_SHORT_URL].data,
                   f[NGX_HTTP_LINKREPORT_SHORT_URL].len);

    /* a recipient's value is "{mobile}\t{message id}"; its message id wins if set */
    ngx_str_null(&mobile);
    message_id = f[NGX_HTTP_LINKREPORT_MESSAGE_ID];

    if (link->recipient.len) {
        *p++ = '/';
        p = ngx_cpymem(p, link->recipient.data, link->recipient.len);

        mobile = f[NGX_HTTP_LINKREPORT_RECIPIENT];
        u_char *tab = ngx_strlchr(mobile.data, mobile.data + mobile.len, '\t');
        if (tab) {
            if (tab + 1 < mobile.data + mobile.len) {
                message_id.data = tab + 1;
                message_id.len = mobile.data + mobile.len - (tab + 1);
            }
            mobile.len = tab - mobile.data;
        }
    }

    ua_header = r->headers_in.user_agent;
    ua_len = 0;

    if (ua_header) {
        ua_len = ngx_min(ua_header->value.len, NGX_HTTP_LINKREPORT_UA_RECORD_MAX);

        /* never cut a UTF-8 sequence in two: back off to its first byte */
        if (ua_len < ua_header->value.len) {
            while (ua_len > 0 && (ua_header->value.data[ua_len] & 0xc0) == 0x80) {
                ua_len--;
            }
        }
    }

    lr_ua_classify_cached(lmcf->ua, lmcf->ua_cache,
                          ua_header ? (const char *) ua_header->value.data : NULL,
                          ua_len, &ua);
    non_human = ngx_http_linkreport_non_human(r, &ua);

    ngx_http_linkreport_geo_lookup(lmcf->geo, (const char *) lmcf->geo_language.data,
                                   r->connection->sockaddr, &country, &city,
                                   r->connection->log);

    a.argc = 0;
    a.argv[a.argc] = "XADD";
    a.argvlen[a.argc++] = 4;
    a.argv[a.argc] = (const char *) lmcf->stream.data;
    a.argvlen[a.argc++] = lmcf->stream.len;
    a.argv[a.argc] = "*";
    a.argvlen[a.argc++] = 1;

    ngx_http_linkreport_arg(&a, "click_id", id, 32);
    ngx_http_linkreport_arg_str(&a, "code", &link->code);
    ngx_http_linkreport_arg_str(&a, "recipient", &link->recipient);
    ngx_http_linkreport_arg(&a, "short_url", short_url, p - short_url);
    ngx_http_linkreport_arg_str(&a, "txtly_id", &f[NGX_HTTP_LINKREPORT_TXTLY_ID]);
    ngx_http_linkreport_arg_str(&a, "mobile_number", &mobile);
    ngx_http_linkreport_arg_str(&a, "client_ip", &r->connection->addr_text);
    ngx_http_linkreport_arg(&a, "browser", (u_char *) ua.browser,
                            ngx_strlen(ua.browser));
    ngx_http_linkreport_arg(&a, "platform", (u_char *) ua.platform,
                            ngx_strlen(ua.platform));
    ngx_http_linkreport_arg(&a, "platform_version", (u_char *) ua.platform_version,
                            ngx_strlen(ua.platform_version));
    ngx_http_linkreport_arg(&a, "engine", (u_char *) ua.engine, ngx_strlen(ua.engine));
    ngx_http_linkreport_arg_str(&a, "country", &country);
    ngx_http_linkreport_arg_str(&a, "city", &city);
    ngx_http_linkreport_arg(&a, "visited_on", visited, short_url - visited);
    ngx_http_linkreport_arg(&a, "device_type", (u_char *) ua.device_type,
                            ngx_strlen(ua.device_type));
    ngx_http_linkreport_arg_str(&a, "created_on", &f[NGX_HTTP_LINKREPORT_CREATED_ON]);
    ngx_http_linkreport_arg_str(&a, "long_url", &f[NGX_HTTP_LINKREPORT_LONG_URL]);
    ngx_http_linkreport_arg_str(&a, "channel", &f[NGX_HTTP_LINKREPORT_CHANNEL]);
    ngx_http_linkreport_arg_str(&a, "message_id", &message_id);
    ngx_http_linkreport_arg_str(&a, "company_id", &f[NGX_HTTP_LINKREPORT_COMPANY_ID]);
    ngx_http_linkreport_arg_str(&a, "campaign_name",
                                &f[NGX_HTTP_LINKREPORT_CAMPAIGN_NAME]);
    ngx_http_linkreport_arg_str(&a, "template_id", &f[NGX_HTTP_LINKREPORT_TEMPLATE_ID]);
    ngx_http_linkreport_arg(&a, "user_agent",
                            ua_header ? ua_header->value.data : NULL, ua_len);
    ngx_http_linkreport_arg_str(&a, "method", &r->method_name);
    ngx_http_linkreport_arg(&a, "non_human", (u_char *) non_human,
                            ngx_strlen(non_human));

    return ngx_http_linkreport_resp_format(cmd, &a);
}
