/*
 * notifier_sender.c - the sender: claims due deliveries, calls the gateways
 * through one libcurl multi handle (connections reused, every transfer
 * bounded by NOTIFIER_TIMEOUT_MS), and records each outcome.
 *
 * Two threads, so that a gateway's answer never waits on the database: the
 * calls thread runs the transfers and nothing else; the database thread
 * claims up to NOTIFIER_CONCURRENCY rows ahead of the calls in flight (in
 * batches of at least half that, whenever fewer than half are ready), and
 * records finished calls in one transaction per handful. The calls thread
 * starts a ready call the moment a slot frees. Claimed calls that never
 * started at a shutdown go back to 'queued' as they were; at a kill they
 * are 'sending' like the calls in flight, and are checked, below.
 *
 * Due rows are claimed urgent first (sign-in codes, escalations), then by
 * due time, so that a backlog of ordinary messages never holds a code back.
 *
 * Exactly once: a row is claimed (FOR UPDATE SKIP LOCKED), marked
 * 'sending' with a lease and committed before its request leaves; the
 * outcome is written after the answer. A row found in 'sending' past its
 * lease (the process died mid-call, or another instance did) is re-queued
 * with needs_check, and its next turn asks the gateway first (Alibaba
 * QuerySendDetails by OutId; Tencent's status pull by SessionContext); it
 * is sent again only when the gateway provably did not accept it, else it
 * becomes 'sent', or 'uncertain' for a person to check. The webhook is
 * idempotent by webhook-id, so it is simply sent again with the same id.
 *
 * Every outcome is written only while the row is still 'sending': a
 * delivery receipt that arrived during the call (it proves acceptance)
 * has made it 'delivered', and nothing downgrades or resends it.
 *
 * Deferrals (quiet hours for non-urgent routes, per-phone limits counted
 * over the claims of the last minute, hour and day under a per-phone
 * advisory lock) only move next_attempt_at. Retryable answers back off
 * exponentially with jitter or fail over to the next provider; permanent
 * ones fail the row and dead-letter it through the outbox in the same
 * transaction. At most NOTIFIER_MAX_ATTEMPTS gateway calls per row.
 *
 * The database thread holds one pooled connection for its lifetime,
 * LISTENs on notifier_deliveries (the consumer NOTIFYs on commit) and waits
 * on that socket together with the calls thread's pipe. Logs mask phones; message texts are never
 * logged.
 */
#include "notifier.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/event.h"
#include "core/metrics.h"
#include "core/outbox.h"
#include "util/crypto.h"
#include "util/log.h"
#include "util/sbuf.h"
#include "util/timeutil.h"

/* One gateway call: claimed and ready, in flight, or finished and to be recorded. */
typedef struct ntf_job {
    char id[37];                 /* delivery id */
    char phone[12];              /* recipient */
    char out_id[64];             /* OutId / SessionContext / webhook-id */
    int kind;                    /* provider kind of this call */
    int attempts;                /* attempts including this one */
    int check;                   /* 1: this call asks whether an earlier send was accepted */
    int urgent;                  /* 1: started before every ordinary ready call */
    int64_t prev_claimed_ms;     /* the row's claimed_at before this claim (0: none) */
    int64_t start_by_ms;         /* monotonic: not started by then, the lease may lapse mid-call */
    int unstarted;               /* 1: handed back unstarted (start_by_ms passed): re-queue */
    ntf_request req;             /* the request (owned) */
    sbuf body;                   /* the answer */
    CURL *easy;                  /* the transfer (configured by the claim, run by the calls) */
    CURLcode code;               /* the transfer's result, once finished */
    struct ntf_job *prev, *next; /* the list or queue the job is on */
} ntf_job;

/* A queue of jobs, first in first out, linked through next. */
typedef struct ntf_fifo {
    ntf_job *head, *tail; /* NULL when empty */
    int n;                /* jobs queued */
} ntf_fifo;

/*
 * Two threads share the sender: the calls thread owns the curl multi handle
 * and nothing else (it never waits on the database), the database thread
 * owns the connection, claims ahead of need and records outcomes. They meet
 * in two queues under mu: ready (claimed, committed 'sending', request
 * built) and done (finished transfers, taken off the multi handle).
 */
struct ntf_sender {
    service_ctx *ctx;
    ntf_state *st;
    pthread_t calls_thread, db_thread;
    atomic_int stop;        /* ntf_sender_stop was called */
    atomic_int calls_ended; /* the calls thread has returned: nothing more will finish */
    CURLM *multi;           /* calls thread only (curl_multi_wakeup from either) */
    int wake[2];            /* pipe: the calls thread wakes the database thread */
    pthread_mutex_t mu;     /* guards the three queues */
    ntf_fifo urgent, ready; /* claimed calls not started yet: urgent ones go first */
    ntf_fifo done;          /* finished calls not recorded yet */
    /* the calls thread's own */
    int inflight;  /* transfers on the multi handle */
    ntf_job *jobs; /* calls in flight */
    /* the database thread's own */
    PGconn *conn; /* held for the thread's life; NULL while the database is away */
    int again;    /* a row was re-queued due now (failover): claim without waiting */
    int dry;      /* the last claim found fewer due rows than it asked for */
    int in_tx;    /* record's transaction is open: outcomes commit together */
    sbuf sent_ids,
        sent_gids; /* record's accepted rows (array literals' elements), marked at once */
    int nsent;
    unsigned int seed;
    int64_t last_sweep;
};

/* fifo_push - append j to q */
static void fifo_push(ntf_fifo *q, ntf_job *j)
{
    j->next = NULL;
    if (q->tail)
        q->tail->next = j;
    else
        q->head = j;
    q->tail = j;
    q->n++;
}

/* fifo_pop - the first job of q, or NULL */
static ntf_job *fifo_pop(ntf_fifo *q)
{
    ntf_job *j = q->head;
    if (j == NULL)
        return NULL;
    q->head = j->next;
    if (q->head == NULL)
        q->tail = NULL;
    q->n--;
    j->next = NULL;
    return j;
}

