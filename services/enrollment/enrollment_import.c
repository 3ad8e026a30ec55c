/*
 * enrollment_import.c - bulk registration of households from the CSV files
 * coordinators keep in spreadsheets (POST /v1/imports/households).
 *
 * The body is spooled to disk by the HTTP front (a stream route) and read
 * one line at a time, so a 100,000-row file is never held in memory. The
 * encoding is decided from the first 64 KiB: UTF-8 (a BOM allowed) or GBK
 * (read as GB 18030, its superset, through iconv); anything else is 400.
 * The header names the columns in Chinese or English. Each row goes
 * through the same checks and insert as a single registration, under a
 * savepoint: valid rows are imported, every invalid row is reported with
 * its line number, pointer and reason; a row whose ID number is registered
 * already is counted, not imported again, so importing a file twice adds
 * nothing. Rows are committed in batches of IMPORT_BATCH.
 */
#include "enrollment.h"

#include <errno.h>
#include <iconv.h>
#include <stdlib.h>
#include <string.h>

#include "core/service.h"
#include "util/csv.h"

#define IMPORT_BATCH 500
#define IMPORT_MAX_ERRORS 1000
#define IMPORT_SAMPLE 65536

enum { COL_NAME, COL_ID, COL_PHONE, COL_VILLAGE, COL_MEMBERS, COL_LOW, COL_YEAR, COL_BASE, NCOLS };

/* The column names a header may use, Chinese or English. */
static const char *const col_names[NCOLS][6] = {
    [COL_NAME] = {"head_name", "户主姓名", "户主", "姓名", NULL},
    [COL_ID] = {"id_number", "身份证号", "身份证号码", "公民身份号码", NULL},
    [COL_PHONE] = {"phone", "手机号", "手机号码", "联系电话", NULL},
    [COL_VILLAGE] = {"village_code", "村代码", "行政村代码", "区划代码", NULL},
    [COL_MEMBERS] = {"members_count", "家庭人口", "家庭人口数", "人口数", NULL},
    [COL_LOW] = {"low_income", "低收入认定", "是否低收入", "低收入户", NULL},
    [COL_YEAR] = {"year", "认定年份", "low_income_year", NULL},
    [COL_BASE] = {"baseline_per_capita_fen", "人均基线收入(分)", "人均基线收入（分）",
                  "基线人均收入(分)", NULL},
};

/* utf8_ok - 1 if n bytes are UTF-8, allowing a sequence cut at the end */
static int utf8_ok(const unsigned char *s, size_t n, int allow_cut)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (len == 0 || (len == 2 && c < 0xc2))
            return 0;
        if (i + len > n)
            return allow_cut;
        for (size_t k = 1; k < len; k++)
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
        i += len;
    }
    return 1;
}

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

/* is_true - the spellings of "yes" in a low-income column */
static int is_true(const char *v)
{
    static const char *const yes[] = {"是", "true", "TRUE", "1", "Y", "y", "yes", NULL};
    for (int i = 0; yes[i]; i++)
        if (strcmp(v, yes[i]) == 0)
            return 1;
    return 0;
}

/* add_number - a numeric member from text, or the text itself so the checks name it */
static void add_number(cJSON *o, const char *name, const char *v)
{
    char *end;
    long long x = strtoll(v, &end, 10);
    if (*v && *end == '\0')
        cJSON_AddNumberToObject(o, name, (double)x);
    else if (*v)
        cJSON_AddStringToObject(o, name, v);
}

/* row_body - the household JSON of one row */
static cJSON *row_body(char **f, int nf, const int *col)
{
    cJSON *b = cJSON_CreateObject();
#define COL(c) (col[c] >= 0 && col[c] < nf ? f[col[c]] : "")
    if (*COL(COL_NAME))
        cJSON_AddStringToObject(b, "head_name", COL(COL_NAME));
    if (*COL(COL_ID))
        cJSON_AddStringToObject(b, "id_number", COL(COL_ID));
    if (*COL(COL_PHONE))
        cJSON_AddStringToObject(b, "phone", COL(COL_PHONE));
    if (*COL(COL_VILLAGE))
        cJSON_AddStringToObject(b, "village_code", COL(COL_VILLAGE));
    add_number(b, "members_count", COL(COL_MEMBERS));
    cJSON *li = cJSON_AddObjectToObject(b, "low_income");
    cJSON_AddBoolToObject(li, "certified", is_true(COL(COL_LOW)));
    add_number(li, "year", COL(COL_YEAR));
    add_number(li, "baseline_per_capita_fen", COL(COL_BASE));
#undef COL
    return b;
}

