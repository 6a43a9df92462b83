/* Recipient lists of the report settings: pure, unit-tested. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "settings.h"
#include "util.h"
#include "validate.h"

const char *lr_parse_recipients(const char *list, char **normalised, char **bad)
{
	*normalised = NULL;
	*bad = NULL;
	struct lr_strv seen = {0};
	const char *why = NULL;
	const char *p = list;
	for (;;) {
		size_t len = strcspn(p, ",");
		const char *start = p, *end = p + len;
		while (start < end && *start == ' ')
			start++;
		while (end > start && end[-1] == ' ')
			end--;
		char *addr = lr_xasprintf("%.*s", (int)(end - start), start);
		if (!*addr) {
			free(addr);
			why = seen.len == 0 && !p[len] ? "needs at least one address"
						       : "has an empty entry";
			break;
		}
		if ((why = lr_check_email(addr))) {
			*bad = addr;
			break;
		}
		bool dup = false;
		for (size_t i = 0; i < seen.len && !dup; i++)
			dup = strcasecmp(seen.items[i], addr) == 0;
		if (dup)
			free(addr);
		else
			lr_strv_push(&seen, addr);
		if (seen.len > LR_MAX_RECIPIENTS) {
			why = "has more than 50 addresses";
			break;
		}
		if (!p[len])
			break;
		p += len + 1;
	}
	if (!why) {
		size_t total = 1;
		for (size_t i = 0; i < seen.len; i++)
			total += strlen(seen.items[i]) + 1;
		char *out = lr_xmalloc(total);
		out[0] = '\0';
		for (size_t i = 0; i < seen.len; i++) {
			if (i)
				strcat(out, ",");
			strcat(out, seen.items[i]);
		}
		*normalised = out;
	}
	lr_strv_free(&seen);
	return why;
}
