/*
 * accounts_signin.c - signing in (an SMS code, or a password for those who
 * set one), the session's refresh tokens, signing out, and the caller's own
 * account.
 *
 * No enumeration: asking for a code answers the same 202 whether or not
 * the phone has an account (a code row is written either way, so the limits
 * count alike; only an active account's code is sent), and every wrong
 * code, unknown phone or wrong password answers the same 401. Limits: per
 * phone ACCOUNTS_CODES_PER_MINUTE and _PER_HOUR codes and
 * ACCOUNTS_CODE_TRIES tries per code; per client address
 * ACCOUNTS_CLIENT_CODES_PER_HOUR codes and ACCOUNTS_CLIENT_FAILURES_PER_HOUR
 * failed checks; past them 429 with Retry-After. The client address is the
 * peer's, or X-Real-IP when the peer is one of ACCOUNTS_TRUSTED_PROXIES
 * (the console's nginx). A phone's requests are serialised by an advisory
 * lock, so concurrent requests cannot pass a limit together.
 *
 * The code travels to the notifier sealed (AES-256-GCM under the key the
 * two services share) on signin.v1, whose retention is the code's life; it
 * is never stored, logged or published in clear.
 */
#include "accounts.h"

#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/cnid.h"
#include "core/event.h"
#include "core/outbox.h"
#include "util/crypto.h"
#include "util/log.h"
#include "util/timeutil.h"

/* The answer to every failed check of a code or password: one message. */
#define BAD_CREDENTIALS "the phone and code (or password) do not match, or the code has expired"

/* acc_argon_enter - wait for a free argon2 slot */
void acc_argon_enter(acc_state *st)
{
    pthread_mutex_lock(&st->argon_lock);
    while (st->argon_busy >= st->argon_max)
        pthread_cond_wait(&st->argon_cond, &st->argon_lock);
    st->argon_busy++;
    pthread_mutex_unlock(&st->argon_lock);
}

/* acc_argon_leave - give the slot back */
void acc_argon_leave(acc_state *st)
{
    pthread_mutex_lock(&st->argon_lock);
    st->argon_busy--;
    pthread_cond_signal(&st->argon_cond);
    pthread_mutex_unlock(&st->argon_lock);
}

/* client_of - the asking address: the peer, or X-Real-IP from a trusted proxy */
static void client_of(const acc_state *st, const http_req *req, char out[64])
{
    char peer[64];
    http_client_address(req, peer, sizeof(peer));
    snprintf(out, 64, "%s", peer[0] ? peer : "unknown");
    const char *real = http_header(req, "X-Real-IP");
    if (real == NULL || !peer[0] || !*st->trusted_proxies)
        return;
    char list[512];
    snprintf(list, sizeof(list), "%s", st->trusted_proxies);
    char *save = NULL;
    for (char *p = strtok_r(list, ", ", &save); p; p = strtok_r(NULL, ", ", &save)) {
        unsigned char buf[16];
        if (strcmp(p, peer) == 0 &&
            (inet_pton(AF_INET, real, buf) == 1 || inet_pton(AF_INET6, real, buf) == 1)) {
            snprintf(out, 64, "%s", real);
            return;
        }
    }
}

/* too_many - a 429 with Retry-After */
static void too_many(http_resp *resp, long retry_after, const char *detail)
{
    long ra = retry_after > 0 ? retry_after : 1;
    http_problem(resp, 429, "too-many-requests", "Too many requests", NULL,
                 "%s; try again in %ld s", detail, ra);
    resp->retry_after = ra;
}

/* phone_field - the normalised phone of the body, or -1 after a 422 */
static int phone_field(const cJSON *body, char phone[12], http_resp *resp)
{
    const char *raw = NULL;
    if (http_field_string(body, "phone", 1, 1, 20, &raw, resp) < 0)
        return -1;
    if (cnid_phone_normalise(raw, phone) < 0) {
        http_problem(resp, 422, "validation", "Invalid phone", "/phone",
                     "phone must be a mainland mobile number (11 digits starting 13-19)");
        return -1;
    }
    return 0;
}

/* lock_phone - serialise every sign-in step of one phone; 0 or -1 */
static int lock_phone(PGconn *conn, const char *phone, db_err *err)
{
    const char *p[1] = {phone};
    return db_run(conn, "SELECT pg_advisory_xact_lock(hashtextextended('signin:' || $1, 0))", 1, p,
                  err);
}

