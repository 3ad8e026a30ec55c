/*
 * auth_verify.c - the access-token verifier every service runs (auth.h):
 * issuers with their JWKS caches, the algorithm allow-lists, the claim
 * checks and mappings, and the revocation table.
 *
 * Trusts: the JWKS of each configured issuer as fetched from its configured
 * URL (never a jku, x5u or embedded jwk of a token); nothing of a token
 * before its signature is verified except the iss, alg, typ and kid that
 * choose the key, each checked against the configuration first.
 * Reads: only the auth_verifier_config and the issuers file it names.
 * Reports: every refusal as a short reason for the 401's detail; JWKS fetch
 * failures as warn log lines (the URL, never a key).
 */
#include "core/auth.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/crypto.h"
#include "util/jose.h"
#include "util/log.h"

#define AUTH_TOKEN_MAX 8192        /* longest token looked at */
#define AUTH_JWKS_MAX (256 * 1024) /* largest JWKS document read */
#define AUTH_JWKS_TIMEOUT_MS 3000  /* one JWKS fetch, whole */
#define AUTH_RETRY_EMPTY_S 2       /* with no key yet, fetch again this soon */
#define AUTH_MAX_KEYS 16           /* keys kept per issuer */
#define AUTH_MAX_ISSUERS 8         /* ours and the outside ones */
#define AUTH_REVOKE_KEEP_S 86400   /* revocations kept this long (longer than any token) */
#define AUTH_CACHE_SLOTS 4096      /* tokens remembered as verified */
#define AUTH_CACHE_STRIPES 64      /* locks over the slots */

typedef struct auth_key {
    char kid[128];  /* the JWK's kid ("" when it has none) */
    jose_alg alg;   /* the one alg its type fits */
    EVP_PKEY *pkey; /* the public key (owned) */
} auth_key;

typedef struct auth_issuer {
    char *iss;                /* exact iss value */
    char *jwks_url;           /* where its keys are */
    char *audience;           /* the aud its tokens must hold */
    int algs;                 /* allowed jose_alg bits */
    cJSON *typs;              /* allowed typ values (array of strings), NULL = not checked */
    char *claim_role;         /* dotted claim paths */
    char *claim_regions;      /* NULL = no regions */
    char *claim_unit;         /* NULL = no unit */
    char *claim_notable;      /* NULL = no notable */
    cJSON *role_map;          /* outside value -> our role name, NULL = by name */
    int ours;                 /* 1 for the accounts service: jti required, revocation applies */
    auth_jwks_fetch_fn fetch; /* where the JWKS comes from */
    void *fetch_arg;          /* passed to fetch */

    pthread_rwlock_t lock; /* guards keys and nkeys */
    auth_key keys[AUTH_MAX_KEYS];
    int nkeys;
    atomic_long generation;     /* bumped whenever the keys change (cached tokens lapse) */
    pthread_mutex_t fetch_lock; /* one fetch at a time; guards the times below */
    long last_try;              /* last fetch attempt, Unix seconds */
    long last_ok;               /* last successful fetch */
} auth_issuer;

typedef struct auth_revocation {
    char account[64]; /* the account's id */
    long before;      /* tokens issued before this are refused */
} auth_revocation;

/*
 * A token verified once is remembered by its SHA-256 until it expires, so
 * that a client sending the same token again costs a hash, not a signature
 * check. The entry holds the issuer's key generation: when the issuer's
 * keys change, it lapses. Revocation and expiry are checked on every hit.
 */
typedef struct auth_cached {
    unsigned char digest[32]; /* SHA-256 of the token */
    int used;                 /* 1 when the slot holds a token */
    long generation;          /* its issuer's key generation when verified */
    auth_claims claims;       /* what it gave */
} auth_cached;

struct auth_verifier {
    auth_cached *cache;                              /* AUTH_CACHE_SLOTS entries */
    pthread_mutex_t cache_locks[AUTH_CACHE_STRIPES]; /* slot i under lock i % stripes */
    auth_issuer *issuers[AUTH_MAX_ISSUERS];
    int nissuers;
    unsigned char *hs256; /* development key copy, or NULL */
    size_t hs256_len;     /* its bytes */
    char audience[128];   /* our audience */
    int skew_s, refresh_s, min_refresh_s;
    pthread_mutex_t revoke_lock; /* guards the table below */
    auth_revocation *revoked;    /* revocations, unordered */
    size_t nrevoked, caprevoked;
};

/* ---------- fetching ---------- */

