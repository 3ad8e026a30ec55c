/*
 * accounts_import.c - the county's lists of coordinators (and any other
 * grant) as CSV: POST /v1/imports/accounts (admin), UTF-8 or GBK, Chinese
 * or English headers, through the shared CSV import (core/csvimport.h).
 *
 * A row is one person with one grant: name, phone, role, and the regions
 * (separated by ; or 、 or spaces), unit or notable id the role needs. A
 * row whose phone has an account holding that grant already is counted
 * as already_present (a replay adds nothing); a phone with an account
 * and another grant, an unknown village, a malformed phone are that row's
 * error, and the rest is imported. Each imported row goes through the same
 * checks, audit and events as POST /v1/accounts.
 */
#include "accounts.h"

#include <stdlib.h>
#include <string.h>

#include "core/cnid.h"
#include "core/csvimport.h"

enum { COL_NAME, COL_PHONE, COL_ROLE, COL_REGIONS, COL_UNIT, COL_NOTABLE, NCOLS };

static const char *const col_names[NCOLS][CSVIMPORT_MAX_NAMES] = {
    [COL_NAME] = {"name", "姓名", NULL},
    [COL_PHONE] = {"phone", "手机号", "手机号码", "联系电话", NULL},
    [COL_ROLE] = {"role", "角色", "岗位", NULL},
    [COL_REGIONS] = {"regions", "区划代码", "村代码", "负责区域", NULL},
    [COL_UNIT] = {"unit", "承办单位", "单位编号", NULL},
    [COL_NOTABLE] = {"notable_id", "乡贤编号", NULL},
};

/* The Chinese names of the roles as the county's lists write them. */
static const char *const role_names[][2] = {
    {"村协调员", "coordinator"}, {"协调员", "coordinator"}, {"乡贤", "notable"},
    {"承办单位", "handler"},     {"承办人", "handler"},     {"督查", "supervisor"},
    {"督查员", "supervisor"},    {"规划", "planner"},       {"统计", "planner"},
    {"规划统计", "planner"},     {"管理员", "admin"},
};

/* role_of - the role name of a cell (English or Chinese), the cell itself if unknown */
static const char *role_of(const char *cell)
{
    for (size_t i = 0; i < sizeof(role_names) / sizeof(role_names[0]); i++)
        if (strcmp(cell, role_names[i][0]) == 0)
            return role_names[i][1];
    return cell;
}

/* add_regions - split a regions cell on ; , 、 and spaces into an array */
static void add_regions(cJSON *g, const char *cell)
{
    cJSON *arr = cJSON_AddArrayToObject(g, "regions");
    char buf[1024];
    snprintf(buf, sizeof(buf), "%s", cell);
    /* 、 (U+3001) is three bytes; turn it into a space first */
    for (char *p = strstr(buf, "\xE3\x80\x81"); p; p = strstr(p, "\xE3\x80\x81"))
        memcpy(p, "   ", 3);
    char *save = NULL;
    for (char *t = strtok_r(buf, ";, ", &save); t; t = strtok_r(NULL, ";, ", &save))
        cJSON_AddItemToArray(arr, cJSON_CreateString(t));
}

/* import_row - one person with one grant (csvimport_row_fn) */
static int import_row(PGconn *conn, http_req *req, service_ctx *ctx, char **f, int nf,
                      const int *col, http_resp *row, void *arg)
{
    (void)arg;
    acc_state *st = ctx->state;
#define COL(c) (col[c] >= 0 && col[c] < nf ? f[col[c]] : "")
    cJSON *body = cJSON_CreateObject(), *grants = cJSON_AddArrayToObject(body, "grants");
    cJSON *g = cJSON_CreateObject();
    cJSON_AddItemToArray(grants, g);
    if (*COL(COL_NAME))
        cJSON_AddStringToObject(body, "name", COL(COL_NAME));
    if (*COL(COL_PHONE))
        cJSON_AddStringToObject(body, "phone", COL(COL_PHONE));
    cJSON_AddStringToObject(g, "role", role_of(COL(COL_ROLE)));
    add_regions(g, COL(COL_REGIONS));
    if (*COL(COL_UNIT))
        cJSON_AddStringToObject(g, "unit", COL(COL_UNIT));
    if (*COL(COL_NOTABLE))
        cJSON_AddStringToObject(g, "notable_id", COL(COL_NOTABLE));
#undef COL
    int rc = CSVIMPORT_INVALID;
    char phone[12];
    acc_grant ag = {0};
    const char *raw = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(body, "phone"));
    db_err err;
    if (raw == NULL || cnid_phone_normalise(raw, phone) < 0) {
        http_problem(row, 422, "validation", "Invalid phone", "/phone",
                     "phone must be a mainland mobile number (11 digits starting 13-19)");
        goto out;
    }
    const char *pp[1] = {phone};
    PGresult *res = db_exec(conn, "SELECT id FROM accounts WHERE phone = $1", 1, pp, &err);
    if (res == NULL) {
        rc = CSVIMPORT_FAILED;
        goto out;
    }
    int exists = PQntuples(res) == 1;
    char account[37] = "";
    if (exists)
        snprintf(account, sizeof(account), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    if (!exists) {
        rc = acc_account_create(conn, req, row, body, st) == 0 ? CSVIMPORT_IMPORTED
             : row->status == 503                              ? CSVIMPORT_FAILED
                                                               : CSVIMPORT_INVALID;
        goto out;
    }
    if (acc_grant_check(g, "/grants/0", &ag, row) < 0 ||
        acc_grant_known(conn, &ag, "/grants/0", row) < 0) {
        rc = row->status == 503 ? CSVIMPORT_FAILED : CSVIMPORT_INVALID;
        goto out;
    }
    const char *pk[2] = {account, ag.key};
    res = db_exec(conn, "SELECT 1 FROM grants WHERE account_id = $1::uuid AND grant_key = $2", 2,
                  pk, &err);
    if (res == NULL) {
        rc = CSVIMPORT_FAILED;
        goto out;
    }
    if (PQntuples(res) == 1) {
        rc = CSVIMPORT_EXISTING;
    } else {
        http_problem(row, 409, "duplicate", "Phone already has an account", "/phone",
                     "the phone belongs to account %s with other grants; add the grant there",
                     account);
    }
    PQclear(res);
out:
    acc_grant_free(&ag);
    cJSON_Delete(body);
    return rc;
}

static const int required_cols[] = {COL_NAME, COL_PHONE, COL_ROLE};

static const csvimport_def account_import = {
    .ncols = NCOLS,
    .names = col_names,
    .required = required_cols,
    .nrequired = 3,
    .row = import_row,
    .existing_label = "already_present",
    .what = "the list of accounts",
};

/* accounts_import - POST /v1/imports/accounts, body text/csv (UTF-8 or GBK) */
void accounts_import(http_req *req, http_resp *resp, void *ctx)
{
    csvimport_run(ctx, req, resp, &account_import, NULL);
}
