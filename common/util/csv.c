/*
 * csv.c - in-place CSV line splitting; see csv.h.
 */
#include "util/csv.h"

#include <string.h>

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
