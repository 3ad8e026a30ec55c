/*
 * income_views.c - the planners' views and the verification command.
 *
 * Every view is one call of a SQL function (schemas/sql/income) that reads
 * the rollups and the read models, never the ledger (the household view
 * lists that household's latest entries through its index). The same
 * filters everywhere: year (default: this year in Asia/Shanghai), month,
 * region (a 12-digit code at any level, or "all"), side (zhejiang or
 * shanghai), project_id, kind. format=json (default), csv (the view's first
 * table, or the one named by table=), xlsx (every table, one sheet each) or
 * text (the first table, aligned for a terminal).
 */
#include "income.h"

#include <stdlib.h>
#include <string.h>

#include "util/crypto.h"
#include "util/log.h"
#include "util/timeutil.h"

/* The filters of a view request, as query parameters ($1..$5). */
typedef struct view_filters {
    char year[8];    /* "" = to date */
    char month[4];   /* "" = the whole year */
    char prefix[13]; /* region's significant prefix; "" = both sides */
    char code[13];   /* the region code asked for, or "all" */
    const char *project_id;
    const char *kind;
    const char *format; /* json, csv, xlsx, text */
    const char *table;  /* csv/text: the table to export */
} view_filters;

/* view_filters_parse - read and check the filters; -1 after a 422 naming the parameter */
static int view_filters_parse(const http_req *req, http_resp *resp, view_filters *f)
{
    memset(f, 0, sizeof(*f));
    const char *year = http_query(req, "year"), *month = http_query(req, "month");
    const char *region = http_query(req, "region"), *side = http_query(req, "side");
    f->project_id = http_query(req, "project_id");
    f->kind = http_query(req, "kind");
    f->format = http_query(req, "format") ? http_query(req, "format") : "json";
    f->table = http_query(req, "table");
    if (year == NULL) {
        char today[11];
        snprintf(f->year, sizeof(f->year), "%.4s", time_shanghai_date(time_now_ms(), today));
    } else if (strcmp(year, "all") != 0) {
        if (strlen(year) != 4 || strspn(year, "0123456789") != 4 || atoi(year) < 2000 ||
            atoi(year) > 2100) {
            http_problem(resp, 422, "validation", "Invalid filter", "/year",
                         "year is YYYY (2000-2100) or all (to date)");
            return -1;
        }
        snprintf(f->year, sizeof(f->year), "%s", year);
    }
    if (month) {
        int m = atoi(month);
        if (strspn(month, "0123456789") != strlen(month) || m < 1 || m > 12 || !f->year[0]) {
            http_problem(resp, 422, "validation", "Invalid filter", "/month",
                         "month is 1-12, with a year");
            return -1;
        }
        snprintf(f->month, sizeof(f->month), "%d", m);
    }
    if (region && strcmp(region, "all") != 0) {
        if (income_region_level(region) == NULL) {
            http_problem(resp, 422, "validation", "Invalid filter", "/region",
                         "region is a 12-digit region code or all");
            return -1;
        }
        auth_region_prefix(region, f->prefix);
    }
    if (side) {
        const char *p = strcmp(side, "zhejiang") == 0   ? "33"
                        : strcmp(side, "shanghai") == 0 ? "31"
                                                        : NULL;
        if (p == NULL || (f->prefix[0] && strncmp(f->prefix, p, 2) != 0)) {
            http_problem(resp, 422, "validation", "Invalid filter", "/side",
                         p ? "side and region disagree" : "side is zhejiang or shanghai");
            return -1;
        }
        if (!f->prefix[0])
            snprintf(f->prefix, sizeof(f->prefix), "%s", p);
    }
    if (f->project_id && !crypto_uuid_valid(f->project_id)) {
        http_problem(resp, 422, "validation", "Invalid filter", "/project_id",
                     "project_id is a UUID");
        return -1;
    }
    if (f->kind && income_kind_parse(f->kind) < 0) {
        http_problem(resp, 422, "validation", "Invalid filter", "/kind",
                     "kind is project_revenue, wage, land_rent, dividend, sales or collective");
        return -1;
    }
    if (strcmp(f->format, "json") && strcmp(f->format, "csv") && strcmp(f->format, "xlsx") &&
        strcmp(f->format, "text")) {
        http_problem(resp, 422, "validation", "Invalid filter", "/format",
                     "format is json, csv, xlsx or text");
        return -1;
    }
    return 0;
}

