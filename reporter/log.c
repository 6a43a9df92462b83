/* log: one structured line per event (logfmt, JSON or text) for the daemons. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"
#include "validate.h"

static enum lr_log_format current = LR_LOG_PLAIN;

static const char *const level_names[] = {"info", "warn", "error"};

bool lr_log_parse_format(const char *name, enum lr_log_format *out)
{
	if (strcmp(name, "logfmt") == 0)
		*out = LR_LOG_LOGFMT;
	else if (strcmp(name, "json") == 0)
		*out = LR_LOG_JSON;
	else if (strcmp(name, "text") == 0)
		*out = LR_LOG_TEXT;
	else
		return false;
	return true;
}

enum lr_log_format lr_log_format(void)
{
	return current;
}

/* lr_err's lines (PostgreSQL and Redis failures, deep in db.c and redis_conn.c) become
 * error events, with the message as one escaped field. */
static void log_error_line(const char *message)
{
	struct lr_log l;
	lr_log_begin(&l, LR_ERROR, "error");
	lr_log_str(&l, "msg", message);
	lr_log_end(&l);
}

void lr_log_set_format(enum lr_log_format format)
{
	current = format;
	lr_err_hook = format == LR_LOG_LOGFMT || format == LR_LOG_JSON ? log_error_line : NULL;
}

/* Bytes that need no quotes in logfmt. */
static bool bare(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("-._:/@+,%", c));
}

size_t lr_log_escape(char *out, size_t size, const char *value, bool json)
{
	size_t n = 0, len = strlen(value);
	bool quote = json || len == 0;
	for (size_t i = 0; i < len && !quote; i++)
		quote = !bare((unsigned char)value[i]);
	/* Valid UTF-8 passes as it is; otherwise every byte above 0x7f is escaped, so the
	 * line stays valid UTF-8 (and valid JSON). */
	bool utf8 = lr_utf8_valid(value, len);
#define PUT(c) do { if (n + 1 < size) out[n] = (c); n++; } while (0)
	if (quote)
		PUT('"');
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)value[i];
		if (c == '"' || c == '\\') {
			PUT('\\');
			PUT((char)c);
		} else if (c == '\n') {
			PUT('\\');
			PUT('n');
		} else if (c == '\r') {
			PUT('\\');
			PUT('r');
		} else if (c == '\t') {
			PUT('\\');
			PUT('t');
		} else if (c < 0x20 || c == 0x7f || (c >= 0x80 && !utf8)) {
			char hex[8];
			snprintf(hex, sizeof hex, "\\u%04x", c);
			for (char *h = hex; *h; h++)
				PUT(*h);
		} else {
			PUT((char)c);
		}
	}
	if (quote)
		PUT('"');
#undef PUT
	if (size)
		out[n < size ? n : size - 1] = '\0';
	return n;
}

/* Room kept at the end of the buffer for the truncation mark and the line end. */
#define TAIL 40

static void append(struct lr_log *l, const char *s, size_t n)
{
	if (l->truncated || l->len + n + TAIL > sizeof l->buf) {
		l->truncated = true;
		return;
	}
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

static void append_field(struct lr_log *l, const char *key, const char *escaped, size_t n)
{
	if (l->truncated || l->len + strlen(key) + n + 8 + TAIL > sizeof l->buf) {
		l->truncated = true; /* a whole field or none: never half a value */
		return;
	}
	const char *before = l->json ? (l->first ? "\"" : ",\"") : (l->first ? "" : " ");
	append(l, before, strlen(before));
	append(l, key, strlen(key));
	append(l, l->json ? "\":" : "=", l->json ? 2 : 1);
	append(l, escaped, n);
	l->first = false;
}

void lr_log_begin(struct lr_log *l, enum lr_log_level level, const char *event)
{
	l->len = 0;
	l->truncated = false;
	l->json = current == LR_LOG_JSON;
	l->first = true;
	if (current == LR_LOG_PLAIN)
		return;
	if (current == LR_LOG_TEXT) {
		append(l, "linkreport: ", 12);
		append(l, event, strlen(event));
		l->first = false;
		if (level != LR_INFO)
			lr_log_str(l, "level", level_names[level]);
		return;
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char stamp[40];
	size_t n = strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(stamp + n, sizeof stamp - n, ".%03ldZ", ts.tv_nsec / 1000000);
	if (l->json)
		append(l, "{", 1);
	lr_log_str(l, "ts", stamp);
	lr_log_str(l, "level", level_names[level]);
	lr_log_str(l, "event", event);
}

void lr_log_str(struct lr_log *l, const char *key, const char *value)
{
	if (current == LR_LOG_PLAIN || l->truncated)
		return;
	if (!value)
		value = "";
	size_t used = l->len + strlen(key) + 8 + TAIL;
	size_t room = used < sizeof l->buf ? sizeof l->buf - used : 0;
	char *escaped = lr_xmalloc(room + 1);
	size_t need = lr_log_escape(escaped, room + 1, value, l->json);
	bool cut_short = need > room;
	if (cut_short) {
		/* Too long for the line: the value's head (at most 6 bytes per escaped byte, cut
		 * on a UTF-8 boundary), then the truncation mark. */
		size_t cut = room / 6;
		while (cut > 0 && ((unsigned char)value[cut] & 0xc0) == 0x80)
			cut--;
		char *head = lr_xmalloc(cut + 1);
		memcpy(head, value, cut);
		head[cut] = '\0';
		need = lr_log_escape(escaped, room + 1, head, l->json);
		free(head);
	}
	append_field(l, key, escaped, need);
	l->truncated = l->truncated || cut_short;
	free(escaped);
}

void lr_log_int(struct lr_log *l, const char *key, long long value)
{
	if (current == LR_LOG_PLAIN)
		return;
	char num[24];
	int n = snprintf(num, sizeof num, "%lld", value);
	append_field(l, key, num, (size_t)n);
}

void lr_log_end(struct lr_log *l)
{
	if (current == LR_LOG_PLAIN)
		return;
	/* TAIL bytes are always free here */
	if (l->truncated) {
		const char *mark = l->json ? ",\"truncated\":true" : " truncated=true";
		memcpy(l->buf + l->len, mark, strlen(mark));
		l->len += strlen(mark);
	}
	if (l->json)
		l->buf[l->len++] = '}';
	l->buf[l->len++] = '\n';
	/* One write: lines of concurrent writers (several reporters on one journal) stay whole. */
	ssize_t w = write(STDERR_FILENO, l->buf, l->len);
	(void)w;
}
