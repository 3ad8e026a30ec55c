/*
 * csvimport.c - the CSV import every bulk route shares (see csvimport.h).
 *
 * The body was spooled to disk by the HTTP front (a stream route); it is
 * read one record at a time (csv_read_record: LF, CRLF or bare CR line ends,
 * quoted fields across lines), so a file of any size is never held in
 * memory. Errors name the physical line a record starts on. Trusts nothing of the file: bytes that
 * are neither UTF-8 nor GB 18030 are reported per line, and only the importer's row function
 * decides what a row means. A set-wise importer's rows are checked in C and their COPY lines
 * gathered, a batch at a time (IMPORT_SET_BATCH rows); a full batch goes to the database in one
 * short transaction (COPY, the move, commit), so that no transaction stays open while C works
 * and no COPY outlasts the statement timeout. Held in memory: one batch's COPY lines (a few
 * MiB) and at most IMPORT_MAX_ERRORS refusals, whatever the file's size.
 */
#include "core/csvimport.h"

#include <errno.h>
#include <iconv.h>
#include <stdlib.h>
#include <string.h>

#include "util/csv.h"
#include "util/log.h"
#include "util/utf8.h"

#define IMPORT_BATCH 500
#define IMPORT_SET_BATCH 2000
/* a set-wise batch's statements may take longer than a request's (DB_STATEMENT_TIMEOUT_MS) on
   a loaded server: their own bound, for this transaction only */
#define IMPORT_SET_TIMEOUT "SET LOCAL statement_timeout = '60s'"
#define IMPORT_MAX_ERRORS 1000
#define IMPORT_SAMPLE 65536

/* to_utf8 - convert line (GB 18030) into out (malloc'd, caller frees); NULL if not convertible */
static char *to_utf8(iconv_t cd, const char *line, size_t n)
{
    size_t cap = n * 2 + 4, left = cap - 1, inleft = n;
    char *out = malloc(cap), *w = out, *r = (char *)line;
    iconv(cd, NULL, NULL, NULL, NULL);
    if (out == NULL || iconv(cd, &r, &inleft, &w, &left) == (size_t)-1) {
        free(out);
        return NULL;
    }
    *w = '\0';
    return out;
}

typedef struct import_report {
    long rows, imported, existing, invalid;
    cJSON *errors;  /* [{line, pointer, reason}] up to IMPORT_MAX_ERRORS */
    int listed;     /* entries of errors */
    cJSON *pending; /* set-wise: the C checks' refusals of the batch (same cap), or NULL */
    int npending;   /* entries of pending */
} import_report;

/* error_entry - {line, pointer, reason} (pointer NULL: null) */
static cJSON *error_entry(long line, const char *ptr, const char *why)
{
    cJSON *e = cJSON_CreateObject();
    cJSON_AddNumberToObject(e, "line", (double)line);
    cJSON_AddItemToObject(e, "pointer", ptr ? cJSON_CreateString(ptr) : cJSON_CreateNull());
    cJSON_AddStringToObject(e, "reason", why ? why : "invalid row");
    return e;
}

/* report_error - one invalid row (set-wise: the batch's, merged at its end) */
static void report_error(import_report *r, long line, const http_resp *row)
{
    int *n = r->pending ? &r->npending : &r->listed;
    r->invalid++;
    if (*n >= IMPORT_MAX_ERRORS)
        return;
    cJSON *p = row->body ? cJSON_ParseWithLength(row->body, row->body_len) : NULL;
    const char *ptr = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "pointer"));
    const char *why = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "detail"));
    cJSON_AddItemToArray(r->pending ? r->pending : r->errors, error_entry(line, ptr, why));
    (*n)++;
    cJSON_Delete(p);
}

/* entry_line - an error entry's line */
static double entry_line(const cJSON *e)
{
    return cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(e, "line"));
}

/*
 * merge_errors - a batch's refusals into the report in line order: those of
 * the C checks (pending, counted already, emptied here) and those of the
 * set-wise step (refused, in line order, counted here; NULL: none)
 */
