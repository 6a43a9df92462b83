#include "signing.h"

#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "util.h"

char *lr_download_url(const char *base_url, const char *rel, const char *recipient,
		      const char *secret, long long expires)
{
	size_t base_len = strlen(base_url);
	while (base_len > 0 && base_url[base_len - 1] == '/')
		base_len--;
	/* The path part of the base: after "scheme://host[:port]". */
	const char *path = base_url;
	const char *scheme_end = strstr(base_url, "://");
	if (scheme_end)
		path = scheme_end + 3;
	path += strcspn(path, "/");
	size_t path_len = base_len > (size_t)(path - base_url) ? base_len - (size_t)(path - base_url)
							       : 0;
	char *r = lr_percent_encode(recipient);
	char *signed_text = lr_xasprintf("%lld%.*s/%s%s %s", expires, (int)path_len, path, rel, r,
					 secret);
	unsigned char digest[16];
	char *url = NULL;
	if (lr_md5(signed_text, strlen(signed_text), digest) == 0) {
		char md5[32];
		lr_base64(digest, sizeof digest, md5, 1);
		url = lr_xasprintf("%.*s/%s?r=%s&expires=%lld&md5=%s", (int)base_len, base_url, rel, r,
				   expires, md5);
	}
	/* The secret must not linger in freed memory longer than needed. */
	memset(signed_text, 0, strlen(signed_text));
	free(signed_text);
	free(r);
	return url;
}
