/*
 * income_export.c - a view's tables as CSV, as an Excel workbook, or as a
 * plain-text table for terminals.
 *
 * A view is the JSON the database built; its tables are arrays of flat row
 * objects named by income_table. Money (COL_FEN) is shown in yuan: plain
 * ("1234567.89") in CSV so spreadsheets read numbers, with thousands
 * separators in text, and as a number with a "#,##0.00" format in the
 * workbook, so it stays summable there. Headers are Chinese.
 * The workbook is written by libxlsxwriter into an anonymous in-memory file
 * (memfd; its 1.1.4 release in Debian has no memory output) and read back:
 * no temporary file on disk.
 *
 * Spreadsheet formula injection (OWASP "CSV injection"): a text cell that
 * starts with = + - @, a tab or a CR (a project named "=HYPERLINK(...)") is
 * written with a leading single quote in CSV and in the workbook, so no
 * spreadsheet takes it for a formula, now or after a re-save; numbers (and
 * text that is a plain number such as "-1,234.50") stay as they are.
 */
#include "income.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xlsxwriter.h>

#include "util/sbuf.h"

/* income_cell_text - one cell of a row as text, in out */
const char *income_cell_text(const cJSON *row, const income_col *c, int plain, char *out,
                             size_t len)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(row, c->key);
    out[0] = '\0';
    if (v == NULL || cJSON_IsNull(v))
        return out;
    if (cJSON_IsString(v)) {
        snprintf(out, len, "%s", v->valuestring);
    } else if (cJSON_IsNumber(v)) {
        long long n = (long long)v->valuedouble;
        if (c->type == COL_FEN && !plain)
            income_yuan(n, out, len);
        else if (c->type == COL_FEN)
            snprintf(out, len, "%s%lld.%02lld", n < 0 ? "-" : "", (n < 0 ? -n : n) / 100,
                     (n < 0 ? -n : n) % 100);
        else if (c->type == COL_MU)
            snprintf(out, len, "%lld.%02lld", n / 100, (n < 0 ? -n : n) % 100);
        else if (v->valuedouble == (double)n)
            snprintf(out, len, "%lld", n);
        else
            snprintf(out, len, "%.2f", v->valuedouble);
    } else if (cJSON_IsBool(v)) {
        snprintf(out, len, "%s", cJSON_IsTrue(v) ? "是" : "否");
    }
    return out;
}

/* plain_number - 1 if s is a plain decimal number: -?digits with separators, .digits */
static int plain_number(const char *s)
{
    const char *p = s + (*s == '-');
    int digits = 0;
    while ((*p >= '0' && *p <= '9') || (*p == ',' && digits)) {
        digits += *p != ',';
        p++;
    }
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    return digits > 0 && *p == '\0';
}

/* income_cell_formula_like - 1 if a text cell would start a spreadsheet formula */
int income_cell_formula_like(const char *s)
{
    return s != NULL && *s != '\0' && strchr("=+-@\t\r", *s) != NULL && !plain_number(s);
}

/* neutral - s, or "'" + s in buf when it would start a formula */
static const char *neutral(const char *s, char *buf, size_t len)
{
    if (!income_cell_formula_like(s))
        return s;
    snprintf(buf, len, "'%s", s);
    return buf;
}

/* rows_of - the array of rows a table names in the view */
static const cJSON *rows_of(const cJSON *view, const income_table *t)
{
    const cJSON *rows = cJSON_GetObjectItemCaseSensitive(view, t->member);
    return cJSON_IsArray(rows) ? rows : NULL;
}

/* csv_field - one CSV field, quoted when it holds a comma, quote or line break (RFC 4180) */
static void csv_field(sbuf *b, const char *s)
{
    if (strpbrk(s, ",\"\r\n") == NULL) {
        sbuf_str(b, s);
        return;
    }
    sbuf_put(b, "\"", 1);
    for (const char *p = s; *p; p++) {
        if (*p == '"')
            sbuf_put(b, "\"", 1);
        sbuf_put(b, p, 1);
    }
    sbuf_put(b, "\"", 1);
}