typedef struct import_report {
    long rows, imported, existing, invalid;
    cJSON *errors; /* [{line, pointer, reason}] up to IMPORT_MAX_ERRORS */
} import_report;

/* report_error - one invalid row */
static void report_error(import_report *r, long line, const http_resp *row)
{
    r->invalid++;
    if (cJSON_GetArraySize(r->errors) >= IMPORT_MAX_ERRORS)
        return;
    cJSON *p = row->body ? cJSON_ParseWithLength(row->body, row->body_len) : NULL;
    cJSON *e = cJSON_CreateObject();
    cJSON_AddNumberToObject(e, "line", (double)line);
    const char *ptr = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "pointer"));
    const char *why = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "detail"));
    cJSON_AddItemToObject(e, "pointer", ptr ? cJSON_CreateString(ptr) : cJSON_CreateNull());
    cJSON_AddStringToObject(e, "reason", why ? why : "invalid row");
    cJSON_AddItemToArray(r->errors, e);
    cJSON_Delete(p);
}

/* simple - a statement without parameters; 0 or -1 */
static int simple(PGconn *conn, const char *sql)
{
    db_err err;
    PGresult *res = db_exec(conn, sql, 0, NULL, &err);
    PQclear(res);
    return res ? 0 : -1;
}

/* import_row - check and insert one row under a savepoint; -1 on a database failure */
static int import_row(PGconn *conn, http_req *req, service_ctx *ctx, char **f, int nf,
                      const int *col, long line, import_report *r)
{
    household_input *in = calloc(1, sizeof(*in));
    http_resp row = {0};
    int rc = 0;
    in->st = ctx->state;
    cJSON *body = row_body(f, nf, col);
    r->rows++;
    if (enrollment_household_fields(body, in, &row) < 0) {
        report_error(r, line, &row);
    } else if (!auth_region_allows(&req->auth, in->village)) {
        http_problem(&row, 403, "forbidden", "Outside your villages", "/village_code",
                     "village %s is not in your scope", in->village);
        report_error(r, line, &row);
    } else if (simple(conn, "SAVEPOINT import_row") < 0) {
        rc = -1;
    } else if (enrollment_household_insert(conn, req, &row, in) == 0) {
        r->imported++;
        rc = simple(conn, "RELEASE SAVEPOINT import_row");
    } else {
        rc = simple(conn, "ROLLBACK TO SAVEPOINT import_row");
        if (row.status == 409)
            r->existing++;
        else if (row.status == 503)
            rc = -1;
        else
            report_error(r, line, &row);
    }
    free(row.body);
    cJSON_Delete(body);
    free(in);
    return rc;
}

/* header_columns - map the header's names to columns; the missing required ones in err */
static int header_columns(char **f, int nf, int *col, char *err, size_t errlen)
{
    for (int c = 0; c < NCOLS; c++) {
        col[c] = -1;
        for (int i = 0; i < nf && col[c] < 0; i++)
            for (int k = 0; col_names[c][k]; k++)
                if (strcmp(f[i], col_names[c][k]) == 0)
                    col[c] = i;
    }
    size_t used = 0;
    static const int required[] = {COL_NAME, COL_ID, COL_PHONE, COL_VILLAGE};
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
        if (col[required[i]] < 0)
            used += (size_t)snprintf(err + used, errlen - used, "%s%s (%s)", used ? ", " : "",
                                     col_names[required[i]][0], col_names[required[i]][1]);
    return used ? -1 : 0;
}