static void merge_errors(import_report *r, cJSON *refused)
{
    cJSON *b = cJSON_IsArray(refused) ? refused : NULL;
    r->invalid += b ? cJSON_GetArraySize(b) : 0;
    while (r->pending->child || (b && b->child)) {
        int from_b =
            b && b->child &&
            (r->pending->child == NULL || entry_line(b->child) < entry_line(r->pending->child));
        cJSON *e = cJSON_DetachItemFromArray(from_b ? b : r->pending, 0);
        if (from_b) { /* the same members in the same order as the C checks' entries */
            cJSON *x =
                error_entry((long)entry_line(e),
                            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "pointer")),
                            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "reason")));
            cJSON_Delete(e);
            e = x;
        }
        if (r->listed < IMPORT_MAX_ERRORS) {
            cJSON_AddItemToArray(r->errors, e);
            r->listed++;
        } else {
            cJSON_Delete(e);
        }
    }
    r->npending = 0;
}

/* A batch's COPY text, a staged row's fields being appended (csvimport.h). */
struct csvimport_copy {
    char *buf;       /* the lines so far, not NUL-terminated */
    size_t len, cap; /* bytes used, allocated */
};

/* copy_reserve - room for more bytes in c; 0, or -1 when out of memory */
static int copy_reserve(csvimport_copy *c, size_t more)
{
    if (c->len + more <= c->cap)
        return 0;
    size_t cap = (c->len + more) * 2 + 256;
    char *buf = realloc(c->buf, cap);
    if (buf == NULL)
        return -1;
    c->buf = buf;
    c->cap = cap;
    return 0;
}

int csvimport_copy_field(csvimport_copy *row, const char *v)
{
    if (copy_reserve(row, v ? 2 * strlen(v) + 1 : 3) < 0)
        return -1;
    if (row->len)
        row->buf[row->len++] = '\t';
    if (v == NULL) {
        memcpy(row->buf + row->len, "\\N", 2);
        row->len += 2;
        return 0;
    }
    for (; *v; v++) { /* COPY's text format: backslash, tab, and line ends escaped */
        char e = *v == '\\' ? '\\' : *v == '\t' ? 't' : *v == '\n' ? 'n' : *v == '\r' ? 'r' : 0;
        if (e) {
            row->buf[row->len++] = '\\';
            row->buf[row->len++] = e;
        } else {
            row->buf[row->len++] = *v;
        }
    }
    return 0;
}

/* line_error - a line refused before it is a row: counted and reported as "line N <what>" */
static void line_error(import_report *r, long line, const char *slug, const char *title,
                       const char *what)
{
    http_resp row = {0};
    http_problem(&row, 422, slug, title, NULL, "line %ld %s", line, what);
    report_error(r, line, &row);
    r->rows++;
    free(row.body);
}

/* simple - a statement without parameters; 0 or -1 */
static int simple(PGconn *conn, const char *sql)
{
    db_err err;
    return db_run(conn, sql, 0, NULL, &err);
}

/* import_row - one row under a savepoint; -1 on a database failure */
static int import_row(PGconn *conn, http_req *req, service_ctx *ctx, const csvimport_def *def,
                      void *arg, char **f, int nf, const int *col, long line, import_report *r)
{
    http_resp row = {0};
    int rc = 0;
    r->rows++;
    if (simple(conn, "SAVEPOINT import_row") < 0)
        return -1;
    int got = def->row(conn, req, ctx, f, nf, col, &row, arg);
    if (got == CSVIMPORT_IMPORTED) {
        r->imported++;
        rc = simple(conn, "RELEASE SAVEPOINT import_row");
    } else {
        rc = simple(conn, "ROLLBACK TO SAVEPOINT import_row");
        if (got == CSVIMPORT_EXISTING)
            r->existing++;
        else if (got == CSVIMPORT_FAILED)
            rc = -1;
        else
            report_error(r, line, &row);
    }
    free(row.body);
    return rc;
}

/* stage_row - one row of a set-wise import checked, and its COPY line added to the batch's when
   it passes; -1 when out of memory */