/* The money columns every breakdown shares. */
#define MONEY_COLS                                                                                 \
    {"project_revenue_fen", "项目收入（元）", COL_FEN},                                            \
        {"household_income_fen", "农户收入（元）", COL_FEN},                                       \
        {"low_income_household_income_fen", "低收入农户收入（元）", COL_FEN},                      \
        {"collective_income_gain_fen", "村集体增收（元）", COL_FEN},                               \
        {"wage_fen", "工资（元）", COL_FEN}, {"land_rent_fen", "土地租金（元）", COL_FEN},         \
        {"dividend_fen", "分红（元）", COL_FEN}, {"sales_fen", "销售收入（元）", COL_FEN},         \
    {                                                                                              \
        "entries", "记录数", COL_INT                                                               \
    }

static const income_col figure_cols[] = {
    {"label", "指标", COL_TEXT}, {"period", "本期", COL_TEXT}, {"to_date", "累计", COL_TEXT}};
static const income_col region_cols[] = {
    {"key", "区划代码", COL_TEXT}, {"name", "名称", COL_TEXT}, MONEY_COLS};
static const income_col project_cols[] = {
    {"key", "项目编号", COL_TEXT}, {"name", "项目名称", COL_TEXT}, MONEY_COLS};
static const income_col kind_cols[] = {
    {"key", "类型", COL_TEXT}, {"name", "收入类型", COL_TEXT}, MONEY_COLS};
static const income_col month_cols[] = {{"key", "月份", COL_TEXT}, MONEY_COLS};
static const income_col year_cols[] = {{"year", "年份", COL_INT},
                                       {"income_fen", "项目带来收入（元）", COL_FEN},
                                       {"per_capita_uplift_fen", "人均增收（元）", COL_FEN},
                                       {"baseline_per_capita_fen", "人均基线收入（元）", COL_FEN},
                                       {"per_capita_income_fen", "人均收入（元）", COL_FEN},
                                       {"wage_fen", "工资（元）", COL_FEN},
                                       {"land_rent_fen", "土地租金（元）", COL_FEN},
                                       {"dividend_fen", "分红（元）", COL_FEN},
                                       {"sales_fen", "销售收入（元）", COL_FEN}};
static const income_col entry_cols[] = {{"date", "日期", COL_TEXT},
                                        {"kind", "类型", COL_TEXT},
                                        {"amount_fen", "金额（元）", COL_FEN},
                                        {"project_name", "项目", COL_TEXT},
                                        {"source_ref", "来源凭证", COL_TEXT},
                                        {"reverses", "冲销的记录", COL_TEXT},
                                        {"reason", "冲销原因", COL_TEXT},
                                        {"id", "记录编号", COL_TEXT}};

#define COLS(c) c, sizeof(c) / sizeof(c[0])

static const income_table summary_tables[] = {
    {"figures", "概览", COLS(figure_cols)},
    {"by_side", "按省份", COLS(region_cols)},
    {"by_kind", "按收入类型", COLS(kind_cols)},
    {"by_project", "按项目", COLS(project_cols)},
};
static const income_table project_tables[] = {
    {"figures", "概览", COLS(figure_cols)},
    {"by_month", "按月", COLS(month_cols)},
    {"by_kind", "按收入类型", COLS(kind_cols)},
    {"by_village", "按村", COLS(region_cols)},
};
static const income_table region_tables[] = {
    {"figures", "概览", COLS(figure_cols)},       {"children", "下级区划", COLS(region_cols)},
    {"by_project", "按项目", COLS(project_cols)}, {"by_kind", "按收入类型", COLS(kind_cols)},
    {"by_month", "按月", COLS(month_cols)},
};
static const income_table month_tables[] = {{"months", "按月", COLS(month_cols)}};
static const income_table household_tables[] = {
    {"years", "按年", COLS(year_cols)},
    {"entries", "收入记录", COLS(entry_cols)},
};