/* income_export_csv - the first table, UTF-8 with a BOM, CRLF line ends */
int income_export_csv(const cJSON *view, const income_table *tables, size_t ntables, char **out,
                      size_t *len)
{
    sbuf b = {0};
    char cell[256], safe[258];
    sbuf_str(&b, "\xEF\xBB\xBF");
    if (ntables > 0) {
        const income_table *t = &tables[0];
        for (size_t c = 0; c < t->ncols; c++) {
            if (c)
                sbuf_put(&b, ",", 1);
            csv_field(&b, t->cols[c].header);
        }
        sbuf_str(&b, "\r\n");
        const cJSON *row;
        cJSON_ArrayForEach(row, rows_of(view, t))
        {
            for (size_t c = 0; c < t->ncols; c++) {
                if (c)
                    sbuf_put(&b, ",", 1);
                csv_field(&b, neutral(income_cell_text(row, &t->cols[c], 1, cell, sizeof(cell)),
                                      safe, sizeof(safe)));
            }
            sbuf_str(&b, "\r\n");
        }
    }
    if (b.failed) {
        free(b.p);
        return -1;
    }
    *out = b.p;
    *len = b.len;
    return 0;
}

/* display_width - terminal columns of a UTF-8 string: wide (CJK, fullwidth) characters take 2 */
static size_t display_width(const char *s)
{
    size_t w = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned cp;
        int n;
        if (*p < 0x80) {
            cp = *p;
            n = 1;
        } else if ((*p & 0xE0) == 0xC0) {
            cp = *p & 0x1F;
            n = 2;
        } else if ((*p & 0xF0) == 0xE0) {
            cp = *p & 0x0F;
            n = 3;
        } else {
            cp = *p & 0x07;
            n = 4;
        }
        for (int i = 1; i < n && p[i]; i++)
            cp = (cp << 6) | (p[i] & 0x3F);
        for (int i = 0; i < n && *p; i++)
            p++;
        w += (cp >= 0x1100 &&
              (cp <= 0x115F || (cp >= 0x2E80 && cp <= 0xA4CF) || (cp >= 0xAC00 && cp <= 0xD7A3) ||
               (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0xFE30 && cp <= 0xFE4F) ||
               (cp >= 0xFF00 && cp <= 0xFF60) || (cp >= 0xFFE0 && cp <= 0xFFE6)))
                 ? 2
                 : 1;
    }
    return w;
}

/* pad - s followed or preceded (right-aligned) by spaces up to width columns */
static void pad(sbuf *b, const char *s, size_t width, int right)
{
    size_t w = display_width(s);
    if (right)
        for (size_t i = w; i < width; i++)
            sbuf_put(b, " ", 1);
    sbuf_str(b, s);
    if (!right)
        for (size_t i = w; i < width; i++)
            sbuf_put(b, " ", 1);
}

/*
 * income_export_text - the first table as aligned plain text (numbers right
 * aligned), for a terminal. Returns 0, or -1 when out of memory.
 */
int income_export_text(const cJSON *view, const income_table *tables, size_t ntables, char **out,
                       size_t *len)
{
    sbuf b = {0};
    char cell[256];
    if (ntables > 0) {
        const income_table *t = &tables[0];
        const cJSON *rows = rows_of(view, t), *row;
        size_t width[16] = {0};
        size_t ncols = t->ncols < 16 ? t->ncols : 16;
        for (size_t c = 0; c < ncols; c++)
            width[c] = display_width(t->cols[c].header);
        cJSON_ArrayForEach(row, rows)
        {
            for (size_t c = 0; c < ncols; c++) {
                size_t w = display_width(income_cell_text(row, &t->cols[c], 0, cell, sizeof(cell)));
                if (w > width[c])
                    width[c] = w;
            }
        }
        for (size_t c = 0; c < ncols; c++) {
            sbuf_str(&b, "  ");
            pad(&b, t->cols[c].header, width[c], c > 0);
        }
        sbuf_str(&b, "\n");
        cJSON_ArrayForEach(row, rows)
        {
            for (size_t c = 0; c < ncols; c++) {
                sbuf_str(&b, "  ");
                pad(&b, income_cell_text(row, &t->cols[c], 0, cell, sizeof(cell)), width[c], c > 0);
            }
            sbuf_str(&b, "\n");
        }
    }
    if (b.failed) {
        free(b.p);
        return -1;
    }
    *out = b.p;
    *len = b.len;
    return 0;
}

