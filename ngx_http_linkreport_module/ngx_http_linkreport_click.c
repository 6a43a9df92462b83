#include "ngx_http_linkreport_click.h"
#include "ngx_http_linkreport_geo.h"
#include "ngx_http_linkreport_spool.h"
#include "ngx_http_linkreport_status.h"

#include <sys/random.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif


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


/*
 * The record travels as ONE stream field, "record", holding a format version and the
 * values in the order of docs/data-contract.md, separated by TAB. Redis spends about a
 * fifth of the instructions on a one-field XADD that it spends on 25 field/value pairs
 * (callgrind: 8.4k against 42k per entry), and a campaign burst lands on that one
 * Redis. Inside a value, backslash, TAB, LF and CR are written \\, \t, \n, \r.
 */
#define NGX_HTTP_LINKREPORT_RECORD_VERSION  "2"

enum {
    NGX_HTTP_LINKREPORT_V_CLICK_ID = 0,
    NGX_HTTP_LINKREPORT_V_CODE,
    NGX_HTTP_LINKREPORT_V_RECIPIENT,
    NGX_HTTP_LINKREPORT_V_SHORT_URL,
    NGX_HTTP_LINKREPORT_V_TXTLY_ID,
    NGX_HTTP_LINKREPORT_V_MOBILE_NUMBER,
    NGX_HTTP_LINKREPORT_V_CLIENT_IP,
    NGX_HTTP_LINKREPORT_V_BROWSER,
    NGX_HTTP_LINKREPORT_V_PLATFORM,
    NGX_HTTP_LINKREPORT_V_PLATFORM_VERSION,
    NGX_HTTP_LINKREPORT_V_ENGINE,
    NGX_HTTP_LINKREPORT_V_COUNTRY,
    NGX_HTTP_LINKREPORT_V_CITY,
    NGX_HTTP_LINKREPORT_V_VISITED_ON,
    NGX_HTTP_LINKREPORT_V_DEVICE_TYPE,
    NGX_HTTP_LINKREPORT_V_CREATED_ON,
    NGX_HTTP_LINKREPORT_V_LONG_URL,
    NGX_HTTP_LINKREPORT_V_CHANNEL,
    NGX_HTTP_LINKREPORT_V_MESSAGE_ID,
    NGX_HTTP_LINKREPORT_V_COMPANY_ID,
    NGX_HTTP_LINKREPORT_V_CAMPAIGN_NAME,
    NGX_HTTP_LINKREPORT_V_TEMPLATE_ID,
    NGX_HTTP_LINKREPORT_V_USER_AGENT,
    NGX_HTTP_LINKREPORT_V_METHOD,
    NGX_HTTP_LINKREPORT_V_NON_HUMAN,
    NGX_HTTP_LINKREPORT_V_COUNT
};


/* values that never hold a byte to escape: ids, codes and tokens checked on the way
 * in, numbers, addresses, the method and the verdicts */
#define NGX_HTTP_LINKREPORT_V_PLAIN                                              \
    ((1 << NGX_HTTP_LINKREPORT_V_CLICK_ID) | (1 << NGX_HTTP_LINKREPORT_V_CODE)    \
     | (1 << NGX_HTTP_LINKREPORT_V_RECIPIENT) | (1 << NGX_HTTP_LINKREPORT_V_CLIENT_IP) \
     | (1 << NGX_HTTP_LINKREPORT_V_VISITED_ON) | (1 << NGX_HTTP_LINKREPORT_V_METHOD) \
     | (1 << NGX_HTTP_LINKREPORT_V_NON_HUMAN))


static ngx_inline uint64_t
ngx_http_linkreport_load8(const u_char *p)
{
    uint64_t  w;

    ngx_memcpy(&w, p, 8);

    return w;
}


static ngx_inline uint32_t
ngx_http_linkreport_load4(const u_char *p)
{
    uint32_t  w;

    ngx_memcpy(&w, p, 4);

    return w;
}


/*
 * Most values are short (a city, a version, an id): copied with two overlapping loads
 * and stores instead of a call to memcpy each.
 */
static ngx_inline u_char *
ngx_http_linkreport_copy(u_char *p, const u_char *s, size_t n)
{
    uint64_t  a, b;
    uint32_t  x, y;

    if (n > 16) {
        return ngx_cpymem(p, s, n);
    }

    if (n >= 8) {
        a = ngx_http_linkreport_load8(s);
        b = ngx_http_linkreport_load8(s + n - 8);
        ngx_memcpy(p, &a, 8);
        ngx_memcpy(p + n - 8, &b, 8);

    } else if (n >= 4) {
        x = ngx_http_linkreport_load4(s);
        y = ngx_http_linkreport_load4(s + n - 4);
        ngx_memcpy(p, &x, 4);
        ngx_memcpy(p + n - 4, &y, 4);

    } else {
        for (a = 0; a < n; a++) {
            p[a] = s[a];
        }
    }

    return p + n;
}


/*
 * Not 0 when a byte of w is below 0x20 or a backslash (the bytes a value may need
 * escaped). Exact as to whether there is one; which one is left to the byte loop.
 */
