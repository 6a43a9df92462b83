#include "mime.h"

#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "util.h"

static bool needs_encoding(const char *s)
{
	size_t len = strlen(s);
	if (len > 60)
		return true; /* encoded-words fold cleanly; plain text would need word folding */
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p >= 0x7f || *p < 0x20)
			return true;
	/* Text that looks like an encoded-word must not be read as one. */
	return strstr(s, "=?") != NULL;
}

void lr_mime_subject(FILE *out, const char *subject)
{
	if (!needs_encoding(subject)) {
		fprintf(out, "Subject: %s\r\n", subject);
		return;
	}
	/* "=?UTF-8?B?" + base64 + "?=": 39 input bytes -> 52 characters, 64 with the
	 * delimiters, 73 after "Subject: "; never split inside a UTF-8 sequence. */
	fputs("Subject:", out);
	const unsigned char *p = (const unsigned char *)subject;
	size_t left = strlen(subject);
	bool first = true;
	while (left > 0) {
		size_t n = left < 39 ? left : 39;
		while (n < left && n > 0 && (p[n] & 0xc0) == 0x80)
			n--; /* p[n] continues a character: end the chunk before it starts */
		if (n == 0)
			n = left < 39 ? left : 39;
		char enc[64];
		lr_base64(p, n, enc, 0);
		fprintf(out, "%s=?UTF-8?B?%s?=", first ? " " : "\r\n ", enc);
		first = false;
		p += n;
		left -= n;
	}
	fputs("\r\n", out);
}

/* Base64 in lines of 76 characters (57 input bytes each), CRLF after each. */
static void base64_lines(FILE *out, const unsigned char *data, size_t len)
{
	char line[80];
	for (size_t i = 0; i < len; i += 57) {
		size_t n = len - i < 57 ? len - i : 57;
		lr_base64(data + i, n, line, 0);
		fputs(line, out);
		fputs("\r\n", out);
	}
}

/* Text with LF line ends turned into CRLF before encoding. */
static void text_part(FILE *out, const char *boundary, const char *type, const char *text)
{
	fprintf(out, "--%s\r\nContent-Type: %s; charset=utf-8\r\n"
		     "Content-Transfer-Encoding: base64\r\n\r\n", boundary, type);
	size_t len = strlen(text), extra = 0;
	for (size_t i = 0; i < len; i++)
		if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r'))
			extra++;
	unsigned char *crlf = lr_xmalloc(len + extra + 1);
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r'))
			crlf[o++] = '\r';
		crlf[o++] = (unsigned char)text[i];
	}
	base64_lines(out, crlf, o);
	free(crlf);
}

static void format_date(time_t t, char *buf, size_t size)
{
	static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	struct tm tm;
	gmtime_r(&t, &tm);
	/* Fixed English names: strftime's %a/%b would follow the locale. */
	snprintf(buf, size, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday], tm.tm_mday,
		 months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

bool lr_mime_write(FILE *out, const struct lr_mime *m)
{
	char rnd[25];
	if (!lr_random_base62(rnd, 24))
		return false;
	char mixed[64], alt[64], date[64];
	snprintf(mixed, sizeof mixed, "=_mixed_%s", rnd);
	snprintf(alt, sizeof alt, "=_alt_%s", rnd);
	format_date(m->date, date, sizeof date);

	fprintf(out, "Date: %s\r\n", date);
	fprintf(out, "From: <%s>\r\n", m->from);
	fprintf(out, "To: <%s>\r\n", m->to);
	fprintf(out, "Message-ID: <%s>\r\n", m->message_id);
	lr_mime_subject(out, m->subject);
	fputs("MIME-Version: 1.0\r\n", out);
	fputs("Auto-Submitted: auto-generated\r\n", out);
	fprintf(out, "Content-Type: multipart/mixed; boundary=\"%s\"\r\n\r\n", mixed);
	fputs("This is a multi-part message in MIME format.\r\n", out);

	fprintf(out, "--%s\r\nContent-Type: multipart/alternative; boundary=\"%s\"\r\n\r\n", mixed,
		alt);
	text_part(out, alt, "text/plain", m->text);
	text_part(out, alt, "text/html", m->html);
	fprintf(out, "--%s--\r\n", alt);

	bool ok = true;
	if (m->attach_path) {
		fprintf(out, "--%s\r\nContent-Type: %s;\r\n name=\"%s\"\r\n"
			     "Content-Disposition: attachment;\r\n filename=\"%s\"\r\n"
			     "Content-Transfer-Encoding: base64\r\n\r\n",
			mixed, m->attach_type, m->attach_name, m->attach_name);
		FILE *in = fopen(m->attach_path, "rb");
		if (!in) {
			ok = false;
		} else {
			/* 57 * 64 input bytes at a time: whole lines, constant memory. */
			unsigned char buf[57 * 64];
			size_t n;
			while ((n = fread(buf, 1, sizeof buf, in)) > 0)
				base64_lines(out, buf, n);
			if (ferror(in))
				ok = false;
			fclose(in);
		}
	}
	fprintf(out, "--%s--\r\n", mixed);
	return ok && fflush(out) == 0 && !ferror(out);
}
