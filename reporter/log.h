#ifndef LR_LOG_H
#define LR_LOG_H

#include <stdbool.h>
#include <stddef.h>

/* Structured log lines of the daemons (run, drain, schedule without --once): one line per
 * event on stderr, written with one write(2). Every value is escaped, so no value (a
 * stream key, an SMTP reply, a PostgreSQL message) can start a line or add a field. */
enum lr_log_format {
	LR_LOG_PLAIN,  /* not a daemon: lr_err lines as they always were, no events */
	LR_LOG_LOGFMT, /* ts=... level=info event=batch_stored count=500 ms=12 */
	LR_LOG_JSON,   /* {"ts":"...","level":"info","event":"batch_stored","count":500} */
	LR_LOG_TEXT,   /* linkreport: batch_stored count=500 ms=12; errors as lr_err prints */
};
enum lr_log_level { LR_INFO, LR_WARN, LR_ERROR };

/* "logfmt", "json" or "text"; false for anything else. */
bool lr_log_parse_format(const char *name, enum lr_log_format *out);

/* From now on events are written in `format`, and lr_err lines become error events. */
void lr_log_set_format(enum lr_log_format format);
enum lr_log_format lr_log_format(void);

/* One line being built: begin, add fields, end. Nothing is written in LR_LOG_PLAIN. */
struct lr_log {
	char buf[4096];
	size_t len;
	bool truncated;
	bool json;
	bool first; /* no field yet: no separator before the next */
};
void lr_log_begin(struct lr_log *l, enum lr_log_level level, const char *event);
void lr_log_str(struct lr_log *l, const char *key, const char *value);
void lr_log_int(struct lr_log *l, const char *key, long long value);
void lr_log_end(struct lr_log *l);

/* Escapes `value` for logfmt (quoted only when needed) into out; returns the length it
 * needs (like snprintf). For the tests' sake it is public. */
size_t lr_log_escape(char *out, size_t size, const char *value, bool json);

#endif
