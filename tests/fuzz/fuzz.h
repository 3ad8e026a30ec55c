/*
 * fuzz.h - what the libFuzzer harnesses share (fuzz_support.c).
 *
 * A harness is one LLVMFuzzerTestOneInput() over one parser that sees
 * untrusted bytes. Route harnesses call the services' real handlers with a
 * request built here: no database (db_acquire is wrapped to fail at once,
 * so a handler answers 503 at its first query and everything before that
 * is what gets fuzzed) and no libmicrohttpd connection (headers and query
 * arguments come from the table set with fuzz_set_headers/fuzz_set_query).
 *
 * Oracles besides ASan/UBSan and the leak checker: fuzz_check_resp()
 * aborts when a handler answers a status outside 100..599, a 500, or a
 * body that is not one JSON document when it claims to be JSON. With
 * SHANTANG_FUZZ_VERBOSE set in the environment it prints every answer
 * (run a harness on one file to see what a seed gets).
 */
#ifndef SHANTANG_FUZZ_H
#define SHANTANG_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include "core/http.h"
#include "core/service.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A request header or query argument the wrapped libmicrohttpd answers. */
typedef struct fuzz_kv {
    const char *name;  /* header (case-insensitive) or argument (exact) */
    const char *value; /* borrowed until the table is replaced */
} fuzz_kv;

/* fuzz_set_headers / fuzz_set_query - the table answered from now on (borrowed; NULL, 0 = none) */
void fuzz_set_headers(const fuzz_kv *kv, size_t n);
void fuzz_set_query(const fuzz_kv *kv, size_t n);

/* fuzz_quiet - log only fatal lines (the harnesses' refusals are expected) */
void fuzz_quiet(void);

/*
 * fuzz_req - a request for route with a malloc'd NUL-terminated copy of
 * the body (free with fuzz_req_free), an authenticated caller of role with
 * every region of the demo, and path parameters (NULL-terminated list).
 */
void fuzz_req(http_req *req, const char *method, const char *route, const uint8_t *body, size_t len,
              int role, const char *const *params);
void fuzz_req_free(http_req *req);

/* One route a route harness can call: its handler and who may call it. */
typedef struct fuzz_route {
    const char *method;    /* "GET": the input is a query string, else the body */
    const char *route;     /* the pattern, as the service's table has it */
    http_handler fn;       /* the service's handler */
    int roles;             /* ROLE_* bits it allows (0: no token; an admin is passed) */
    const char *params[3]; /* path parameters, NULL-terminated */
} fuzz_route;

/*
 * fuzz_route_run - one request from bytes: byte 0 picks the route (mod n),
 * byte 1 the caller's role among the route's roles (bits 1-3) and whether
 * an Idempotency-Key is sent (bit 0); the rest is the body, or for GET the
 * query string ("a=1&b=2", no percent-decoding). Every request carries
 * Content-Type: application/json and the extra headers set with
 * fuzz_route_headers. The answer goes through fuzz_check_resp.
 */
void fuzz_route_run(const fuzz_route *routes, size_t n, void *ctx, const uint8_t *data,
                    size_t size);

/* fuzz_route_headers - further headers of every routed request (borrowed) */
void fuzz_route_headers(const fuzz_kv *kv, size_t n);

/* fuzz_route_query - the query arguments of every routed request but GETs (borrowed) */
void fuzz_route_query(const fuzz_kv *kv, size_t n);

/* fuzz_check_resp - abort on an answer no client may get (above); then free its body */
void fuzz_check_resp(http_resp *resp);

/* fuzz_strndup - a NUL-terminated malloc'd copy of n bytes (aborts on no memory) */
char *fuzz_strndup(const uint8_t *data, size_t n);

#endif
