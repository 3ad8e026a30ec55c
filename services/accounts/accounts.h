/*
 * accounts.h - shantang-accounts: the programme's people, their grants, how
 * they sign in (SMS code or password), and the tokens every other service
 * verifies with the public keys this service publishes.
 *
 * Files: accounts_keys.c (signing keys, JWKS, discovery, token minting),
 * accounts_secret.c (codes, passwords, refresh tokens: the pure rules),
 * accounts_signin.c (the sign-in routes), accounts_admin.c (accounts,
 * grants, audit, events), accounts_import.c (CSV import),
 * accounts_readmodel.c (regions, notables, units learned from events).
 */
#ifndef SHANTANG_ACCOUNTS_H
#define SHANTANG_ACCOUNTS_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>

#include "util/jose.h"
#include "core/catalogue.h"
#include "core/http.h"
#include "core/kafka.h"
#include "core/pii.h"
#include "core/service.h"

#define ACCOUNTS_TOPIC (cat_topic_accounts.name)      /* accounts.v1, from the catalogue */
#define ACCOUNTS_TOPIC_SIGNIN (cat_topic_signin.name) /* signin.v1 */

/* The service's parameters, in table order (main.c). */
enum {
    ACC_SIGNING_KEYS_DIR,
    ACC_KEY_ACTIVATION_S,
    ACC_ACCESS_TTL_S,
    ACC_REFRESH_IDLE_S,
    ACC_REFRESH_MAX_S,
    ACC_CODE_KEY,
    ACC_CODE_SEAL_KEY,
    ACC_CODE_TTL_S,
    ACC_CODE_TRIES,
    ACC_CODES_PER_MINUTE,
    ACC_CODES_PER_HOUR,
    ACC_CLIENT_CODES_PER_HOUR,
    ACC_CLIENT_FAILURES_PER_HOUR,
    ACC_ARGON2_T,
    ACC_ARGON2_M_KIB,
    ACC_ARGON2_P,
    ACC_ARGON2_CONCURRENCY,
    ACC_PASSWORD_MAX_FAILURES,
    ACC_LOCKOUT_BASE_S,
    ACC_TRUSTED_PROXIES,
    ACC_CLIENT_ID,
    ACC_DEV_MINT_SECRET,
    ACC_NPARAMS
};

#define ACC_MAX_KEYS 16

typedef struct acc_key {
    char kid[64];   /* RFC 7638 thumbprint */
    jose_alg alg;   /* ES256 or EdDSA (or RS256) */
    EVP_PKEY *pkey; /* the private key (owned) */
    char path[512]; /* the file it came from */
} acc_key;

typedef struct acc_keys {
    pthread_mutex_t lock; /* guards everything below */
    acc_key keys[ACC_MAX_KEYS];
    int nkeys;
    int signer;       /* index of the key that signs now, -1 if none */
    char *jwks;       /* the published JWK set (malloc'd JSON) */
    pthread_t thread; /* rescans the folder */
    int running;      /* 1 while the thread should go on */
    pthread_mutex_t stop_lock;
    pthread_cond_t stop_cond;
} acc_keys;

typedef struct acc_state {
    service_ctx *ctx;           /* the skeleton's context */
    acc_keys keys;              /* signing keys */
    unsigned char code_key[32]; /* HMAC key of sign-in codes */
    pii_keys seal;              /* seal.enc: AES key the notifier opens codes with */
    const char *issuer;         /* AUTH_ISSUER */
    const char *audience;       /* AUTH_AUDIENCE */
    long access_ttl, refresh_idle, refresh_max, activation_s;
    long code_ttl, code_tries, codes_per_minute, codes_per_hour;
    long client_codes_per_hour, client_failures_per_hour;
    long argon_t, argon_m, argon_p;
    long max_failures, lockout_base;
    const char *trusted_proxies; /* comma list of proxy addresses */
    const char *client_id;       /* client_id claim */
    const char *dev_secret;      /* "" unless development minting is on */
    char *dummy_hash;            /* argon2id of no one's password, made at start (owned): an
                                    unknown phone costs what a wrong password does */
    pthread_mutex_t argon_lock;  /* bounds concurrent argon2 hashes */
    pthread_cond_t argon_cond;
    int argon_busy, argon_max;
} acc_state;