typedef struct fetch_buf {
    char *data;
    size_t len;
    int too_big;
} fetch_buf;

/* fetch_write - libcurl write callback into a bounded buffer */
static size_t fetch_write(char *ptr, size_t size, size_t n, void *arg)
{
    fetch_buf *b = arg;
    size_t add = size * n;
    if (b->len + add > AUTH_JWKS_MAX) {
        b->too_big = 1;
        return 0;
    }
    char *grown = realloc(b->data, b->len + add + 1);
    if (grown == NULL)
        return 0;
    b->data = grown;
    memcpy(b->data + b->len, ptr, add);
    b->len += add;
    b->data[b->len] = '\0';
    return add;
}

/* curl_fetch - GET url with libcurl; the body or NULL with err */
static char *curl_fetch(const char *url, void *arg, char *err, size_t errlen)
{
    (void)arg;
    fetch_buf b = {0};
    long status = 0;
    CURL *c = curl_easy_init();
    if (c == NULL) {
        snprintf(err, errlen, "curl init failed");
        return NULL;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, fetch_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)AUTH_JWKS_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)AUTH_JWKS_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK || status != 200) {
        snprintf(err, errlen, "%s",
                 b.too_big        ? "JWKS too large"
                 : rc != CURLE_OK ? curl_easy_strerror(rc)
                                  : "HTTP status not 200");
        free(b.data);
        return NULL;
    }
    return b.data ? b.data : strdup("");
}

/* keys_parse - the usable keys of a JWKS text into keys; count or -1 */
static int keys_parse(const char *text, int algs, auth_key *keys, char *err, size_t errlen)
{
    cJSON *doc = cJSON_Parse(text);
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(doc, "keys"), *k;
    int n = 0;
    if (!cJSON_IsArray(arr)) {
        cJSON_Delete(doc);
        snprintf(err, errlen, "not a JWK set");
        return -1;
    }
    cJSON_ArrayForEach(k, arr)
    {
        char why[96];
        const char *use = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(k, "use"));
        const char *alg = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(k, "alg"));
        const char *kid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(k, "kid"));
        if (n >= AUTH_MAX_KEYS || (use && strcmp(use, "sig") != 0))
            continue;
        EVP_PKEY *pkey = jose_jwk_to_key(k, 0, why, sizeof(why));
        jose_alg fits = jose_key_alg(pkey);
        /* a key names at most one alg, and it must be the one its type fits */
        if (pkey == NULL || !(fits & algs) || (alg && jose_alg_parse(alg) != fits) ||
            (kid && strlen(kid) >= sizeof(keys[n].kid))) {
            EVP_PKEY_free(pkey);
            continue;
        }
        snprintf(keys[n].kid, sizeof(keys[n].kid), "%s", kid ? kid : "");
        keys[n].alg = fits;
        keys[n].pkey = pkey;
        n++;
    }
    cJSON_Delete(doc);
    return n;
}

/* issuer_refresh - fetch and swap the issuer's keys; 0, or -1 (old keys kept) */
static int issuer_refresh(auth_issuer *is, long now)
{
    char err[160] = "";
    auth_key fresh[AUTH_MAX_KEYS];
    is->last_try = now;
    char *text = is->fetch(is->jwks_url, is->fetch_arg, err, sizeof(err));
    int n = text ? keys_parse(text, is->algs, fresh, err, sizeof(err)) : -1;
    free(text);
    if (n < 0) {
        log_warn("auth: JWKS of %s not fetched from %s (%s); %s", is->iss, is->jwks_url, err,
                 is->nkeys ? "keeping the keys known" : "no keys yet");
        return -1;
    }
    pthread_rwlock_wrlock(&is->lock);
    auth_key old[AUTH_MAX_KEYS];
    int nold = is->nkeys;
    memcpy(old, is->keys, sizeof(old));
    memcpy(is->keys, fresh, sizeof(fresh));
    is->nkeys = n;
    int changed = n != nold;
    for (int i = 0; i < n && !changed; i++)
        changed =
            strcmp(fresh[i].kid, old[i].kid) != 0 || EVP_PKEY_eq(fresh[i].pkey, old[i].pkey) != 1;
    if (changed)
        atomic_fetch_add(&is->generation, 1);
    pthread_rwlock_unlock(&is->lock);
    for (int i = 0; i < nold; i++)
        EVP_PKEY_free(old[i].pkey);
    if (n != nold)
        log_info("auth: %d signing keys of %s", n, is->iss);
    is->last_ok = now;
    return 0;
}

