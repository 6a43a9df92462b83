#include "validate.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool is_ascii_alnum(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

bool lr_utf8_valid(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;
	while (i < len) {
		unsigned char c = s[i];
		size_t need;
		unsigned int cp;
		if (c == 0)
			return false; /* PostgreSQL text cannot hold NUL */
		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			need = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (len - i <= need)
			return false;
		for (size_t k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		/* Overlong forms, UTF-16 surrogates and code points past U+10FFFF. */
		if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return false;
		i += need + 1;
	}
	return true;
}

const char *lr_check_url(const char *url)
{
	size_t len = strlen(url);
	if (len > LR_URL_MAX)
		return "must be at most 2048 bytes";
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)url[i];
		if (c < 0x21 || c == 0x7f)
			return "must not contain spaces or control characters";
	}
	if (!lr_utf8_valid(url, len))
		return "must be valid UTF-8";
	size_t skip;
	if (strncasecmp(url, "http://", 7) == 0)
		skip = 7;
	else if (strncasecmp(url, "https://", 8) == 0)
		skip = 8;
	else
		return "must start with http:// or https://";

	const char *authority = url + skip;
	size_t alen = strcspn(authority, "/?#");
	const char *host = authority;
	for (size_t i = 0; i < alen; i++)
		if (authority[i] == '@')
			host = authority + i + 1; /* the host follows the last '@' of the userinfo */
	size_t hlen = alen - (size_t)(host - authority);
	const char *port = NULL;
	size_t host_only;
	if (hlen > 0 && host[0] == '[') {
		const char *close = memchr(host, ']', hlen);
		if (!close || close == host + 1)
			return "has a malformed IPv6 host";
		host_only = (size_t)(close - host) + 1;
		if (host_only < hlen) {
			if (host[host_only] != ':')
				return "has a malformed IPv6 host";
			port = host + host_only + 1;
		}
	} else {
		const char *colon = memchr(host, ':', hlen);
		host_only = colon ? (size_t)(colon - host) : hlen;
		if (colon)
			port = colon + 1;
	}
	if (host_only == 0)
		return "must have a host";
	if (port) {
		size_t plen = hlen - (size_t)(port - host);
		long long value;
		/* An empty port is allowed by RFC 3986 and means the scheme's default. */
		if (plen > 0 && !lr_parse_uint(port, plen, 65535, &value))
			return "has an invalid port";
	}
	return NULL;
}

bool lr_valid_code(const char *s)
{
	size_t len = strlen(s);
	if (len < 1 || len > 64)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!is_ascii_alnum(c) && c != '_' && c != '-')
			return false;
	}
	return true;
}

const char *lr_check_email(const char *s)
{
	size_t len = strlen(s);
	if (len == 0)
		return "must not be empty";
	if (len > 254)
		return "must be at most 254 bytes";
	const char *at = NULL;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= 0x20 || c >= 0x7f)
			return "must be printable ASCII without spaces";
		if (strchr(",;\"<>", c))
			return "must not contain , ; \" < or >";
		if (c == '@') {
			if (at)
				return "must contain exactly one @";
			at = s + i;
		}
	}
	if (!at)
		return "must contain exactly one @";
	size_t local_len = (size_t)(at - s);
	if (local_len == 0)
		return "must have a local part before the @";
	if (local_len > 64)
		return "must have a local part of at most 64 bytes";
	const char *domain = at + 1;
	size_t dlen = strlen(domain);
	if (dlen == 0 || !strchr(domain, '.'))
		return "must have a domain with a dot after the @";
	if (domain[0] == '.' || domain[dlen - 1] == '.' || strstr(domain, ".."))
		return "must have a domain without empty labels";
	/* The domain is a host name (RFC 1123): "a@-.-" or "a@x_y.example" cannot receive
	 * mail, and refusing them here is kinder than a bounce per scheduled report. */
	bool tld_digits = true;
	for (const char *label = domain; *label;) {
		size_t n = strcspn(label, ".");
		if (n > 63)
			return "must have domain labels of at most 63 bytes";
		tld_digits = true;
		for (size_t i = 0; i < n; i++) {
			unsigned char c = (unsigned char)label[i];
			if (!is_ascii_alnum(c) && c != '-')
				return "must have a domain of letters, digits, hyphens and dots";
			tld_digits &= is_digit(c);
		}
		if (label[0] == '-' || label[n - 1] == '-')
			return "must have domain labels that do not start or end with a hyphen";
		label += n + (label[n] == '.');
	}
	if (tld_digits)
		return "must have a top-level domain that is not all digits";
	return NULL;
}