/* count_since - one count(*) query's answer with its "seconds until room" second column */
static long count_since(PGconn *conn, const char *sql, const char *who, const char *window,
                        long *wait_s, db_err *err)
{
    const char *p[2] = {who, window};
    PGresult *res = db_exec(conn, sql, 2, p, err);
    if (res == NULL || PQntuples(res) != 1) {
        PQclear(res);
        return -1;
    }
    long n = atol(PQgetvalue(res, 0, 0));
    *wait_s = atol(PQgetvalue(res, 0, 1)) + 1;
    PQclear(res);
    return n;
}

#define CODES_OF_PHONE                                                                             \
    "SELECT count(*), coalesce(extract(epoch FROM min(created_at) + $2::int * interval '1 "        \
    "second' - now())::bigint, 0) FROM signin_codes WHERE phone = $1 AND created_at > now() - "    \
    "$2::int * interval '1 second'"
#define CODES_OF_CLIENT                                                                            \
    "SELECT count(*), coalesce(extract(epoch FROM min(created_at) + $2::int * interval '1 "        \
    "second' - now())::bigint, 0) FROM signin_codes WHERE client = $1 AND created_at > now() - "   \
    "$2::int * interval '1 second'"
#define FAILURES_OF_CLIENT                                                                         \
    "SELECT count(*), coalesce(extract(epoch FROM min(at) + $2::int * interval '1 second' - "      \
    "now())::bigint, 0) FROM signin_failures WHERE client = $1 AND at > now() - $2::int * "        \
    "interval '1 second'"

/* client_blocked - 1 (and a 429 in resp) when the client failed too often, 0, or -1 */
static int client_blocked(acc_state *st, PGconn *conn, const char *client, http_resp *resp,
                          db_err *err)
{
    long wait = 0, n = count_since(conn, FAILURES_OF_CLIENT, client, "3600", &wait, err);
    if (n < 0)
        return -1;
    if (n >= st->client_failures_per_hour) {
        too_many(resp, wait, "too many failed sign-ins from this address");
        return 1;
    }
    return 0;
}

/* record_failure - one failed check from client; 0 or -1 */
static int record_failure(PGconn *conn, const char *client, db_err *err)
{
    const char *p[1] = {client};
    return db_run(conn, "INSERT INTO signin_failures (client) VALUES ($1)", 1, p, err);
}

