/*
 * fuzz_route_accounts.c - the accounts service's request validation:
 * sign-in by code and by password, token refresh and sign-out, password
 * changes, the admin's accounts, updates and grants, development tokens
 * (with the right X-Dev-Secret), and the listing's query arguments,
 * through the real handlers up to their first database call
 * (fuzz_route_run). argon2 runs with its smallest cost here. The CSV
 * import is fuzz_csv's.
 */
#include "fuzz.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "accounts.h"

#define ID "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"

static const fuzz_route routes[] = {
    {"POST", "/v1/signin/code", accounts_signin_code, 0, {NULL}},
    {"POST", "/v1/signin/verify", accounts_signin_verify, 0, {NULL}},
    {"POST", "/v1/signin/password", accounts_signin_password, 0, {NULL}},
    {"POST", "/v1/token", accounts_token, 0, {NULL}},
    {"POST", "/v1/signout", accounts_signout, 0, {NULL}},
    {"POST", "/v1/me/password", accounts_me_password, ROLE_ANY, {NULL}},
    {"POST", "/v1/accounts", accounts_create, ROLE_ADMIN, {NULL}},
    {"PATCH", "/v1/accounts/{id}", accounts_update, ROLE_ADMIN, {ID, NULL}},
    {"POST", "/v1/accounts/{id}/disable", accounts_disable, ROLE_ADMIN, {ID, NULL}},
    {"POST", "/v1/accounts/{id}/grants", accounts_grants_add, ROLE_ADMIN, {ID, NULL}},
    {"POST", "/v1/dev/tokens", accounts_dev_token, 0, {NULL}},
    {"GET", "/v1/accounts", accounts_list, ROLE_ADMIN, {NULL}},
    {"GET", "/v1/accounts/{id}/audit", accounts_audit, ROLE_ADMIN, {ID, NULL}},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static acc_state st;
    static service_ctx ctx = {.name = "accounts"};
    static const fuzz_kv dev[] = {{"X-Dev-Secret", "fuzz-dev-secret"}};
    if (ctx.state == NULL) {
        memset(st.code_key, 7, sizeof(st.code_key));
        memset(st.seal.enc, 9, sizeof(st.seal.enc));
        pthread_mutex_init(&st.keys.lock, NULL);
        st.keys.signer = -1;
        st.ctx = &ctx;
        st.issuer = "https://accounts.fuzz";
        st.audience = "shantang";
        st.access_ttl = 900;
        st.refresh_idle = 604800;
        st.refresh_max = 2592000;
        st.activation_s = 600;
        st.code_ttl = 300;
        st.code_tries = 5;
        st.codes_per_minute = 1;
        st.codes_per_hour = 5;
        st.client_codes_per_hour = 30;
        st.client_failures_per_hour = 50;
        st.argon_t = 1;
        st.argon_m = 8;
        st.argon_p = 1;
        st.max_failures = 5;
        st.lockout_base = 30;
        st.trusted_proxies = "";
        st.client_id = "shantang-console";
        st.dev_secret = "fuzz-dev-secret";
        pthread_mutex_init(&st.argon_lock, NULL);
        pthread_cond_init(&st.argon_cond, NULL);
        st.argon_max = 1;
        ctx.state = &st;
    }
    fuzz_quiet();
    fuzz_route_headers(dev, 1);
    fuzz_route_run(routes, sizeof(routes) / sizeof(routes[0]), &ctx, data, size);
    return 0;
}