static ngx_inline uint64_t
ngx_http_linkreport_special8(uint64_t w)
{
    uint64_t  bs = w ^ 0x5c5c5c5c5c5c5c5cULL;

    return (((w - 0x2020202020202020ULL) & ~w)
            | ((bs - 0x0101010101010101ULL) & ~bs))
           & 0x8080808080808080ULL;
}


/*
 * Extra bytes the escapes of v need. Nearly every value has none: a first pass looks
 * for "a control byte or a backslash" 16 bytes a step (SSE2, on every x86-64), then 8
 * (what is left, and the many values under 16 bytes), and only a value where one turns
 * up is counted exactly.
 */
static ngx_inline size_t
ngx_http_linkreport_escapes(ngx_str_t *v)
{
    size_t     n;
    u_char    *c, *end;
    uint64_t   w;

    c = v->data;
    end = c + v->len;

#if defined(__SSE2__)
    {
        const __m128i  ctl = _mm_set1_epi8(0x1f), bs = _mm_set1_epi8('\\');
        const __m128i  zero = _mm_setzero_si128();
        __m128i        x, hit;

        while (end - c >= 16) {
            x = _mm_loadu_si128((const __m128i *) c);
            /* x <= 0x1f exactly where the saturated x - 0x1f is 0 */
            hit = _mm_or_si128(_mm_cmpeq_epi8(_mm_subs_epu8(x, ctl), zero),
                               _mm_cmpeq_epi8(x, bs));
            if (_mm_movemask_epi8(hit)) {
                goto count;
            }

            /* the last step overlaps the one before rather than leave a tail */
            c = (end - c >= 32 || end - c == 16) ? c + 16 : end - 16;
        }
    }
#endif

    /* what is left (all of a value under 16 bytes) eight bytes at a time */
    for ( /* void */ ; end - c >= 8; c += 8) {
        if (ngx_http_linkreport_special8(ngx_http_linkreport_load8(c))) {
            goto count;
        }
    }

    if (v->len >= 8) {
        /* the last eight bytes of the value, overlapping the ones seen */
        w = (c < end) ? ngx_http_linkreport_load8(end - 8) : 0x2020202020202020ULL;

    } else if (end - c >= 4) {
        w = ngx_http_linkreport_load4(c)
            | (uint64_t) ngx_http_linkreport_load4(end - 4) << 32;

    } else {
        for ( /* void */ ; c < end; c++) {
            if (*c < 0x20 || *c == '\\') {
                goto count;
            }
        }

        return 0;
    }

    if (!ngx_http_linkreport_special8(w)) {
        return 0;
    }

count:

    n = 0;

    for (c = v->data; c < end; c++) {
        if (*c == '\\' || *c == '\t' || *c == '\n' || *c == '\r') {
            n++;
        }
    }

    return n;
}


static u_char *
ngx_http_linkreport_escape(u_char *p, ngx_str_t *v)
{
    u_char  *c, *end;

    for (c = v->data, end = c + v->len; c < end; c++) {
        switch (*c) {
        case '\\':
            *p++ = '\\';
            *p++ = '\\';
            break;
        case '\t':
            *p++ = '\\';
            *p++ = 't';
            break;
        case '\n':
            *p++ = '\\';
            *p++ = 'n';
            break;
        case '\r':
            *p++ = '\\';
            *p++ = 'r';
            break;
        default:
            *p++ = *c;
        }
    }

    return p;
}