/* accounts_signin_code - POST /v1/signin/code {phone} */
void accounts_signin_code(http_req *req, http_resp *resp, void *ctx)
{
    acc_state *st = ((service_ctx *)ctx)->state;
    char phone[12], client[64], code[7] = "", id[37], hash[65];
    db_err err;
    cJSON *body = http_parse_json(req, resp);
    if (body == NULL)
        return;
    if (phone_field(body, phone, resp) < 0) {
        cJSON_Delete(body);
        return;
    }
    cJSON_Delete(body);
    client_of(st, req, client);
    PGconn *conn = service_tx_begin(ctx, resp);
    if (conn == NULL)
        return;
    long wait = 0, n;
    char minute[] = "60", hour[] = "3600";
    if (lock_phone(conn, phone, &err) < 0)
        goto db_fail;
    if ((n = count_since(conn, CODES_OF_PHONE, phone, minute, &wait, &err)) < 0)
        goto db_fail;
    if (n >= st->codes_per_minute) {
        too_many(resp, wait, "a code was sent to this phone a moment ago");
        goto done;
    }
    if ((n = count_since(conn, CODES_OF_PHONE, phone, hour, &wait, &err)) < 0)
        goto db_fail;
    if (n >= st->codes_per_hour) {
        too_many(resp, wait, "too many codes for this phone this hour");
        goto done;
    }
    if ((n = count_since(conn, CODES_OF_CLIENT, client, hour, &wait, &err)) < 0)
        goto db_fail;
    if (n >= st->client_codes_per_hour) {
        too_many(resp, wait, "too many codes asked from this address this hour");
        goto done;
    }
    const char *pa[1] = {phone};
    PGresult *res =
        db_exec(conn, "SELECT id FROM accounts WHERE phone = $1 AND state = 'active'", 1, pa, &err);
    if (res == NULL)
        goto db_fail;
    int sent = PQntuples(res) == 1;
    PQclear(res);
    if (acc_code_new(code) < 0) {
        http_problem(resp, 503, "unavailable", "No randomness", NULL,
                     "the random generator failed; try again");
        goto done;
    }
    crypto_uuid_v7(id);
    acc_code_hash(st->code_key, id, phone, code, hash);
    char ttl[24];
    snprintf(ttl, sizeof(ttl), "%ld", st->code_ttl);
    const char *pi[6] = {id, phone, client, hash, sent ? "t" : "f", ttl};
    res = db_exec(conn,
                  "INSERT INTO signin_codes (id, phone, client, code_hash, sent, expires_at) "
                  "VALUES ($1::uuid, $2, $3, $4, $5::boolean, now() + $6::int * interval '1 "
                  "second') RETURNING to_char(expires_at AT TIME ZONE 'UTC', "
                  "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
                  6, pi, &err);
    if (res == NULL)
        goto db_fail;
    char expires[32];
    snprintf(expires, sizeof(expires), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    if (sent) {
        char sealed[128];
        if (pii_encrypt(&st->seal, code, sealed, sizeof(sealed)) < 0) {
            http_problem(resp, 503, "unavailable", "Cannot seal", NULL, "try again");
            goto done;
        }
        cJSON *data = cJSON_CreateObject();
        cJSON_AddStringToObject(data, "phone", phone);
        cJSON_AddStringToObject(data, "code_sealed", sealed);
        cJSON_AddStringToObject(data, "expires_at", expires);
        cJSON_AddNumberToObject(data, "minutes", (double)((st->code_ttl + 59) / 60));
        cJSON *ev = event_new("accounts", "signin.code_issued", id, data);
        int rc = ev ? outbox_add(conn, ACCOUNTS_TOPIC_SIGNIN, phone, ev, &err) : -1;
        cJSON_Delete(ev);
        OPENSSL_cleanse(sealed, sizeof(sealed));
        if (rc < 0)
            goto db_fail;
    }
    OPENSSL_cleanse(code, sizeof(code));
    cJSON *out = cJSON_CreateObject();
    cJSON_AddBoolToObject(out, "sent", 1);
    cJSON_AddNumberToObject(out, "expires_in", (double)st->code_ttl);
    cJSON_AddNumberToObject(out, "retry_after", 60.0 / (double)st->codes_per_minute);
    http_reply_json(resp, 202, out);
    service_tx_end(ctx, conn, 1, resp);
    return;
db_fail:
    service_db_problem(resp, &err);
done:
    OPENSSL_cleanse(code, sizeof(code));
    service_tx_end(ctx, conn, 0, NULL);
}

/* grants_pick - the grant of grants whose id is want (the first when want is NULL) */
static const cJSON *grants_pick(const cJSON *grants, const char *want)
{
    const cJSON *g;
    cJSON_ArrayForEach(g, grants)
    {
        const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(g, "id"));
        if (want == NULL || (id && strcmp(id, want) == 0))
            return g;
    }
    return NULL;
}

/*
 * session_issue - a refresh token of family (a new family when NULL) and an
 * access token for the chosen grant of account; the answer in resp. 0, or
 * -1 with the problem in resp (the caller rolls back).
 */
