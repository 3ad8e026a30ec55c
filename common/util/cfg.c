/*
 * cfg.c - configuration from the environment, one table per program.
 *
 * Trusts nothing it reads: integers are parsed whole and bounded, booleans
 * spelled one of six ways. A secret NAME may come from the file NAME_FILE.
 * Error messages name the variable and never contain a secret's value.
 */
#include "util/cfg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct cfg {
    const cfg_param *params; /* the table (borrowed, static) */
    size_t n;                /* entries */
    char **values;           /* one malloc'd text per entry */
    long *ints;              /* parsed CFG_INT / CFG_BOOL values */
};

/* read_secret_file - the content of path, trailing newlines stripped; malloc'd or NULL */
static char *read_secret_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    char *buf = calloc(1, 4097);
    size_t n = buf ? fread(buf, 1, 4096, f) : 0;
    int more = fgetc(f) != EOF;
    fclose(f);
    if (buf == NULL || more) {
        free(buf);
        return NULL;
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    return buf;
}

/* parse_bool - 1/0 for the accepted spellings, -1 otherwise */
static int parse_bool(const char *s)
{
    static const char *const yes[] = {"1", "true", "yes"}, *const no[] = {"0", "false", "no"};
    for (int i = 0; i < 3; i++) {
        if (strcasecmp(s, yes[i]) == 0)
            return 1;
        if (strcasecmp(s, no[i]) == 0)
            return 0;
    }
    return -1;
}

/* cfg_load - every parameter from the environment; NULL and err on the first bad one */
cfg *cfg_load(const cfg_param *params, size_t n, char *err, size_t errlen)
{
    cfg *c = calloc(1, sizeof(*c));
    if (c == NULL || (c->values = calloc(n ? n : 1, sizeof(char *))) == NULL ||
        (c->ints = calloc(n ? n : 1, sizeof(long))) == NULL) {
        snprintf(err, errlen, "out of memory");
        return cfg_free(c);
    }
    c->params = params;
    c->n = n;
    for (size_t i = 0; i < n; i++) {
        const cfg_param *p = &params[i];
        const char *v = getenv(p->name);
        char *owned = NULL;
        if ((v == NULL || *v == '\0') && p->type == CFG_SECRET) {
            char fname[128];
            snprintf(fname, sizeof(fname), "%s_FILE", p->name);
            const char *path = getenv(fname);
            if (path && *path) {
                if ((owned = read_secret_file(path)) == NULL) {
                    snprintf(err, errlen, "%s: cannot read %s (at most 4 KiB)", fname, path);
                    return cfg_free(c);
                }
                v = owned;
            }
        }
        if (v == NULL || (*v == '\0' && p->type == CFG_SECRET))
            v = p->def;
        if (v == NULL || (*v == '\0' && p->def == NULL)) {
            snprintf(err, errlen, "%s is required%s", p->name,
                     p->type == CFG_SECRET ? " (or give it as a file in _FILE)" : "");
            free(owned);
            return cfg_free(c);
        }
        c->values[i] = owned ? owned : strdup(v);
        if (c->values[i] == NULL) {
            snprintf(err, errlen, "out of memory");
            return cfg_free(c);
        }
        if (p->type == CFG_INT) {
            char *end;
            errno = 0;
            long x = strtol(v, &end, 10);
            if (errno || end == v || *end) {
                snprintf(err, errlen, "%s: \"%s\" is not a whole number", p->name, v);
                return cfg_free(c);
            }
            if (x < p->min || x > p->max) {
                snprintf(err, errlen, "%s: %ld is %s the %s %ld", p->name, x,
                         x < p->min ? "below" : "above", x < p->min ? "minimum" : "maximum",
                         x < p->min ? p->min : p->max);
                return cfg_free(c);
            }
            c->ints[i] = x;
        } else if (p->type == CFG_BOOL) {
            int b = parse_bool(v);
            if (b < 0) {
                snprintf(err, errlen, "%s: \"%s\" is not true/false, yes/no or 1/0", p->name, v);
                return cfg_free(c);
            }
            c->ints[i] = b;
        }
    }
    return c;
}

/* cfg_str - text of a parameter */
const char *cfg_str(const cfg *c, size_t idx)
{
    return idx < c->n ? c->values[idx] : "";
}

/* cfg_int - number of a parameter */
long cfg_int(const cfg *c, size_t idx)
{
    return idx < c->n ? c->ints[idx] : 0;
}

/* cfg_free - release everything; NULL */
cfg *cfg_free(cfg *c)
{
    if (c == NULL)
        return NULL;
    for (size_t i = 0; c->values && i < c->n; i++) {
        if (c->values[i] && c->params[i].type == CFG_SECRET)
            memset(c->values[i], 0, strlen(c->values[i]));
        free(c->values[i]);
    }
    free(c->values);
    free(c->ints);
    free(c);
    return NULL;
}

/* cfg_print_sample - "# doc" and "NAME=default" lines; secrets are left empty and commented */
void cfg_print_sample(const cfg_param *params, size_t n, FILE *out)
{
    for (size_t i = 0; i < n; i++) {
        const cfg_param *p = &params[i];
        fprintf(out, "# %s%s\n", p->doc, p->def == NULL ? " (required)" : "");
        if (p->type == CFG_SECRET)
            fprintf(out, "# %s= (secret: set it here or give %s_FILE)\n", p->name, p->name);
        else
            fprintf(out, "%s=%s\n", p->name, p->def ? p->def : "");
    }
}