const char *lr_check_timezone(const char *tz)
{
	/* The areas of the IANA database's region zones (Area/Location[/Sublocation]). Not
	 * accepted: "localtime", "Factory", "posixrules", the posix/ and right/ copies, the
	 * old country names (US/Pacific), POSIX-style rules (EST5EDT) and Etc/GMT+N, whose
	 * sign is the opposite of what it looks like (Etc/GMT+5 is UTC-05:00). */
	static const char *const areas[] = {"Africa",	"America",  "Antarctica", "Arctic",
					    "Asia",	"Atlantic", "Australia",  "Europe",
					    "Indian",	"Pacific"};
	if (strcmp(tz, "UTC") == 0 || strcmp(tz, "Etc/UTC") == 0)
		return NULL;
	if (strlen(tz) > 64)
		return "is too long";
	size_t area_len = strcspn(tz, "/");
	bool area_known = false;
	for (size_t i = 0; i < sizeof areas / sizeof areas[0]; i++)
		if (strlen(areas[i]) == area_len && strncmp(tz, areas[i], area_len) == 0)
			area_known = true;
	if (!area_known || tz[area_len] != '/')
		return "is not a region zone";
	int parts = 1;
	for (const char *part = tz + area_len + 1;; part++) {
		size_t n = strspn(part, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
					"0123456789_+-");
		/* each part starts with a letter: no "." or "..", no empty part, no spaces */
		if (n == 0 || is_digit((unsigned char)part[0]) || strchr("_+-", part[0]))
			return "is not a region zone";
		if (++parts > 3)
			return "is not a region zone";
		part += n;
		if (*part == '\0')
			return NULL;
		if (*part != '/')
			return "is not a region zone";
	}
}

bool lr_valid_mobile(const char *s)
{
	if (*s == '+')
		s++;
	size_t len = strlen(s);
	if (len < 4 || len > 20)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!is_digit((unsigned char)s[i]))
			return false;
	return true;
}

const char *lr_check_text(const char *s, size_t max)
{
	size_t len = strlen(s);
	if (len > max)
		return max == LR_TEXT_MAX ? "must be at most 256 bytes" : "is too long";
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f)
			return "must not contain control characters";
	}
	if (!lr_utf8_valid(s, len))
		return "must be valid UTF-8";
	return NULL;
}

static int days_in_month(int year, int month)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
	return month == 2 && leap ? 29 : days[month - 1];
}

bool lr_valid_date(const char *s)
{
	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return false;
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && !is_digit((unsigned char)s[i]))
			return false;
	int year = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
	int month = (s[5] - '0') * 10 + (s[6] - '0');
	int day = (s[8] - '0') * 10 + (s[9] - '0');
	return year >= 1 && month >= 1 && month <= 12 && day >= 1 &&
	       day <= days_in_month(year, month);
}

bool lr_valid_click_id(const char *s, size_t len)
{
	if (len != 32)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!is_digit(c) && !(c >= 'a' && c <= 'f'))
			return false;
	}
	return true;
}

bool lr_parse_uint(const char *s, size_t len, long long max, long long *out)
{
	if (len == 0 || len > 19)
		return false;
	long long value = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!is_digit(c))
			return false;
		int digit = c - '0';
		if (value > max / 10 || (value == max / 10 && digit > max % 10))
			return false;
		value = value * 10 + digit;
	}
	*out = value;
	return true;
}

static int two_digits(const char *s)
{
	if (!is_digit((unsigned char)s[0]) || !is_digit((unsigned char)s[1]))
		return -1;
	return (s[0] - '0') * 10 + (s[1] - '0');
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static long long days_from_civil(int y, int m, int d)
{
	y -= m <= 2;
	long long era = (y >= 0 ? y : y - 399) / 400;
	long long yoe = y - era * 400;
	long long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

bool lr_parse_instant(const char *s, time_t *out)
{
	char date[11];
	size_t len = strlen(s);
	if (len < 20 || (s[10] != 'T' && s[10] != ' '))
		return false;
	memcpy(date, s, 10);
	date[10] = '\0';
	if (!lr_valid_date(date))
		return false;
	if (s[13] != ':' || s[16] != ':')
		return false;
	int h = two_digits(s + 11), mi = two_digits(s + 14), sec = two_digits(s + 17);
	if (h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59)
		return false;
	long long offset = 0;
	const char *z = s + 19;
	if (strcmp(z, "Z") == 0) {
		offset = 0;
	} else if ((z[0] == '+' || z[0] == '-') && strlen(z) == 6 && z[3] == ':') {
		int oh = two_digits(z + 1), om = two_digits(z + 4);
		if (oh < 0 || oh > 23 || om < 0 || om > 59)
			return false;
		offset = (oh * 3600LL + om * 60LL) * (z[0] == '-' ? -1 : 1);
	} else {
		return false;
	}
	int year = atoi(date), month = atoi(date + 5), day = atoi(date + 8);
	long long t = days_from_civil(year, month, day) * 86400LL + h * 3600LL + mi * 60LL + sec -
		      offset;
	*out = (time_t)t;
	return true;
}
