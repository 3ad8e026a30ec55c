/*
 * utf8.h - strict UTF-8 (RFC 3629): well-formed sequences only, no overlong
 * forms, no surrogates, nothing beyond U+10FFFF.
 *
 * Domain-free, allocation-free. The HTTP front checks paths, query
 * arguments, bodies and string fields with it; the CSV import checks its
 * sample and its rows with it to tell UTF-8 from GB 18030.
 */
#ifndef SHANTANG_UTIL_UTF8_H
#define SHANTANG_UTIL_UTF8_H

#include <stddef.h>

/* utf8_seq - the length of the well-formed sequence at s (n bytes left), 0 if none */
size_t utf8_seq(const unsigned char *s, size_t n);

/* utf8_valid - 1 if s[0..n) is well-formed UTF-8, 0 otherwise */
int utf8_valid(const char *s, size_t n);

/*
 * utf8_valid_cut - like utf8_valid, but a sequence cut short by the end of
 * the n bytes (a sample taken from a longer text) is accepted when the bytes
 * it has are a well-formed beginning.
 */
int utf8_valid_cut(const char *s, size_t n);

/* utf8_chars - the number of characters of a NUL-terminated valid UTF-8 string */
size_t utf8_chars(const char *s);

/* utf8_scrub - replace, in place, every byte that does not start a well-formed sequence by '?' */
void utf8_scrub(char *s);

#endif
