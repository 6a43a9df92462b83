/* Unit tests for the pure parts (CSV writer, input checks). TAP output. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "csv.h"
#include "mime.h"
#include "record.h"
#include "settings.h"
#include "signing.h"
#include "validate.h"

static int test_number;
static int failures;

static void ok(int cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#include <stdarg.h>
static void ok(int cond, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("%s %d - ", cond ? "ok" : "not ok", ++test_number);
	vprintf(fmt, ap);
	putchar('\n');
	va_end(ap);
	if (!cond)
		failures++;
}

/* Renders one row of cells (NULL-terminated list) through the writer. */
static char *csv_row(const char *const *cells, size_t n)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct lr_csv csv;
	lr_csv_init(&csv, f);
	for (size_t i = 0; i < n; i++)
		lr_csv_field(&csv, cells[i]);
	lr_csv_end_row(&csv);
	fclose(f);
	return buf;
}

static void csv_case(const char *cell, const char *expected, const char *name)
{
	const char *cells[] = {cell};
	char *got = csv_row(cells, 1);
	ok(strcmp(got, expected) == 0, "csv %s", name);
	if (strcmp(got, expected) != 0)
		printf("# got [%s] expected [%s]\n", got, expected);
	free(got);
}

static void test_csv(void)
{
	csv_case("plain", "plain\r\n", "plain cell");
	csv_case("", "\r\n", "empty cell");
	csv_case(NULL, "\r\n", "NULL cell is empty");
	csv_case("a,b", "\"a,b\"\r\n", "comma quoted");
	csv_case("say \"hi\"", "\"say \"\"hi\"\"\"\r\n", "quotes doubled");
	csv_case("line1\nline2", "\"line1\nline2\"\r\n", "LF quoted");
	csv_case("a\rb", "\"a\rb\"\r\n", "CR quoted");
	csv_case(" lead", "\" lead\"\r\n", "leading space quoted");
	csv_case("trail ", "\"trail \"\r\n", "trailing space quoted");
	csv_case("in side", "in side\r\n", "inner space not quoted");
	csv_case("=HYPERLINK(\"http://x\",\"y\")", "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"\r\n",
		 "formula guarded and quoted");
	csv_case("=1+1", "'=1+1\r\n", "= guarded");
	csv_case("+cmd", "'+cmd\r\n", "+ guarded");
	csv_case("-cmd", "'-cmd\r\n", "- guarded");
	csv_case("@SUM(A1)", "'@SUM(A1)\r\n", "@ guarded");
	csv_case("\tx", "'\tx\r\n", "TAB guarded");
	csv_case("\rx", "\"'\rx\"\r\n", "CR guarded and quoted");
	csv_case("-12.5", "-12.5\r\n", "negative number not guarded");
	csv_case("-7", "-7\r\n", "negative integer not guarded");
	csv_case("+4915112345678", "+4915112345678\r\n", "+mobile number is a plain number");
	csv_case("+49 151", "'+49 151\r\n", "+ followed by more than digits guarded");
	csv_case("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0\r\n", "+DDE payload guarded");
	csv_case("4915112345678", "4915112345678\r\n", "bare mobile number not guarded");
	csv_case("-1.", "'-1.\r\n", "-1. is not a plain number");
	csv_case("-", "'-\r\n", "lone minus guarded");
	csv_case("-1e5", "'-1e5\r\n", "exponent not a plain number");
	csv_case("a=b", "a=b\r\n", "= inside not guarded");
	csv_case("ünïcode", "ünïcode\r\n", "UTF-8 passes through");

	const char *cells[] = {"a", NULL, "b,c", ""};
	char *row = csv_row(cells, 4);
	ok(strcmp(row, "a,,\"b,c\",\r\n") == 0, "csv row of several cells");
	free(row);
	ok(lr_csv_is_plain_number("0") && lr_csv_is_plain_number("12.50") &&
		   lr_csv_is_plain_number("+1") && !lr_csv_is_plain_number("+") && !lr_csv_is_plain_number("") &&
		   !lr_csv_is_plain_number(".5") && !lr_csv_is_plain_number("1.2.3"),
	   "plain number rule");
}

