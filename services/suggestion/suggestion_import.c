/*
 * suggestion_import.c - `shantang-suggestion --import`: bring proposals
 * recorded elsewhere (the county's ledger of earlier years, or the demo
 * data) into the service with their whole history, at the instants they
 * happened.
 *
 * Standard input holds one JSON object per line:
 *   {"id": "<uuid, optional>", "submitter": "<notable id>", "at": "<RFC 3339>",
 *    "title": ..., "text": ..., "category": ..., "village_codes": [...],
 *    "project_id": ..., "attachments": [...],
 *    "steps": [{"action": "accept", "role": "supervisor", "sub": "...",
 *               "unit": "<handler's unit>", "at": "<RFC 3339>", ...fields}]}
 * Each line is replayed through the same checks as the HTTP routes -- the
 * submission's fields, then every step through the state machine, with the
 * step's role, subject and unit standing for the token and its "at" as the
 * service clock -- in one transaction: a line is imported whole or not at
 * all. Events go to the outbox as for live requests. A line whose id is
 * already present is skipped, so a second run changes nothing. Prints one
 * line per refused record and a JSON summary; exits 1 when a line failed.
 */
#include "suggestion.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/crypto.h"
#include "util/log.h"
#include "util/timeutil.h"

/* refused - print why line n was refused (the problem's detail and pointer) */
static void refused(long n, const http_resp *resp, const char *what)
{
    cJSON *p = resp->body ? cJSON_ParseWithLength(resp->body, resp->body_len) : NULL;
    const char *detail = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "detail"));
    const char *pointer = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "pointer"));
    fprintf(stderr, "line %ld: %s refused (%d): %s%s%s\n", n, what, resp->status,
            detail ? detail : "", pointer ? " at " : "", pointer ? pointer : "");
    cJSON_Delete(p);
}

/* reset - forget a response's body between steps */
static void reset(http_resp *resp)
{
    free(resp->body);
    memset(resp, 0, sizeof(*resp));
}

/* exists - 1 if the proposal id is already recorded, 0 if not, -1 on a database failure */
static int exists(PGconn *conn, const char *id)
{
    const char *params[1] = {id};
    db_err err;
    PGresult *res = db_exec(conn, "SELECT 1 FROM suggestions WHERE id = $1::uuid", 1, params, &err);
    int rc = res ? PQntuples(res) > 0 : -1;
    PQclear(res);
    return rc;
}

/* import_steps - the steps of one record, in order; -1 after printing why */
static int import_steps(PGconn *conn, service_ctx *ctx, long n, const char *id, const cJSON *steps,
                        int64_t last_ms)
{
    int i = 0;
    const cJSON *step;
    cJSON_ArrayForEach(step, steps)
    {
        http_req req = {0};
        http_resp resp = {0};
        int64_t at = 0;
        const char *role = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(step, "role"));
        const char *sub = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(step, "sub"));
        const char *unit = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(step, "unit"));
        const char *when = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(step, "at"));
        req.auth.role = auth_role_parse(role);
        if (req.auth.role == 0 || sub == NULL || strlen(sub) >= sizeof(req.auth.sub) ||
            (unit && strlen(unit) >= sizeof(req.auth.unit)) ||
            suggestion_now_parse(when, &at) < 0 || at == 0 || at < last_ms) {
            fprintf(stderr,
                    "line %ld: step %d needs a known role, a sub, and an RFC 3339 \"at\" not "
                    "before the step before it\n",
                    n, i);
            return -1;
        }
        snprintf(req.auth.sub, sizeof(req.auth.sub), "%s", sub);
        snprintf(req.auth.unit, sizeof(req.auth.unit), "%s", unit ? unit : "");
        req.authenticated = 1;
        if (suggestion_step(conn, &req, &resp, ctx->state, id, step, at) < 0) {
            char what[32];
            snprintf(what, sizeof(what), "step %d", i);
            refused(n, &resp, what);
            reset(&resp);
            return -1;
        }
        reset(&resp);
        last_ms = at;
        i++;
    }
    return 0;
}

/* import_line - one record in one transaction: 1 imported, 0 skipped, -1 refused */
static int import_line(service_ctx *ctx, long n, const char *line)
{
    cJSON *rec = cJSON_Parse(line);
    suggestion_input in = {0};
    http_req req = {0};
    http_resp resp = {0};
    int64_t at = 0;
    int rc = -1;
    const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rec, "id"));
    const char *sub = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rec, "submitter"));
    const char *when = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rec, "at"));
    const cJSON *steps = cJSON_GetObjectItemCaseSensitive(rec, "steps");
    if (!cJSON_IsObject(rec) || (id && !crypto_uuid_valid(id)) || sub == NULL ||
        strlen(sub) >= sizeof(req.auth.sub) || suggestion_now_parse(when, &at) < 0 || at == 0 ||
        (steps && !cJSON_IsArray(steps))) {
        fprintf(stderr, "line %ld: not a record {id?, submitter, at, ..., steps?}\n", n);
        cJSON_Delete(rec);
        return -1;
    }
    PGconn *conn = service_tx_begin(ctx, NULL);
    if (conn == NULL) {
        fprintf(stderr, "line %ld: the database is unavailable\n", n);
        cJSON_Delete(rec);
        return -1;
    }
    int seen = id ? exists(conn, id) : 0;
    if (seen != 0) {
        rc = seen > 0 ? 0 : -1;
        goto out;
    }
    if (suggestion_input_parse(rec, &in, &resp) < 0) {
        refused(n, &resp, "submission");
        goto out;
    }
    if (id)
        snprintf(in.id, sizeof(in.id), "%s", id);
    time_rfc3339(at, in.now, sizeof(in.now));
    req.auth.role = ROLE_NOTABLE;
    req.authenticated = 1;
    snprintf(req.auth.sub, sizeof(req.auth.sub), "%s", sub);
    if (suggestion_insert(conn, &req, &resp, &in) < 0) {
        refused(n, &resp, "submission");
        goto out;
    }
    reset(&resp);
    if (import_steps(conn, ctx, n, in.id, steps, at) < 0)
        goto out;
    rc = 1;
out:
    if (service_tx_end(ctx, conn, rc == 1, NULL) < 0 && rc == 1) {
        fprintf(stderr, "line %ld: commit failed\n", n);
        rc = -1;
    }
    reset(&resp);
    free(in.attachments);
    cJSON_Delete(rec);
    return rc;
}

/* suggestion_import_command - every line of standard input */
int suggestion_import_command(service_ctx *ctx)
{
    char *line = NULL;
    size_t cap = 0;
    long n = 0, imported = 0, skipped = 0, failed = 0;
    while (getline(&line, &cap, stdin) > 0) {
        n++;
        if (strspn(line, " \t\r\n") == strlen(line))
            continue;
        int r = import_line(ctx, n, line);
        imported += r == 1;
        skipped += r == 0;
        failed += r < 0;
    }
    free(line);
    printf("{\"imported\": %ld, \"skipped\": %ld, \"failed\": %ld}\n", imported, skipped, failed);
    log_info("import: %ld imported, %ld skipped, %ld refused", imported, skipped, failed);
    return failed ? 1 : 0;
}