/* fifo_take - the whole of q (a chain through next), leaving it empty */
static ntf_job *fifo_take(ntf_fifo *q)
{
    ntf_job *j = q->head;
    *q = (ntf_fifo){0};
    return j;
}

/* mask - a phone for the logs */
static const char *mask(const char *phone, char out[32])
{
    return log_mask_phone(phone, out, 32);
}

/* on_data - curl write callback into the job's sbuf (answers capped at 1 MiB) */
static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
    sbuf *b = arg;
    if (b->len + size * n > (1 << 20))
        return 0;
    sbuf_put(b, p, size * n);
    return size * n;
}

/* job_free - release a job and its transfer (no longer on the multi handle) */
static void job_free(ntf_job *j)
{
    if (j->easy)
        curl_easy_cleanup(j->easy);
    ntf_request_clear(&j->req);
    free(j->body.p);
    free(j);
}

/* call_end - take a call in flight off the multi handle and the list (the calls thread) */
static void call_end(ntf_sender *s, ntf_job *j)
{
    curl_multi_remove_handle(s->multi, j->easy);
    if (j->prev)
        j->prev->next = j->next;
    else if (s->jobs == j)
        s->jobs = j->next;
    if (j->next)
        j->next->prev = j->prev;
    j->prev = j->next = NULL;
    s->inflight--;
}

/* exec - one statement on the sender's connection; 0 or -1 (logged) */
static int exec(ntf_sender *s, const char *sql, int n, const char *const *p)
{
    db_err err;
    if (db_run(s->conn, sql, n, p, &err) < 0) {
        log_warn("sender: %s", err.msg);
        return -1;
    }
    return 0;
}

/* connect_db - (re)acquire the sender's connection and LISTEN; 0 or -1 */
static int connect_db(ntf_sender *s)
{
    if (s->conn && PQstatus(s->conn) == CONNECTION_OK)
        return 0;
    if (s->conn) {
        db_release(s->ctx->db, s->conn);
        s->conn = NULL;
    }
    db_err err;
    s->conn = db_acquire(s->ctx->db, 1000, &err);
    if (s->conn == NULL)
        return -1;
    if (exec(s, "LISTEN notifier_deliveries", 0, NULL) < 0) {
        db_release(s->ctx->db, s->conn);
        s->conn = NULL;
        return -1;
    }
    return 0;
}

/*
 * fail_row - fail the row and queue a dead letter, in one transaction (a
 * savepoint inside drain's). A row no longer 'sending' or 'queued' (a
 * receipt made it 'delivered') is left alone.
 */
static void fail_row(ntf_sender *s, const char *id, const char *reason, const char *detail)
{
    db_err err = {{0}, "no such delivery in 'sending' or 'queued'"};
    const char *p[2] = {id, detail};
    if ((s->in_tx ? exec(s, "SAVEPOINT fail_row", 0, NULL) : db_begin(s->conn, &err)) < 0)
        return;
    PGresult *res = db_exec(s->conn,
                            "UPDATE deliveries SET status = 'failed', lease_until = NULL, "
                            "last_error = $2, updated_at = now() WHERE id = $1::uuid AND status IN "
                            "('sending', 'queued') "
                            "RETURNING event_id, event_type, route, template, coalesce(provider, "
                            "''), attempts, recipient",
                            2, p, &err);
    int ok = res != NULL && PQntuples(res) == 1;
    if (ok) {
        char masked[32];
        cJSON *data = cJSON_CreateObject();
        cJSON_AddStringToObject(data, "reason", reason);
        cJSON_AddStringToObject(data, "group", "notifier");
        cJSON_AddStringToObject(data, "delivery_id", id);
        cJSON_AddStringToObject(data, "event_id", PQgetvalue(res, 0, 0));
        cJSON_AddStringToObject(data, "event_type", PQgetvalue(res, 0, 1));
        cJSON_AddStringToObject(data, "route", PQgetvalue(res, 0, 2));
        cJSON_AddStringToObject(data, "template", PQgetvalue(res, 0, 3));
        cJSON_AddStringToObject(data, "provider", PQgetvalue(res, 0, 4));
        cJSON_AddNumberToObject(data, "attempts", atoi(PQgetvalue(res, 0, 5)));
        cJSON_AddStringToObject(data, "phone", mask(PQgetvalue(res, 0, 6), masked));
        cJSON_AddStringToObject(data, "gateway_answer", detail);
        cJSON *ev = event_new("notifier", "deadletter", id, data);
        ok = ev && outbox_add(s->conn, KAFKA_DEADLETTER_TOPIC, id, ev, &err) == 0;
        cJSON_Delete(ev);
    }
    PQclear(res);
    if (ok && s->in_tx)
        ok = exec(s, "RELEASE SAVEPOINT fail_row", 0, NULL) == 0;
    else if (ok)
        ok = db_commit(s->conn, &err) == 0;
    if (ok) {
        if (!s->in_tx)
            outbox_relay_wake(s->ctx->relay);
        metrics_inc(metrics_counter("notifier_sms_failed_total",
                                    "Deliveries failed for good (dead-lettered)", ""));
        log_warn("delivery %s failed: %s", id, reason);
    } else {
        if (s->in_tx)
            exec(s, "ROLLBACK TO SAVEPOINT fail_row", 0, NULL);
        else
            db_rollback(s->conn);
        log_warn("delivery %s: failure not recorded: %s", id, err.msg);
    }
}

