#include "record.h"

#include <string.h>

size_t lr_record_count(const char *value, size_t len)
{
	size_t n = 1;
	const char *end = value + len;
	for (const char *p = value; (p = memchr(p, '\n', (size_t)(end - p))); p++)
		n++;
	return n;
}

/* *pos past len means done: after the last record, which may be empty (a trailing LF). */
bool lr_record_next(const char *value, size_t len, size_t *pos, const char **record,
		    size_t *record_len)
{
	if (*pos > len)
		return false;
	const char *start = value + *pos;
	const char *lf = memchr(start, '\n', len - *pos);
	*record = start;
	*record_len = lf ? (size_t)(lf - start) : len - *pos;
	*pos += *record_len + 1;
	return true;
}

const char *lr_record_split(char *buf, size_t len, const char **values, size_t *lens,
			    size_t max, size_t *count)
{
	const size_t vlen = sizeof LR_RECORD_VERSION - 1;
	*count = 0;
	if (len < vlen || memcmp(buf, LR_RECORD_VERSION, vlen) != 0 ||
	    (len > vlen && buf[vlen] != '\t'))
		return "record version is not " LR_RECORD_VERSION;
	/* Unescaping only shrinks, so the values are rewritten in place: out never passes in. */
	size_t in = vlen, out = vlen;
	while (in < len) {
		in++; /* the TAB before this value */
		char *value = buf + out + 1;
		size_t start = ++out;
		while (in < len && buf[in] != '\t') {
			char c = buf[in++];
			if (c == '\\') {
				if (in == len)
					return "record ends inside an escape";
				switch (buf[in++]) {
				case '\\': c = '\\'; break;
				case 't': c = '\t'; break;
				case 'n': c = '\n'; break;
				case 'r': c = '\r'; break;
				default: return "record holds an unknown escape";
				}
			}
			buf[out++] = c;
		}
		if (*count < max) {
			values[*count] = value;
			lens[*count] = out - start;
		}
		++*count;
		buf[out] = '\0'; /* overwrites the next TAB, or the buffer's spare last byte */
	}
	return NULL;
}
