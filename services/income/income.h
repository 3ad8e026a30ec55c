/*
 * income.h - the income ledger and the planners' views.
 *
 * An append-only ledger in fen (project revenue; household wages, land
 * rent, dividends and sales; village-collective income) with reversing
 * entries for corrections; rollups kept by the database in the same
 * statement as each insert (schemas/sql/income); views that read only the
 * rollups and the read models, exported as JSON, CSV or an Excel workbook.
 * It learns regions, projects, households and enrollments from regions.v1,
 * projects.v1 and households.v1, and publishes income.recorded and
 * income.reversed on income.v1, keyed by household (household entries) or
 * project (the others).
 * Files: income_validate.c (pure rules), income_readmodel.c (the consumer),
 * income_entries.c (recording), income_views.c (the views and the
 * verification command), income_export.c (CSV and xlsx), main.c.
 */
#ifndef SHANTANG_INCOME_H
#define SHANTANG_INCOME_H

#include <stdint.h>
#include <cjson/cJSON.h>
#include <libpq-fe.h>
#include "core/catalogue.h"
#include "core/http.h"
#include "core/kafka.h"
#include "core/service.h"

#define INCOME_TOPIC (cat_topic_income.name) /* income.v1, from the catalogue */
#define INCOME_BATCH_MAX 10000

/* The income service's own parameters, in table order (main.c). */
enum { INC_MAX_ENTRY_FEN, INC_MAX_HOUSEHOLD_ENTRY_FEN, INC_NPARAMS };

/* The service's state, hung on service_ctx.state by main.c's init. */
typedef struct income_state {
    long long max_entry_fen;           /* bound of one project or collective entry */
    long long max_household_entry_fen; /* bound of one household entry */
} income_state;

/* --- income_validate.c --- */

/* The ledger's entry kinds. */
typedef enum {
    INCOME_PROJECT_REVENUE,
    INCOME_WAGE,
    INCOME_LAND_RENT,
    INCOME_DIVIDEND,
    INCOME_SALES,
    INCOME_COLLECTIVE,
    INCOME_NKINDS
} income_kind;

/* income_kind_parse - the kind named by s, or -1 */
int income_kind_parse(const char *s);

/* income_kind_name - the API name of a kind ("project_revenue", ...) */
const char *income_kind_name(income_kind k);

/* income_kind_household - 1 for the kinds a household earns */
int income_kind_household(income_kind k);

/*
 * income_kind_enrollment - the enrollment kind a household entry of kind k
 * needs in its project (wage: employment, land_rent: land_transfer,
 * dividend: share, sales: supply); NULL for the other kinds.
 */
const char *income_kind_enrollment(income_kind k);

/*
 * income_yuan - fen as yuan with thousands separators and two decimals
 * ("1,234,567.89", "-0.05") in out. Returns out.
 */
char *income_yuan(long long fen, char *out, size_t outlen);

/*
 * income_region_level - the level a 12-digit region code names by its
 * trailing zeros: "province", "city", "county", "town", "village", or NULL
 * when malformed.
 */
const char *income_region_level(const char *code);

/* --- income_readmodel.c --- */

/* income_consumes - NULL-terminated: what the consumer applies, from the catalogue */
extern const catalogue_event *const income_consumes[];

/* income_apply - the consumer: regions, projects, households and enrollments */
kafka_apply_result income_apply(PGconn *conn, const cJSON *ev, void *ctx, char *err, size_t errlen);

/* --- income_export.c --- */

/* One column of an exported table: where its value is and how to show it. */
typedef enum { COL_TEXT, COL_INT, COL_FEN, COL_MU } income_col_type;

typedef struct income_col {
    const char *key;      /* member of each row object */
    const char *header;   /* the Chinese header */
    income_col_type type; /* COL_FEN columns are shown in yuan */
} income_col;

/* One table of a view: the array member holding its rows, and its columns. */
typedef struct income_table {
    const char *member; /* array member of the view ("by_month"); NULL = the view itself */
    const char *title;  /* sheet name and CSV title */
    const income_col *cols;
    size_t ncols;
} income_table;

/*
 * income_cell_text - one cell of a row as text in out: COL_FEN as yuan
 * (plain "1234.50", else with separators "1,234.50"), COL_MU with two
 * decimals, booleans as 是/否, absent as "". Returns out.
 */
const char *income_cell_text(const cJSON *row, const income_col *c, int plain, char *out,
                             size_t len);

/*
 * income_export_csv - the first table of the view as CSV (UTF-8 with BOM,
 * so that spreadsheet programs read the Chinese headers), into a malloc'd
 * buffer (*out, *len). Returns 0, or -1 when out of memory.
 */
/* income_cell_formula_like - 1 if a text cell starts with = + - @ tab or CR and is not a
   plain number: exports write it with a leading single quote */
int income_cell_formula_like(const char *s);

int income_export_csv(const cJSON *view, const income_table *tables, size_t ntables, char **out,
                      size_t *len);

/*
 * income_export_text - the first table as aligned plain text for a terminal
 * (wide characters counted as two columns). Returns 0, or -1 when out of
 * memory.
 */
int income_export_text(const cJSON *view, const income_table *tables, size_t ntables, char **out,
                       size_t *len);

/*
 * income_export_xlsx - every table of the view as one sheet each of an
 * Excel workbook, into a malloc'd buffer. Returns 0, or -1 with err.
 */
int income_export_xlsx(const cJSON *view, const income_table *tables, size_t ntables, char **out,
                       size_t *len, char *err, size_t errlen);

/* --- handlers (income_entries.c, income_views.c) --- */
void income_entries_create(http_req *req, http_resp *resp, void *ctx);
void income_entries_get(http_req *req, http_resp *resp, void *ctx);
void income_entries_list(http_req *req, http_resp *resp, void *ctx);
void income_view_summary(http_req *req, http_resp *resp, void *ctx);
void income_view_project(http_req *req, http_resp *resp, void *ctx);
void income_view_region(http_req *req, http_resp *resp, void *ctx);
void income_view_months(http_req *req, http_resp *resp, void *ctx);
void income_view_household(http_req *req, http_resp *resp, void *ctx);

/* income_verify - `shantang-income --verify`: rollups against the ledger; 0 when equal */
int income_verify(service_ctx *ctx);

#endif
