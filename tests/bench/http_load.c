/*
 * http_load.c - a small closed-loop HTTP load generator for the benchmarks.
 *
 * N threads, each with its own kept-alive libcurl handle, send the same
 * request for a fixed time (the body's "@N@" is replaced by a unique number
 * per request so that creating POSTs create distinct rows). It prints one
 * JSON line: requests, answers with the expected status, seconds, rate and
 * latency percentiles. Only loopback URLs are accepted.
 *
 * With --ids FILE, "@ID@" in the URL and in the body is replaced by the
 * next line of FILE (request n takes line n, cycling), so that every request
 * addresses another resource (each household enrolled once, say); with
 * --token @ID@ the line is the request's bearer token.
 *
 * With --rate R the requests are paced: request n is sent at n/R seconds
 * after the start (or as soon as a thread is free, when they fall behind),
 * so that the load is R requests per second rather than as many as N
 * threads can send.
 *
 * Usage: http_load --url URL [--method POST] [--token T] [--body JSON]
 *        [--ids FILE] [--concurrency N] [--seconds S] [--expect CODE]
 *        [--rate R]
 */
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/timeutil.h"

#define MAX_SAMPLES 2000000

typedef struct load {
    const char *url, *method, *token, *body;
    long expect;
    int64_t deadline;
    double rate;      /* requests per second with --rate, else 0 */
    int64_t start_us; /* monotonic start, microseconds */
    atomic_long requests, ok, next_id;
    double *lat_ms; /* one sample per request, up to MAX_SAMPLES */
    char **ids;     /* lines of --ids, or NULL */
    long nids;      /* entries of ids */
} load;

/* sink - discard a response body */
static size_t sink(char *p, size_t s, size_t n, void *u)
{
    (void)p;
    (void)u;
    return s * n;
}

/* mono_us - the monotonic clock in microseconds */
static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* worker - send requests until the deadline */
static void *worker(void *arg)
{
    load *l = arg;
    CURL *h = curl_easy_init();
    struct curl_slist *hdr = NULL;
    char auth[2048], *body = malloc(strlen(l->body) + 32 + 512); /* room for @N@ and @ID@ */

    hdr = curl_slist_append(hdr, "Content-Type: application/json");
    if (l->token) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", l->token);
        hdr = curl_slist_append(hdr, auth);
    }
    char url[2048];
    curl_easy_setopt(h, CURLOPT_URL, l->url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, l->method);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
    while (time_mono_ms() < l->deadline) {
        long id = atomic_fetch_add(&l->next_id, 1);
        if (l->rate > 0) { /* request id is due at id / rate seconds */
            int64_t due = l->start_us + (int64_t)((double)id * 1e6 / l->rate), now = mono_us();
            if (due > now)
                usleep((useconds_t)(due - now));
            if (time_mono_ms() >= l->deadline)
                break;
        }
        const char *at = strstr(l->body, "@N@");
        if (at)
            sprintf(body, "%.*s%ld%s", (int)(at - l->body), l->body, id, at + 3);
        else
            strcpy(body, l->body);
        char *bslot = l->ids ? strstr(body, "@ID@") : NULL;
        if (bslot) { /* the body's @ID@ too (a phone per request, say) */
            char rest[4096];
            snprintf(rest, sizeof(rest), "%s", bslot + 4);
            snprintf(bslot, 512 + strlen(rest), "%.500s%s", l->ids[id % l->nids], rest);
        }
        const char *slot = l->ids ? strstr(l->url, "@ID@") : NULL;
        if (slot) {
            snprintf(url, sizeof(url), "%.*s%s%s", (int)(slot - l->url), l->url,
                     l->ids[id % l->nids], slot + 4);
            curl_easy_setopt(h, CURLOPT_URL, url);
        }
        if (l->ids && l->token && strcmp(l->token, "@ID@") == 0) { /* a token per request */
            snprintf(auth, sizeof(auth), "Authorization: Bearer %s", l->ids[id % l->nids]);
            curl_slist_free_all(hdr);
            hdr = curl_slist_append(NULL, "Content-Type: application/json");
            hdr = curl_slist_append(hdr, auth);
            curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
        }
        if (strcmp(l->method, "GET") != 0)
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        int64_t t0 = time_mono_ms();
        CURLcode rc = curl_easy_perform(h);
        double ms = (double)(time_mono_ms() - t0);
        long code = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
        long n = atomic_fetch_add(&l->requests, 1);
        if (n < MAX_SAMPLES)
            l->lat_ms[n] = ms;
        if (rc == CURLE_OK && code == l->expect)
            atomic_fetch_add(&l->ok, 1);
    }
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h);
    free(body);
    return NULL;
}