/* issuer_maybe_refresh - refresh unless one ran within gap seconds; 1 if it fetched */
static int issuer_maybe_refresh(auth_issuer *is, long now, long gap)
{
    int fetched = 0;
    pthread_mutex_lock(&is->fetch_lock);
    if (is->last_try == 0 || now - is->last_try >= gap) {
        issuer_refresh(is, now);
        fetched = 1;
    }
    pthread_mutex_unlock(&is->fetch_lock);
    return fetched;
}

/* ---------- configuration ---------- */

/* issuer_free - release one issuer */
static void issuer_free(auth_issuer *is)
{
    if (is == NULL)
        return;
    for (int i = 0; i < is->nkeys; i++)
        EVP_PKEY_free(is->keys[i].pkey);
    free(is->iss);
    free(is->jwks_url);
    free(is->audience);
    free(is->claim_role);
    free(is->claim_regions);
    free(is->claim_unit);
    free(is->claim_notable);
    cJSON_Delete(is->typs);
    cJSON_Delete(is->role_map);
    pthread_rwlock_destroy(&is->lock);
    pthread_mutex_destroy(&is->fetch_lock);
    free(is);
}

/* issuer_new - an issuer with its strings copied (NULL members allowed but iss and url) */
static auth_issuer *issuer_new(const char *iss, const char *url, const char *aud)
{
    auth_issuer *is = calloc(1, sizeof(*is));
    if (is == NULL)
        return NULL;
    pthread_rwlock_init(&is->lock, NULL);
    pthread_mutex_init(&is->fetch_lock, NULL);
    is->iss = strdup(iss);
    is->jwks_url = strdup(url);
    is->audience = strdup(aud);
    is->fetch = curl_fetch;
    if (!is->iss || !is->jwks_url || !is->audience) {
        issuer_free(is);
        return NULL;
    }
    return is;
}

/* dup_member - a malloc'd copy of string member name of o, NULL if absent */
static char *dup_member(const cJSON *o, const char *name)
{
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, name));
    return s && *s ? strdup(s) : NULL;
}

/* issuers_load - the outside issuers of the file at path; 0 or -1 with err */
static int issuers_load(auth_verifier *v, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "AUTH_ISSUERS_FILE: cannot open %s", path);
        return -1;
    }
    char *text = malloc(AUTH_JWKS_MAX + 1);
    size_t n = text ? fread(text, 1, AUTH_JWKS_MAX, f) : 0;
    fclose(f);
    if (text == NULL)
        return -1;
    text[n] = '\0';
    cJSON *doc = cJSON_Parse(text);
    free(text);
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(doc, "issuers"), *o;
    int rc = 0, i = 0;
    if (!cJSON_IsArray(arr)) {
        snprintf(err, errlen, "AUTH_ISSUERS_FILE %s: needs {\"issuers\": [...]}", path);
        rc = -1;
    }
    cJSON_ArrayForEach(o, arr)
    {
        if (rc < 0)
            break;
        const char *iss = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "issuer"));
        const char *url = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "jwks_uri"));
        const char *aud = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "audience"));
        const cJSON *algs = cJSON_GetObjectItemCaseSensitive(o, "algorithms"), *a;
        const cJSON *claims = cJSON_GetObjectItemCaseSensitive(o, "claims");
        const cJSON *typs = cJSON_GetObjectItemCaseSensitive(o, "typ");
        const cJSON *roles = cJSON_GetObjectItemCaseSensitive(o, "roles");
        i++;
        if (!iss || !*iss || !url || !*url || !cJSON_IsArray(algs) || !cJSON_IsObject(claims) ||
            !cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(claims, "role")) ||
            (typs && !cJSON_IsArray(typs)) || (roles && !cJSON_IsObject(roles))) {
            snprintf(err, errlen,
                     "AUTH_ISSUERS_FILE: issuer %d needs issuer, jwks_uri, algorithms and "
                     "claims.role (typ an array, roles an object)",
                     i);
            rc = -1;
            break;
        }
        if (v->nissuers >= AUTH_MAX_ISSUERS) {
            snprintf(err, errlen, "AUTH_ISSUERS_FILE: at most %d issuers", AUTH_MAX_ISSUERS - 1);
            rc = -1;
            break;
        }
        auth_issuer *is = issuer_new(iss, url, aud && *aud ? aud : v->audience);
        if (is == NULL) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
            break;
        }
        v->issuers[v->nissuers++] = is;
        cJSON_ArrayForEach(a, algs)
        {
            jose_alg alg = jose_alg_parse(cJSON_GetStringValue(a));
            if (alg == JOSE_ALG_UNKNOWN || alg == JOSE_HS256) {
                snprintf(err, errlen,
                         "AUTH_ISSUERS_FILE: issuer %s: algorithms are RS256, ES256, EdDSA", iss);
                rc = -1;
            }
            is->algs |= alg;
        }
        is->claim_role = dup_member(claims, "role");
        is->claim_regions = dup_member(claims, "regions");
        is->claim_unit = dup_member(claims, "unit");
        is->claim_notable = dup_member(claims, "notable");
        is->typs = typs ? cJSON_Duplicate(typs, 1) : NULL;
        is->role_map = roles ? cJSON_Duplicate(roles, 1) : NULL;
        if (rc == 0 && is->algs == 0) {
            snprintf(err, errlen, "AUTH_ISSUERS_FILE: issuer %s allows no algorithm", iss);
            rc = -1;
        }
        for (int k = 0; rc == 0 && k < v->nissuers - 1; k++)
            if (strcmp(v->issuers[k]->iss, iss) == 0) {
                snprintf(err, errlen, "AUTH_ISSUERS_FILE: issuer %s is configured twice", iss);
                rc = -1;
            }
    }
    cJSON_Delete(doc);
    return rc;
}