/* requeue - back to queued, after delay_ms, with the given provider index and check flag */
static void requeue(ntf_sender *s, const char *id, int64_t delay_ms, int provider_index, int check,
                    const char *detail)
{
    char d[24], pi[12];
    snprintf(d, sizeof(d), "%lld", (long long)delay_ms);
    snprintf(pi, sizeof(pi), "%d", provider_index);
    const char *p[5] = {id, d, pi, check ? "t" : "f", detail};
    if (delay_ms == 0) { /* claimed at once, or as soon as a claim is wanted */
        s->again = 1;
        s->dry = 0;
    }
    exec(s,
         "UPDATE deliveries SET status = 'queued', lease_until = NULL, next_attempt_at = now() + "
         "$2::bigint * interval '1 millisecond', provider_index = $3::int, needs_check = "
         "$4::boolean, last_error = $5, updated_at = now() WHERE id = $1::uuid AND status = "
         "'sending'",
         5, p);
}

/*
 * array_add - append v (NULL: SQL NULL), double-quoted, to the array literal
 * being built in b; first opens it. The caller closes it with "}".
 */
static void array_add(sbuf *b, int first, const char *v)
{
    sbuf_str(b, first ? "{" : ",");
    if (v == NULL) {
        sbuf_str(b, "NULL");
        return;
    }
    sbuf_str(b, "\"");
    for (; *v; v++) {
        if (*v == '"' || *v == '\\')
            sbuf_str(b, "\\");
        sbuf_put(b, v, 1);
    }
    sbuf_str(b, "\"");
}

/*
 * flush_sent - mark every row drain found accepted 'sent', in one statement
 * of drain's transaction (or on its own when that could not begin)
 */
static void flush_sent(ntf_sender *s)
{
    if (s->nsent == 0)
        return;
    sbuf_str(&s->sent_ids, "}");
    sbuf_str(&s->sent_gids, "}");
    if (s->sent_ids.failed || s->sent_gids.failed) {
        log_warn("sender: out of memory marking %d rows sent; their leases lapse and they are "
                 "checked with the gateway",
                 s->nsent);
    } else {
        const char *p[2] = {s->sent_ids.p, s->sent_gids.p};
        exec(s,
             "UPDATE deliveries d SET status = 'sent', lease_until = NULL, needs_check = false, "
             "gateway_id = coalesce(v.gid, d.gateway_id), sent_at = coalesce(d.sent_at, now()), "
             "last_error = NULL, updated_at = now() FROM unnest($1::uuid[], $2::text[]) AS v(id, "
             "gid) WHERE d.id = v.id AND d.status = 'sending'",
             2, p);
    }
    free(s->sent_ids.p);
    free(s->sent_gids.p);
    s->sent_ids = (sbuf){0};
    s->sent_gids = (sbuf){0};
    s->nsent = 0;
}

/* mark_sent - the gateway accepted the message: marked with the others by flush_sent */
static void mark_sent(ntf_sender *s, const ntf_job *j, const char *gateway_id)
{
    array_add(&s->sent_ids, s->nsent == 0, j->id);
    array_add(&s->sent_gids, s->nsent == 0, gateway_id && *gateway_id ? gateway_id : NULL);
    s->nsent++;
    char label[64], masked[32];
    snprintf(label, sizeof(label), "provider=\"%s\"", ntf_provider_name(j->kind));
    metrics_inc(
        metrics_counter("notifier_sms_sent_total", "Messages accepted by a gateway", label));
    log_info("delivery %s to %s accepted by %s%s", j->id, mask(j->phone, masked),
             ntf_provider_name(j->kind), j->check ? " (found by the check)" : "");
}

/* mark_uncertain - nobody can tell whether the gateway accepted it */
static void mark_uncertain(ntf_sender *s, const ntf_job *j, const char *detail)
{
    const char *p[2] = {j->id, detail};
    exec(s,
         "UPDATE deliveries SET status = 'uncertain', lease_until = NULL, last_error = $2, "
         "updated_at = now() WHERE id = $1::uuid AND status = 'sending'",
         2, p);
    metrics_inc(metrics_counter("notifier_sms_uncertain_total",
                                "Deliveries a person must check (gateway could not say)", ""));
    log_warn("delivery %s: uncertain whether %s accepted it (%s)", j->id,
             ntf_provider_name(j->kind), detail);
}

/* provider_configured - 1 if kind is one of NOTIFIER_PROVIDERS */
static int provider_configured(const ntf_state *st, int kind)
{
    for (int i = 0; i < st->nproviders; i++)
        if (st->providers[i].kind == kind)
            return 1;
    return 0;
}

/* provider_index_of - the position of kind in the failover order, or 0 */
static int provider_index_of(const ntf_state *st, int kind)
{
    for (int i = 0; i < st->nproviders; i++)
        if (st->providers[i].kind == kind)
            return i;
    return 0;
}