/* {version}\t{v0}\t{v1}..., straight into the cycle's batch */
static ngx_int_t
ngx_http_linkreport_record_format(ngx_http_linkreport_main_conf_t *lmcf, ngx_str_t *v)
{
    int      i;
    size_t   record_len, escapes[NGX_HTTP_LINKREPORT_V_COUNT];
    u_char  *p;

    record_len = sizeof(NGX_HTTP_LINKREPORT_RECORD_VERSION) - 1;

    for (i = 0; i < NGX_HTTP_LINKREPORT_V_COUNT; i++) {
        escapes[i] = (v[i].len && !(NGX_HTTP_LINKREPORT_V_PLAIN & (1 << i)))
                     ? ngx_http_linkreport_escapes(&v[i]) : 0;
        record_len += 1 + v[i].len + escapes[i];
    }

    p = ngx_http_linkreport_batch_record(lmcf, record_len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(p, NGX_HTTP_LINKREPORT_RECORD_VERSION,
                   sizeof(NGX_HTTP_LINKREPORT_RECORD_VERSION) - 1);

    for (i = 0; i < NGX_HTTP_LINKREPORT_V_COUNT; i++) {
        *p++ = '\t';
        p = escapes[i] ? ngx_http_linkreport_escape(p, &v[i])
                       : ngx_http_linkreport_copy(p, v[i].data, v[i].len);
    }

    return NGX_OK;
}


static ngx_inline void
ngx_http_linkreport_value(ngx_str_t *v, const char *s)
{
    v->data = (u_char *) s;
    v->len = ngx_strlen(s);
}


ngx_int_t
ngx_http_linkreport_click_format(ngx_http_request_t *r,
    ngx_http_linkreport_main_conf_t *lmcf, ngx_http_linkreport_link_t *link,
    ngx_str_t *click_id)
{
    u_char                      *p, *id, *visited, *short_url;
    size_t                       ua_len;
    const char                  *non_human;
    uint64_t                     ms;
    ngx_str_t                   *f, mobile, message_id, country, city;
    ngx_time_t                  *tp;
    lr_ua_result_t               ua;
    ngx_table_elt_t             *ua_header;
    ngx_str_t                    v[NGX_HTTP_LINKREPORT_V_COUNT];

    f = link->field;

    id = ngx_pnalloc(r->pool, 32 + NGX_INT64_LEN + f[NGX_HTTP_LINKREPORT_SHORT_URL].len
                                  + 1 + link->recipient.len);
    if (id == NULL) {
        return NGX_ERROR;
    }

    tp = ngx_timeofday();
    ms = (uint64_t) tp->sec * 1000 + tp->msec;

    visited = ngx_http_linkreport_click_id(id, ms);
    click_id->data = id;
    click_id->len = 32;
    p = ngx_http_linkreport_decimal(visited, ms);

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

    if (!lr_ua_classify_cached(lmcf->ua, lmcf->ua_cache,
                               ua_header ? (const char *) ua_header->value.data : NULL,
                               ua_len, &ua)
        && ua_len > 0)
    {
        /* counted: a working set the cache does not hold shows on the status page */
        ngx_http_linkreport_count(lmcf, ua_classified);
    }
    non_human = ngx_http_linkreport_non_human(r, &ua);

    ngx_http_linkreport_geo_lookup(lmcf->geo, (const char *) lmcf->geo_language.data,
                                   r->connection->sockaddr, &country, &city,
                                   r->connection->log);

    v[NGX_HTTP_LINKREPORT_V_CLICK_ID].data = id;
    v[NGX_HTTP_LINKREPORT_V_CLICK_ID].len = 32;
    v[NGX_HTTP_LINKREPORT_V_CODE] = link->code;
    v[NGX_HTTP_LINKREPORT_V_RECIPIENT] = link->recipient;
    v[NGX_HTTP_LINKREPORT_V_SHORT_URL].data = short_url;
    v[NGX_HTTP_LINKREPORT_V_SHORT_URL].len = p - short_url;
    v[NGX_HTTP_LINKREPORT_V_TXTLY_ID] = f[NGX_HTTP_LINKREPORT_TXTLY_ID];
    v[NGX_HTTP_LINKREPORT_V_MOBILE_NUMBER] = mobile;
    v[NGX_HTTP_LINKREPORT_V_CLIENT_IP] = r->connection->addr_text;
    ngx_http_linkreport_value(&v[NGX_HTTP_LINKREPORT_V_BROWSER], ua.browser);
    ngx_http_linkreport_value(&v[NGX_HTTP_LINKREPORT_V_PLATFORM], ua.platform);
    ngx_http_linkreport_value(&v[NGX_HTTP_LINKREPORT_V_PLATFORM_VERSION],
                              ua.platform_version);
    ngx_http_linkreport_value(&v[NGX_HTTP_LINKREPORT_V_ENGINE], ua.engine);
    v[NGX_HTTP_LINKREPORT_V_COUNTRY] = country;
    v[NGX_HTTP_LINKREPORT_V_CITY] = city;
    v[NGX_HTTP_LINKREPORT_V_VISITED_ON].data = visited;
    v[NGX_HTTP_LINKREPORT_V_VISITED_ON].len = short_url - visited;
    ngx_http_linkreport_value(&v[NGX_HTTP_LINKREPORT_V_DEVICE_TYPE], ua.device_type);
    v[NGX_HTTP_LINKREPORT_V_CREATED_ON] = f[NGX_HTTP_LINKREPORT_CREATED_ON];
    v[NGX_HTTP_LINKREPORT_V_LONG_URL] = f[NGX_HTTP_LINKREPORT_LONG_URL];
    v[NGX_HTTP_LINKREPORT_V_CHANNEL] = f[NGX_HTTP_LINKREPORT_CHANNEL];
    v[NGX_HTTP_LINKREPORT_V_MESSAGE_ID] = message_id;
    v[NGX_HTTP_LINKREPORT_V_COMPANY_ID] = f[NGX_HTTP_LINKREPORT_COMPANY_ID];
    v[NGX_HTTP_LINKREPORT_V_CAMPAIGN_NAME] = f[NGX_HTTP_LINKREPORT_CAMPAIGN_NAME];
    v[NGX_HTTP_LINKREPORT_V_TEMPLATE_ID] = f[NGX_HTTP_LINKREPORT_TEMPLATE_ID];
    v[NGX_HTTP_LINKREPORT_V_USER_AGENT].data = ua_header ? ua_header->value.data : NULL;
    v[NGX_HTTP_LINKREPORT_V_USER_AGENT].len = ua_len;
    v[NGX_HTTP_LINKREPORT_V_METHOD] = r->method_name;
    ngx_http_linkreport_value(&v[NGX_HTTP_LINKREPORT_V_NON_HUMAN], non_human);

    return ngx_http_linkreport_record_format(lmcf, v);
}