static void test_url(void)
{
	const char *good[] = {
		"http://example.com",
		"https://example.com/path?q=1#frag",
		"HTTPS://EXAMPLE.COM/",
		"HtTp://a",
		"http://user:pw@host.example:8080/x",
		"http://[::1]:8080/",
		"http://example.com:/",
		"https://例え.jp/パス",
		"http://example.com?x",
	};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		ok(lr_check_url(good[i]) == NULL, "url accepted: %s", good[i]);

	const char *bad[] = {
		"",
		"javascript:alert(1)",
		"ftp://example.com/",
		"data:text/html,x",
		"http:/example.com",
		"//example.com",
		"example.com",
		"http://",
		"https://",
		"http:///path",
		"http://?q",
		"http://#f",
		"http://user@/",
		"http://:80/",
		"http://exa mple.com",
		"http://example.com/a b",
		"http://example.com/\r\nSet-Cookie:x",
		"http://example.com/\t",
		"http://example.com/\x7f",
		"http://example.com/\x01",
		" http://example.com",
		"http://example.com:99999/",
		"http://example.com:8o/",
		"http://[::1/",
		"http://[]/",
		"http://[::1]x/",
		"http://example.com/\xff",
		"http://example.com/\xc0\xaf",
		"mailto:a@b.c",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ok(lr_check_url(bad[i]) != NULL, "url refused #%zu", i);

	char *long_url = malloc(LR_URL_MAX + 2);
	strcpy(long_url, "http://example.com/");
	memset(long_url + strlen(long_url), 'a', LR_URL_MAX - strlen(long_url));
	long_url[LR_URL_MAX] = '\0';
	ok(lr_check_url(long_url) == NULL, "url of exactly 2048 bytes accepted");
	long_url[LR_URL_MAX] = 'a';
	long_url[LR_URL_MAX + 1] = '\0';
	ok(lr_check_url(long_url) != NULL, "url of 2049 bytes refused");
	free(long_url);
	ok(strcmp(lr_check_url("ftp://x") ? lr_check_url("ftp://x") : "",
		  "must start with http:// or https://") == 0,
	   "scheme message");
}

static void test_code(void)
{
	const char *good[] = {"a", "QS6", "abc_DEF-123", "-", "_",
			      "0123456789012345678901234567890123456789012345678901234567890123"};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		ok(lr_valid_code(good[i]), "code accepted: %s", good[i]);
	const char *bad[] = {"", "a b", "a/b", "a.b", "ä", "a\n", "a%20", "a:b",
			     "01234567890123456789012345678901234567890123456789012345678901234"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ok(!lr_valid_code(bad[i]), "code refused #%zu", i);
}

static void test_email(void)
{
	const char *good[] = {"a@b.co", "first.last+tag@sub.example.com", "x_y@z-1.io"};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		ok(lr_check_email(good[i]) == NULL, "email accepted: %s", good[i]);
	const char *bad[] = {"",	  "plain",	 "@b.co",	"a@",	       "a@b",
			     "a@@b.co",	  "a@b@c.co",	 "a b@c.co",	"a@b .co",     "a,b@c.co",
			     "a@b.co,c@d.co", "a@.b.co", "a@b.co.",	"a@b..co",     "a\n@b.co",
			     "a@b.co\r",  "\"a\"@b.co",	 "a;b@c.co",	"<a@b.co>",    "ä@b.co"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ok(lr_check_email(bad[i]) != NULL, "email refused #%zu", i);

	/* the domain is a host name: labels of letters, digits and inner hyphens */
	const char *label63 = "a@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example";
	const char *label64 = "a@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example";
	const char *hosts_good[] = {"a@x-y.example", "a@1.example", "a@123.example", "a@b.c0",
				    "a@xn--bcher-kva.example", "a@B.CO", "a@a.b.c.d.example",
				    label63};
	for (size_t i = 0; i < sizeof hosts_good / sizeof hosts_good[0]; i++)
		ok(lr_check_email(hosts_good[i]) == NULL, "email accepted: %.40s", hosts_good[i]);
	const struct {
		const char *email, *why;
	} hosts_bad[] = {
		{"a@-.-", "must have domain labels that do not start or end with a hyphen"},
		{"a@-x.example", "must have domain labels that do not start or end with a hyphen"},
		{"a@x-.example", "must have domain labels that do not start or end with a hyphen"},
		{"a@x.-example", "must have domain labels that do not start or end with a hyphen"},
		{"a@x.example-", "must have domain labels that do not start or end with a hyphen"},
		{"a@x_y.example", "must have a domain of letters, digits, hyphens and dots"},
		{"a@x!.example", "must have a domain of letters, digits, hyphens and dots"},
		{"a@[1.2.3.4]", "must have a domain of letters, digits, hyphens and dots"},
		{"a@1.2.3.4", "must have a top-level domain that is not all digits"},
		{"a@example.123", "must have a top-level domain that is not all digits"},
		{label64, "must have domain labels of at most 63 bytes"},
	};
	for (size_t i = 0; i < sizeof hosts_bad / sizeof hosts_bad[0]; i++) {
		const char *why = lr_check_email(hosts_bad[i].email);
		ok(why && strcmp(why, hosts_bad[i].why) == 0, "email refused: %.40s (%s)",
		   hosts_bad[i].email, why ? why : "accepted");
	}
}

static void test_timezone(void)
{
	const char *good[] = {"UTC", "Etc/UTC", "Europe/Berlin", "Asia/Kolkata",
			      "America/Argentina/Buenos_Aires", "America/Port-au-Prince",
			      "Antarctica/DumontDUrville", "Pacific/Chatham", "Indian/Maldives",
			      "Arctic/Longyearbyen", "Atlantic/Cape_Verde", "Australia/Lord_Howe",
			      "Africa/Dar_es_Salaam"};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		ok(lr_check_timezone(good[i]) == NULL, "time zone accepted: %s", good[i]);
	const char *bad[] = {"", "localtime", "Factory", "posixrules", "posix/Europe/Berlin",
			     "right/Europe/Berlin", "/usr/share/zoneinfo/Europe/Berlin",
			     "/Europe/Berlin", "Europe/../Asia/Kolkata", "Europe/..", "../etc/passwd",
			     "Europe/./Berlin", "Europe/Berlin/", "Europe//Berlin", "Europe",
			     "Europe/", "Europe/Berlin Mitte", " Europe/Berlin", "Europe/Berlin\n",
			     "europe/berlin", "US/Pacific", "EST5EDT", "CET", "GMT", "Etc/GMT+5",
			     "Etc/GMT-14", "Etc/Greenwich", "Etc/Zulu", "utc", "Mars/Olympus",
			     "Europe/-Berlin", "Europe/1Berlin", "America/A/B/C",
			     "Asia/abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ok(lr_check_timezone(bad[i]) != NULL, "time zone refused #%zu", i);
}

static void test_mobile(void)
{
	const char *good[] = {"1234", "+4915112345678", "919876543210", "+12345678901234567890"};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		ok(lr_valid_mobile(good[i]), "mobile accepted: %s", good[i]);
	const char *bad[] = {"",	  "+",	     "123",	     "+123",	   "++1234",
			     "12 34",	  "1234a",   "+49-151-1234", "(0)12345",   "123456789012345678901",
			     "1234+",	  " 1234"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ok(!lr_valid_mobile(bad[i]), "mobile refused #%zu", i);
}

static void test_date(void)
{
	const char *good[] = {"2024-02-29", "2000-02-29", "2024-12-31", "0001-01-01", "9999-12-31"};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		ok(lr_valid_date(good[i]), "date accepted: %s", good[i]);
	const char *bad[] = {"",	   "2024-2-1",	 "2024-02-30", "2023-02-29", "1900-02-29",
			     "2024-13-01", "2024-00-10", "2024-01-00", "2024-04-31", "0000-01-01",
			     "24-01-01",   "2024/01/01", "2024-01-01T00:00", " 2024-01-01",
			     "2024-01-0a", "２０２４-01-01", "20240101"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ok(!lr_valid_date(bad[i]), "date refused #%zu", i);
}

static void test_misc(void)
{
	ok(lr_valid_click_id("0123456789abcdef0123456789abcdef", 32), "click id accepted");
	ok(!lr_valid_click_id("0123456789ABCDEF0123456789abcdef", 32), "uppercase click id refused");
	ok(!lr_valid_click_id("0123456789abcdef0123456789abcde", 31), "short click id refused");
	ok(!lr_valid_click_id("0123456789abcdef0123456789abcdeg", 32), "non-hex click id refused");

	long long v;
	ok(lr_parse_uint("1708334691999", 13, 253402300799999LL, &v) && v == 1708334691999LL,
	   "uint parsed");
	ok(!lr_parse_uint("", 0, 100, &v), "empty uint refused");
	ok(!lr_parse_uint("-1", 2, 100, &v), "negative refused");
	ok(!lr_parse_uint("101", 3, 100, &v), "uint above max refused");
	ok(lr_parse_uint("100", 3, 100, &v) && v == 100, "uint at max accepted");
	ok(!lr_parse_uint("7", 1, 5, &v), "small max respected");
	ok(!lr_parse_uint("9223372036854775808", 19, 9223372036854775807LL, &v), "overflow refused");
	ok(!lr_parse_uint("1.5", 3, 100, &v) && !lr_parse_uint(" 1", 2, 100, &v), "junk refused");

	ok(lr_check_text("Spring sale, 50% off =)", LR_TEXT_MAX) == NULL, "text accepted");
	ok(lr_check_text("a\tb", LR_TEXT_MAX) != NULL, "TAB in text refused");
	ok(lr_check_text("a\nb", LR_TEXT_MAX) != NULL, "LF in text refused");
	ok(lr_check_text("\xff", LR_TEXT_MAX) != NULL, "invalid UTF-8 text refused");
	ok(lr_utf8_valid("\xe2\x82\xac", 3) && !lr_utf8_valid("\xe2\x82", 2) &&
		   !lr_utf8_valid("\xed\xa0\x80", 3) && !lr_utf8_valid("a\0b", 3),
	   "utf8 rules");
}

static void test_reports(void)
{
	time_t t;
	ok(lr_parse_instant("2024-03-31T10:00:05+02:00", &t) && t == 1711872005, "instant with offset");
	ok(lr_parse_instant("2024-02-29T23:59:59Z", &t) && t == 1709251199, "instant in UTC");
	ok(lr_parse_instant("2024-01-01T00:00:00+05:45", &t) && t == 1704046500, "instant +05:45");
	ok(lr_parse_instant("2023-12-31 19:00:00-05:00", &t) && t == 1704067200, "instant, space, -05:00");
	const char *bad_t[] = {"2024-03-31", "2024-03-31T10:00:05", "2024-02-30T00:00:00Z",
			       "2024-03-31T24:00:00Z", "2024-03-31T10:00:05+2", "2024-03-31T10:00:05+02:00x"};
	for (size_t i = 0; i < sizeof bad_t / sizeof bad_t[0]; i++)
		ok(!lr_parse_instant(bad_t[i], &t), "instant refused: %s", bad_t[i]);

	char b64[64];
	lr_base64((const unsigned char *)"foob", 4, b64, 0);
	ok(strcmp(b64, "Zm9vYg==") == 0, "base64 padded");
	lr_base64((const unsigned char *)"\xfb\xff", 2, b64, 1);
	ok(strcmp(b64, "-_8") == 0, "base64url unpadded");
	char *enc = lr_percent_encode("a+b@x.example&r=1");
	ok(strcmp(enc, "a%2Bb@x.example%26r%3D1") == 0, "percent encoding");
	free(enc);
	char *html = lr_html_escape("<a href=\"x\">&'");
	ok(strcmp(html, "&lt;a href=&quot;x&quot;&gt;&amp;&#39;") == 0, "html escaping");
	free(html);

	char *list, *bad;
	ok(lr_parse_recipients(" a@x.example ,b@y.example,A@x.example", &list, &bad) == NULL &&
		   strcmp(list, "a@x.example,b@y.example") == 0,
	   "recipients normalised");
	free(list);
	ok(lr_parse_recipients("", &list, &bad) != NULL && !bad, "no recipient refused");
	ok(lr_parse_recipients("a@x.example,,b@y.example", &list, &bad) != NULL, "empty entry refused");
	ok(lr_parse_recipients("a@x.example,nope", &list, &bad) != NULL && bad &&
		   strcmp(bad, "nope") == 0,
	   "malformed address named");
	free(bad);

	/* echo -n '1700000000/reports/acme/f.csva%2Bb@x.example s3cr3t-s3cr3t-s3cr3t' | openssl md5 -binary | base64 */
	char *url = lr_download_url("https://dl.example/reports/", "acme/f.csv", "a+b@x.example",
				    "s3cr3t-s3cr3t-s3cr3t", 1700000000);
	ok(url && strncmp(url, "https://dl.example/reports/acme/f.csv?r=a%2Bb@x.example&expires=1700000000&md5=", 79) == 0 &&
		   strlen(url) == 79 + 22,
	   "download url shape");
	free(url);

	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	lr_mime_subject(f, "Links Detailed Report: Z\xc3\xbcrich Caf\xc3\xa9 with a rather long name, monthly 2024-02-03 to 2024-03-02");
	fclose(f);
	bool short_lines = true;
	for (char *line = buf, *next; *line; line = next + 2) {
		next = strstr(line, "\r\n");
		if (!next)
			break;
		if (next - line > 78)
			short_lines = false;
	}
	ok(strncmp(buf, "Subject: =?UTF-8?B?", 19) == 0 && strstr(buf, "?=\r\n =?UTF-8?B?") && short_lines,
	   "long non-ASCII subject: folded encoded-words under 78 columns");
	free(buf);
	f = open_memstream(&buf, &len);
	lr_mime_subject(f, "Plain subject");
	fclose(f);
	ok(strcmp(buf, "Subject: Plain subject\r\n") == 0, "ASCII subject as is");
	free(buf);
}

/* Splits text (copied, with the spare byte the splitter needs) and joins the values with
 * '|' so one string comparison checks them all; NULL when the record is refused. */
static char *split_joined(const char *text, size_t len, size_t *count, const char **why)
{
	char *buf = malloc(len + 1);
	memcpy(buf, text, len);
	const char *values[8];
	size_t lens[8];
	*why = lr_record_split(buf, len, values, lens, 8, count);
	if (*why) {
		free(buf);
		return NULL;
	}
	char *joined = calloc(len + 16, 1);
	for (size_t i = 0; i < *count && i < 8; i++) {
		if (i)
			strcat(joined, "|");
		strncat(joined, values[i], lens[i]);
		if (strlen(values[i]) != lens[i])
			strcat(joined, "<NUL>");
	}
	free(buf);
	return joined;
}

#define R(text) text, sizeof(text) - 1
/* A text to split, and what comes out: the pieces joined with '|', how many. */
struct split_case {
	const char *text;
	size_t len;
	const char *joined; /* NULL: refused */
	size_t count;
};

static void test_record(void)
{
	static const struct split_case cases[] = {
		{R("2\ta\tb\tc"), "a|b|c", 3},
		{R("2\t\t\t"), "||", 3},
		{R("2"), "", 0},
		{R("2\t"), "", 1},
		{R("2\tx\\ty\\\\z\\n\\r"), "x\ty\\z\n\r", 1},
		{R("2\tMozilla/5.0 (X11)\thttps://e.com/?a=1&b=2"), "Mozilla/5.0 (X11)|https://e.com/?a=1&b=2", 2},
		{R("2\tnul\0byte\tok"), "nul<NUL>|ok", 2},
		{R("2\ta\tb\tc\td\te\tf\tg\th\ti\tj"), "a|b|c|d|e|f|g|h", 10},
		{R("1\ta"), NULL, 0},
		{R("20\ta"), NULL, 0},
		{R(""), NULL, 0},
		{R("2\tbad\\x"), NULL, 0},
		{R("2\tends\\"), NULL, 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t count = 0;
		const char *why = NULL;
		char *joined = split_joined(cases[i].text, cases[i].len, &count, &why);
		if (!cases[i].joined) {
			ok(joined == NULL && why != NULL, "record case %zu refused (%s)", i,
			   why ? why : "accepted");
		} else {
			ok(joined && strcmp(joined, cases[i].joined) == 0 && count == cases[i].count,
			   "record case %zu: [%s] x%zu", i, joined ? joined : why, count);
		}
		free(joined);
	}
}

/* Splits an entry value into its records and joins them with '|' (an empty record is
 * nothing between two bars); *count is (size_t)-1 when lr_record_count disagrees with
 * what the iteration found. */
static char *records_joined(const char *value, size_t len, size_t *count)
{
	char *joined = calloc(len + lr_record_count(value, len) + 1, 1);
	size_t pos = 0, n = 0, rlen;
	const char *record;
	while (lr_record_next(value, len, &pos, &record, &rlen)) {
		if (n++)
			strcat(joined, "|");
		strncat(joined, record, rlen);
	}
	*count = n == lr_record_count(value, len) ? n : (size_t)-1;
	return joined;
}

static void test_records(void)
{
	static const struct split_case cases[] = {
		{R("2\ta\tb"), "2\ta\tb", 1},
		{R(""), "", 1},
		{R("2\ta\n2\tb"), "2\ta|2\tb", 2},
		{R("2\ta\n"), "2\ta|", 2},
		{R("\n"), "|", 2},
		{R("\n\n"), "||", 3},
		{R("2\ta\n\n2\tb"), "2\ta||2\tb", 3},
		{R("2\tline\\nbreak\n2\tb"), "2\tline\\nbreak|2\tb", 2},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t count;
		char *joined = records_joined(cases[i].text, cases[i].len, &count);
		ok(strcmp(joined, cases[i].joined) == 0 && count == cases[i].count,
		   "records case %zu: [%s] x%zu", i, joined, count);
		free(joined);
	}

	/* an escaped LF stays inside its record and comes out of the split as a real one */
	const char batch[] = "2\tx\\ny\tz\n2\tw";
	size_t pos = 0, len, count;
	const char *record, *why;
	lr_record_next(batch, sizeof batch - 1, &pos, &record, &len);
	char *joined = split_joined(record, len, &count, &why);
	ok(joined && strcmp(joined, "x\ny|z") == 0 && count == 2, "an escaped LF stays in its record");
	free(joined);

	/* the edge's most: 64 records, each found whole and in order */
	char big[64 * 48], want[48];
	size_t blen = 0;
	for (int r = 0; r < 64; r++)
		blen += (size_t)sprintf(big + blen, "%s2\trecord-%d\tv", r ? "\n" : "", r);
	pos = 0;
	int found = 0, right = 0;
	while (lr_record_next(big, blen, &pos, &record, &len)) {
		snprintf(want, sizeof want, "2\trecord-%d\tv", found++);
		right += len == strlen(want) && memcmp(record, want, len) == 0;
	}
	ok(found == 64 && right == 64 && lr_record_count(big, blen) == 64,
	   "64 records: %d found, %d whole", found, right);
}
#undef R

int main(void)
{
	test_reports();
	test_record();
	test_records();
	test_csv();
	test_url();
	test_code();
	test_email();
	test_timezone();
	test_mobile();
	test_date();
	test_misc();
	printf("1..%d\n", test_number);
	return failures ? 1 : 0;
}
