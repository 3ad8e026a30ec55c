/*
 * accounts_keys.c - the signing keys, what is published of them (JWKS and
 * OpenID Connect discovery), and the minting of access tokens.
 *
 * Keys: every *.pem private key in ACCOUNTS_SIGNING_KEYS_DIR (P-256 for
 * ES256, Ed25519 for EdDSA), read at start and again every 5 s; its kid is
 * its RFC 7638 thumbprint. Rotation without a refused token: a new key is
 * published from the moment it is first seen, but signs only after
 * ACCOUNTS_KEY_ACTIVATION_S (longer than the verifiers' JWKS refresh), and
 * the key it replaces stays published until every token it signed has
 * expired (the access-token lifetime plus two minutes), even when its file
 * is removed before that. signing_keys records when each key was first seen
 * and retired, so that several instances agree. The same thread prunes old
 * sign-in codes, failed checks and ended sessions every 10 minutes. Private keys are never
 * printed, logged or stored anywhere but their files.
 */
#include "accounts.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/crypto.h"
#include "util/log.h"

#define ACC_RESCAN_S 5
#define ACC_PRUNE_S 600

/* load_dir - the usable keys of the folder into keys; count, or -1 with err */
static int load_dir(const char *dir, acc_key *keys, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    if (d == NULL) {
        snprintf(err, errlen, "ACCOUNTS_SIGNING_KEYS_DIR: cannot open %s (%s)", dir,
                 strerror(errno));
        return -1;
    }
    while ((e = readdir(d)) != NULL && n < ACC_MAX_KEYS) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 4, ".pem") != 0 || e->d_name[0] == '.')
            continue;
        char path[512], why[256];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        EVP_PKEY *k = jose_key_from_pem_file(path, why, sizeof(why));
        if (k == NULL) {
            log_warn("signing key %s not used: %s", path, why);
            continue;
        }
        if (jose_thumbprint(k, keys[n].kid) < 0) {
            EVP_PKEY_free(k);
            continue;
        }
        keys[n].alg = jose_key_alg(k);
        keys[n].pkey = k;
        snprintf(keys[n].path, sizeof(keys[n].path), "%s", path);
        n++;
    }
    closedir(d);
    return n;
}

/* free_keys - release n keys */
static void free_keys(acc_key *keys, int n)
{
    for (int i = 0; i < n; i++)
        EVP_PKEY_free(keys[i].pkey);
}

/*
 * rescan - one pass: the folder's keys recorded, the signer chosen, keys
 * it replaced retired, the JWKS rebuilt; then swapped in. 0 or -1 with err
 * (the state before stays).
 */
