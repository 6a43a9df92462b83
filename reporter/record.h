#ifndef LR_RECORD_H
#define LR_RECORD_H

/* The edge's click record, version 2 (docs/data-contract.md): one stream field "record"
 * holding "2", then TAB and a value, once per contract field, in the contract's order.
 * Inside a value backslash, TAB, LF and CR are written \\, \t, \n, \r. A later version
 * of the edge may append values; readers ignore what they do not know. */

#include <stdbool.h>
#include <stddef.h>

#define LR_RECORD_FIELD "record"
#define LR_RECORD_VERSION "2"

/* The edge batches the records of one event-loop cycle into one entry: the field's value
 * holds one or more records, each ended by the next raw LF (a record's own LFs are
 * escaped, so a raw one can only be a separator). At most this many records per entry. */
#define LR_RECORDS_PER_ENTRY_MAX 64

/* The records in value: its raw LFs plus one (empty ones counted). */
size_t lr_record_count(const char *value, size_t len);

/* The next record of value: *pos starts at 0; sets *record and *record_len (the bytes up
 * to the next raw LF or the end, possibly none) and returns true, or returns false when
 * every record was read. A value without a raw LF is one record, even an empty one. */
bool lr_record_next(const char *value, size_t len, size_t *pos, const char **record,
		    size_t *record_len);

/* Splits buf (len bytes plus one spare byte, modified in place) into at most max values: values[i] points
 * into buf, NUL-terminated, lens[i] is its length (a value may hold a raw NUL byte, so
 * lens is the truth). Sets *count to the number of values found (values beyond max are
 * counted, not stored). Returns NULL, or why buf is not a version-2 record. */
const char *lr_record_split(char *buf, size_t len, const char **values, size_t *lens,
			    size_t max, size_t *count);

#endif
