/*
 * csvimport.h - the one shape of every CSV import (households, accounts):
 * a stream route's spooled body read one line at a time, UTF-8 (a BOM
 * allowed) or GBK (read as GB 18030, its superset) judged from the first
 * 64 KiB, a header naming the columns in Chinese or English, and each row
 * handed to the importer's row function under a savepoint: imported rows
 * stay, a row already present is counted, an invalid row is rolled back
 * and reported with its line number, pointer and reason. Rows commit in
 * batches of 500, so a database failure keeps what came before, and a
 * second import of the same file adds nothing (the row function's
 * "existing" answer). The answer:
 *   {"encoding": "gbk", "rows": n, "imported": n, "<existing_label>": n,
 *    "invalid": n, "errors": [{"line", "pointer", "reason"}],
 *    "errors_truncated": false}
 */
#ifndef SHANTANG_CORE_CSVIMPORT_H
#define SHANTANG_CORE_CSVIMPORT_H

#include <stddef.h>
#include "core/http.h"
#include "core/service.h"

#define CSVIMPORT_MAX_COLS 32 /* fields read per line */
#define CSVIMPORT_MAX_NAMES 6 /* spellings per column, NULL-terminated */

enum {
    CSVIMPORT_IMPORTED = 0, /* the row was written */
    CSVIMPORT_EXISTING = 1, /* already there: counted, nothing written */
    CSVIMPORT_INVALID = 2,  /* refused: row holds the problem (4xx) */
    CSVIMPORT_FAILED = -1   /* the database failed: the import stops */
};

/*
 * csvimport_row_fn - check and write one row on conn (inside a savepoint).
 * f[col[c]] is column c's trimmed text when 0 <= col[c] < nf. Returns one
 * of the CSVIMPORT_* values; for INVALID fill row with http_problem.
 */
typedef int (*csvimport_row_fn)(PGconn *conn, http_req *req, service_ctx *ctx, char **f, int nf,
                                const int *col, http_resp *row, void *arg);

typedef struct csvimport_def {
    int ncols;                                       /* columns the importer knows */
    const char *const (*names)[CSVIMPORT_MAX_NAMES]; /* per column: its spellings, first = key */
    const int *required;                             /* columns the header must name */
    int nrequired;                                   /* entries of required */
    csvimport_row_fn row;                            /* the row's check and write */
    const char *existing_label;                      /* "already_registered" */
    const char *what;                                /* "the household list", for errors */
} csvimport_def;

/* csvimport_encoding - "utf-8", "gbk" or NULL for a sample of n bytes (truncated: more follows) */
const char *csvimport_encoding(const unsigned char *sample, size_t n, int truncated);

/* csvimport_run - the whole import of req->body_file into resp */
void csvimport_run(service_ctx *ctx, http_req *req, http_resp *resp, const csvimport_def *def,
                   void *arg);

#endif