static int rescan(acc_state *st, char *err, size_t errlen)
{
    acc_key fresh[ACC_MAX_KEYS];
    int n = load_dir(cfg_str(st->ctx->own, ACC_SIGNING_KEYS_DIR), fresh, err, errlen);
    if (n < 0)
        return -1;
    db_err dberr = {"", "out of memory"};
    PGconn *conn = db_acquire(st->ctx->db, 2000, &dberr);
    if (conn == NULL) {
        free_keys(fresh, n);
        snprintf(err, errlen, "signing keys: %s", dberr.msg);
        return -1;
    }
    int rc = -1, signer = -1;
    char act[24], keep[24];
    snprintf(act, sizeof(act), "%ld", st->activation_s);
    snprintf(keep, sizeof(keep), "%ld", st->access_ttl + 120);
    PGresult *res = NULL;
    cJSON *present = cJSON_CreateArray();
    char *plist = NULL;
    if (present == NULL || db_begin(conn, &dberr) < 0)
        goto out;
    for (int i = 0; i < n; i++) {
        cJSON *jwk = jose_key_to_jwk(fresh[i].pkey);
        char *text = jwk ? cJSON_PrintUnformatted(jwk) : NULL;
        cJSON_Delete(jwk);
        const char *p[3] = {fresh[i].kid, jose_alg_name(fresh[i].alg), text};
        res = text ? db_exec(conn,
                             "INSERT INTO signing_keys (kid, alg, public_jwk) VALUES ($1, $2, "
                             "$3::jsonb) ON CONFLICT (kid) DO NOTHING",
                             3, p, &dberr)
                   : NULL;
        free(text);
        if (res == NULL)
            goto out;
        PQclear(res);
        cJSON_AddItemToArray(present, cJSON_CreateString(fresh[i].kid));
    }
    if ((plist = cJSON_PrintUnformatted(present)) == NULL)
        goto out;
    /* the signer: the newest key activated, else (a fresh installation) the oldest */
    const char *q[2] = {plist, act};
    res = db_exec(conn,
                  "SELECT kid, extract(epoch FROM first_seen)::bigint, first_seen <= now() - "
                  "$2::int * interval '1 second' FROM signing_keys WHERE kid = ANY (ARRAY(SELECT "
                  "jsonb_array_elements_text($1::jsonb)))",
                  2, q, &dberr);
    if (res == NULL)
        goto out;
    long best = 0, oldest = 0;
    int fallback = -1;
    for (int r = 0; r < PQntuples(res); r++) {
        long seen = atol(PQgetvalue(res, r, 1));
        int active = PQgetvalue(res, r, 2)[0] == 't', i = 0;
        while (i < n && strcmp(fresh[i].kid, PQgetvalue(res, r, 0)) != 0)
            i++;
        if (i == n)
            continue;
        if (active && (signer < 0 || seen > best))
            signer = i, best = seen;
        if (fallback < 0 || seen < oldest)
            fallback = i, oldest = seen;
    }
    PQclear(res);
    res = NULL;
    if (signer < 0)
        signer = fallback;
    if (signer >= 0) {
        const char *p[1] = {fresh[signer].kid};
        /* the signer is live; keys older than it are retired (once) */
        res = db_exec(conn,
                      "UPDATE signing_keys SET retired_at = CASE WHEN kid = $1 THEN NULL ELSE "
                      "coalesce(retired_at, now()) END WHERE kid = $1 OR first_seen < (SELECT "
                      "first_seen FROM signing_keys WHERE kid = $1)",
                      1, p, &dberr);
        if (res == NULL)
            goto out;
        PQclear(res);
    }
    /* a key whose file is gone signs no more */
    const char *pp[1] = {plist};
    res = db_exec(conn,
                  "UPDATE signing_keys SET retired_at = now() WHERE retired_at IS NULL AND NOT "
                  "kid = ANY (ARRAY(SELECT jsonb_array_elements_text($1::jsonb)))",
                  1, pp, &dberr);
    if (res == NULL)
        goto out;
    PQclear(res);
    const char *kp[1] = {keep};
    res = db_exec(conn,
                  "SELECT jsonb_build_object('keys', coalesce(jsonb_agg(public_jwk || "
                  "jsonb_build_object('kid', kid, 'alg', alg, 'use', 'sig') ORDER BY first_seen), "
                  "'[]'::jsonb))::text FROM signing_keys WHERE retired_at IS NULL OR retired_at > "
                  "now() - $1::int * interval '1 second'",
                  1, kp, &dberr);
    if (res == NULL || PQntuples(res) != 1 || db_commit(conn, &dberr) < 0)
        goto out;
    char *jwks = strdup(PQgetvalue(res, 0, 0));
    if (jwks == NULL)
        goto out;
    pthread_mutex_lock(&st->keys.lock);
    acc_key old[ACC_MAX_KEYS];
    int nold = st->keys.nkeys;
    char before[64] = "";
    if (st->keys.signer >= 0)
        snprintf(before, sizeof(before), "%s", st->keys.keys[st->keys.signer].kid);
    memcpy(old, st->keys.keys, sizeof(old));
    memcpy(st->keys.keys, fresh, sizeof(fresh));
    st->keys.nkeys = n;
    st->keys.signer = signer;
    free(st->keys.jwks);
    st->keys.jwks = jwks;
    pthread_mutex_unlock(&st->keys.lock);
    free_keys(old, nold);
    n = 0; /* handed over */
    if (signer >= 0 && strcmp(before, st->keys.keys[signer].kid) != 0)
        log_info("signing with key %s (%s)", st->keys.keys[signer].kid,
                 jose_alg_name(st->keys.keys[signer].alg));
    rc = 0;
out:
    if (rc < 0 && err[0] == '\0')
        snprintf(err, errlen, "signing keys: %s", dberr.msg);
    cJSON_Delete(present);
    free(plist);
    PQclear(res);
    db_rollback(conn);
    db_release(st->ctx->db, conn);
    free_keys(fresh, n);
    return rc;
}