/* ---------- accounts_secret.c: the pure rules (unit-tested) ---------- */

/* acc_code_new - a 6-digit code from the CSPRNG (NIST 800-63B); 0 or -1 if the RBG failed */
int acc_code_new(char out[7]);

/* acc_code_hash - hex HMAC-SHA-256 of "id:phone:code" under key (65 bytes) */
void acc_code_hash(const unsigned char key[32], const char *id, const char *phone, const char *code,
                   char out[65]);

/* acc_code_valid - 1 if code is exactly 6 ASCII digits */
int acc_code_valid(const char *code);

/*
 * acc_password_hash - argon2id encoding of password with t, m (KiB), p and
 * a fresh 128-bit salt into a malloc'd string (caller frees); NULL on error.
 */
char *acc_password_hash(const char *password, long t, long m, long p);

/* acc_password_verify - 1 if password matches encoded, 0 if not, -1 on a malformed encoding */
int acc_password_verify(const char *encoded, const char *password);

/* acc_password_outdated - 1 if encoded was made with other parameters than t, m, p */
int acc_password_outdated(const char *encoded, long t, long m, long p);

/* acc_password_acceptable - NULL if the new password is acceptable, else why not (static text) */
const char *acc_password_acceptable(const char *password, const char *phone);

/* acc_lockout_s - seconds of lock-out after failures consecutive failures (0 below max) */
long acc_lockout_s(long failures, long max, long base);

/* acc_refresh_new - an opaque refresh token (43 chars) and its hex SHA-256; 0 or -1 */
int acc_refresh_new(char token[48], char hash[65]);

/* acc_refresh_hash - hex SHA-256 of a presented token (65 bytes) */
void acc_refresh_hash(const char *token, char hash[65]);

/* ---------- accounts_keys.c ---------- */

/* acc_keys_start - load the folder once (fails without a usable key), then rescan every 5 s */
int acc_keys_start(acc_state *st, char *err, size_t errlen);

/* acc_keys_stop - stop the rescan thread and free the keys */
void acc_keys_stop(acc_state *st);

/* acc_keys_jwks - the current JWK set as malloc'd JSON (for the verifier and the route) */
char *acc_keys_jwks(acc_state *st);

/* acc_jwks_fetch - auth_jwks_fetch_fn over acc_keys_jwks (arg: the acc_state) */
char *acc_jwks_fetch(const char *url, void *arg, char *err, size_t errlen);

/*
 * acc_mint - sign an access token for account with one grant (its role,
 * regions, unit and notable id in g) at now, issued no earlier than
 * not_before (the account's revocation time). Returns a malloc'd token or
 * NULL with err. ttl 0: the configured one (negative: already expired, for tests).
 */
char *acc_mint(acc_state *st, const char *account, const cJSON *g, long now, long not_before,
               long ttl, char *err, size_t errlen);

void accounts_jwks(http_req *req, http_resp *resp, void *ctx);
void accounts_discovery(http_req *req, http_resp *resp, void *ctx);
void accounts_dev_token(http_req *req, http_resp *resp, void *ctx);

/* ---------- accounts_signin.c ---------- */
void accounts_signin_code(http_req *req, http_resp *resp, void *ctx);
void accounts_signin_verify(http_req *req, http_resp *resp, void *ctx);
void accounts_signin_password(http_req *req, http_resp *resp, void *ctx);
void accounts_token(http_req *req, http_resp *resp, void *ctx);
void accounts_signout(http_req *req, http_resp *resp, void *ctx);
void accounts_me(http_req *req, http_resp *resp, void *ctx);
void accounts_me_password(http_req *req, http_resp *resp, void *ctx);