/* finish - record what one finished call means */
static void finish(ntf_sender *s, ntf_job *j, CURLcode code)
{
    ntf_state *st = s->st;
    long status = 0;
    curl_off_t sent_bytes = 0;
    curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(j->easy, CURLINFO_REQUEST_SIZE, &sent_bytes);
    int sent = sent_bytes > 0 && code != CURLE_COULDNT_CONNECT &&
               code != CURLE_COULDNT_RESOLVE_HOST && code != CURLE_COULDNT_RESOLVE_PROXY;
    char gid[128], detail[512];
    int idx = provider_index_of(st, j->kind);
    int64_t backoff =
        ntf_backoff_ms(j->attempts, st->backoff_base_ms, st->backoff_cap_ms, rand_r(&s->seed));
    int exhausted = j->attempts >= st->max_attempts;
    if (connect_db(s) < 0) {
        log_warn("delivery %s: outcome not recorded (database away); its lease will lapse", j->id);
        return;
    }
    if (j->check) {
        int a = code == CURLE_OK ? ntf_check_answer(j->kind, status, j->body.p ? j->body.p : "",
                                                    j->out_id, gid, sizeof(gid))
                                 : -1;
        if (a == 1) {
            mark_sent(s, j, gid);
        } else if (a == 0) {
            log_info("delivery %s: %s did not accept it; sending again", j->id,
                     ntf_provider_name(j->kind));
            requeue(s, j->id, 0, idx, 0, "the gateway had not accepted it");
        } else if (code == CURLE_OK && status / 100 == 2 && j->kind == NTF_TENCENT) {
            mark_uncertain(s, j, "tencent: no status report for this SessionContext");
        } else if (exhausted) {
            mark_uncertain(s, j, "the gateway could not be asked");
        } else {
            requeue(s, j->id, backoff, idx, 1, "the gateway could not be asked; will ask again");
        }
        return;
    }
    ntf_outcome o = ntf_classify(j->kind, (int)code, sent, status, j->body.p ? j->body.p : "", gid,
                                 sizeof(gid), detail, sizeof(detail));
    char masked[32];
    switch (o) {
    case NTF_OK:
        mark_sent(s, j, gid);
        return;
    case NTF_PERMANENT:
        fail_row(s, j->id, "the gateway refused the message for good", detail);
        return;
    case NTF_THROTTLED:
    case NTF_NEXT:
    case NTF_AMBIGUOUS:
        break;
    }
    metrics_inc(metrics_counter("notifier_sms_retries_total",
                                "Gateway calls that will be retried or failed over", ""));
    log_info("delivery %s to %s: %s (attempt %d)", j->id, mask(j->phone, masked), detail,
             j->attempts);
    int check = o == NTF_AMBIGUOUS && j->kind != NTF_WEBHOOK;
    if (exhausted) {
        if (check)
            mark_uncertain(s, j, detail);
        else
            fail_row(s, j->id, "gave up after the last attempt", detail);
    } else if (o == NTF_NEXT && idx + 1 < st->nproviders) {
        requeue(s, j->id, 0, idx + 1, 0, detail);
    } else {
        requeue(s, j->id, backoff, o == NTF_NEXT ? 0 : idx, check, detail);
    }
}

/*
 * build_job - one claimed row's request and transfer, ready for the calls
 * thread; 0, or -1 when the row was dealt with here (failed or re-queued)
 * and j freed
 */