static int stage_row(http_req *req, service_ctx *ctx, const csvimport_def *def, void *arg, char **f,
                     int nf, const int *col, long line, csvimport_copy *copy, import_report *r)
{
    http_resp row = {0};
    char num[24];
    size_t start = copy->len, used;
    int rc = 0;
    r->rows++;
    int n = snprintf(num, sizeof(num), "%ld", line);
    int got = copy_reserve(copy, (size_t)n) < 0 ? CSVIMPORT_FAILED : CSVIMPORT_STAGED;
    if (got == CSVIMPORT_STAGED) { /* the line number, then the fields, each after a tab */
        memcpy(copy->buf + start, num, (size_t)n);
        copy->len = start + (size_t)n;
        got = def->set->stage(req, ctx, f, nf, col, copy, &row, arg);
    }
    used = copy->len;
    copy->len = start; /* the batch so far, unless the row is staged */
    if (got == CSVIMPORT_STAGED) {
        copy->len = used;
        if ((rc = copy_reserve(copy, 1)) == 0)
            copy->buf[copy->len++] = '\n';
        else
            copy->len = start;
    } else if (got == CSVIMPORT_INVALID) {
        report_error(r, line, &row);
    } else {
        rc = -1;
    }
    free(row.body);
    return rc;
}

/*
 * set_flush - a set-wise batch to the database in one transaction: its
 * staged lines by COPY, the importer's move, its refusals merged into r
 * (the C checks' alone when nothing was staged), the commit. 0; -1 on a
 * database failure (rolled back); -2 when no connection or the commit
 * failed (resp holds the 503).
 */
static int set_flush(service_ctx *ctx, http_req *req, http_resp *resp, const csvimport_def *def,
                     void *arg, csvimport_copy *copy, import_report *r)
{
    db_err err;
    PGresult *res = NULL;
    int rc = -1;
    if (copy->len == 0) {
        merge_errors(r, NULL);
        return 0;
    }
    PGconn *conn = service_tx_begin(ctx, resp);
    if (conn == NULL)
        return -2;
    if (db_run(conn, IMPORT_SET_TIMEOUT, 0, NULL, &err) < 0 ||
        db_copy_begin(conn, def->set->copy_sql, &err) < 0) {
        log_warn("import: %s", err.msg);
    } else if (db_copy_put(conn, copy->buf, copy->len, &err) < 0) {
        log_warn("import: %s", err.msg);
        db_copy_end(conn, "the import stopped", NULL);
    } else if (db_copy_end(conn, NULL, &err) < 0) {
        log_warn("import: %s", err.msg);
    } else if ((res = def->set->move(conn, req, ctx, arg, &err)) == NULL) {
        log_warn("import: %s", err.msg);
    } else if (PQntuples(res) != 1 || PQnfields(res) != 3) {
        log_error("import: the set-wise step answered no (imported, existing, refused) row");
    } else {
        cJSON *refused = PQgetisnull(res, 0, 2) ? NULL : cJSON_Parse(PQgetvalue(res, 0, 2));
        if (refused != NULL || PQgetisnull(res, 0, 2)) {
            r->imported += atol(PQgetvalue(res, 0, 0));
            r->existing += atol(PQgetvalue(res, 0, 1));
            merge_errors(r, refused);
            rc = 0;
        }
        cJSON_Delete(refused);
    }
    PQclear(res);
    copy->len = 0;
    if (rc < 0) {
        service_tx_end(ctx, conn, 0, NULL);
        return -1;
    }
    return service_tx_end(ctx, conn, 1, resp) < 0 ? -2 : 0;
}

/* header_columns - map the header's names to columns; the missing required ones in err */
static int header_columns(const csvimport_def *def, char **f, int nf, int *col, char *err,
                          size_t errlen)
{
    for (int c = 0; c < def->ncols; c++) {
        col[c] = -1;
        for (int i = 0; i < nf && col[c] < 0; i++)
            for (int k = 0; k < CSVIMPORT_MAX_NAMES && def->names[c][k]; k++)
                if (strcmp(f[i], def->names[c][k]) == 0)
                    col[c] = i;
    }
    size_t used = 0;
    for (int i = 0; i < def->nrequired && used < errlen; i++)
        if (col[def->required[i]] < 0)
            used +=
                (size_t)snprintf(err + used, errlen - used, "%s%s (%s)", used ? ", " : "",
                                 def->names[def->required[i]][0], def->names[def->required[i]][1]);
    return used ? -1 : 0;
}

