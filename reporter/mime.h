#ifndef LR_MIME_H
#define LR_MIME_H

#include <stdbool.h>
#include <stdio.h>
#include <time.h>

/* An email as RFC 5322 + MIME: multipart/mixed holding a multipart/alternative (text and
 * HTML, UTF-8, base64) and, when attach_path is set, the file (base64). CRLF line ends,
 * no line over 76 octets in bodies, a non-ASCII or long subject as RFC 2047 encoded-words
 * folded below 78 columns. Pure apart from reading the attachment. */
struct lr_mime {
	const char *from;        /* bare address */
	const char *to;          /* bare address */
	const char *subject;     /* UTF-8 */
	const char *text;        /* UTF-8 plain text, LF line ends */
	const char *html;        /* UTF-8 HTML, LF line ends */
	const char *attach_path; /* NULL: no attachment */
	const char *attach_name; /* file name shown, [A-Za-z0-9._-] */
	const char *attach_type; /* e.g. text/csv; charset=utf-8 */
	time_t date;
	const char *message_id;  /* without angle brackets */
};

/* Writes the message to out. Returns false when the attachment cannot be read or out
 * fails. */
bool lr_mime_write(FILE *out, const struct lr_mime *m);

/* Writes "Subject: ..." with encoded-words when needed, folded, CRLF-terminated. */
void lr_mime_subject(FILE *out, const char *subject);

#endif