/* auth_verifier_new - our issuer, the outside ones, the development key */
auth_verifier *auth_verifier_new(const auth_verifier_config *cfg, char *err, size_t errlen)
{
    auth_verifier *v = calloc(1, sizeof(*v));
    if (v == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&v->revoke_lock, NULL);
    for (int i = 0; i < AUTH_CACHE_STRIPES; i++)
        pthread_mutex_init(&v->cache_locks[i], NULL);
    if ((v->cache = calloc(AUTH_CACHE_SLOTS, sizeof(*v->cache))) == NULL) {
        snprintf(err, errlen, "out of memory");
        free(v);
        return NULL;
    }
    snprintf(v->audience, sizeof(v->audience), "%s", cfg->audience ? cfg->audience : "");
    v->skew_s = cfg->skew_s;
    v->refresh_s = cfg->refresh_s > 0 ? cfg->refresh_s : 300;
    v->min_refresh_s = cfg->min_refresh_s > 0 ? cfg->min_refresh_s : 60;
    if (cfg->issuer && *cfg->issuer) {
        char url[1024];
        if (cfg->jwks_url && *cfg->jwks_url)
            snprintf(url, sizeof(url), "%s", cfg->jwks_url);
        else
            snprintf(url, sizeof(url), "%s/.well-known/jwks.json", cfg->issuer);
        auth_issuer *is = issuer_new(cfg->issuer, url, v->audience);
        if (is == NULL) {
            snprintf(err, errlen, "out of memory");
            return auth_verifier_free(v);
        }
        is->ours = 1;
        is->algs = JOSE_ES256 | JOSE_EDDSA;
        is->typs =
            cJSON_CreateStringArray((const char *const[]){"at+jwt", "application/at+jwt"}, 2);
        is->claim_role = strdup("role");
        is->claim_regions = strdup("regions");
        is->claim_unit = strdup("unit");
        is->claim_notable = strdup("notable_id");
        v->issuers[v->nissuers++] = is;
    }
    if (cfg->issuers_file && *cfg->issuers_file &&
        issuers_load(v, cfg->issuers_file, err, errlen) < 0)
        return auth_verifier_free(v);
    if (cfg->hs256_key && cfg->hs256_len > 0) {
        if ((v->hs256 = malloc(cfg->hs256_len)) == NULL) {
            snprintf(err, errlen, "out of memory");
            return auth_verifier_free(v);
        }
        memcpy(v->hs256, cfg->hs256_key, cfg->hs256_len);
        v->hs256_len = cfg->hs256_len;
    }
    if (v->nissuers == 0 && v->hs256 == NULL) {
        snprintf(err, errlen, "no token issuer configured (AUTH_ISSUER, AUTH_ISSUERS_FILE)");
        return auth_verifier_free(v);
    }
    return v;
}

/* auth_verifier_free - release the verifier */
auth_verifier *auth_verifier_free(auth_verifier *v)
{
    if (v == NULL)
        return NULL;
    for (int i = 0; i < v->nissuers; i++)
        issuer_free(v->issuers[i]);
    if (v->hs256) {
        OPENSSL_cleanse(v->hs256, v->hs256_len);
        free(v->hs256);
    }
    free(v->revoked);
    pthread_mutex_destroy(&v->revoke_lock);
    for (int i = 0; i < AUTH_CACHE_STRIPES; i++)
        pthread_mutex_destroy(&v->cache_locks[i]);
    free(v->cache);
    free(v);
    return NULL;
}