/* acc_argon_enter / acc_argon_leave - bound the argon2 work running at once */
void acc_argon_enter(acc_state *st);
void acc_argon_leave(acc_state *st);

/* ---------- accounts_admin.c ---------- */

/*
 * acc_event - append the audit row (actor, action = type) for account and,
 * unless type is audited only, publish type on accounts.v1 (its JSON as
 * data, plus extra, which is taken, as "change"): account_event of
 * schemas/sql/accounts/003 in conn's transaction. 0, or -1 with err.
 */
int acc_event(PGconn *conn, const char *actor, const char *account, const char *type, cJSON *extra,
              db_err *err);

/*
 * acc_revoke - refuse the account's access tokens issued until now
 * everywhere (account.revoked) and revoke its refresh tokens (account_revoke
 * of accounts 003 in conn's transaction), and at once in this service's
 * verifier; reason for the event. 0, or -1 with err.
 */
int acc_revoke(acc_state *st, PGconn *conn, const char *actor, const char *account,
               const char *reason, db_err *err);

/* A grant as acc_grant_check found it, as the commands of accounts 003 take it. */
typedef struct acc_grant {
    const char *role;    /* borrowed from the grant's JSON */
    const char *unit;    /* the same, or NULL */
    const char *notable; /* the same, or NULL */
    char *regions;       /* the regions as given, a PostgreSQL array literal (malloc'd) */
    char *key;           /* the duplicate key role|sorted regions|unit|notable (malloc'd) */
} acc_grant;

/*
 * acc_grant_check - validate a grant object's shape and what its role
 * needs, filling a 422 naming pointer+field on failure; on success out
 * holds the grant (acc_grant_free frees it). 0 or -1. Whether the read
 * models know its regions, unit and notable is the database's check
 * (grant_problem, accounts 003; acc_grant_known).
 */
int acc_grant_check(const cJSON *g, const char *pointer, acc_grant *out, http_resp *resp);

/* acc_grant_free - free what acc_grant_check made (not g itself) */
void acc_grant_free(acc_grant *g);

/*
 * acc_grant_known - the checked grant against the regions, notables and
 * units learned (grant_problem on conn): 0, or -1 with its 422 (or a 503)
 * in resp.
 */
int acc_grant_known(PGconn *conn, const acc_grant *g, const char *pointer, http_resp *resp);

/*
 * acc_account_create - insert an account with its grants (already parsed
 * from body) on conn; answers 201 in resp or a problem. 0 or -1.
 */
int acc_account_create(PGconn *conn, http_req *req, http_resp *resp, const cJSON *body,
                       acc_state *st);

void accounts_list(http_req *req, http_resp *resp, void *ctx);
void accounts_create(http_req *req, http_resp *resp, void *ctx);
void accounts_get(http_req *req, http_resp *resp, void *ctx);
void accounts_update(http_req *req, http_resp *resp, void *ctx);
void accounts_disable(http_req *req, http_resp *resp, void *ctx);
void accounts_enable(http_req *req, http_resp *resp, void *ctx);
void accounts_grants_add(http_req *req, http_resp *resp, void *ctx);
void accounts_grants_remove(http_req *req, http_resp *resp, void *ctx);
void accounts_audit(http_req *req, http_resp *resp, void *ctx);

/* accounts_create_admin - shantang-accounts --create-admin PHONE NAME */
int accounts_create_admin(service_ctx *ctx);

/* ---------- accounts_import.c ---------- */
void accounts_import(http_req *req, http_resp *resp, void *ctx);

/* accounts_consumes - NULL-terminated: what the consumer applies, from the catalogue */
extern const catalogue_event *const accounts_consumes[];

/* ---------- accounts_readmodel.c ---------- */
kafka_apply_result accounts_apply(PGconn *conn, const cJSON *ev, void *ctx, char *err,
                                  size_t errlen);

#endif
