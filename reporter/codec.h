#ifndef LR_CODEC_H
#define LR_CODEC_H

#include <stddef.h>

/* Base64 (RFC 4648) of len bytes into out, which holds 4 * ((len + 2) / 3) + 1 bytes.
 * url: the URL-safe alphabet without padding (what nginx's secure_link_md5 expects). */
void lr_base64(const unsigned char *in, size_t len, char *out, int url);

/* Percent-encodes every byte but [A-Za-z0-9._~@-]. malloc'd. */
char *lr_percent_encode(const char *s);

/* HTML text: & < > " ' escaped. malloc'd. */
char *lr_html_escape(const char *s);

/* MD5 of len bytes (nginx secure_link). Returns 0 on success. */
int lr_md5(const void *data, size_t len, unsigned char out[16]);

#endif