static int session_issue(acc_state *st, PGconn *conn, const char *account, const char *grant_id,
                         const char *family, http_resp *resp)
{
    db_err err;
    const char *pa[1] = {account};
    PGresult *res = db_exec(conn,
                            "SELECT account_json(id)::text, revoked_before, state FROM accounts "
                            "WHERE id = $1::uuid",
                            1, pa, &err);
    if (res == NULL) {
        service_db_problem(resp, &err);
        return -1;
    }
    if (PQntuples(res) != 1 || strcmp(PQgetvalue(res, 0, 2), "active") != 0) {
        PQclear(res);
        http_problem(resp, 401, "unauthenticated", "Sign-in failed", NULL, BAD_CREDENTIALS);
        return -1;
    }
    cJSON *acct = cJSON_Parse(PQgetvalue(res, 0, 0));
    long not_before = atol(PQgetvalue(res, 0, 1));
    PQclear(res);
    cJSON *grants = cJSON_DetachItemFromObjectCaseSensitive(acct, "grants");
    const cJSON *g = grants_pick(grants, grant_id);
    int rc = -1;
    char *access = NULL, token[48], hash[65], rid[37], fam[37];
    if (acct == NULL || grants == NULL) {
        http_problem(resp, 503, "unavailable", "Unavailable", NULL, "out of memory");
        goto out;
    }
    if (g == NULL) {
        if (grant_id)
            http_problem(resp, 422, "validation", "Not your grant", "/grant_id",
                         "grant_id is not one of this account's grants");
        else
            http_problem(resp, 403, "forbidden", "No grant", NULL,
                         "this account holds no grant yet; ask the administrator");
        goto out;
    }
    if (acc_refresh_new(token, hash) < 0) {
        http_problem(resp, 503, "unavailable", "No randomness", NULL, "try again");
        goto out;
    }
    crypto_uuid_v7(rid);
    snprintf(fam, sizeof(fam), "%s", family ? family : rid);
    char idle[24], max[24];
    snprintf(idle, sizeof(idle), "%ld", st->refresh_idle);
    snprintf(max, sizeof(max), "%ld", st->refresh_max);
    const char *gid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(g, "id"));
    const char *pi[7] = {rid, fam, account, gid, hash, idle, max};
    res = db_exec(conn,
                  "INSERT INTO refresh_tokens (id, family, account_id, grant_id, token_hash, "
                  "expires_at, family_ends) SELECT $1::uuid, $2::uuid, $3::uuid, $4::uuid, $5, "
                  "least(now() + $6::int * interval '1 second', e.ends), e.ends FROM (SELECT "
                  "coalesce((SELECT family_ends FROM refresh_tokens WHERE family = $2::uuid "
                  "LIMIT 1), now() + $7::int * interval '1 second') AS ends) e "
                  "RETURNING extract(epoch FROM expires_at - now())::bigint",
                  7, pi, &err);
    if (res == NULL) {
        service_db_problem(resp, &err);
        goto out;
    }
    long refresh_in = atol(PQgetvalue(res, 0, 0));
    PQclear(res);
    char why[128];
    access = acc_mint(st, account, g, (long)time(NULL), not_before, 0, why, sizeof(why));
    if (access == NULL) {
        http_problem(resp, 503, "unavailable", "Cannot sign", NULL, "%s", why);
        goto out;
    }
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "access_token", access);
    cJSON_AddStringToObject(out, "token_type", "Bearer");
    cJSON_AddNumberToObject(out, "expires_in", (double)st->access_ttl);
    cJSON_AddStringToObject(out, "refresh_token", token);
    cJSON_AddNumberToObject(out, "refresh_expires_in", (double)refresh_in);
    cJSON *a = cJSON_AddObjectToObject(out, "account");
    static const char *const shown[] = {"id", "name", "phone", "has_password", NULL};
    for (int i = 0; shown[i]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(acct, shown[i]);
        if (v)
            cJSON_AddItemToObject(a, shown[i], cJSON_Duplicate(v, 1));
    }
    cJSON_AddItemToObject(out, "grant", cJSON_Duplicate(g, 1));
    cJSON_AddItemToObject(out, "grants", grants);
    grants = NULL;
    http_reply_json(resp, 200, out);
    rc = 0;
out:
    OPENSSL_cleanse(token, sizeof(token));
    free(access);
    cJSON_Delete(grants);
    cJSON_Delete(acct);
    return rc;
}

/* session_start - a new session for a signed-in account, audited with its method; 0 or -1 */
static int session_start(acc_state *st, PGconn *conn, const char *account, const char *grant,
                         const char *method, http_resp *resp)
{
    db_err err;
    if (session_issue(st, conn, account, grant, NULL, resp) < 0)
        return -1;
    cJSON *extra = cJSON_CreateObject();
    cJSON_AddStringToObject(extra, "method", method);
    if (acc_event(conn, account, account, "session.started", extra, &err) < 0) {
        free(resp->body);
        resp->body = NULL;
        service_db_problem(resp, &err);
        return -1;
    }
    return 0;
}

/* grant_arg - the optional grant_id of a body (a UUID); 0 or -1 after a 422 */
static int grant_arg(const cJSON *body, const char **grant, http_resp *resp)
{
    *grant = NULL;
    if (http_field_string(body, "grant_id", 0, 36, 36, grant, resp) < 0)
        return -1;
    if (*grant && !crypto_uuid_valid(*grant)) {
        http_problem(resp, 422, "validation", "Invalid grant_id", "/grant_id",
                     "grant_id is the id of one of the account's grants");
        return -1;
    }
    return 0;
}

/*
 * signin_begin - the transaction of one sign-in check: the phone's lock
 * held, and the client not blocked for its failures. NULL after the answer
 * (429 or 503) is in resp.
 */