/* auth_verifier_set_fetch - issuer i's keys from fn instead of HTTP */
void auth_verifier_set_fetch(auth_verifier *v, int issuer, auth_jwks_fetch_fn fn, void *arg)
{
    if (v == NULL || issuer < 0 || issuer >= v->nissuers)
        return;
    v->issuers[issuer]->fetch = fn;
    v->issuers[issuer]->fetch_arg = arg;
}

/* ---------- revocation ---------- */

/* auth_verifier_revoke - refuse account's tokens issued before before */
void auth_verifier_revoke(auth_verifier *v, const char *account, long before)
{
    if (v == NULL || account == NULL || *account == '\0' || strlen(account) >= 64)
        return;
    pthread_mutex_lock(&v->revoke_lock);
    size_t i = 0;
    while (i < v->nrevoked && strcmp(v->revoked[i].account, account) != 0)
        i++;
    if (i == v->nrevoked) {
        if (v->nrevoked == v->caprevoked) {
            size_t cap = v->caprevoked ? v->caprevoked * 2 : 64;
            auth_revocation *grown = realloc(v->revoked, cap * sizeof(*grown));
            if (grown == NULL) {
                pthread_mutex_unlock(&v->revoke_lock);
                log_error("auth: out of memory recording a revocation");
                return;
            }
            v->revoked = grown;
            v->caprevoked = cap;
        }
        snprintf(v->revoked[i].account, sizeof(v->revoked[i].account), "%s", account);
        v->revoked[i].before = before;
        v->nrevoked++;
    } else if (v->revoked[i].before < before) {
        v->revoked[i].before = before;
    }
    pthread_mutex_unlock(&v->revoke_lock);
}

/* revoked_before - the revocation time of account, 0 if none */
static long revoked_before(auth_verifier *v, const char *account)
{
    long before = 0;
    pthread_mutex_lock(&v->revoke_lock);
    for (size_t i = 0; i < v->nrevoked; i++)
        if (strcmp(v->revoked[i].account, account) == 0)
            before = v->revoked[i].before;
    pthread_mutex_unlock(&v->revoke_lock);
    return before;
}

/* auth_verifier_tick - JWKS refresh when due, old revocations forgotten */
int auth_verifier_tick(auth_verifier *v, long now)
{
    int failed = 0;
    if (v == NULL)
        return 0;
    for (int i = 0; i < v->nissuers; i++) {
        auth_issuer *is = v->issuers[i];
        long gap = is->nkeys == 0 ? AUTH_RETRY_EMPTY_S : v->refresh_s;
        issuer_maybe_refresh(is, now, gap);
        failed += is->last_ok == 0 || now - is->last_ok > 2L * v->refresh_s;
    }
    pthread_mutex_lock(&v->revoke_lock);
    for (size_t i = 0; i < v->nrevoked;)
        if (v->revoked[i].before + AUTH_REVOKE_KEEP_S < now)
            v->revoked[i] = v->revoked[--v->nrevoked];
        else
            i++;
    pthread_mutex_unlock(&v->revoke_lock);
    return failed;
}

/* auth_verifier_keys - keys known for issuer i */
int auth_verifier_keys(auth_verifier *v, int issuer)
{
    if (v == NULL || issuer < 0 || issuer >= v->nissuers)
        return 0;
    pthread_rwlock_rdlock(&v->issuers[issuer]->lock);
    int n = v->issuers[issuer]->nkeys;
    pthread_rwlock_unlock(&v->issuers[issuer]->lock);
    return n;
}

/* ---------- verification ---------- */

/* claim_at - the value at a dotted path of payload, NULL if absent */
static const cJSON *claim_at(const cJSON *payload, const char *path)
{
    char buf[256];
    if (path == NULL || strlen(path) >= sizeof(buf))
        return NULL;
    snprintf(buf, sizeof(buf), "%s", path);
    const cJSON *v = payload;
    char *save = NULL;
    for (char *seg = strtok_r(buf, ".", &save); seg && v; seg = strtok_r(NULL, ".", &save))
        v = cJSON_IsObject(v) ? cJSON_GetObjectItemCaseSensitive(v, seg) : NULL;
    return v;
}

