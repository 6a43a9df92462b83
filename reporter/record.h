#ifndef LR_RECORD_H
#define LR_RECORD_H

/* The edge's click record, version 2 (docs/data-contract.md): one stream field "record"
 * holding "2", then TAB and a value, once per contract field, in the contract's order.
 * Inside a value backslash, TAB, LF and CR are written \\, \t, \n, \r. A later version
 * of the edge may append values; readers ignore what they do not know. */

#include <stddef.h>

#define LR_RECORD_FIELD "record"
#define LR_RECORD_VERSION "2"

/* Splits buf (len bytes plus one spare byte, modified in place) into at most max values: values[i] points
 * into buf, NUL-terminated, lens[i] is its length (a value may hold a raw NUL byte, so
 * lens is the truth). Sets *count to the number of values found (values beyond max are
 * counted, not stored). Returns NULL, or why buf is not a version-2 record. */
const char *lr_record_split(char *buf, size_t len, const char **values, size_t *lens,
			    size_t max, size_t *count);

#endif
