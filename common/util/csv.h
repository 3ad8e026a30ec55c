/*
 * csv.h - splitting one CSV line (RFC 4180 quoting) in place.
 *
 * Domain-free; no allocation. Lines are read by the caller (getline), so a
 * file of any size is handled one line at a time. Quoted fields may hold
 * commas and doubled quotes, not line breaks.
 */
#ifndef SHANTANG_UTIL_CSV_H
#define SHANTANG_UTIL_CSV_H

/*
 * csv_split - split line in place into at most max fields, each trimmed of
 * ASCII white space (and the line of its CR/LF). Returns the number of
 * fields. This function can't fail.
 */
int csv_split(char *line, char **fields, int max);

/* csv_trim - strip ASCII white space and CR/LF at both ends, in place; returns the start */
char *csv_trim(char *s);

#endif