/*
 * prune - forget what no check needs any more: codes and failed checks
 * older than a day (the limits look back an hour), refresh tokens a day
 * past the end of their family. Failures are logged and retried next time.
 */
static void prune(acc_state *st)
{
    static const char *const sql[] = {
        "DELETE FROM signin_codes WHERE created_at < now() - interval '1 day'",
        "DELETE FROM signin_failures WHERE at < now() - interval '1 day'",
        "DELETE FROM refresh_tokens WHERE family_ends < now() - interval '1 day'",
    };
    db_err err;
    PGconn *conn = db_acquire(st->ctx->db, 2000, &err);
    if (conn == NULL)
        return;
    for (size_t i = 0; i < sizeof(sql) / sizeof(sql[0]); i++) {
        PGresult *res = db_exec(conn, sql[i], 0, NULL, &err);
        if (res == NULL)
            log_warn("pruning sign-in rows: %s", err.msg);
        PQclear(res);
    }
    db_release(st->ctx->db, conn);
}

/* keys_loop - rescan every ACC_RESCAN_S, prune every ACC_PRUNE_S, until stopped */
static void *keys_loop(void *arg)
{
    acc_state *st = arg;
    time_t pruned = 0;
    pthread_mutex_lock(&st->keys.stop_lock);
    while (st->keys.running) {
        if (time(NULL) - pruned >= ACC_PRUNE_S) {
            pthread_mutex_unlock(&st->keys.stop_lock);
            prune(st);
            pruned = time(NULL);
            pthread_mutex_lock(&st->keys.stop_lock);
            continue;
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += ACC_RESCAN_S;
        pthread_cond_timedwait(&st->keys.stop_cond, &st->keys.stop_lock, &until);
        if (!st->keys.running)
            break;
        pthread_mutex_unlock(&st->keys.stop_lock);
        char err[256] = "";
        if (rescan(st, err, sizeof(err)) < 0)
            log_warn("%s; keeping the keys known", err);
        pthread_mutex_lock(&st->keys.stop_lock);
    }
    pthread_mutex_unlock(&st->keys.stop_lock);
    return NULL;
}

/* acc_keys_start - first load (must find a key), then the rescan thread */
int acc_keys_start(acc_state *st, char *err, size_t errlen)
{
    pthread_mutex_init(&st->keys.lock, NULL);
    pthread_mutex_init(&st->keys.stop_lock, NULL);
    pthread_cond_init(&st->keys.stop_cond, NULL);
    st->keys.signer = -1;
    err[0] = '\0';
    if (rescan(st, err, errlen) < 0)
        return -1;
    if (st->keys.signer < 0) {
        snprintf(err, errlen, "ACCOUNTS_SIGNING_KEYS_DIR %s holds no usable *.pem private key",
                 cfg_str(st->ctx->own, ACC_SIGNING_KEYS_DIR));
        return -1;
    }
    st->keys.running = 1;
    if (pthread_create(&st->keys.thread, NULL, keys_loop, st) != 0) {
        st->keys.running = 0;
        snprintf(err, errlen, "cannot start the key thread");
        return -1;
    }
    return 0;
}

/* acc_keys_stop - join the thread, free the keys */
void acc_keys_stop(acc_state *st)
{
    pthread_mutex_lock(&st->keys.stop_lock);
    int was = st->keys.running;
    st->keys.running = 0;
    pthread_cond_signal(&st->keys.stop_cond);
    pthread_mutex_unlock(&st->keys.stop_lock);
    if (was)
        pthread_join(st->keys.thread, NULL);
    pthread_mutex_lock(&st->keys.lock);
    free_keys(st->keys.keys, st->keys.nkeys);
    st->keys.nkeys = 0;
    st->keys.signer = -1;
    free(st->keys.jwks);
    st->keys.jwks = NULL;
    pthread_mutex_unlock(&st->keys.lock);
}

/* acc_keys_jwks - a copy of the published set */
char *acc_keys_jwks(acc_state *st)
{
    pthread_mutex_lock(&st->keys.lock);
    char *copy = st->keys.jwks ? strdup(st->keys.jwks) : NULL;
    pthread_mutex_unlock(&st->keys.lock);
    return copy;
}

/* acc_jwks_fetch - the verifier's JWKS, from memory rather than over HTTP */
char *acc_jwks_fetch(const char *url, void *arg, char *err, size_t errlen)
{
    (void)url;
    char *jwks = acc_keys_jwks(arg);
    if (jwks == NULL)
        snprintf(err, errlen, "no keys loaded");
    return jwks;
}

/* acc_mint - an at+jwt for one grant, signed by the current signer */
char *acc_mint(acc_state *st, const char *account, const cJSON *g, long now, long not_before,
               long ttl, char *err, size_t errlen)
{
    char jti[37], kid[64];
    long iat = now > not_before ? now : not_before;
    if (ttl == 0)
        ttl = st->access_ttl;
    crypto_uuid_v7(jti);
    pthread_mutex_lock(&st->keys.lock);
    EVP_PKEY *key = NULL;
    jose_alg alg = JOSE_ALG_UNKNOWN;
    if (st->keys.signer >= 0) {
        key = st->keys.keys[st->keys.signer].pkey;
        EVP_PKEY_up_ref(key);
        alg = st->keys.keys[st->keys.signer].alg;
        snprintf(kid, sizeof(kid), "%s", st->keys.keys[st->keys.signer].kid);
    }
    pthread_mutex_unlock(&st->keys.lock);
    if (key == NULL) {
        snprintf(err, errlen, "no signing key");
        return NULL;
    }
    cJSON *h = cJSON_CreateObject(), *p = cJSON_CreateObject();
    cJSON_AddStringToObject(h, "alg", jose_alg_name(alg));
    cJSON_AddStringToObject(h, "typ", "at+jwt");
    cJSON_AddStringToObject(h, "kid", kid);
    cJSON_AddStringToObject(p, "iss", st->issuer);
    cJSON_AddStringToObject(p, "aud", st->audience);
    cJSON_AddStringToObject(p, "sub", account);
    cJSON_AddStringToObject(p, "client_id", st->client_id);
    cJSON_AddNumberToObject(p, "iat", (double)iat);
    cJSON_AddNumberToObject(p, "nbf", (double)iat);
    cJSON_AddNumberToObject(p, "exp", (double)(now + ttl));
    cJSON_AddStringToObject(p, "jti", jti);
    static const char *const copied[] = {"role", "regions", "unit", "notable_id", NULL};
    for (int i = 0; copied[i]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(g, copied[i]);
        if (v && !cJSON_IsNull(v))
            cJSON_AddItemToObject(p, copied[i], cJSON_Duplicate(v, 1));
    }
    const char *gid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(g, "id"));
    if (gid)
        cJSON_AddStringToObject(p, "grant", gid);
    char *token = jose_jws_compact(h, p, key, NULL, 0, alg, err, errlen);
    cJSON_Delete(h);
    cJSON_Delete(p);
    EVP_PKEY_free(key);
    return token;
}