static int build_job(ntf_sender *s, ntf_job *j, const cJSON *params, const char *template,
                     const char *tencent_id, int64_t claimed_ms, int64_t now_ms)
{
    const ntf_provider *p = NULL;
    for (int i = 0; i < s->st->nproviders; i++)
        if (s->st->providers[i].kind == j->kind)
            p = &s->st->providers[i];
    if (p == NULL) { /* claim only starts configured providers; never dereference NULL */
        fail_row(s, j->id, "its provider is no longer configured", ntf_provider_name(j->kind));
        job_free(j);
        return -1;
    }
    ntf_message m = {.phone = j->phone,
                     .template = template,
                     .tencent_id = tencent_id,
                     .params = params,
                     .sign_name = s->st->sign_name,
                     .out_id = j->out_id};
    char nonce[37], err[256];
    crypto_uuid_v7(nonce);
    int rc = j->check
                 ? ntf_request_check(p, &m, claimed_ms, now_ms, nonce, &j->req, err, sizeof(err))
                 : ntf_request_send(p, &m, now_ms, nonce, &j->req, err, sizeof(err));
    if (rc < 0) {
        fail_row(s, j->id, "the request could not be built", err);
        job_free(j);
        return -1;
    }
    j->easy = curl_easy_init();
    if (j->easy == NULL) {
        requeue(s, j->id, 1000, provider_index_of(s->st, j->kind), j->check, "out of memory");
        job_free(j);
        return -1;
    }
    char url[1100];
    snprintf(url, sizeof(url), "%s", p->url);
    curl_easy_setopt(j->easy, CURLOPT_URL, url);
    curl_easy_setopt(j->easy, CURLOPT_POST, 1L);
    curl_easy_setopt(j->easy, CURLOPT_POSTFIELDS, j->req.body);
    curl_easy_setopt(j->easy, CURLOPT_POSTFIELDSIZE, (long)strlen(j->req.body));
    curl_easy_setopt(j->easy, CURLOPT_HTTPHEADER, j->req.headers);
    curl_easy_setopt(j->easy, CURLOPT_TIMEOUT_MS, (long)s->st->timeout_ms);
    curl_easy_setopt(j->easy, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(s->st->timeout_ms < 3000 ? s->st->timeout_ms : 3000));
    curl_easy_setopt(j->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(j->easy, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(j->easy, CURLOPT_WRITEDATA, &j->body);
    curl_easy_setopt(j->easy, CURLOPT_PRIVATE, j);
    curl_easy_setopt(j->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    return 0;
}

/* sweep - re-queue rows whose 'sending' lease lapsed, to be checked first */
static void sweep(ntf_sender *s)
{
    db_err err;
    PGresult *res = db_exec(s->conn,
                            "UPDATE deliveries SET status = 'queued', needs_check = (provider <> "
                            "'webhook'), lease_until = NULL, next_attempt_at = now(), "
                            "updated_at = now() WHERE status = 'sending' AND lease_until < now()",
                            0, NULL, &err);
    if (res && atoi(PQcmdTuples(res)) > 0)
        log_warn("sender: %s deliveries were left in 'sending' (a crash?); each is checked with "
                 "its gateway before any resend",
                 PQcmdTuples(res));
    PQclear(res);
}

/* defer - move one row's next attempt to until_ms */
static void defer(ntf_sender *s, const char *id, int64_t until_ms, const char *why)
{
    char u[24];
    snprintf(u, sizeof(u), "%lld", (long long)until_ms);
    const char *p[3] = {id, u, why};
    exec(s,
         "UPDATE deliveries SET next_attempt_at = to_timestamp($2::bigint / 1000.0), "
         "last_error = $3, updated_at = now() WHERE id = $1::uuid",
         3, p);
    char label[32];
    snprintf(label, sizeof(label), "reason=\"%s\"",
             strncmp(why, "quiet", 5) == 0 ? "quiet" : "limit");
    metrics_inc(metrics_counter("notifier_sms_deferred_total",
                                "Sends deferred by quiet hours or per-phone limits", label));
}

/*
 * history_load - lock the phones of the n rows that per-phone limits apply
 * to (in one order, so that two senders never wait on each other in a
 * circle) and read every claim of those phones in the last day: recipient,
 * id, Unix ms. Two statements for the whole claim, not two per row. NULL
 * when there is nothing to check or the read failed (then nothing is held
 * back: the limits are a courtesy, the send is the duty).
 */
static PGresult *history_load(ntf_sender *s, PGresult *res, const int *rows, int n)
{
    if (n == 0)
        return NULL;
    sbuf phones = {0};
    for (int i = 0; i < n; i++)
        array_add(&phones, i == 0, PQgetvalue(res, rows[i], 1));
    sbuf_str(&phones, "}");
    if (phones.failed) {
        free(phones.p);
        return NULL;
    }
    const char *p[1] = {phones.p};
    db_err err;
    PGresult *hist = NULL;
    if (db_run(
            s->conn,
            "SELECT pg_advisory_xact_lock(hashtext(x.p)) FROM (SELECT DISTINCT unnest($1::text[]) "
            "AS p) x ORDER BY hashtext(x.p)",
            1, p, &err) == 0)
        hist =
            db_exec(s->conn,
                    "SELECT recipient, id::text, (extract(epoch FROM claimed_at) * 1000)::bigint "
                    "FROM deliveries WHERE recipient = ANY ($1::text[]) AND claimed_at > now() - "
                    "interval '1 day'",
                    1, p, &err);
    if (hist == NULL)
        log_warn("sender: per-phone history: %s", err.msg);
    free(phones.p);
    return hist;
}

/*
 * limit_until - when this phone may get one more message (Unix ms): its
 * claims of the last day from hist (but its own row's earlier claim), with
 * the rows of the same phone started earlier in this claim counted at now
 * (their claimed_at becomes now when the claim commits)
 */
static int64_t limit_until(ntf_sender *s, PGresult *hist, const char *id, const char *phone,
                           char (*started_ids)[37], char (*started_phones)[24], int nstarted,
                           int64_t now_ms)
{
    int64_t sent[500];
    int k = 0;
    for (int j = 0; j < nstarted && k < 500; j++)
        if (strcmp(started_phones[j], phone) == 0)
            sent[k++] = now_ms;
    for (int i = 0; hist && i < PQntuples(hist) && k < 500; i++) {
        if (strcmp(PQgetvalue(hist, i, 0), phone) != 0 || strcmp(PQgetvalue(hist, i, 1), id) == 0)
            continue;
        int again = 0;
        for (int j = 0; j < nstarted && !again; j++)
            again = strcmp(started_ids[j], PQgetvalue(hist, i, 1)) == 0;
        if (!again)
            sent[k++] = atoll(PQgetvalue(hist, i, 2));
    }
    return ntf_limit_until(sent, k, now_ms, &s->st->limits);
}

/*
 * claim - claim up to max due rows (max <= 256), build their calls and queue
 * them for the calls thread; returns the due rows found (max: there may be
 * more), or -1 when the claim failed
 */
static int claim(ntf_sender *s, int max)
{
    ntf_state *st = s->st;
    db_err err;
    char lim[12], lease[24];
    snprintf(lim, sizeof(lim), "%d", max);
    snprintf(lease, sizeof(lease), "%d", st->timeout_ms * 2 + 5000);
    /* the lease is 2 timeouts + 5 s from the claim: a call started within a timeout + 4 s of
       it ends inside it */
    int64_t start_by = time_mono_ms() + st->timeout_ms + 4000;
    if (db_begin(s->conn, &err) < 0)
        return -1;
    const char *p0[1] = {lim};
    PGresult *res = db_exec(
        s->conn,
        "SELECT id, recipient, template, params::text, to_json(param_order)::text, urgent, "
        "provider_index, attempts, needs_check, coalesce(provider, ''), out_id, "
        "coalesce((extract(epoch FROM claimed_at) * 1000)::bigint, 0), "
        "(extract(epoch FROM now()) * 1000)::bigint FROM deliveries WHERE status = 'queued' AND "
        "next_attempt_at <= now() ORDER BY urgent DESC, next_attempt_at LIMIT $1::int FOR UPDATE "
        "SKIP LOCKED",
        1, p0, &err);
    if (res == NULL) {
        db_rollback(s->conn);
        log_warn("sender: claim: %s", err.msg);
        return -1;
    }
    int n = PQntuples(res);
    ntf_job *jobs[256];
    cJSON *params[256];
    const char *tpl_codes[256];
    int64_t claimed[256], now_ms = 0;
    int nj = 0, nbad = 0, nstale = 0, limited[256], nlimited = 0;
    char bad[256][37], stale[256][37], started[256][37], started_phones[256][24];
    /* the per-phone limits' history of the whole claim, read once */
    for (int i = 0; i < n && i < 256; i++)
        if (PQgetvalue(res, i, 5)[0] != 't')
            limited[nlimited++] = i;
    PGresult *hist = history_load(s, res, limited, nlimited);
    for (int i = 0; i < n && nj < 256; i++) {
        const char *id = PQgetvalue(res, i, 0), *phone = PQgetvalue(res, i, 1);
        int urgent = PQgetvalue(res, i, 5)[0] == 't';
        int pidx = atoi(PQgetvalue(res, i, 6)), attempts = atoi(PQgetvalue(res, i, 7));
        int check = PQgetvalue(res, i, 8)[0] == 't';
        const char *last_provider = PQgetvalue(res, i, 9);
        now_ms = atoll(PQgetvalue(res, i, 12));
        if (attempts >= st->max_attempts)
            continue; /* recorded as failed after the commit below */
        int kind;
        if (check) {
            kind = ntf_provider_parse(last_provider);
            if (kind < 0 || kind == NTF_WEBHOOK)
                check = 0;
            else if (!provider_configured(st, kind)) {
                /* only that provider can say whether it sent the message; sending it again
                   through another could deliver it twice: the row fails, with the reason */
                if (nstale < 256)
                    snprintf(stale[nstale++], 37, "%s", id);
                continue;
            }
        }
        if (!check) {
            if (pidx >= st->nproviders)
                pidx = 0;
            kind = st->providers[pidx].kind;
            int64_t q = urgent ? 0 : ntf_quiet_until(now_ms, st->quiet_start_s, st->quiet_end_s);
            if (q > 0) {
                defer(s, id, q, "quiet hours");
                continue;
            }
            /* urgent messages (sign-in codes, escalations) are not held by per-phone limits */
            int64_t u =
                urgent ? 0 : limit_until(s, hist, id, phone, started, started_phones, nj, now_ms);
            if (u > now_ms) {
                defer(s, id, u, "per-phone limit");
                continue;
            }
        }
        /* build the template's values in its declared order (jsonb keeps no order) */
        cJSON *stored = cJSON_Parse(PQgetvalue(res, i, 3)),
              *order = cJSON_Parse(PQgetvalue(res, i, 4));
        cJSON *ordered = cJSON_CreateObject();
        const cJSON *name;
        int unsealed = 1;
        cJSON_ArrayForEach(name, order)
        {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(stored, name->valuestring);
            const char *text = cJSON_IsString(v) ? v->valuestring : "";
            char open[64] = "";
            if (strncmp(text, NTF_SEALED_PREFIX, strlen(NTF_SEALED_PREFIX)) == 0) {
                unsealed = st->has_seal && pii_decrypt(&st->seal, text + strlen(NTF_SEALED_PREFIX),
                                                       open, sizeof(open)) == 0;
                text = open;
            }
            cJSON_AddStringToObject(ordered, name->valuestring, text);
            OPENSSL_cleanse(open, sizeof(open));
        }
        cJSON_Delete(stored);
        cJSON_Delete(order);
        if (!unsealed) {
            cJSON_Delete(ordered);
            if (nbad < 256)
                snprintf(bad[nbad++], 37, "%s", id);
            continue;
        }
        ntf_job *j = calloc(1, sizeof(*j));
        if (j == NULL) {
            cJSON_Delete(ordered);
            break;
        }
        snprintf(j->id, sizeof(j->id), "%s", id);
        snprintf(j->phone, sizeof(j->phone), "%s", phone);
        snprintf(j->out_id, sizeof(j->out_id), "%s", PQgetvalue(res, i, 10));
        j->kind = kind;
        j->attempts = attempts + 1;
        j->check = check;
        j->urgent = urgent;
        j->prev_claimed_ms = atoll(PQgetvalue(res, i, 11));
        j->start_by_ms = start_by;
        snprintf(started[nj], sizeof(started[nj]), "%s", id);
        snprintf(started_phones[nj], sizeof(started_phones[nj]), "%s", check ? "" : phone);
        claimed[nj] = atoll(PQgetvalue(res, i, 11));
        params[nj] = ordered;
        tpl_codes[nj] = PQgetvalue(res, i, 2);
        jobs[nj++] = j;
    }
    PQclear(hist);
    /* every started row marked 'sending' in one statement */
    int ok = 1;
    if (nj > 0) {
        sbuf ids = {0}, provs = {0}, checks = {0};
        for (int i = 0; i < nj; i++) {
            array_add(&ids, i == 0, jobs[i]->id);
            array_add(&provs, i == 0, ntf_provider_name(jobs[i]->kind));
            array_add(&checks, i == 0, jobs[i]->check ? "t" : "f");
        }
        sbuf_str(&ids, "}");
        sbuf_str(&provs, "}");
        sbuf_str(&checks, "}");
        const char *p[4] = {ids.p, provs.p, lease, checks.p};
        ok = !ids.failed && !provs.failed && !checks.failed &&
             db_run(s->conn,
                    "UPDATE deliveries d SET status = 'sending', attempts = d.attempts + 1, "
                    "provider = v.provider, lease_until = now() + $3::int * interval '1 "
                    "millisecond', claimed_at = CASE WHEN v.recheck THEN d.claimed_at ELSE now() "
                    "END, updated_at = now() FROM unnest($1::uuid[], $2::text[], $4::boolean[]) "
                    "AS v(id, provider, recheck) WHERE d.id = v.id",
                    4, p, &err) == 0;
        free(ids.p);
        free(provs.p);
        free(checks.p);
    }
    if (!ok || db_commit(s->conn, &err) < 0) {
        db_rollback(s->conn);
        log_warn("sender: claim not committed: %s", err.msg);
        for (int i = 0; i < nj; i++) {
            cJSON_Delete(params[i]);
            job_free(jobs[i]);
        }
        PQclear(res);
        return -1;
    }
    for (int i = 0; i < nbad; i++)
        fail_row(s, bad[i], "cannot open a sealed parameter",
                 "NOTIFIER_SEAL_KEY is missing or is not the key that sealed it");
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < nstale; k++) {
            if (strcmp(stale[k], PQgetvalue(res, i, 0)) != 0)
                continue;
            char why[160];
            snprintf(why, sizeof(why),
                     "provider %s, which must be asked whether it sent this message, is no longer "
                     "in NOTIFIER_PROVIDERS",
                     PQgetvalue(res, i, 9));
            fail_row(s, stale[k], "its provider is no longer configured", why);
        }
    }
    /* rows out of attempts (only reachable after a configuration change) */
    for (int i = 0; i < n; i++)
        if (atoi(PQgetvalue(res, i, 7)) >= st->max_attempts)
            fail_row(s, PQgetvalue(res, i, 0), "no attempts left", "NOTIFIER_MAX_ATTEMPTS reached");
    int nready = 0;
    for (int i = 0; i < nj; i++) {
        const char *tencent_id = tpl_codes[i];
        for (int k = 0; k < st->routes->ntemplates; k++)
            if (strcmp(st->routes->templates[k].code, tpl_codes[i]) == 0)
                tencent_id = st->routes->templates[k].tencent_id;
        if (build_job(s, jobs[i], params[i], tpl_codes[i], tencent_id, claimed[i], now_ms) == 0)
            jobs[nready++] = jobs[i];
        cJSON_Delete(params[i]);
    }
    PQclear(res);
    if (nready > 0) {
        pthread_mutex_lock(&s->mu);
        for (int i = 0; i < nready; i++)
            fifo_push(jobs[i]->urgent ? &s->urgent : &s->ready, jobs[i]);
        pthread_mutex_unlock(&s->mu);
        curl_multi_wakeup(s->multi);
    }
    return n;
}

/*
 * record - record every finished call the calls thread handed over, all in
 * one transaction (one commit for the lot). Should that transaction fail,
 * the rows stay 'sending', their leases lapse, and they are checked with
 * the gateway.
 */
static void record(ntf_sender *s)
{
    pthread_mutex_lock(&s->mu);
    ntf_job *j = fifo_take(&s->done);
    pthread_mutex_unlock(&s->mu);
    if (j == NULL)
        return;
    db_err err;
    if (connect_db(s) == 0 && db_begin(s->conn, &err) == 0)
        s->in_tx = 1;
    while (j) {
        ntf_job *next = j->next;
        if (j->unstarted)
            requeue(s, j->id, 0, provider_index_of(s->st, j->kind), j->check,
                    "claimed but not started within its lease");
        else
            finish(s, j, j->code);
        job_free(j);
        j = next;
    }
    flush_sent(s);
    if (s->in_tx) {
        s->in_tx = 0;
        if (db_commit(s->conn, &err) < 0) {
            db_rollback(s->conn);
            log_warn("sender: outcomes not recorded (%s); the leases will lapse and the "
                     "deliveries be checked with their gateways",
                     err.msg);
        } else {
            outbox_relay_wake(s->ctx->relay);
        }
    }
}

/*
 * unclaim - at shutdown, the claimed calls that never started go back to
 * 'queued' as they were (attempts and claimed_at restored), in one
 * statement; should it fail, their leases lapse and they are checked with
 * the gateway first, as after a crash.
 */
static void unclaim(ntf_sender *s)
{
    pthread_mutex_lock(&s->mu);
    ntf_job *urgent = fifo_take(&s->urgent), *ready = fifo_take(&s->ready);
    pthread_mutex_unlock(&s->mu);
    sbuf ids = {0}, claimed = {0};
    int n = 0;
    for (ntf_job *lists[2] = {urgent, ready}, **l = lists; l < lists + 2; l++)
        for (ntf_job *j = *l, *next; j; j = next) {
            char ms[24];
            snprintf(ms, sizeof(ms), "%lld", (long long)j->prev_claimed_ms);
            array_add(&ids, n == 0, j->id);
            array_add(&claimed, n == 0, ms);
            n++;
            next = j->next;
            job_free(j);
        }
    sbuf_str(&ids, "}");
    sbuf_str(&claimed, "}");
    if (n > 0 && !ids.failed && !claimed.failed && connect_db(s) == 0) {
        const char *p[2] = {ids.p, claimed.p};
        exec(s,
             "UPDATE deliveries d SET status = 'queued', lease_until = NULL, attempts = "
             "d.attempts - 1, claimed_at = CASE WHEN v.ms = 0 THEN NULL ELSE to_timestamp(v.ms "
             "/ 1000.0) END, next_attempt_at = now(), updated_at = now() FROM "
             "unnest($1::uuid[], $2::bigint[]) AS v(id, ms) WHERE d.id = v.id AND d.status = "
             "'sending'",
             2, p);
    }
    free(ids.p);
    free(claimed.p);
}

/* refill_want - how many rows to claim now: none while at least half a batch is ready */
static int refill_want(ntf_sender *s)
{
    int c = s->st->concurrency;
    pthread_mutex_lock(&s->mu);
    int ready = s->urgent.n + s->ready.n;
    pthread_mutex_unlock(&s->mu);
    return ready * 2 > c ? 0 : c - ready;
}

/*
 * db_loop - the database thread: record outcomes, keep CONCURRENCY calls
 * claimed ahead of the calls in flight, sweep lapsed leases; it waits on
 * the LISTEN socket and the calls thread's pipe. Once the calls thread has
 * ended it records the last outcomes, puts back what never started, and
 * returns.
 */
static void *db_loop(void *arg)
{
    ntf_sender *s = arg;
    int64_t last_claim = 0;
    while (1) {
        int ended = atomic_load(&s->calls_ended);
        if (connect_db(s) < 0) {
            if (ended)
                break;
            usleep(200 * 1000);
            continue;
        }
        if (time_mono_ms() - s->last_sweep > 2000) {
            sweep(s);
            s->last_sweep = time_mono_ms();
        }
        record(s);
        if (ended)
            break;
        int want = atomic_load(&s->stop) ? 0 : refill_want(s);
        /* a dry claim is tried again on a NOTIFY, a failover, or 100 ms later (retries due) */
        if (want > 0 && (!s->dry || s->again || time_mono_ms() - last_claim >= 100)) {
            s->again = 0;
            last_claim = time_mono_ms();
            int got = claim(s, want);
            s->dry = got < want;
            if (got == want)
                continue; /* there may be more due: top up at once */
        }
        struct pollfd fds[2] = {{.fd = PQsocket(s->conn), .events = POLLIN},
                                {.fd = s->wake[0], .events = POLLIN}};
        if (poll(fds, 2, s->again && want > 0 ? 0 : 100) > 0 && (fds[1].revents & POLLIN)) {
            char buf[64];
            while (read(s->wake[0], buf, sizeof(buf)) > 0)
                ;
        }
        if (s->conn && PQconsumeInput(s->conn)) {
            PGnotify *nt;
            while ((nt = PQnotifies(s->conn)) != NULL) {
                s->dry = 0; /* new deliveries were committed */
                PQfreemem(nt);
            }
        }
    }
    unclaim(s);
    return NULL;
}

/* wake_db - let the database thread look at the queues (never blocks) */
static void wake_db(ntf_sender *s)
{
    ssize_t w = write(s->wake[1], "w", 1);
    (void)w; /* a full pipe has woken it already */
}

/* start_ready - put ready calls, urgent first, on the multi handle up to CONCURRENCY */
static void start_ready(ntf_sender *s)
{
    int c = s->st->concurrency, left = 0, started = 0, late = 0;
    if (s->inflight >= c)
        return;
    int64_t now = time_mono_ms();
    pthread_mutex_lock(&s->mu);
    while (s->inflight < c) {
        ntf_job *j = fifo_pop(&s->urgent);
        if (j == NULL && (j = fifo_pop(&s->ready)) == NULL)
            break;
        if (now > j->start_by_ms) { /* its lease could lapse mid-call: never start it */
            j->unstarted = 1;
            fifo_push(&s->done, j);
            late++;
            continue;
        }
        curl_multi_add_handle(s->multi, j->easy);
        j->next = s->jobs;
        if (s->jobs)
            s->jobs->prev = j;
        s->jobs = j;
        s->inflight++;
        started++;
    }
    left = s->urgent.n + s->ready.n;
    pthread_mutex_unlock(&s->mu);
    if (late > 0 || (started > 0 && left * 2 <= c))
        wake_db(s); /* to re-queue the late ones, or to claim ahead again */
}

/* collect - hand every finished call to the database thread; how many */
static int collect(ntf_sender *s)
{
    CURLMsg *msg;
    int left, n = 0;
    ntf_fifo done = {0};
    while ((msg = curl_multi_info_read(s->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        ntf_job *j = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&j);
        j->code = msg->data.result;
        call_end(s, j);
        fifo_push(&done, j);
        n++;
    }
    if (n == 0)
        return 0;
    pthread_mutex_lock(&s->mu);
    if (s->done.tail)
        s->done.tail->next = done.head;
    else
        s->done.head = done.head;
    s->done.tail = done.tail;
    s->done.n += done.n;
    pthread_mutex_unlock(&s->mu);
    wake_db(s);
    return n;
}

/*
 * calls_loop - the calls thread: start ready calls, run the transfers, hand
 * the finished ones over; until stopped and drained (bounded by the timeout)
 */
static void *calls_loop(void *arg)
{
    ntf_sender *s = arg;
    int64_t stop_deadline = 0;
    while (1) {
        int stopping = atomic_load(&s->stop);
        if (stopping && stop_deadline == 0)
            stop_deadline = time_mono_ms() + s->st->timeout_ms + 1000;
        if (stopping && (s->inflight == 0 || time_mono_ms() > stop_deadline))
            break;
        if (!stopping)
            start_ready(s);
        int running = 0;
        curl_multi_perform(s->multi, &running);
        if (collect(s) > 0 && !stopping)
            continue; /* their slots are refilled at once */
        curl_multi_poll(s->multi, NULL, 0, 100, NULL);
    }
    if (s->inflight > 0)
        log_warn("sender: %d calls unfinished at shutdown; their leases lapse and they are "
                 "checked with the gateway on the next start",
                 s->inflight);
    atomic_store(&s->calls_ended, 1);
    wake_db(s);
    return NULL;
}

/* ntf_sender_start - the sender's two threads */
ntf_sender *ntf_sender_start(service_ctx *ctx, char *err, size_t errlen)
{
    ntf_sender *s = calloc(1, sizeof(*s));
    if (s == NULL || (s->multi = curl_multi_init()) == NULL) {
        snprintf(err, errlen, "sender: out of memory");
        free(s);
        return NULL;
    }
    if (pipe(s->wake) < 0) {
        snprintf(err, errlen, "sender: pipe: %s", strerror(errno));
        curl_multi_cleanup(s->multi);
        free(s);
        return NULL;
    }
    for (int i = 0; i < 2; i++) {
        fcntl(s->wake[i], F_SETFL, fcntl(s->wake[i], F_GETFL) | O_NONBLOCK);
        fcntl(s->wake[i], F_SETFD, FD_CLOEXEC);
    }
    pthread_mutex_init(&s->mu, NULL);
    s->ctx = ctx;
    s->st = ctx->state;
    s->seed = (unsigned int)time_now_ms() ^ (unsigned int)getpid();
    curl_multi_setopt(s->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)s->st->concurrency);
    curl_multi_setopt(s->multi, CURLMOPT_MAXCONNECTS, (long)s->st->concurrency * 2);
    if (pthread_create(&s->calls_thread, NULL, calls_loop, s) != 0) {
        snprintf(err, errlen, "sender: cannot start its thread");
        goto fail;
    }
    if (pthread_create(&s->db_thread, NULL, db_loop, s) != 0) {
        snprintf(err, errlen, "sender: cannot start its thread");
        atomic_store(&s->stop, 1);
        pthread_join(s->calls_thread, NULL);
        goto fail;
    }
    return s;
fail:
    curl_multi_cleanup(s->multi);
    close(s->wake[0]);
    close(s->wake[1]);
    pthread_mutex_destroy(&s->mu);
    free(s);
    return NULL;
}

/* ntf_sender_stop - stop claiming, let in-flight calls finish (bounded), record them, join */
ntf_sender *ntf_sender_stop(ntf_sender *s)
{
    if (s == NULL)
        return NULL;
    atomic_store(&s->stop, 1);
    curl_multi_wakeup(s->multi);
    pthread_join(s->calls_thread, NULL);
    pthread_join(s->db_thread, NULL);
    /* transfers still running at the deadline are abandoned: their rows stay 'sending' */
    while (s->jobs) {
        ntf_job *j = s->jobs;
        call_end(s, j);
        job_free(j);
    }
    curl_multi_cleanup(s->multi);
    if (s->conn)
        db_release(s->ctx->db, s->conn);
    close(s->wake[0]);
    close(s->wake[1]);
    pthread_mutex_destroy(&s->mu);
    free(s);
    return NULL;
}