/* The headline figures, in the order the overview table lists them. */
static const income_col figures[] = {
    {"projects_active", "在营共富项目（个）", COL_INT},
    {"people_employed", "带动就业（人）", COL_INT},
    {"low_income_employed", "其中低收入农户就业（人）", COL_INT},
    {"low_income_households_reached", "受益低收入农户（户）", COL_INT},
    {"land_transfer_households", "土地流转农户（户）", COL_INT},
    {"land_transferred_mu_x100", "流转土地（亩）", COL_MU},
    {"farmers_trained", "培训农民（人）", COL_INT},
    {"shareholders", "入股分红农户（户）", COL_INT},
    {"project_revenue_fen", "项目总收入（元）", COL_FEN},
    {"household_income_fen", "农户总收入（元）", COL_FEN},
    {"low_income_household_income_fen", "低收入农户收入（元）", COL_FEN},
    {"collective_income_gain_fen", "村集体增收（元）", COL_FEN},
    {"low_income_per_capita_uplift_fen", "低收入农户人均增收（元）", COL_FEN},
    {"low_income_per_capita_uplift_min_fen", "低收入农户人均增收最低（元）", COL_FEN},
    {"low_income_baseline_per_capita_fen", "低收入农户人均基线收入（元）", COL_FEN},
};

/* add_figures - the view's headline figures as rows of label, period and to date */
static void add_figures(cJSON *view)
{
    const cJSON *to_date = cJSON_GetObjectItemCaseSensitive(view, "to_date");
    cJSON *rows = cJSON_CreateArray();
    char a[64], b[64];
    for (size_t i = 0; i < sizeof(figures) / sizeof(figures[0]); i++) {
        cJSON *row = cJSON_CreateObject();
        cJSON_AddStringToObject(row, "label", figures[i].header);
        cJSON_AddStringToObject(row, "period",
                                income_cell_text(view, &figures[i], 0, a, sizeof(a)));
        cJSON_AddStringToObject(
            row, "to_date", to_date ? income_cell_text(to_date, &figures[i], 0, b, sizeof(b)) : "");
        /* the same figures as numbers, for the workbook (yuan, mu or a count) */
        const income_col *fc = &figures[i];
        double scale = fc->type == COL_FEN || fc->type == COL_MU ? 100.0 : 1.0;
        const cJSON *pv = cJSON_GetObjectItemCaseSensitive(view, fc->key);
        const cJSON *tv = to_date ? cJSON_GetObjectItemCaseSensitive(to_date, fc->key) : NULL;
        cJSON_AddStringToObject(row, "unit",
                                fc->type == COL_FEN  ? "yuan"
                                : fc->type == COL_MU ? "mu"
                                                     : "count");
        if (cJSON_IsNumber(pv))
            cJSON_AddNumberToObject(row, "period_value", pv->valuedouble / scale);
        if (cJSON_IsNumber(tv))
            cJSON_AddNumberToObject(row, "to_date_value", tv->valuedouble / scale);
        cJSON_AddItemToArray(rows, row);
    }
    cJSON_AddItemToObject(view, "figures", rows);
}

/*
 * view_answer - run the view's query (one row: its JSON, and when scoped a
 * second column 't' when the caller may see it) and answer in the format
 * asked. name is the file name stem of exports.
 */