static PGconn *signin_begin(acc_state *st, service_ctx *ctx, const char *phone, const char *client,
                            http_resp *resp)
{
    db_err err;
    PGconn *conn = service_tx_begin(ctx, resp);
    if (conn == NULL)
        return NULL;
    int blocked = lock_phone(conn, phone, &err);
    if (blocked == 0)
        blocked = client_blocked(st, conn, client, resp, &err);
    if (blocked < 0)
        service_db_problem(resp, &err);
    if (blocked != 0) {
        service_tx_end(ctx, conn, 0, NULL);
        return NULL;
    }
    return conn;
}

/* accounts_signin_verify - POST /v1/signin/verify {phone, code, grant_id?} */
void accounts_signin_verify(http_req *req, http_resp *resp, void *ctx)
{
    acc_state *st = ((service_ctx *)ctx)->state;
    char phone[12], client[64], hash[65];
    const char *code = NULL, *grant = NULL;
    db_err err;
    cJSON *body = http_parse_json(req, resp);
    if (body == NULL)
        return;
    if (phone_field(body, phone, resp) < 0 ||
        http_field_string(body, "code", 1, 1, 12, &code, resp) < 0 ||
        grant_arg(body, &grant, resp) < 0)
        goto out;
    if (!acc_code_valid(code)) {
        http_problem(resp, 422, "validation", "Invalid code", "/code",
                     "the code is the 6 digits of the SMS");
        goto out;
    }
    client_of(st, req, client);
    PGconn *conn = signin_begin(st, ctx, phone, client, resp);
    if (conn == NULL)
        goto out;
    int commit = 0;
    const char *pp[1] = {phone};
    PGresult *res = db_exec(conn,
                            "SELECT id, code_hash, tries FROM signin_codes WHERE phone = $1 AND "
                            "used_at IS NULL AND expires_at > now() ORDER BY created_at DESC "
                            "LIMIT 1 FOR UPDATE",
                            1, pp, &err);
    if (res == NULL) {
        service_db_problem(resp, &err);
        goto end;
    }
    if (PQntuples(res) == 1 && atol(PQgetvalue(res, 0, 2)) >= st->code_tries) {
        PQclear(res);
        too_many(resp, 60, "too many wrong tries of this code; ask for a new one");
        goto end;
    }
    int match = 0;
    char cid[37] = "";
    if (PQntuples(res) == 1) {
        snprintf(cid, sizeof(cid), "%s", PQgetvalue(res, 0, 0));
        acc_code_hash(st->code_key, cid, phone, code, hash);
        match = crypto_timing_equal(hash, PQgetvalue(res, 0, 1), 64);
    }
    PQclear(res);
    const char *pc[1] = {cid};
    if (!match) {
        if (cid[0])
            PQclear(db_exec(conn, "UPDATE signin_codes SET tries = tries + 1 WHERE id = $1::uuid",
                            1, pc, &err));
        if (record_failure(conn, client, &err) < 0) {
            service_db_problem(resp, &err);
            goto end;
        }
        http_problem(resp, 401, "unauthenticated", "Sign-in failed", NULL, BAD_CREDENTIALS);
        commit = 1;
        goto end;
    }
    res = db_exec(conn,
                  "UPDATE signin_codes SET used_at = now() WHERE id = $1::uuid RETURNING "
                  "(SELECT id::text FROM accounts WHERE phone = signin_codes.phone AND state = "
                  "'active')",
                  1, pc, &err);
    if (res == NULL) {
        service_db_problem(resp, &err);
        goto end;
    }
    char account[37] = "";
    if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
        snprintf(account, sizeof(account), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    if (account[0] == '\0') { /* a code for a phone without an active account */
        http_problem(resp, 401, "unauthenticated", "Sign-in failed", NULL, BAD_CREDENTIALS);
        commit = 1;
        goto end;
    }
    commit = session_start(st, conn, account, grant, "sms", resp) == 0;
end:
    service_tx_end(ctx, conn, commit, resp);
out:
    cJSON_Delete(body);
}

/* accounts_signin_password - POST /v1/signin/password {phone, password, grant_id?} */
void accounts_signin_password(http_req *req, http_resp *resp, void *ctx)
{
    acc_state *st = ((service_ctx *)ctx)->state;
    char phone[12], client[64];
    const char *password = NULL, *grant = NULL;
    db_err err;
    cJSON *body = http_parse_json(req, resp);
    if (body == NULL)
        return;
    if (phone_field(body, phone, resp) < 0 ||
        http_field_string(body, "password", 1, 1, 128, &password, resp) < 0 ||
        grant_arg(body, &grant, resp) < 0)
        goto out;
    client_of(st, req, client);
    PGconn *conn = signin_begin(st, ctx, phone, client, resp);
    if (conn == NULL)
        goto out;
    int commit = 0;
    const char *pp[1] = {phone};
    PGresult *res = db_exec(
        conn,
        "SELECT id, password_hash, failed_logins, coalesce(ceil(extract(epoch FROM locked_until - "
        "now()))::bigint, 0) FROM accounts WHERE phone = $1 AND state = 'active' FOR UPDATE",
        1, pp, &err);
    if (res == NULL) {
        service_db_problem(resp, &err);
        goto end;
    }
    int found = PQntuples(res) == 1 && !PQgetisnull(res, 0, 1);
    char account[37] = "", *stored = NULL;
    long failures = 0, locked = 0;
    if (found) {
        snprintf(account, sizeof(account), "%s", PQgetvalue(res, 0, 0));
        stored = strdup(PQgetvalue(res, 0, 1));
        failures = atol(PQgetvalue(res, 0, 2));
        locked = atol(PQgetvalue(res, 0, 3));
    }
    PQclear(res);
    if (found && locked > 0) {
        free(stored);
        too_many(resp, locked, "too many wrong passwords: this account is locked for a while");
        goto end;
    }
    acc_argon_enter(st);
    int ok = acc_password_verify(found && stored ? stored : st->dummy_hash, password) == 1 && found;
    acc_argon_leave(st);
    if (!ok) {
        free(stored);
        if (record_failure(conn, client, &err) < 0) {
            service_db_problem(resp, &err);
            goto end;
        }
        if (found) {
            char f[24], lock[24];
            snprintf(f, sizeof(f), "%ld", failures + 1);
            snprintf(lock, sizeof(lock), "%ld",
                     acc_lockout_s(failures + 1, st->max_failures, st->lockout_base));
            const char *pf[3] = {account, f, lock};
            res = db_exec(conn,
                          "UPDATE accounts SET failed_logins = $2::int, locked_until = CASE WHEN "
                          "$3::int > 0 THEN now() + $3::int * interval '1 second' END WHERE id = "
                          "$1::uuid",
                          3, pf, &err);
            PQclear(res);
            if (res && atol(lock) > 0) {
                cJSON *extra = cJSON_CreateObject();
                cJSON_AddNumberToObject(extra, "locked_seconds", (double)atol(lock));
                acc_event(conn, "system", account, "account.locked", extra, &err);
            }
        }
        http_problem(resp, 401, "unauthenticated", "Sign-in failed", NULL, BAD_CREDENTIALS);
        commit = 1;
        goto end;
    }
    /* right password: the failures reset, the hash renewed if its parameters changed */
    char *renewed = NULL;
    if (acc_password_outdated(stored, st->argon_t, st->argon_m, st->argon_p)) {
        acc_argon_enter(st);
        renewed = acc_password_hash(password, st->argon_t, st->argon_m, st->argon_p);
        acc_argon_leave(st);
    }
    free(stored);
    const char *pr[2] = {account, renewed};
    res = db_exec(conn,
                  "UPDATE accounts SET failed_logins = 0, locked_until = NULL, password_hash = "
                  "coalesce($2::text, password_hash) WHERE id = $1::uuid",
                  2, pr, &err);
    free(renewed);
    if (res == NULL) {
        service_db_problem(resp, &err);
        goto end;
    }
    PQclear(res);
    if (renewed)
        acc_event(conn, "system", account, "password.rehashed", NULL, &err);
    commit = session_start(st, conn, account, grant, "password", resp) == 0;
end:
    service_tx_end(ctx, conn, commit, resp);
out:
    cJSON_Delete(body);
}

/* accounts_token - POST /v1/token {refresh_token, grant_id?}: rotation with reuse detection */
void accounts_token(http_req *req, http_resp *resp, void *ctx)
{
    acc_state *st = ((service_ctx *)ctx)->state;
    const char *token = NULL, *grant = NULL;
    char hash[65];
    db_err err;
    cJSON *body = http_parse_json(req, resp);
    if (body == NULL)
        return;
    if (http_field_string(body, "refresh_token", 1, 1, 100, &token, resp) < 0 ||
        grant_arg(body, &grant, resp) < 0)
        goto out;
    acc_refresh_hash(token, hash);
    PGconn *conn = service_tx_begin(ctx, resp);
    if (conn == NULL)
        goto out;
    int commit = 0;
    const char *ph[1] = {hash};
    PGresult *res = db_exec(conn,
                            "SELECT id, family, account_id, grant_id, used_at IS NOT NULL OR "
                            "revoked_at IS NOT NULL, expires_at <= now() OR family_ends <= now() "
                            "FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE",
                            1, ph, &err);
    if (res == NULL) {
        service_db_problem(resp, &err);
        goto end;
    }
    if (PQntuples(res) != 1) {
        PQclear(res);
        http_problem(resp, 401, "unauthenticated", "Invalid refresh token", "/refresh_token",
                     "the refresh token is unknown; sign in again");
        goto end;
    }
    char id[37], family[37], account[37], current[37];
    snprintf(id, sizeof(id), "%s", PQgetvalue(res, 0, 0));
    snprintf(family, sizeof(family), "%s", PQgetvalue(res, 0, 1));
    snprintf(account, sizeof(account), "%s", PQgetvalue(res, 0, 2));
    snprintf(current, sizeof(current), "%s", PQgetvalue(res, 0, 3));
    int reused = PQgetvalue(res, 0, 4)[0] == 't', expired = PQgetvalue(res, 0, 5)[0] == 't';
    PQclear(res);
    const char *pf[1] = {family};
    if (reused) {
        /* RFC 9700 4.14.2: the server cannot tell thief from owner; the family ends */
        res = db_exec(conn,
                      "UPDATE refresh_tokens SET revoked_at = now() WHERE family = $1::uuid AND "
                      "revoked_at IS NULL",
                      1, pf, &err);
        PQclear(res);
        cJSON *extra = cJSON_CreateObject();
        cJSON_AddStringToObject(extra, "family", family);
        if (res == NULL ||
            acc_event(conn, "system", account, "session.reuse_detected", extra, &err) < 0) {
            service_db_problem(resp, &err);
            goto end;
        }
        log_warn("refresh token reused: session family %s of account %s ended", family, account);
        http_problem(resp, 401, "unauthenticated", "Refresh token reused", "/refresh_token",
                     "this refresh token was already used; the session has been ended, sign in "
                     "again");
        commit = 1;
        goto end;
    }
    if (expired) {
        http_problem(resp, 401, "unauthenticated", "Refresh token expired", "/refresh_token",
                     "the session has expired; sign in again");
        goto end;
    }
    const char *pu[1] = {id};
    res =
        db_exec(conn, "UPDATE refresh_tokens SET used_at = now() WHERE id = $1::uuid", 1, pu, &err);
    if (res == NULL) {
        service_db_problem(resp, &err);
        goto end;
    }
    PQclear(res);
    if (session_issue(st, conn, account, grant ? grant : current, family, resp) == 0)
        commit = 1;
end:
    service_tx_end(ctx, conn, commit, resp);
out:
    cJSON_Delete(body);
}

/* accounts_signout - POST /v1/signout {refresh_token}: the session's family ends (204), in
   one statement (session_end in the schema) */
void accounts_signout(http_req *req, http_resp *resp, void *ctx)
{
    const char *token = NULL;
    char hash[65];
    cJSON *body = http_parse_json(req, resp);
    if (body == NULL)
        return;
    if (http_field_string(body, "refresh_token", 1, 1, 100, &token, resp) == 0) {
        acc_refresh_hash(token, hash);
        const char *p[1] = {hash};
        service_command_run(ctx, resp, "SELECT * FROM session_end($1)", 1, p);
    }
    cJSON_Delete(body);
}

/* accounts_me - GET /v1/me: the caller's account, active grant and grants */
void accounts_me(http_req *req, http_resp *resp, void *ctx)
{
    const char *account = req->auth.account;
    db_err err;
    if (req->auth.issuer != 0 || !crypto_uuid_valid(account)) {
        http_problem(resp, 404, "not-found", "No account", NULL,
                     "this token was not issued for an account of this service");
        return;
    }
    PGconn *conn = service_tx_begin(ctx, resp);
    if (conn == NULL)
        return;
    const char *pa[1] = {account};
    PGresult *res = db_exec(conn, "SELECT account_json($1::uuid)::text", 1, pa, &err);
    service_tx_end(ctx, conn, 0, NULL);
    if (res == NULL) {
        service_db_problem(resp, &err);
        return;
    }
    cJSON *acct = PQgetisnull(res, 0, 0) ? NULL : cJSON_Parse(PQgetvalue(res, 0, 0));
    PQclear(res);
    if (acct == NULL) {
        http_problem(resp, 404, "not-found", "No account", NULL, "the account no longer exists");
        return;
    }
    cJSON *grants = cJSON_DetachItemFromObjectCaseSensitive(acct, "grants");
    const cJSON *g = grants_pick(grants, req->auth.grant[0] ? req->auth.grant : NULL);
    cJSON *out = cJSON_CreateObject();
    cJSON_AddItemToObject(out, "account", acct);
    cJSON_AddItemToObject(out, "grant", g ? cJSON_Duplicate(g, 1) : cJSON_CreateNull());
    cJSON_AddItemToObject(out, "grants", grants ? grants : cJSON_CreateArray());
    http_reply_json(resp, 200, out);
}

/* accounts_me_password - POST /v1/me/password {current_password?, new_password} */
void accounts_me_password(http_req *req, http_resp *resp, void *ctx)
{
    acc_state *st = ((service_ctx *)ctx)->state;
    const char *account = req->auth.account, *current = NULL, *fresh = NULL;
    db_err err;
    if (req->auth.issuer != 0 || !crypto_uuid_valid(account)) {
        http_problem(resp, 404, "not-found", "No account", NULL,
                     "this token was not issued for an account of this service");
        return;
    }
    cJSON *body = http_parse_json(req, resp);
    if (body == NULL)
        return;
    if (http_field_string(body, "current_password", 0, 1, 128, &current, resp) < 0 ||
        http_field_string(body, "new_password", 1, 1, 200, &fresh, resp) < 0)
        goto out;
    PGconn *conn = service_tx_begin(ctx, resp);
    if (conn == NULL)
        goto out;
    int commit = 0;
    const char *pa[1] = {account};
    PGresult *res = db_exec(conn,
                            "SELECT password_hash, phone FROM accounts WHERE id = $1::uuid AND "
                            "state = 'active' FOR UPDATE",
                            1, pa, &err);
    if (res == NULL || PQntuples(res) != 1) {
        if (res)
            http_problem(resp, 404, "not-found", "No account", NULL, "no active account");
        else
            service_db_problem(resp, &err);
        PQclear(res);
        goto end;
    }
    int has = !PQgetisnull(res, 0, 0);
    char *stored = has ? strdup(PQgetvalue(res, 0, 0)) : NULL;
    char phone[12];
    snprintf(phone, sizeof(phone), "%s", PQgetvalue(res, 0, 1));
    PQclear(res);
    if (has) {
        acc_argon_enter(st);
        int ok = current && acc_password_verify(stored, current) == 1;
        acc_argon_leave(st);
        if (!ok) {
            free(stored);
            http_problem(resp, 422, "validation", "Wrong password", "/current_password",
                         "current_password is not this account's password");
            goto end;
        }
    }
    free(stored);
    const char *why = acc_password_acceptable(fresh, phone);
    if (why) {
        http_problem(resp, 422, "validation", "Password not accepted", "/new_password", "%s", why);
        goto end;
    }
    acc_argon_enter(st);
    char *hash = acc_password_hash(fresh, st->argon_t, st->argon_m, st->argon_p);
    acc_argon_leave(st);
    const char *ph[2] = {account, hash};
    res = hash ? db_exec(conn,
                         "UPDATE accounts SET password_hash = $2, password_changed_at = now(), "
                         "failed_logins = 0, locked_until = NULL, version = version + 1, "
                         "updated_at = now() WHERE id = $1::uuid",
                         2, ph, &err)
               : NULL;
    free(hash);
    if (res == NULL) {
        if (hash == NULL)
            http_problem(resp, 503, "unavailable", "Cannot hash", NULL, "try again");
        else
            service_db_problem(resp, &err);
        goto end;
    }
    PQclear(res);
    /* a new password signs out every session, this one included */
    if (acc_event(conn, account, account, "account.password_changed", NULL, &err) < 0 ||
        acc_revoke(st, conn, account, account, "password_changed", &err) < 0) {
        service_db_problem(resp, &err);
        goto end;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "changed", 1);
    cJSON_AddBoolToObject(o, "signed_out", 1);
    http_reply_json(resp, 200, o);
    commit = 1;
end:
    service_tx_end(ctx, conn, commit, resp);
out:
    cJSON_Delete(body);
}