/* enrollment_csv_encoding - "utf-8", "gbk" or NULL for a sample of a file */
const char *enrollment_csv_encoding(const unsigned char *sample, size_t n, int truncated)
{
    size_t skip = n >= 3 && memcmp(sample, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
    if (utf8_ok(sample + skip, n - skip, truncated))
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

/* enrollment_import - POST /v1/imports/households, body text/csv (UTF-8 or GBK) */
void enrollment_import(http_req *req, http_resp *resp, void *ctx)
{
    FILE *in = req->body_file;
    unsigned char sample[IMPORT_SAMPLE];
    char err[256];
    int col[NCOLS], gbk = 0;

    if (in == NULL || req->body_len == 0) {
        http_problem(resp, 400, "bad-request", "Empty import", NULL,
                     "the body is the household list as CSV with a header row");
        return;
    }
    size_t n = fread(sample, 1, sizeof(sample), in);
    rewind(in);
    size_t skip = n >= 3 && memcmp(sample, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
    const char *encoding = enrollment_csv_encoding(sample, n, n == sizeof(sample));
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
    long lineno = 0;
    import_report r = {0, 0, 0, 0, cJSON_CreateArray()};
    PGconn *conn = NULL;
    int in_batch = 0, failed = 0, header = 0;

    while (!failed && (len = getline(&line, &cap, in)) >= 0) {
        lineno++;
        free(text);
        text = NULL;
        char *l = line + (lineno == 1 ? skip : 0);
        if (gbk && (text = to_utf8(cd, l, strlen(l))) == NULL) {
            http_resp row = {0};
            http_problem(&row, 422, "bad-encoding", "Bad encoding", NULL, "line %ld is not GBK",
                         lineno);
            report_error(&r, lineno, &row);
            r.rows++;
            free(row.body);
            continue;
        }
        char *t = csv_trim(text ? text : l);
        if (*t == '\0')
            continue;
        if (!gbk && !utf8_ok((unsigned char *)t, strlen(t), 0)) {
            http_resp row = {0};
            http_problem(&row, 422, "bad-encoding", "Bad encoding", NULL, "line %ld is not UTF-8",
                         lineno);
            report_error(&r, lineno, &row);
            r.rows++;
            free(row.body);
            continue;
        }
        char *f[32];
        int nf = csv_split(t, f, 32);
        if (!header) {
            if (header_columns(f, nf, col, err, sizeof(err)) < 0) {
                http_problem(resp, 400, "no-header", "No usable header row", NULL,
                             "the first row must name the columns; missing: %s", err);
                failed = 2;
                break;
            }
            header = 1;
            continue;
        }
        if (!in_batch) {
            if ((conn = service_tx_begin(ctx, resp)) == NULL) {
                failed = 2;
                break;
            }
            in_batch = 1;
        }
        if (import_row(conn, req, ctx, f, nf, col, lineno, &r) < 0) {
            failed = 1;
            break;
        }
        if (r.rows % IMPORT_BATCH == 0) {
            if (service_tx_end(ctx, conn, 1, resp) < 0)
                failed = 2;
            in_batch = 0;
        }
    }
    if (in_batch) {
        if (failed)
            service_tx_end(ctx, conn, 0, NULL);
        else if (service_tx_end(ctx, conn, 1, resp) < 0)
            failed = 2;
    }
    free(line);
    free(text);
    if (cd != (iconv_t)-1)
        iconv_close(cd);
    if (failed == 1)
        http_problem(resp, 503, "unavailable", "Database unavailable", NULL,
                     "the import stopped at line %ld; rows before it were kept, and importing "
                     "the file again adds only the rest",
                     lineno);
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
    cJSON_AddNumberToObject(out, "already_registered", (double)r.existing);
    cJSON_AddNumberToObject(out, "invalid", (double)r.invalid);
    cJSON_AddItemToObject(out, "errors", r.errors);
    cJSON_AddBoolToObject(out, "errors_truncated", r.invalid > IMPORT_MAX_ERRORS);
    http_reply_json(resp, 200, out);
}
