#ifndef LR_CSV_H
#define LR_CSV_H

/* RFC 4180 CSV writer with a spreadsheet formula guard. Pure: it only writes to the
 * FILE it is given. */

#include <stdbool.h>
#include <stdio.h>

struct lr_csv {
	FILE *out;
	bool row_started;
};

void lr_csv_init(struct lr_csv *csv, FILE *out);

/* Appends one cell; NULL is written as an empty cell. */
void lr_csv_field(struct lr_csv *csv, const char *value);

/* Ends the row with CRLF. */
void lr_csv_end_row(struct lr_csv *csv);

/* A cell starting with = + - @ TAB or CR, unless it is a plain number, would be run as a
 * formula by spreadsheets (OWASP "CSV injection"); such a cell is written with a leading '. */
bool lr_csv_needs_guard(const char *value);

/* [-+]?[0-9]+(.[0-9]+)? : the only cells starting with a guard character left alone. A
 * plain number cannot run anything, and mobile numbers such as "+4915112345678" must reach
 * the reader unchanged (a guard quote would show up literally in every spreadsheet). */
bool lr_csv_is_plain_number(const char *value);

/* Whether the (already guarded) cell must be enclosed in double quotes. */
bool lr_csv_needs_quotes(const char *value);

#endif
