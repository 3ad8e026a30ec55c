/*
 * csv.c - in-place CSV line splitting; see csv.h.
 */
#include "util/csv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* buf_put - append one byte to a growing buffer; -1 when out of memory */
static int buf_put(char **buf, size_t *cap, size_t *n, int c)
{
    if (*n + 2 > *cap) {
        size_t want = *cap ? *cap * 2 : 256;
        char *p = realloc(*buf, want);
        if (p == NULL) {
            errno = ENOMEM;
            return -1;
        }
        *buf = p;
        *cap = want;
    }
    (*buf)[(*n)++] = (char)c;
    return 0;
}

/* csv_read_record - one record (quotes honoured, any line end) into *buf; length or -1 */
ssize_t csv_read_record(FILE *in, char **buf, size_t *cap, long *lines)
{
    size_t n = 0;
    int c, quoted = 0, closed = 0, field_start = 1, any = 0, prev = 0;

    *lines = 1;
    while ((c = getc(in)) != EOF) {
        any = 1;
        if (!quoted && (c == '\n' || c == '\r')) {
            if (c == '\r') { /* CRLF is one line end; a bare CR is one too */
                int d = getc(in);
                if (d != '\n' && d != EOF)
                    ungetc(d, in);
            }
            break;
        }
        if (c == '"') {
            if (quoted) {
                quoted = 0, closed = 1; /* a closing quote, unless the next one doubles it */
            } else if (closed) {
                quoted = 1, closed = 0; /* "" inside a quoted field */
            } else if (field_start) {
                quoted = 1;
            }
        } else {
            closed = 0;
            if (quoted && (c == '\r' || (c == '\n' && prev != '\r')))
                (*lines)++; /* a line break inside quotes */
        }
        field_start = !quoted && c == ',';
        prev = c;
        if (buf_put(buf, cap, &n, c) < 0)
            return -1;
    }
    if (!any)
        return -1;
    if (*buf == NULL && buf_put(buf, cap, &n, 0) < 0)
        return -1;
    (*buf)[n] = '\0';
    return (ssize_t)n;
}

/* csv_trim - strip ASCII white space and line ends at both ends, in place */
char *csv_trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

/* csv_split - fields of one line, quotes honoured */
int csv_split(char *line, char **fields, int max)
{
    int n = 0;
    char *p = line;

    while (n < max) {
        char *out = p;
        fields[n++] = p;
        if (*p == '"') {
            p++;
            while (*p) {
                if (*p == '"' && p[1] == '"') {
                    *out++ = '"';
                    p += 2;
                } else if (*p == '"') {
                    p++;
                    break;
                } else {
                    *out++ = *p++;
                }
            }
            while (*p && *p != ',')
                p++;
        } else {
            while (*p && *p != ',')
                *out++ = *p++;
        }
        int last = (*p == '\0');
        *out = '\0';
        if (last)
            break;
        p++;
    }
    for (int i = 0; i < n; i++)
        fields[i] = csv_trim(fields[i]);
    return n;
}
