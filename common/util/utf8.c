/*
 * utf8.c - strict UTF-8 checks (see utf8.h). Trusts nothing: every byte is
 * checked against RFC 3629's table of well-formed sequences.
 */
#include "util/utf8.h"

#include <string.h>

/*
 * seq - the length of the sequence at s (n bytes left) when well-formed; 0
 * otherwise, with *cut set when the sequence is only cut short by the end
 * of the bytes and those it has are a well-formed beginning.
 */
static size_t seq(const unsigned char *s, size_t n, int *cut)
{
    unsigned c = s[0], cp, min;
    size_t need;

    *cut = 0;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        need = 2, cp = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3, cp = c & 0x07, min = 0x10000;
    } else {
        return 0; /* continuation byte, C0/C1 overlong lead, or F5..FF */
    }
    size_t have = n - 1 < need ? n - 1 : need;
    for (size_t k = 1; k <= have; k++) {
        unsigned d = s[k];
        if ((d & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (d & 0x3F);
    }
    if (have < need) {
        /* the bits present must still allow a valid code point */
        unsigned shift = (unsigned)(6 * (need - have));
        unsigned lo = cp << shift, hi = lo | ((1u << shift) - 1);
        *cut = hi >= min && lo <= 0x10FFFF && !(lo >= 0xD800 && hi <= 0xDFFF);
        return 0;
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0; /* overlong, beyond Unicode, or a surrogate */
    return need + 1;
}

size_t utf8_seq(const unsigned char *s, size_t n)
{
    int cut;
    return n ? seq(s, n, &cut) : 0;
}

/* valid - the loop of utf8_valid and utf8_valid_cut */
static int valid(const char *s, size_t n, int allow_cut)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    int cut;

    while (i < n) {
        size_t k = seq(p + i, n - i, &cut);
        if (k == 0)
            return allow_cut && cut;
        i += k;
    }
    return 1;
}

int utf8_valid(const char *s, size_t n)
{
    return valid(s, n, 0);
}

int utf8_valid_cut(const char *s, size_t n)
{
    return valid(s, n, 1);
}

size_t utf8_chars(const char *s)
{
    size_t n = 0;

    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p & 0xC0) != 0x80)
            n++;
    return n;
}

void utf8_scrub(char *s)
{
    unsigned char *p = (unsigned char *)s;
    size_t n = strlen(s), i = 0;

    while (i < n) {
        size_t k = utf8_seq(p + i, n - i);
        if (k == 0) {
            p[i] = '?';
            k = 1;
        }
        i += k;
    }
}
