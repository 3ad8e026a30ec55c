/*
 * sbuf.h - a growing byte buffer, always NUL-terminated.
 *
 * Appends never fail loudly: an allocation failure marks the buffer failed,
 * later appends do nothing, and the owner checks `failed` once at the end.
 * Zero-initialise it (sbuf b = {0}); the owner frees b.p.
 */
#ifndef SHANTANG_UTIL_SBUF_H
#define SHANTANG_UTIL_SBUF_H

#include <stddef.h>

typedef struct sbuf {
    char *p;         /* the bytes, NUL-terminated once anything was appended */
    size_t len, cap; /* bytes used, bytes allocated */
    int failed;      /* 1 after an allocation failed */
} sbuf;

/* sbuf_put - append n bytes */
void sbuf_put(sbuf *b, const char *s, size_t n);

/* sbuf_str - append a NUL-terminated string */
void sbuf_str(sbuf *b, const char *s);

#endif
