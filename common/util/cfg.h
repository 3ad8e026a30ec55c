/*
 * cfg.h - configuration from the environment, declared once in a table.
 *
 * A program declares its parameters in one cfg_param table (name, type,
 * default, bounds, one-line doc) and an enum that indexes it in the same
 * order; code reads values by index, never by comparing key strings.
 * A CFG_SECRET parameter NAME may instead be given as NAME_FILE, a path whose
 * content (trailing newline stripped) is the value; secrets are never printed.
 * The table also generates the sample environment files under deploy/env and
 * is checked against them and the README by the tests (cfg_print_sample).
 */
#ifndef SHANTANG_UTIL_CFG_H
#define SHANTANG_UTIL_CFG_H

#include <stddef.h>
#include <stdio.h>

typedef enum { CFG_STR, CFG_INT, CFG_SECRET, CFG_BOOL } cfg_type;

typedef struct cfg_param {
    const char *name; /* environment variable name, e.g. "HTTP_PORT" */
    cfg_type type;    /* how the value is parsed and whether it may be printed */
    const char *def;  /* default as text; NULL means required */
    long min;         /* CFG_INT lower bound (inclusive) */
    long max;         /* CFG_INT upper bound (inclusive) */
    const char *doc;  /* one line for the README and sample env files */
} cfg_param;

typedef struct cfg cfg;

/*
 * cfg_load - read every parameter of the table from the environment.
 * Returns a new cfg owned by the caller (free with cfg_free), or NULL with
 * err naming the offending variable (missing required value, not a number,
 * out of bounds, unreadable _FILE).
 */
cfg *cfg_load(const cfg_param *params, size_t n, char *err, size_t errlen);

/* cfg_str - the value of parameter idx as text (never NULL after a successful load) */
const char *cfg_str(const cfg *c, size_t idx);

/* cfg_int - the value of a CFG_INT or CFG_BOOL parameter (bool: 1 or 0) */
long cfg_int(const cfg *c, size_t idx);

/* cfg_free - release c; returns NULL so that c = cfg_free(c) */
cfg *cfg_free(cfg *c);

/* cfg_print_sample - write "# doc\nNAME=default\n" lines for the table; secrets get no value */
void cfg_print_sample(const cfg_param *params, size_t n, FILE *out);

#endif
