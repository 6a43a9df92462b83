#ifndef LR_UTIL_H
#define LR_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <sysexits.h>

/* Exit codes, from sysexits.h so they mean the same as in other Unix tools:
 * EX_OK 0, EX_USAGE 64, EX_DATAERR 65, EX_UNAVAILABLE 69, EX_SOFTWARE 70. */

/* Prints "linkreport: <message>" and a newline to stderr. */
void lr_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* When set (a daemon logging structured lines, see log.c), lr_err hands it the message
 * (without the "linkreport: " prefix and newline) instead of printing. */
extern void (*lr_err_hook)(const char *message);

/* Allocation failure leaves nothing sensible to do in a short-lived CLI: report, exit 70. */
void *lr_xmalloc(size_t size);
void *lr_xcalloc(size_t n, size_t size);
void *lr_xrealloc(void *p, size_t size);
char *lr_xstrdup(const char *s);
char *lr_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Fills out[0..len) with random [A-Za-z0-9] from getrandom(2), NUL-terminates out.
 * Returns false when the kernel gives no randomness. */
bool lr_random_base62(char *out, size_t len);

/* Growable array of owned strings (for argv building and repeated options). */
struct lr_strv {
	char **items;
	size_t len, cap;
};
void lr_strv_push(struct lr_strv *v, char *owned);
void lr_strv_free(struct lr_strv *v);

#endif
