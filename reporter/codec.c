#include "codec.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

void lr_base64(const unsigned char *in, size_t len, char *out, int url)
{
	const char *alphabet =
		url ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
		    : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;
	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned)in[i] << 16;
		if (i + 1 < len)
			v |= (unsigned)in[i + 1] << 8;
		if (i + 2 < len)
			v |= in[i + 2];
		out[o++] = alphabet[(v >> 18) & 63];
		out[o++] = alphabet[(v >> 12) & 63];
		if (i + 1 < len)
			out[o++] = alphabet[(v >> 6) & 63];
		else if (!url)
			out[o++] = '=';
		if (i + 2 < len)
			out[o++] = alphabet[v & 63];
		else if (!url)
			out[o++] = '=';
	}
	out[o] = '\0';
}

char *lr_percent_encode(const char *s)
{
	char *out = lr_xmalloc(strlen(s) * 3 + 1);
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		    strchr("._~@-", *p))
			out[o++] = (char)*p;
		else
			o += (size_t)sprintf(out + o, "%%%02X", *p);
	}
	out[o] = '\0';
	return out;
}

char *lr_html_escape(const char *s)
{
	char *out = lr_xmalloc(strlen(s) * 6 + 1);
	size_t o = 0;
	for (const char *p = s; *p; p++) {
		const char *rep = NULL;
		switch (*p) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&#39;"; break;
		}
		if (rep) {
			memcpy(out + o, rep, strlen(rep));
			o += strlen(rep);
		} else {
			out[o++] = *p;
		}
	}
	out[o] = '\0';
	return out;
}

int lr_md5(const void *data, size_t len, unsigned char out[16])
{
	unsigned int n = 0;
	return EVP_Digest(data, len, out, &n, EVP_md5(), NULL) == 1 && n == 16 ? 0 : -1;
}