/* accounts_jwks - GET /.well-known/jwks.json */
void accounts_jwks(http_req *req, http_resp *resp, void *ctx)
{
    (void)req;
    acc_state *st = ((service_ctx *)ctx)->state;
    char *jwks = acc_keys_jwks(st);
    if (jwks == NULL) {
        http_problem(resp, 503, "unavailable", "No keys", NULL, "the signing keys are not loaded");
        return;
    }
    http_reply_raw(resp, 200, "application/jwk-set+json", jwks, strlen(jwks));
    free(jwks);
}

/* accounts_discovery - GET /.well-known/openid-configuration */
void accounts_discovery(http_req *req, http_resp *resp, void *ctx)
{
    (void)req;
    acc_state *st = ((service_ctx *)ctx)->state;
    char url[600];
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "issuer", st->issuer);
    snprintf(url, sizeof(url), "%s/.well-known/jwks.json", st->issuer);
    cJSON_AddStringToObject(d, "jwks_uri", url);
    snprintf(url, sizeof(url), "%s/v1/token", st->issuer);
    cJSON_AddStringToObject(d, "token_endpoint", url);
    snprintf(url, sizeof(url), "%s/v1/me", st->issuer);
    cJSON_AddStringToObject(d, "userinfo_endpoint", url);
    snprintf(url, sizeof(url), "%s/v1/signout", st->issuer);
    cJSON_AddStringToObject(d, "revocation_endpoint", url);
    static const char *const grants[] = {"refresh_token", "urn:shantang:params:sms-code",
                                         "password"};
    cJSON_AddItemToObject(d, "grant_types_supported", cJSON_CreateStringArray(grants, 3));
    static const char *const rtypes[] = {"token"};
    cJSON_AddItemToObject(d, "response_types_supported", cJSON_CreateStringArray(rtypes, 1));
    static const char *const subjects[] = {"public"};
    cJSON_AddItemToObject(d, "subject_types_supported", cJSON_CreateStringArray(subjects, 1));
    static const char *const algs[] = {"ES256", "EdDSA"};
    cJSON_AddItemToObject(d, "token_endpoint_auth_methods_supported",
                          cJSON_CreateStringArray((const char *const[]){"none"}, 1));
    cJSON_AddItemToObject(d, "access_token_signing_alg_values_supported",
                          cJSON_CreateStringArray(algs, 2));
    cJSON_AddItemToObject(d, "id_token_signing_alg_values_supported",
                          cJSON_CreateStringArray(algs, 2));
    static const char *const claims[] = {"iss",  "sub",        "aud",       "exp",  "nbf",
                                         "iat",  "jti",        "client_id", "role", "regions",
                                         "unit", "notable_id", "grant"};
    cJSON_AddItemToObject(d, "claims_supported", cJSON_CreateStringArray(claims, 13));
    http_reply_json(resp, 200, d);
}