static void view_answer(service_ctx *ctx, http_resp *resp, const view_filters *f, const char *sql,
                        int n, const char *const *params, int scoped, const income_table *tables,
                        size_t ntables, const char *name, const char *what)
{
    db_err err;
    PGconn *conn = db_acquire(ctx->db, 2000, &err);
    if (conn == NULL) {
        service_db_problem(resp, &err);
        return;
    }
    PGresult *res = db_exec(conn, sql, n, params, &err);
    db_release(ctx->db, conn);
    if (res == NULL) {
        service_db_problem(resp, &err);
        return;
    }
    if (PQntuples(res) == 0 || PQgetisnull(res, 0, 0)) {
        http_problem(resp, 404, "not-found", "Not found", NULL, "no such %s", what);
    } else if (scoped && strcmp(PQgetvalue(res, 0, 1), "t") != 0) {
        http_problem(resp, 403, "forbidden", "Outside your villages", NULL,
                     "this %s is not in your scope", what);
    } else if (strcmp(f->format, "json") == 0) {
        http_reply_raw(resp, 200, "application/json", PQgetvalue(res, 0, 0),
                       (size_t)PQgetlength(res, 0, 0));
    } else {
        cJSON *view = cJSON_Parse(PQgetvalue(res, 0, 0));
        if (view && cJSON_GetObjectItemCaseSensitive(view, "projects_active"))
            add_figures(view);
        size_t first = 0;
        for (size_t i = 0; f->table && i < ntables; i++)
            if (strcmp(tables[i].member, f->table) == 0)
                first = i;
        char *out = NULL, why[256] = "out of memory";
        size_t len = 0;
        int rc = -1;
        const char *type = "text/csv; charset=utf-8", *ext = "csv";
        if (view == NULL)
            rc = -1;
        else if (strcmp(f->format, "csv") == 0)
            rc = income_export_csv(view, tables + first, ntables - first, &out, &len);
        else if (strcmp(f->format, "text") == 0) {
            rc = income_export_text(view, tables + first, ntables - first, &out, &len);
            type = "text/plain; charset=utf-8";
            ext = "txt";
        } else {
            rc = income_export_xlsx(view, tables, ntables, &out, &len, why, sizeof(why));
            type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
            ext = "xlsx";
        }
        if (rc < 0) {
            log_error("export %s: %s", f->format, why);
            http_problem(resp, 500, "internal", "Export failed", NULL, "%s", why);
        } else {
            http_reply_raw(resp, 200, type, out, len);
            snprintf(resp->content_disposition, sizeof(resp->content_disposition),
                     "attachment; filename=\"%s.%s\"", name, ext);
        }
        free(out);
        cJSON_Delete(view);
    }
    PQclear(res);
}

/* params_of - the filters as $1 year, $2 month, $3 prefix, $4 project, $5 kind */
static void params_of(const view_filters *f, const char **p)
{
    p[0] = f->year[0] ? f->year : NULL;
    p[1] = f->month[0] ? f->month : NULL;
    p[2] = f->prefix;
    p[3] = f->project_id;
    p[4] = f->kind;
}

/* income_view_summary - GET /v1/views/summary */
void income_view_summary(http_req *req, http_resp *resp, void *ctx)
{
    view_filters f;
    const char *p[5];
    if (view_filters_parse(req, resp, &f) < 0)
        return;
    params_of(&f, p);
    view_answer(ctx, resp, &f, "SELECT view_summary($1::int, $2::int, $3, $4::uuid, $5)::text", 5,
                p, 0, summary_tables, sizeof(summary_tables) / sizeof(summary_tables[0]), "summary",
                "summary");
}

/* income_view_months - GET /v1/views/months */
void income_view_months(http_req *req, http_resp *resp, void *ctx)
{
    view_filters f;
    const char *p[5];
    if (view_filters_parse(req, resp, &f) < 0)
        return;
    if (!f.year[0]) {
        http_problem(resp, 422, "validation", "Invalid filter", "/year",
                     "the months view is of one year");
        return;
    }
    params_of(&f, p);
    const char *q[4] = {p[0], p[2], p[3], p[4]};
    view_answer(ctx, resp, &f, "SELECT view_months($1::int, $2, $3::uuid, $4)::text", 4, q, 0,
                month_tables, 1, "months", "view");
}

/* income_view_project - GET /v1/views/projects/{id} */
void income_view_project(http_req *req, http_resp *resp, void *ctx)
{
    view_filters f;
    const char *p[5];
    if (!crypto_uuid_valid(req->params[0])) {
        http_problem(resp, 404, "not-found", "Not found", NULL, "no such project");
        return;
    }
    if (view_filters_parse(req, resp, &f) < 0)
        return;
    f.project_id = req->params[0];
    params_of(&f, p);
    const char *q[4] = {p[0], p[1], p[3], p[4]};
    view_answer(ctx, resp, &f, "SELECT view_project($1::int, $2::int, $3::uuid, $4)::text", 4, q, 0,
                project_tables, sizeof(project_tables) / sizeof(project_tables[0]), "project",
                "project");
}