/* map_role - the role bit one claim value names (through the issuer's map); 0 if none */
static int map_role(const auth_issuer *is, const char *value)
{
    if (value == NULL)
        return 0;
    if (is->role_map)
        value = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(is->role_map, value));
    return auth_role_parse(value);
}

/* number_claim - 1 and *out when name is an integral number, 0 if absent, -1 if malformed */
static int number_claim(const cJSON *payload, const char *name, long *out)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(payload, name);
    if (c == NULL)
        return 0;
    /* the range first: casting a double beyond long is undefined */
    if (!cJSON_IsNumber(c) || !(c->valuedouble >= 0 && c->valuedouble <= 1e12) ||
        c->valuedouble != (double)(long)c->valuedouble)
        return -1;
    *out = (long)c->valuedouble;
    return 1;
}

/* string_claim - copy a string claim at path into out; 0 absent, 1 copied, -1 malformed */
static int string_claim(const cJSON *payload, const char *path, char *out, size_t outlen)
{
    const cJSON *c = claim_at(payload, path);
    if (c == NULL || cJSON_IsNull(c))
        return 0;
    if (!cJSON_IsString(c) || strlen(c->valuestring) >= outlen)
        return -1;
    snprintf(out, outlen, "%s", c->valuestring);
    return c->valuestring[0] ? 1 : 0;
}

/* map_claims - role, regions, unit and notable by the issuer's mapping; 0 or -1 with err */
static int map_claims(const auth_issuer *is, const cJSON *p, auth_claims *out, char *err,
                      size_t errlen)
{
    const cJSON *role = claim_at(p, is->claim_role), *r;
    if (cJSON_IsString(role)) {
        out->role = map_role(is, role->valuestring);
    } else if (cJSON_IsArray(role)) {
        cJSON_ArrayForEach(r, role)
        {
            int bit = map_role(is, cJSON_GetStringValue(r));
            if (bit && out->role && bit != out->role) {
                snprintf(err, errlen, "more than one role");
                return -1;
            }
            if (bit)
                out->role = bit;
        }
    }
    if (out->role == 0) {
        snprintf(err, errlen, "unknown role");
        return -1;
    }
    const cJSON *regions = is->claim_regions ? claim_at(p, is->claim_regions) : NULL;
    if (cJSON_IsString(regions)) {
        char prefix[13];
        if (*auth_region_prefix(regions->valuestring, prefix) == '\0') {
            snprintf(err, errlen, "malformed regions");
            return -1;
        }
        snprintf(out->regions[out->nregions++], 13, "%s", regions->valuestring);
    } else if (regions && !cJSON_IsNull(regions)) {
        if (!cJSON_IsArray(regions)) {
            snprintf(err, errlen, "malformed regions");
            return -1;
        }
        cJSON_ArrayForEach(r, regions)
        {
            const char *code = cJSON_GetStringValue(r);
            char prefix[13];
            if (code == NULL || out->nregions >= AUTH_MAX_REGIONS ||
                *auth_region_prefix(code, prefix) == '\0') {
                snprintf(err, errlen, "malformed regions");
                return -1;
            }
            snprintf(out->regions[out->nregions++], 13, "%s", code);
        }
    }
    if (string_claim(p, is->claim_unit, out->unit, sizeof(out->unit)) < 0) {
        snprintf(err, errlen, "malformed unit");
        return -1;
    }
    char notable[64] = "";
    int nb = string_claim(p, is->claim_notable, notable, sizeof(notable));
    if (nb < 0 || (out->role == ROLE_NOTABLE && nb == 0)) {
        snprintf(err, errlen, nb < 0 ? "malformed notable" : "notable without its notable id");
        return -1;
    }
    if (out->role == ROLE_NOTABLE)
        snprintf(out->sub, sizeof(out->sub), "%s", notable);
    return auth_scope_check(out, err, errlen);
}

/* aud_holds - 1 when aud (string or array of strings) holds want */
static int aud_holds(const cJSON *aud, const char *want)
{
    const cJSON *a;
    if (cJSON_IsString(aud))
        return strcmp(aud->valuestring, want) == 0;
    if (!cJSON_IsArray(aud))
        return 0;
    cJSON_ArrayForEach(a, aud) if (cJSON_IsString(a) && strcmp(a->valuestring, want) == 0) return 1;
    return 0;
}