/* accounts_dev_token - POST /v1/dev/tokens (development only: ACCOUNTS_DEV_MINT_SECRET) */
void accounts_dev_token(http_req *req, http_resp *resp, void *ctx)
{
    acc_state *st = ((service_ctx *)ctx)->state;
    const char *given = http_header(req, "X-Dev-Secret");
    size_t need = strlen(st->dev_secret);
    if (need == 0) {
        http_problem(resp, 404, "not-found", "Not found", NULL, "no such route");
        return;
    }
    if (given == NULL || strlen(given) != need ||
        !crypto_timing_equal(given, st->dev_secret, need)) {
        http_problem(resp, 401, "unauthenticated", "Authentication required", NULL,
                     "X-Dev-Secret is missing or wrong");
        return;
    }
    cJSON *body = http_parse_json(req, resp);
    if (body == NULL)
        return;
    const char *role = NULL, *sub = NULL, *unit = NULL;
    long long ttl = 0;
    const cJSON *regions = cJSON_GetObjectItemCaseSensitive(body, "regions");
    if (http_field_string(body, "role", 1, 1, 20, &role, resp) < 0 ||
        http_field_string(body, "sub", 0, 1, 60, &sub, resp) < 0 ||
        http_field_string(body, "unit", 0, 1, 63, &unit, resp) < 0 ||
        http_field_int64(body, "ttl", 0, -86400, 315360000, &ttl, NULL, resp) < 0)
        goto out;
    if (auth_role_parse(role) == 0) {
        http_problem(resp, 422, "validation", "Unknown role", "/role",
                     "role is admin, coordinator, notable, handler, supervisor or planner");
        goto out;
    }
    if (regions && !cJSON_IsArray(regions)) {
        http_problem(resp, 422, "validation", "Invalid regions", "/regions",
                     "regions is an array of 12-digit codes");
        goto out;
    }
    cJSON *g = cJSON_CreateObject();
    cJSON_AddStringToObject(g, "role", role);
    cJSON_AddItemToObject(g, "regions",
                          regions ? cJSON_Duplicate(regions, 1) : cJSON_CreateArray());
    if (unit)
        cJSON_AddStringToObject(g, "unit", unit);
    if (strcmp(role, "notable") == 0)
        cJSON_AddStringToObject(g, "notable_id", sub ? sub : "local-notable");
    /* the subject as shantang-ctl token made it: the given one, else local-<role> */
    char account[80], err[128];
    if (sub)
        snprintf(account, sizeof(account), "%s", sub);
    else
        snprintf(account, sizeof(account), "local-%s", role);
    long now = (long)time(NULL);
    char *token = acc_mint(st, account, g, now, 0, ttl ? (long)ttl : 86400, err, sizeof(err));
    cJSON_Delete(g);
    if (token == NULL) {
        http_problem(resp, 503, "unavailable", "Cannot sign", NULL, "%s", err);
        goto out;
    }
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "access_token", token);
    free(token);
    http_reply_json(resp, 200, out);
out:
    cJSON_Delete(body);
}