/* cmp - ascending doubles for qsort */
static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* arg - the value after flag name, or def */
static const char *arg(int argc, char **argv, const char *name, const char *def)
{
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return argv[i + 1];
    return def;
}

int main(int argc, char **argv)
{
    load l = {0};
    l.url = arg(argc, argv, "--url", NULL);
    l.method = arg(argc, argv, "--method", "POST");
    l.token = arg(argc, argv, "--token", NULL);
    l.body = arg(argc, argv, "--body", "");
    l.expect = atol(arg(argc, argv, "--expect", "201"));
    int conc = atoi(arg(argc, argv, "--concurrency", "8"));
    const char *ids_path = arg(argc, argv, "--ids", NULL);
    if (ids_path) {
        FILE *f = fopen(ids_path, "r");
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        while (f && (n = getline(&line, &cap, f)) > 0) {
            line[strcspn(line, "\r\n")] = '\0';
            l.ids = realloc(l.ids, (size_t)(l.nids + 1) * sizeof(char *));
            l.ids[l.nids++] = strdup(line);
        }
        free(line);
        if (f)
            fclose(f);
        if (l.nids == 0) {
            fprintf(stderr, "http_load: no ids in %s\n", ids_path);
            return 2;
        }
    }
    int secs = atoi(arg(argc, argv, "--seconds", "10"));
    l.rate = atof(arg(argc, argv, "--rate", "0"));

    if (l.url == NULL || strncmp(l.url, "http://127.", 11) != 0 || conc < 1 || conc > 256 ||
        secs < 1 || secs > 600) {
        fprintf(stderr, "usage: http_load --url http://127.0.0.1:PORT/... [--concurrency 1..256] "
                        "[--seconds 1..600]\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    l.lat_ms = calloc(MAX_SAMPLES, sizeof(double));
    pthread_t th[256];
    int64_t start = time_mono_ms();
    l.start_us = mono_us();
    l.deadline = start + secs * 1000LL;
    for (int i = 0; i < conc; i++)
        pthread_create(&th[i], NULL, worker, &l);
    for (int i = 0; i < conc; i++)
        pthread_join(th[i], NULL);
    double elapsed = (double)(time_mono_ms() - start) / 1000.0;
    long n = atomic_load(&l.requests);
    long samples = n < MAX_SAMPLES ? n : MAX_SAMPLES;
    qsort(l.lat_ms, (size_t)samples, sizeof(double), cmp);
    double p50 = samples ? l.lat_ms[samples / 2] : 0,
           p99 = samples ? l.lat_ms[samples * 99 / 100] : 0;
    printf("{\"requests\": %ld, \"ok\": %ld, \"seconds\": %.2f, \"rate\": %.1f, \"p50_ms\": %.1f, "
           "\"p99_ms\": %.1f}\n",
           n, atomic_load(&l.ok), elapsed, (double)atomic_load(&l.ok) / elapsed, p50, p99);
    free(l.lat_ms);
    for (long i = 0; i < l.nids; i++)
        free(l.ids[i]);
    free(l.ids);
    curl_global_cleanup();
    return atomic_load(&l.ok) > 0 ? 0 : 1;
}
