#ifndef LR_VALIDATE_H
#define LR_VALIDATE_H

/* Input checks, pure functions. The lr_check_* functions return NULL when the value is
 * acceptable, else a short reason meant to follow the option name in an error message. */

#include <stdbool.h>
#include <stddef.h>

#define LR_URL_MAX 2048
#define LR_TEXT_MAX 256

/* http:// or https:// (any case), non-empty host, no byte < 0x21 or 0x7f, valid UTF-8,
 * at most LR_URL_MAX bytes. */
const char *lr_check_url(const char *url);

/* Codes, slugs, recipient tokens and company ids: [A-Za-z0-9_-]{1,64}. */
bool lr_valid_code(const char *s);

/* One '@', non-empty local part (<= 64), printable ASCII without spaces, commas,
 * semicolons, quotes or angle brackets, <= 254 bytes; the domain a host name with a dot:
 * labels of 1-63 letters, digits and hyphens, not starting or ending with a hyphen, the
 * last one not all digits. */
const char *lr_check_email(const char *s);

/* A time zone name a company may use: UTC, Etc/UTC, or an IANA region zone
 * Area/Location[/Sublocation] (Area one of Africa, America, Antarctica, Arctic, Asia,
 * Atlantic, Australia, Europe, Indian, Pacific; each part [A-Za-z][A-Za-z0-9_+-]*).
 * The name only: whether the zone exists is PostgreSQL's pg_timezone_names to say. */
const char *lr_check_timezone(const char *tz);

/* +?[0-9]{4,20} */
bool lr_valid_mobile(const char *s);

/* Free text (names, campaign, template id, channel, message id): valid UTF-8, no control
 * characters (which also keeps TAB, the contract's separator, out), at most max bytes. */
const char *lr_check_text(const char *s, size_t max);

/* Strict YYYY-MM-DD naming a real calendar day, year 0001..9999. */
bool lr_valid_date(const char *s);

/* 32 lowercase hexadecimal characters. */
bool lr_valid_click_id(const char *s, size_t len);

/* Non-negative decimal integer, digits only, within [0, max]. */
bool lr_parse_uint(const char *s, size_t len, long long max, long long *out);

bool lr_utf8_valid(const char *s, size_t len);

/* YYYY-MM-DDTHH:MM:SS followed by Z or +HH:MM / -HH:MM (a space may replace the T). */
#include <time.h>
bool lr_parse_instant(const char *s, time_t *out);

#endif
