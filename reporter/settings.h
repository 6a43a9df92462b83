#ifndef LR_SETTINGS_H
#define LR_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>

/* Recipients: comma-separated addresses, spaces around each allowed, at least one, each
 * passing lr_check_email, at most LR_MAX_RECIPIENTS. On success returns NULL and stores
 * the normalised list ("a@x.example,b@y.example", duplicates dropped) in *normalised
 * (malloc'd). Else returns a reason and *bad names the offending address (malloc'd or
 * NULL). Pure. */
#define LR_MAX_RECIPIENTS 50
const char *lr_parse_recipients(const char *list, char **normalised, char **bad);

#endif