/* typ_allowed - 1 when the header's typ is one the issuer allows (case-insensitive) */
static int typ_allowed(const auth_issuer *is, const cJSON *header)
{
    const cJSON *t, *typ = cJSON_GetObjectItemCaseSensitive(header, "typ");
    if (is->typs == NULL)
        return 1;
    if (!cJSON_IsString(typ))
        return 0;
    cJSON_ArrayForEach(t, is->typs) if (cJSON_IsString(t) &&
                                        strcasecmp(t->valuestring, typ->valuestring) == 0) return 1;
    return 0;
}

/* find_and_verify - verify with the key of kid that fits alg: 1 good, 0 bad, -1 no such key */
static int find_and_verify(auth_issuer *is, const char *kid, jose_alg alg, const char *token,
                           const jose_jws *jws)
{
    int rc = -1;
    pthread_rwlock_rdlock(&is->lock);
    for (int i = 0; i < is->nkeys && rc < 0; i++) {
        const auth_key *k = &is->keys[i];
        if (k->alg != alg || (kid && strcmp(k->kid, kid) != 0) || (!kid && is->nkeys > 1))
            continue;
        rc = jose_verify(k->pkey, NULL, 0, alg, token, jws->signing_len, jws->sig, jws->siglen);
    }
    pthread_rwlock_unlock(&is->lock);
    return rc;
}

/* cache_slot - the slot of a digest */
static size_t cache_slot(const unsigned char d[32])
{
    return ((size_t)d[0] | (size_t)d[1] << 8 | (size_t)d[2] << 16) % AUTH_CACHE_SLOTS;
}

/* cache_get - 1 and out filled when digest was verified under its issuer's current keys */
static int cache_get(auth_verifier *v, const unsigned char d[32], auth_claims *out)
{
    size_t i = cache_slot(d);
    int hit = 0;
    pthread_mutex_lock(&v->cache_locks[i % AUTH_CACHE_STRIPES]);
    auth_cached *e = &v->cache[i];
    if (e->used && memcmp(e->digest, d, 32) == 0 && e->claims.issuer < v->nissuers &&
        e->generation == atomic_load(&v->issuers[e->claims.issuer]->generation)) {
        *out = e->claims;
        hit = 1;
    }
    pthread_mutex_unlock(&v->cache_locks[i % AUTH_CACHE_STRIPES]);
    return hit;
}

/* cache_put - remember a verified token */
static void cache_put(auth_verifier *v, const unsigned char d[32], const auth_claims *c,
                      long generation)
{
    size_t i = cache_slot(d);
    pthread_mutex_lock(&v->cache_locks[i % AUTH_CACHE_STRIPES]);
    auth_cached *e = &v->cache[i];
    memcpy(e->digest, d, 32);
    e->claims = *c;
    e->generation = generation;
    e->used = 1;
    pthread_mutex_unlock(&v->cache_locks[i % AUTH_CACHE_STRIPES]);
}

static int verify_full(auth_verifier *v, const char *token, long now, auth_claims *out, char *err,
                       size_t errlen);

/* auth_verify - a token verified before (and still in time, not revoked), or every check */
int auth_verify(auth_verifier *v, const char *token, long now, auth_claims *out, char *err,
                size_t errlen)
{
    unsigned char d[32];
    size_t len = token ? strnlen(token, AUTH_TOKEN_MAX + 1) : 0;
    if (len == 0 || len > AUTH_TOKEN_MAX)
        return verify_full(v, token, now, out, err, errlen);
    crypto_sha256(token, len, d);
    if (cache_get(v, d, out)) {
        const auth_issuer *is = v->issuers[out->issuer];
        if (out->exp + v->skew_s <= now) {
            snprintf(err, errlen, "expired");
        } else if (is->ours && out->iat < revoked_before(v, out->account)) {
            snprintf(err, errlen, "revoked");
        } else {
            return 0;
        }
        memset(out, 0, sizeof(*out));
        return -1;
    }
    /* the generations before the check: keys that change during it void the entry */
    long generation[AUTH_MAX_ISSUERS];
    for (int i = 0; i < v->nissuers; i++)
        generation[i] = atomic_load(&v->issuers[i]->generation);
    int rc = verify_full(v, token, now, out, err, errlen);
    if (rc == 0 && out->account[0]) /* HS256 development tokens carry no account: not kept */
        cache_put(v, d, out, generation[out->issuer]);
    return rc;
}

