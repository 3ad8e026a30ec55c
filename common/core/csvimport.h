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
 * "existing" answer).
 *
 * A set-wise importer (csvimport_def.set) checks each row in C the same
 * way but writes nothing per row: the rows that pass are streamed with COPY
 * into a staging table a batch at a time, and each batch is then checked
 * and moved by one statement of its own (the checks that need the database, done over the
 * whole batch), which also reports the rows it refused; the report merges
 * them with the C checks' by line, so it reads as a row-by-row import's.
 * The answer, either way:
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
    CSVIMPORT_STAGED = 3,   /* set-wise: passed the C checks, its COPY line written */
    CSVIMPORT_FAILED = -1   /* the database failed: the import stops */
};

/*
 * csvimport_row_fn - check and write one row on conn (inside a savepoint).
 * f[col[c]] is column c's trimmed text when 0 <= col[c] < nf. Returns one
 * of the CSVIMPORT_* values; for INVALID fill row with http_problem.
 */
typedef int (*csvimport_row_fn)(PGconn *conn, http_req *req, service_ctx *ctx, char **f, int nf,
                                const int *col, http_resp *row, void *arg);

/* csvimport_copy - a batch's COPY text, to which a staged row's fields are appended
   (csvimport_copy_field) */
typedef struct csvimport_copy csvimport_copy;

/* csvimport_copy_field - append field v (NULL: SQL NULL) to the row, escaped for COPY's text
   format; 0, or -1 when out of memory */
int csvimport_copy_field(csvimport_copy *row, const char *v);

/*
 * csvimport_stage_fn - a set-wise importer's check of one row (f, nf, col as
 * for csvimport_row_fn), with nothing written to the database: for a row
 * that passes, append its fields to out (after the line number csvimport
 * has put first) and return CSVIMPORT_STAGED; for one refused, fill row with
 * http_problem and return CSVIMPORT_INVALID; CSVIMPORT_FAILED when out of
 * memory (the import stops).
 */
typedef int (*csvimport_stage_fn)(http_req *req, service_ctx *ctx, char **f, int nf, const int *col,
                                  csvimport_copy *out, http_resp *row, void *arg);

/*
 * csvimport_move_fn - after a batch's COPY, on conn inside the batch's
 * transaction: check the staged rows set-wise, write those that pass and
 * empty the staging table, in one statement whose one row is (imported
 * bigint, existing bigint, refused json: [{line, pointer, reason}] in line
 * order). Returns the result (csvimport PQclear()s it), or NULL with err on
 * a database failure (the import stops; the batch is rolled back).
 */
typedef PGresult *(*csvimport_move_fn)(PGconn *conn, http_req *req, service_ctx *ctx, void *arg,
                                       db_err *err);

typedef struct csvimport_set {
    const char *copy_sql;     /* COPY <staging> (line, <the stage fn's fields>) FROM STDIN */
    csvimport_stage_fn stage; /* a row's C checks and its COPY line */
    csvimport_move_fn move;   /* a batch's set-wise checks and move */
} csvimport_set;

typedef struct csvimport_def {
    int ncols;                                       /* columns the importer knows */
    const char *const (*names)[CSVIMPORT_MAX_NAMES]; /* per column: its spellings, first = key */
    const int *required;                             /* columns the header must name */
    int nrequired;                                   /* entries of required */
    csvimport_row_fn row;                            /* the row's check and write */
    const csvimport_set *set;                        /* set-wise instead of row, or NULL */
    const char *existing_label;                      /* "already_registered" */
    const char *what;                                /* "the household list", for errors */
} csvimport_def;

/* csvimport_encoding - "utf-8", "gbk" or NULL for a sample of n bytes (truncated: more follows) */
const char *csvimport_encoding(const unsigned char *sample, size_t n, int truncated);

/* csvimport_run - the whole import of req->body_file into resp */
void csvimport_run(service_ctx *ctx, http_req *req, http_resp *resp, const csvimport_def *def,
                   void *arg);

#endif
