/*
 * sbuf.c - a growing byte buffer (see sbuf.h). Doubles its allocation,
 * starting at 1 KiB.
 */
#include "util/sbuf.h"

#include <stdlib.h>
#include <string.h>

/* sbuf_put - append n bytes; marks the buffer failed on allocation failure */
void sbuf_put(sbuf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (b->len + n + 1 > cap)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

/* sbuf_str - append a NUL-terminated string */
void sbuf_str(sbuf *b, const char *s)
{
    sbuf_put(b, s, strlen(s));
}