/* verify_full - every check of auth.h, in order */
static int verify_full(auth_verifier *v, const char *token, long now, auth_claims *out, char *err,
                       size_t errlen)
{
    jose_jws jws;
    memset(out, 0, sizeof(*out));
    if (jose_jws_parse(token, AUTH_TOKEN_MAX, &jws, err, errlen) < 0)
        return -1;
    int rc = -1;
    const cJSON *h = jws.header, *p = jws.payload;
    jose_alg alg = jose_alg_parse(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(h, "alg")));
    const cJSON *kidv = cJSON_GetObjectItemCaseSensitive(h, "kid");
    const cJSON *issv = cJSON_GetObjectItemCaseSensitive(p, "iss");
    const cJSON *crit = cJSON_GetObjectItemCaseSensitive(h, "crit");
    if (alg == JOSE_ALG_UNKNOWN) {
        snprintf(err, errlen, "unsupported alg");
        goto out;
    }
    if (crit != NULL) {
        snprintf(err, errlen, "unsupported crit header");
        goto out;
    }
    if (alg == JOSE_HS256) {
        /* development tokens: only with the development key, never from an issuer */
        if (v->hs256 == NULL || issv != NULL || kidv != NULL) {
            snprintf(err, errlen, "unsupported alg");
            goto out;
        }
        jose_jws_clear(&jws);
        return auth_jwt_verify(token, v->hs256, v->hs256_len, now, v->skew_s, out, err, errlen);
    }
    if (!cJSON_IsString(issv)) {
        snprintf(err, errlen, "no issuer");
        goto out;
    }
    auth_issuer *is = NULL;
    int index = 0;
    for (int i = 0; i < v->nissuers && is == NULL; i++)
        if (strcmp(v->issuers[i]->iss, issv->valuestring) == 0)
            is = v->issuers[i], index = i;
    if (is == NULL) {
        snprintf(err, errlen, "unknown issuer");
        goto out;
    }
    if (!(is->algs & alg)) {
        snprintf(err, errlen, "alg not allowed for this issuer");
        goto out;
    }
    if (!typ_allowed(is, h)) {
        snprintf(err, errlen, "wrong typ");
        goto out;
    }
    if (kidv && !cJSON_IsString(kidv)) {
        snprintf(err, errlen, "malformed kid");
        goto out;
    }
    const char *kid = kidv ? kidv->valuestring : NULL;
    int good = find_and_verify(is, kid, alg, token, &jws);
    if (good < 0) {
        /* look again whether this thread fetched or waited for another's fetch that just
           ended: requests racing a fresh start must not be refused for the keys it brought */
        long gap = is->nkeys == 0 ? 1 : v->min_refresh_s;
        issuer_maybe_refresh(is, now, gap);
        good = find_and_verify(is, kid, alg, token, &jws);
    }
    if (good <= 0) {
        snprintf(err, errlen, good < 0 ? "unknown key" : "bad signature");
        goto out;
    }
    /* the signature holds: now the claims */
    long exp = 0, nbf = 0, iat = 0;
    int has_exp = number_claim(p, "exp", &exp), has_nbf = number_claim(p, "nbf", &nbf),
        has_iat = number_claim(p, "iat", &iat);
    const cJSON *jti = cJSON_GetObjectItemCaseSensitive(p, "jti");
    if (!aud_holds(cJSON_GetObjectItemCaseSensitive(p, "aud"), is->audience)) {
        snprintf(err, errlen, "wrong audience");
    } else if (has_exp <= 0 || has_nbf < 0 || has_iat < 0) {
        snprintf(err, errlen, "malformed times");
    } else if (exp + v->skew_s <= now) {
        snprintf(err, errlen, "expired");
    } else if (has_nbf && nbf > now + v->skew_s) {
        snprintf(err, errlen, "not yet valid");
    } else if (has_iat && iat > now + v->skew_s) {
        snprintf(err, errlen, "issued in the future");
    } else if (string_claim(p, "sub", out->account, sizeof(out->account)) <= 0) {
        snprintf(err, errlen, "no subject");
    } else if (is->ours && (!cJSON_IsString(jti) || !jti->valuestring[0] || !has_iat)) {
        snprintf(err, errlen, "no jti or iat");
    } else {
        snprintf(out->sub, sizeof(out->sub), "%s", out->account);
        if (map_claims(is, p, out, err, errlen) == 0) {
            out->exp = exp;
            out->iat = iat;
            out->issuer = index;
            if (is->ours)
                string_claim(p, "grant", out->grant, sizeof(out->grant));
            if (is->ours && iat < revoked_before(v, out->account))
                snprintf(err, errlen, "revoked");
            else
                rc = 0;
        }
    }
out:
    jose_jws_clear(&jws);
    if (rc < 0)
        memset(out, 0, sizeof(*out));
    return rc;
}