/* csvimport_encoding - "utf-8", "gbk" or NULL for a sample of a file */
const char *csvimport_encoding(const unsigned char *sample, size_t n, int truncated)
{
    size_t skip = n >= 3 && memcmp(sample, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
    if ((truncated ? utf8_valid_cut : utf8_valid)((const char *)sample + skip, n - skip))
        return "utf-8";
    iconv_t cd = iconv_open("UTF-8", "GB18030");
    if (cd == (iconv_t)-1)
        return NULL;
    char *conv = to_utf8(cd, (const char *)sample, n);
    /* a sample cut inside a two-byte character converts all but its last byte */
    if (conv == NULL && truncated && n > 1)
        conv = to_utf8(cd, (const char *)sample, n - 1);
    iconv_close(cd);
    int ok = conv != NULL;
    free(conv);
    return ok ? "gbk" : NULL;
}

/* csvimport_run - the whole import, answered in resp */
void csvimport_run(service_ctx *ctx, http_req *req, http_resp *resp, const csvimport_def *def,
                   void *arg)
{
    FILE *in = req->body_file;
    unsigned char sample[IMPORT_SAMPLE];
    char err[256];
    int col[CSVIMPORT_MAX_COLS], gbk = 0;

    if (in == NULL || req->body_len == 0) {
        http_problem(resp, 400, "bad-request", "Empty import", NULL,
                     "the body is %s as CSV with a header row", def->what);
        return;
    }
    size_t n = fread(sample, 1, sizeof(sample), in);
    rewind(in);
    size_t skip = n >= 3 && memcmp(sample, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
    if (skip)
        fseek(in, (long)skip, SEEK_SET); /* the byte-order mark is not part of the header */
    const char *encoding = csvimport_encoding(sample, n, n == sizeof(sample));
    if (encoding == NULL) {
        http_problem(resp, 400, "bad-encoding", "Neither UTF-8 nor GBK", NULL,
                     "the CSV must be UTF-8 or GBK (as a Chinese spreadsheet saves it)");
        return;
    }
    gbk = strcmp(encoding, "gbk") == 0;
    iconv_t cd = iconv_open("UTF-8", "GB18030");
    if (gbk && cd == (iconv_t)-1) {
        http_problem(resp, 500, "internal", "Internal error", NULL, "no GB 18030 converter");
        return;
    }
    char *line = NULL, *text = NULL;
    size_t cap = 0;
    ssize_t len;
    long lineno = 0, next_line = 1, spanned = 0;
    import_report r = {0, 0, 0, 0, cJSON_CreateArray(), 0, NULL, 0};
    PGconn *conn = NULL;
    int in_batch = 0, failed = 0, header = 0;
    const csvimport_set *set = def->set;
    csvimport_copy copy = {NULL, 0, 0}; /* set-wise: the batch's COPY lines */
    long batch_line = 0, batch = set ? IMPORT_SET_BATCH : IMPORT_BATCH;
    if (set && (r.pending = cJSON_CreateArray()) == NULL) {
        cJSON_Delete(r.errors);
        if (cd != (iconv_t)-1)
            iconv_close(cd);
        http_problem(resp, 503, "unavailable", "Out of memory", NULL, "try again shortly");
        return;
    }

    while (!failed && (len = csv_read_record(in, &line, &cap, &spanned)) >= 0) {
        lineno = next_line;
        next_line += spanned;
        free(text);
        text = NULL;
        char *l = line;
        if ((size_t)len != strlen(l)) { /* a NUL byte would cut the row silently */
            line_error(&r, lineno, "validation", "Control character", "holds a NUL byte");
            continue;
        }
        if (gbk && (text = to_utf8(cd, l, strlen(l))) == NULL) {
            line_error(&r, lineno, "bad-encoding", "Bad encoding", "is not GBK");
            continue;
        }
        char *t = csv_trim(text ? text : l);
        if (*t == '\0')
            continue;
        if (!gbk && !utf8_valid(t, strlen(t))) {
            line_error(&r, lineno, "bad-encoding", "Bad encoding", "is not UTF-8");
            continue;
        }
        char *f[CSVIMPORT_MAX_COLS];
        int nf = csv_split(t, f, CSVIMPORT_MAX_COLS);
        if (!header) {
            if (header_columns(def, f, nf, col, err, sizeof(err)) < 0) {
                http_problem(resp, 400, "no-header", "No usable header row", NULL,
                             "the first row must name the columns; missing: %s", err);
                failed = 2;
                break;
            }
            header = 1;
            continue;
        }
        if (set) { /* checked in C now, written a batch at a time */
            if (batch_line == 0)
                batch_line = lineno;
            if (stage_row(req, ctx, def, arg, f, nf, col, lineno, &copy, &r) < 0) {
                http_problem(resp, 503, "unavailable", "Out of memory", NULL,
                             "the import stopped at line %ld; try again shortly", lineno);
                failed = 2;
                break;
            }
            if (r.rows % batch == 0) {
                int rc = set_flush(ctx, req, resp, def, arg, &copy, &r);
                failed = rc == -1 ? 1 : rc == -2 ? 2 : 0;
                if (failed)
                    break;
                batch_line = 0;
            }
            continue;
        }
        if (!in_batch) {
            if ((conn = service_tx_begin(ctx, resp)) == NULL) {
                failed = 2;
                break;
            }
            in_batch = 1;
        }
        if (import_row(conn, req, ctx, def, arg, f, nf, col, lineno, &r) < 0) {
            failed = 1;
            break;
        }
        if (r.rows % batch == 0) {
            if (service_tx_end(ctx, conn, 1, resp) < 0)
                failed = 2;
            in_batch = 0;
        }
    }
    if (!failed && len < 0 && !feof(in)) { /* out of memory or a read error, not the end */
        http_problem(resp, 500, "internal", "Internal error", NULL,
                     "the import stopped at line %ld: the file could not be read", next_line);
        failed = 2;
    }
    if (set && !failed) { /* the last batch, and the refusals of lines after it */
        int rc = set_flush(ctx, req, resp, def, arg, &copy, &r);
        failed = rc == -1 ? 1 : rc == -2 ? 2 : 0;
    }
    if (in_batch) {
        if (failed)
            service_tx_end(ctx, conn, 0, NULL);
        else if (service_tx_end(ctx, conn, 1, resp) < 0)
            failed = 2;
    }
    cJSON_Delete(r.pending);
    free(copy.buf);
    free(line);
    free(text);
    if (cd != (iconv_t)-1)
        iconv_close(cd);
    if (failed == 1) /* set-wise, a batch is kept whole or not at all */
        http_problem(resp, 503, "unavailable", "Database unavailable", NULL,
                     "the import stopped at line %ld; rows before it were kept, and importing "
                     "the file again adds only the rest",
                     set ? batch_line : lineno);
    if (failed) {
        cJSON_Delete(r.errors);
        return;
    }
    if (!header) {
        cJSON_Delete(r.errors);
        http_problem(resp, 400, "no-header", "No header row", NULL, "the CSV holds no rows");
        return;
    }
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "encoding", gbk ? "gbk" : "utf-8");
    cJSON_AddNumberToObject(out, "rows", (double)r.rows);
    cJSON_AddNumberToObject(out, "imported", (double)r.imported);
    cJSON_AddNumberToObject(out, def->existing_label, (double)r.existing);
    cJSON_AddNumberToObject(out, "invalid", (double)r.invalid);
    cJSON_AddItemToObject(out, "errors", r.errors);
    cJSON_AddBoolToObject(out, "errors_truncated", r.invalid > IMPORT_MAX_ERRORS);
    http_reply_json(resp, 200, out);
}