/* income_view_region - GET /v1/views/regions/{code} ("all" for both sides) */
void income_view_region(http_req *req, http_resp *resp, void *ctx)
{
    view_filters f;
    const char *p[5];
    const char *code = req->params[0];
    if (strcmp(code, "all") != 0 && income_region_level(code) == NULL) {
        http_problem(resp, 404, "not-found", "Not found", NULL,
                     "a region is a 12-digit code, or all for both sides");
        return;
    }
    if (view_filters_parse(req, resp, &f) < 0)
        return;
    if (http_query(req, "region") || http_query(req, "side")) {
        http_problem(resp, 422, "validation", "Invalid filter", "/region",
                     "the region is in the path");
        return;
    }
    snprintf(f.code, sizeof(f.code), "%s", code);
    if (strcmp(code, "all") != 0)
        auth_region_prefix(code, f.prefix);
    params_of(&f, p);
    const char *q[6] = {p[0], p[1], f.code, f.prefix, p[3], p[4]};
    view_answer(ctx, resp, &f,
                "SELECT CASE WHEN $4 = '' OR EXISTS (SELECT 1 FROM regions WHERE code = $3) "
                "THEN view_region($1::int, $2::int, $3, $4, $5::uuid, $6)::text END",
                6, q, 0, region_tables, sizeof(region_tables) / sizeof(region_tables[0]), "region",
                "region");
}

/* income_view_household - GET /v1/views/households/{id}: its coordinator and the admin */
void income_view_household(http_req *req, http_resp *resp, void *ctx)
{
    view_filters f;
    char scope[AUTH_SCOPE_ARRAY_LEN], admin[2];
    if (!crypto_uuid_valid(req->params[0])) {
        http_problem(resp, 404, "not-found", "Not found", NULL, "no such household");
        return;
    }
    if (view_filters_parse(req, resp, &f) < 0)
        return;
    auth_scope_array(&req->auth, scope, sizeof(scope));
    snprintf(admin, sizeof(admin), "%d", req->auth.role == ROLE_ADMIN);
    const char *q[3] = {req->params[0], admin, scope};
    view_answer(ctx, resp, &f,
                "SELECT view_household(h.id)::text, $2 = '1' OR EXISTS (SELECT 1 FROM "
                "unnest($3::text[]) s WHERE left(h.village_code, length(s)) = s) "
                "FROM households h WHERE h.id = $1::uuid",
                3, q, 1, household_tables, sizeof(household_tables) / sizeof(household_tables[0]),
                "household", "household");
}

/* income_verify - recompute every rollup from the ledger and print each difference */
int income_verify(service_ctx *ctx)
{
    db_err err;
    PGconn *conn = db_acquire(ctx->db, 10000, &err);
    if (conn == NULL) {
        fprintf(stderr, "verify: %s\n", err.msg);
        return 1;
    }
    /* The recomputation reads the whole ledger: no statement timeout for it. */
    PGresult *res = db_exec(conn, "SET statement_timeout = 0", 0, NULL, &err);
    PQclear(res);
    int64_t t0 = time_mono_ms();
    res = res ? db_exec(conn,
                        "SELECT rollup, cell, stored_fen, ledger_fen, stored_entries, "
                        "ledger_entries, (SELECT count(*) FROM entries), "
                        "(SELECT count(*) FROM rollup_cells) FROM verify_rollups() "
                        "UNION ALL SELECT NULL, NULL, NULL, NULL, NULL, NULL, "
                        "(SELECT count(*) FROM entries), (SELECT count(*) FROM rollup_cells)",
                        0, NULL, &err)
              : NULL;
    db_release(ctx->db, conn);
    if (res == NULL) {
        fprintf(stderr, "verify: %s\n", err.msg);
        return 1;
    }
    int rows = PQntuples(res), diffs = rows - 1;
    for (int i = 0; i < diffs; i++)
        printf("DIFFERENCE %s %s: stored %s fen in %s entries, ledger %s fen in %s entries\n",
               PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), PQgetvalue(res, i, 2),
               PQgetvalue(res, i, 4), PQgetvalue(res, i, 3), PQgetvalue(res, i, 5));
    printf("verify: %s ledger entries, %s rollup cells, %d difference%s (%lld ms)\n",
           PQgetvalue(res, rows - 1, 6), PQgetvalue(res, rows - 1, 7), diffs, diffs == 1 ? "" : "s",
           (long long)(time_mono_ms() - t0));
    PQclear(res);
    return diffs == 0 ? 0 : 1;
}
