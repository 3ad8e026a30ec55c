/*
 * enrollment_import.c - bulk registration of households from the CSV files
 * coordinators keep in spreadsheets (POST /v1/imports/households).
 *
 * The reading, encodings, header, savepoints, batches and report are the
 * shared CSV import's (core/csvimport.h). Each row goes through the same
 * checks and insert as a single registration; a row whose ID number is
 * registered already is counted as already_registered, not imported again,
 * so importing a file twice adds nothing.
 */
#include "enrollment.h"

#include <stdlib.h>
#include <string.h>

#include "core/csvimport.h"
#include "core/service.h"

enum { COL_NAME, COL_ID, COL_PHONE, COL_VILLAGE, COL_MEMBERS, COL_LOW, COL_YEAR, COL_BASE, NCOLS };

/* The column names a header may use, Chinese or English. */
static const char *const col_names[NCOLS][CSVIMPORT_MAX_NAMES] = {
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

/* import_row - check and insert one household row (csvimport_row_fn) */
static int import_row(PGconn *conn, http_req *req, service_ctx *ctx, char **f, int nf,
                      const int *col, http_resp *row, void *arg)
{
    (void)arg;
    household_input *in = calloc(1, sizeof(*in));
    if (in == NULL)
        return CSVIMPORT_FAILED;
    int rc = CSVIMPORT_INVALID;
    in->st = ctx->state;
    cJSON *body = row_body(f, nf, col);
    if (body == NULL) {
        rc = CSVIMPORT_FAILED;
    } else if (enrollment_household_fields(body, in, row) < 0) {
        rc = CSVIMPORT_INVALID;
    } else if (!auth_region_allows(&req->auth, in->village)) {
        http_problem(row, 403, "forbidden", "Outside your villages", "/village_code",
                     "village %s is not in your scope", in->village);
    } else if (enrollment_household_insert(conn, req, row, in) == 0) {
        rc = CSVIMPORT_IMPORTED;
    } else {
        rc = row->status == 409   ? CSVIMPORT_EXISTING
             : row->status == 503 ? CSVIMPORT_FAILED
                                  : CSVIMPORT_INVALID;
    }
    cJSON_Delete(body);
    free(in);
    return rc;
}

static const int required_cols[] = {COL_NAME, COL_ID, COL_PHONE, COL_VILLAGE};

static const csvimport_def household_import = {
    .ncols = NCOLS,
    .names = col_names,
    .required = required_cols,
    .nrequired = 4,
    .row = import_row,
    .existing_label = "already_registered",
    .what = "the household list",
};

/* enrollment_import - POST /v1/imports/households, body text/csv (UTF-8 or GBK) */
void enrollment_import(http_req *req, http_resp *resp, void *ctx)
{
    csvimport_run(ctx, req, resp, &household_import, NULL);
}
