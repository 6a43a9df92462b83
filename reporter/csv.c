#include "csv.h"

#include <string.h>

void lr_csv_init(struct lr_csv *csv, FILE *out)
{
	csv->out = out;
	csv->row_started = false;
}

bool lr_csv_is_plain_number(const char *value)
{
	const char *p = value;
	if (*p == '-' || *p == '+')
		p++;
	if (*p < '0' || *p > '9')
		return false;
	while (*p >= '0' && *p <= '9')
		p++;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return false;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	return *p == '\0';
}

bool lr_csv_needs_guard(const char *value)
{
	if (!value || !*value || !strchr("=+-@\t\r", value[0]))
		return false;
	return !lr_csv_is_plain_number(value);
}

bool lr_csv_needs_quotes(const char *value)
{
	size_t len = strlen(value);
	if (len == 0)
		return false;
	if (value[0] == ' ' || value[len - 1] == ' ')
		return true;
	return strpbrk(value, ",\"\r\n") != NULL;
}

void lr_csv_field(struct lr_csv *csv, const char *value)
{
	if (csv->row_started)
		fputc(',', csv->out);
	csv->row_started = true;
	if (!value || !*value)
		return;
	bool guard = lr_csv_needs_guard(value);
	/* The guard quote is part of the cell, so it goes inside the double quotes. */
	bool quote = lr_csv_needs_quotes(value);
	if (quote)
		fputc('"', csv->out);
	if (guard)
		fputc('\'', csv->out);
	for (const char *p = value; *p; p++) {
		if (*p == '"')
			fputc('"', csv->out);
		fputc(*p, csv->out);
	}
	if (quote)
		fputc('"', csv->out);
}

void lr_csv_end_row(struct lr_csv *csv)
{
	fputs("\r\n", csv->out);
	csv->row_started = false;
}