/* sheet_table - one table as one worksheet: bold headers, numbers as numbers */
static void sheet_table(lxw_workbook *wb, const cJSON *view, const income_table *t,
                        lxw_format *bold, lxw_format *money, lxw_format *mu)
{
    lxw_worksheet *ws = workbook_add_worksheet(wb, t->title);
    if (ws == NULL)
        return;
    char cell[256], safe[258], key[64];
    for (size_t c = 0; c < t->ncols; c++) {
        worksheet_write_string(ws, 0, (lxw_col_t)c, t->cols[c].header, bold);
        worksheet_set_column(ws, (lxw_col_t)c, (lxw_col_t)c, c == 0 ? 28 : 18, NULL);
    }
    lxw_row_t r = 1;
    const cJSON *row;
    cJSON_ArrayForEach(row, rows_of(view, t))
    {
        for (size_t c = 0; c < t->ncols; c++) {
            const income_col *col = &t->cols[c];
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(row, col->key);
            /* a figure shown as text elsewhere carries its number as <key>_value, in yuan,
               mu or units by the row's "unit" */
            snprintf(key, sizeof(key), "%s_value", col->key);
            const cJSON *num = cJSON_GetObjectItemCaseSensitive(row, key);
            const char *unit = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(row, "unit"));
            if (cJSON_IsNumber(num))
                worksheet_write_number(ws, r, (lxw_col_t)c, num->valuedouble,
                                       unit && strcmp(unit, "yuan") == 0 ? money
                                       : unit && strcmp(unit, "mu") == 0 ? mu
                                                                         : NULL);
            else if (cJSON_IsNumber(v) && col->type == COL_FEN)
                worksheet_write_number(ws, r, (lxw_col_t)c, v->valuedouble / 100.0, money);
            else if (cJSON_IsNumber(v) && col->type == COL_MU)
                worksheet_write_number(ws, r, (lxw_col_t)c, v->valuedouble / 100.0, mu);
            else if (cJSON_IsNumber(v))
                worksheet_write_number(ws, r, (lxw_col_t)c, v->valuedouble, NULL);
            else
                worksheet_write_string(
                    ws, r, (lxw_col_t)c,
                    neutral(income_cell_text(row, col, 0, cell, sizeof(cell)), safe, sizeof(safe)),
                    NULL);
        }
        r++;
    }
}

/* income_export_xlsx - every table as a sheet, written into an anonymous in-memory file */
int income_export_xlsx(const cJSON *view, const income_table *tables, size_t ntables, char **out,
                       size_t *len, char *err, size_t errlen)
{
    /* libxlsxwriter 1.1.4 writes only to a named file: name a memfd through /proc. */
    int fd = memfd_create("shantang-export", MFD_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create an in-memory file");
        return -1;
    }
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    lxw_workbook *wb = workbook_new(path);
    if (wb == NULL) {
        close(fd);
        snprintf(err, errlen, "cannot start a workbook");
        return -1;
    }
    lxw_format *bold = workbook_add_format(wb);
    format_set_bold(bold);
    lxw_format *money = workbook_add_format(wb);
    format_set_num_format(money, "#,##0.00");
    lxw_format *mu = workbook_add_format(wb);
    format_set_num_format(mu, "0.00");
    for (size_t i = 0; i < ntables; i++)
        sheet_table(wb, view, &tables[i], bold, money, mu);
    lxw_error e = workbook_close(wb);
    int rc = -1;
    sbuf b = {0};
    if (e == LXW_NO_ERROR && lseek(fd, 0, SEEK_SET) == 0) {
        char chunk[16384];
        ssize_t n;
        while ((n = read(fd, chunk, sizeof(chunk))) > 0)
            sbuf_put(&b, chunk, (size_t)n);
        if (n == 0 && !b.failed && b.len > 0) {
            *out = b.p;
            *len = b.len;
            rc = 0;
        }
    }
    close(fd);
    if (rc < 0) {
        free(b.p);
        snprintf(err, errlen, "writing the workbook failed: %s",
                 e == LXW_NO_ERROR ? "cannot read it back" : lxw_strerror(e));
    }
    return rc;
}
