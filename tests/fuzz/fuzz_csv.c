/*
 * fuzz_csv.c - a CSV upload: the UTF-8/GBK judgement (csvimport_encoding),
 * the line splitter (csv_split, csv_trim), and the whole import front of
 * POST /v1/imports/households and /v1/imports/accounts (csvimport_run:
 * BOM, GB 18030 conversion, header columns in Chinese or English) up to
 * the first row's database transaction, which the harness's database
 * refuses.
 *
 * First byte: bit 0 picks the importer (households, accounts), bit 1 says
 * whether csvimport_encoding is told the sample was truncated. The rest is
 * the file.
 */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accounts.h"
#include "core/csvimport.h"
#include "enrollment.h"
#include "util/csv.h"

static enrollment_state enr_state;
static acc_state acc_st;

/* split_lines - csv_split every line of text (in place); the fields stay inside the line */
static void split_lines(char *text, size_t len)
{
    char *p = text, *end = text + len;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *stop = nl ? nl : end;
        char save = *stop;
        *stop = '\0';
        char *f[CSVIMPORT_MAX_COLS];
        int n = csv_split(p, f, CSVIMPORT_MAX_COLS);
        if (n < 1 || n > CSVIMPORT_MAX_COLS)
            abort();
        for (int i = 0; i < n; i++)
            if (f[i] < p || f[i] > stop || f[i] + strlen(f[i]) > stop)
                abort();
        *stop = save;
        p = stop + 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    if (!init) {
        fuzz_quiet();
        init = 1;
    }
    if (size < 1)
        return 0;
    int which = data[0] & 1, truncated = (data[0] >> 1) & 1;
    data++;
    size--;

    const char *enc = csvimport_encoding(data, size, truncated);
    if (enc && strcmp(enc, "utf-8") != 0 && strcmp(enc, "gbk") != 0)
        abort();

    char *text = fuzz_strndup(data, size);
    split_lines(text, size);
    free(text);
    text = fuzz_strndup(data, size);
    (void)csv_trim(text);
    free(text);

    service_ctx ctx = {.name = which ? "accounts" : "enrollment"};
    ctx.state = which ? (void *)&acc_st : (void *)&enr_state;
    http_req req;
    http_resp resp = {0};
    fuzz_req(&req, "POST", which ? "/v1/imports/accounts" : "/v1/imports/households", NULL, 0,
             ROLE_ADMIN, NULL);
    req.body_file = size ? fmemopen((void *)data, size, "r") : NULL;
    req.body_len = size;
    if (size && req.body_file == NULL)
        abort();
    fuzz_set_headers(NULL, 0);
    fuzz_set_query(NULL, 0);
    if (which)
        accounts_import(&req, &resp, &ctx);
    else
        enrollment_import(&req, &resp, &ctx);
    if (req.body_file)
        fclose(req.body_file);
    fuzz_req_free(&req);
    fuzz_check_resp(&resp);
    return 0;
}
