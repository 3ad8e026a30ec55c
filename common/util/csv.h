/*
 * csv.h - splitting one CSV line (RFC 4180 quoting) in place.
 *
 * Domain-free. csv_read_record reads one record at a time (so a file of any
 * size is never held whole), ending it at an LF, a CRLF or a bare CR outside
 * quotes; quoted fields (RFC 4180) may hold commas, doubled quotes and line
 * breaks. csv_split then splits the record in place without allocating.
 */
#ifndef SHANTANG_UTIL_CSV_H
#define SHANTANG_UTIL_CSV_H

#include <stdio.h>
#include <sys/types.h>

/*
 * csv_read_record - read one record of in into *buf (malloc'd and grown as
 * needed, *cap bytes; the caller frees it), NUL-terminated and without its
 * line end. *lines gets the number of physical lines it spanned (1, or more
 * when a quoted field holds line breaks), counting LF, CRLF and CR alike.
 * Returns the record's length, or -1 at the end of input or when out of
 * memory (then errno is ENOMEM).
 */
ssize_t csv_read_record(FILE *in, char **buf, size_t *cap, long *lines);

/*
 * csv_split - split line in place into at most max fields, each trimmed of
 * ASCII white space (and the line of its CR/LF). Returns the number of
 * fields. This function can't fail.
 */
int csv_split(char *line, char **fields, int max);

/* csv_trim - strip ASCII white space and CR/LF at both ends, in place; returns the start */
char *csv_trim(char *s);

#endif
