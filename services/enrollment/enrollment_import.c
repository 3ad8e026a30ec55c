/*
 * enrollment_import.c - bulk registration of households from the CSV files
 * coordinators keep in spreadsheets (POST /v1/imports/households).
 *
 * The reading, encodings, header, batches and report are the shared CSV
 * import's (core/csvimport.h), set-wise: each row goes through the same
 * field and scope checks as a single registration, in C, and the rows that
 * pass are COPYed into household_import_rows; each batch is then checked
 * and moved by household_import_move (schema enrollment 002): a village
 * the read model does not know is refused with the single registration's
 * reason, a row whose ID number is registered already (or repeats an
 * earlier line's) is counted as already_registered, not imported again, so
 * importing a file twice adds nothing; every household imported gets its
 * household.registered event in the same transaction.
 */
#include "enrollment.h"

#include <stdlib.h>
#include <string.h>

#include "core/csvimport.h"
#include "core/event.h"
#include "core/service.h"
#include "util/crypto.h"

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

/* add_number - a numeric member from text, or the text itself so the checks name it;
   0, or -1 when out of memory */
static int add_number(cJSON *o, const char *name, const char *v)
{
    char *end;
    long long x = strtoll(v, &end, 10);
    if (*v && *end == '\0')
        return cJSON_AddNumberToObject(o, name, (double)x) ? 0 : -1;
    if (*v)
        return cJSON_AddStringToObject(o, name, v) ? 0 : -1;
    return 0;
}

/* add_text - a string member when v is not empty; 0, or -1 when out of memory */
static int add_text(cJSON *o, const char *name, const char *v)
{
    return *v == '\0' || cJSON_AddStringToObject(o, name, v) ? 0 : -1;
}

/* row_body - the household JSON of one row (caller frees), or NULL when out of memory: a
   body missing a member for want of memory must not pass for a row without it */
static cJSON *row_body(char **f, int nf, const int *col)
{
    cJSON *b = cJSON_CreateObject(), *li = NULL;
#define COL(c) (col[c] >= 0 && col[c] < nf ? f[col[c]] : "")
    int ok = b != NULL && add_text(b, "head_name", COL(COL_NAME)) == 0 &&
             add_text(b, "id_number", COL(COL_ID)) == 0 &&
             add_text(b, "phone", COL(COL_PHONE)) == 0 &&
             add_text(b, "village_code", COL(COL_VILLAGE)) == 0 &&
             add_number(b, "members_count", COL(COL_MEMBERS)) == 0 &&
             (li = cJSON_AddObjectToObject(b, "low_income")) != NULL &&
             cJSON_AddBoolToObject(li, "certified", is_true(COL(COL_LOW))) != NULL &&
             add_number(li, "year", COL(COL_YEAR)) == 0 &&
             add_number(li, "baseline_per_capita_fen", COL(COL_BASE)) == 0;
#undef COL
    if (!ok) {
        cJSON_Delete(b);
        return NULL;
    }
    return b;
}

/* stage_row - check one household row and write its COPY line (csvimport_stage_fn): the
   fields of household_import_rows after the line, its ID numbers protected here */
static int stage_row(http_req *req, service_ctx *ctx, char **f, int nf, const int *col,
                     csvimport_copy *out, http_resp *row, void *arg)
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
    } else {
        char event_id[37], num[3][24];
        const char *v[ENROLLMENT_HOUSEHOLD_COLS + 2] = {in->hid, event_id};
        crypto_uuid_v7(in->hid);
        crypto_uuid_v7(event_id);
        enrollment_household_columns(in, num, v + 2);
        rc = CSVIMPORT_STAGED;
        for (int i = 0; i < ENROLLMENT_HOUSEHOLD_COLS + 2 && rc == CSVIMPORT_STAGED; i++)
            if (csvimport_copy_field(out, v[i]) < 0)
                rc = CSVIMPORT_FAILED;
    }
    cJSON_Delete(body);
    free(in);
    return rc;
}

/* move_batch - the staged rows checked and moved in one statement (csvimport_move_fn) */
static PGresult *move_batch(PGconn *conn, http_req *req, service_ctx *ctx, void *arg, db_err *err)
{
    (void)ctx;
    (void)arg;
    char *envelope = event_envelope_text("enrollment", "household.registered", "");
    if (envelope == NULL) {
        snprintf(err->sqlstate, sizeof(err->sqlstate), "%s", "");
        snprintf(err->msg, sizeof(err->msg), "out of memory");
        return NULL;
    }
    const char *params[3] = {req->auth.sub, envelope, ENROLLMENT_TOPIC};
    PGresult *res = db_exec(conn,
                            "SELECT imported, existing, refused::text FROM "
                            "household_import_move($1, $2::jsonb, $3)",
                            3, params, err);
    free(envelope);
    return res;
}

static const csvimport_set household_stage = {
    .copy_sql = "COPY household_import_rows (line, id, event_id, head_name, id_enc, id_index, "
                "id_masked, phone, village_code, members_count, low_income, low_income_year, "
                "baseline_per_capita_fen) FROM STDIN",
    .stage = stage_row,
    .move = move_batch,
};

static const int required_cols[] = {COL_NAME, COL_ID, COL_PHONE, COL_VILLAGE};

static const csvimport_def household_import = {
    .ncols = NCOLS,
    .names = col_names,
    .required = required_cols,
    .nrequired = 4,
    .set = &household_stage,
    .existing_label = "already_registered",
    .what = "the household list",
};

/* enrollment_import - POST /v1/imports/households, body text/csv (UTF-8 or GBK) */
void enrollment_import(http_req *req, http_resp *resp, void *ctx)
{
    csvimport_run(ctx, req, resp, &household_import, NULL);
}
