#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

void (*lr_err_hook)(const char *message);

void lr_err(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (lr_err_hook) {
		char *message = NULL;
		if (vasprintf(&message, fmt, ap) >= 0) {
			lr_err_hook(message);
			free(message);
			va_end(ap);
			return;
		}
		va_end(ap);
		va_start(ap, fmt);
	}
	fputs("linkreport: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void out_of_memory(void)
{
	lr_err("out of memory");
	exit(EX_SOFTWARE);
}

void *lr_xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);
	if (!p)
		out_of_memory();
	return p;
}

void *lr_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		out_of_memory();
	return p;
}

void *lr_xrealloc(void *p, size_t size)
{
	p = realloc(p, size ? size : 1);
	if (!p)
		out_of_memory();
	return p;
}

char *lr_xstrdup(const char *s)
{
	char *p = strdup(s);
	if (!p)
		out_of_memory();
	return p;
}

char *lr_xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		out_of_memory();
	return s;
}

bool lr_random_base62(char *out, size_t len)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	size_t filled = 0;
	while (filled < len) {
		unsigned char buf[64];
		ssize_t got = getrandom(buf, sizeof buf, 0);
		if (got <= 0)
			return false;
		for (ssize_t i = 0; i < got && filled < len; i++) {
			/* 248 = 4 * 62: rejecting the rest keeps every symbol equally likely. */
			if (buf[i] < 248)
				out[filled++] = alphabet[buf[i] % 62];
		}
	}
	out[len] = '\0';
	return true;
}

void lr_strv_push(struct lr_strv *v, char *owned)
{
	if (v->len == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 8;
		v->items = lr_xrealloc(v->items, v->cap * sizeof *v->items);
	}
	v->items[v->len++] = owned;
}

void lr_strv_free(struct lr_strv *v)
{
	for (size_t i = 0; i < v->len; i++)
		free(v->items[i]);
	free(v->items);
	v->items = NULL;
	v->len = v->cap = 0;
}
