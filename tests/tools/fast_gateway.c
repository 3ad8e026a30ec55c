/*
 * fast_gateway.c - a compiled stand-in for Alibaba Cloud SMS's SendSms, for
 * the notifier's benchmark only: the Python test gateway answers a few
 * hundred calls a second on these two cores and would be the limit the
 * benchmark measures. This one answers thousands, so the benchmark shows
 * where the notifier itself stops.
 *
 * It does what the provider does that costs the client: it checks every
 * call's RPC signature v1 (HMAC-SHA1 of the canonical query, computed here
 * independently of services/notifier/notifier_sign.c) and its timestamp
 * window, and it answers each call DELAY ms after it arrived without holding
 * a thread meanwhile (the connection is suspended and resumed by a timer
 * thread). It remembers each accepted message's phone and arrival time for
 * /_stats; nothing else (no nonce memory, no receipts, no faults: the
 * Python gateway is the one the tests use).
 *
 *   POST /aliyun/   SendSms, form body      -> {"Code":"OK","BizId",...} or 400/403
 *   GET  /_stats    {"accepted","rejected","distinct_phones","first_ms","last_ms"}
 *   POST /_reset    forget the messages
 *
 * Usage: fast_gateway --port P [--delay-ms 50] [--key-id ID] [--secret S]
 *        Listens on 127.0.0.1 only; prints its port on stdout.
 */
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_BODY 8192
#define MAX_PARAMS 32
#define MAX_MESSAGES 2000000
#define MAX_WAITING 65536

static const char *key_id = "test-aliyun-key-id";
static const char *secret = "test-aliyun-secret";
static int delay_ms = 50;

typedef struct call {
    char body[MAX_BODY];
    size_t len;
    int too_long;
    int status; /* 0 until decided */
    char answer[256];
    int suspended;
} call;

typedef struct message {
    char phone[24];
    long long t_ms;
} message;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static message *messages;
static long nmessages, rejected;
static atomic_long next_biz;

/* the calls waiting for their answer, in arrival order (all wait the same delay) */
static struct {
    struct MHD_Connection *conn;
    long long due_ms;
} waiting[MAX_WAITING];
static long wait_head, wait_tail;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* pct_decode - form decoding of s[0..n) into out ('+' is a space); length or -1 */
static int pct_decode(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (o + 1 >= cap)
            return -1;
        if (s[i] == '%' && i + 2 < n) {
            unsigned v;
            if (sscanf(s + i + 1, "%2x", &v) != 1)
                return -1;
            out[o++] = (char)v;
            i += 2;
        } else {
            out[o++] = s[i] == '+' ? ' ' : s[i];
        }
    }
    out[o] = '\0';
    return (int)o;
}

/* pct_encode - RFC 3986 encoding (unreserved kept) appended to out at *o */
static int pct_encode(const char *s, char *out, size_t cap, size_t *o)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int keep = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                   (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.' || *p == '~';
        if (*o + 4 >= cap)
            return -1;
        if (keep) {
            out[(*o)++] = (char)*p;
        } else {
            out[(*o)++] = '%';
            out[(*o)++] = hex[*p >> 4];
            out[(*o)++] = hex[*p & 15];
        }
    }
    out[*o] = '\0';
    return 0;
}

typedef struct param {
    char key[64], value[1024];
} param;

static int by_key(const void *a, const void *b)
{
    return strcmp(((const param *)a)->key, ((const param *)b)->key);
}

static const char *get(const param *p, int n, const char *key)
{
    for (int i = 0; i < n; i++)
        if (strcmp(p[i].key, key) == 0)
            return p[i].value;
    return NULL;
}

/* timestamp_ok - ISO 8601 UTC within 15 minutes of now */
static int timestamp_ok(const char *ts)
{
    struct tm tm = {0};
    if (ts == NULL || strptime(ts, "%Y-%m-%dT%H:%M:%SZ", &tm) == NULL)
        return 0;
    long long t = (long long)timegm(&tm) * 1000, d = wall_ms() - t;
    return d < 15 * 60 * 1000 && d > -15 * 60 * 1000;
}

/* decide - check one SendSms call: 200 with its answer, or the provider's error */
static void decide(call *c)
{
    param p[MAX_PARAMS];
    int n = 0;
    const char *sig = NULL;
    char sigbuf[128] = "";

    c->body[c->len] = '\0';
    for (char *tok = c->body, *end; tok && *tok; tok = end) {
        end = strchr(tok, '&');
        size_t len = end ? (size_t)(end - tok) : strlen(tok);
        if (end)
            end++;
        char *eq = memchr(tok, '=', len);
        if (eq == NULL || n >= MAX_PARAMS ||
            pct_decode(tok, (size_t)(eq - tok), p[n].key, sizeof(p[n].key)) < 0 ||
            pct_decode(eq + 1, len - (size_t)(eq - tok) - 1, p[n].value, sizeof(p[n].value)) < 0)
            goto bad;
        if (strcmp(p[n].key, "Signature") == 0)
            snprintf(sigbuf, sizeof(sigbuf), "%s", p[n].value), sig = sigbuf;
        else
            n++;
    }
    const char *action = get(p, n, "Action"), *phone = get(p, n, "PhoneNumbers"),
               *key = get(p, n, "AccessKeyId");
    if (sig == NULL || action == NULL || strcmp(action, "SendSms") != 0 || phone == NULL ||
        key == NULL || strcmp(key, key_id) != 0 || !timestamp_ok(get(p, n, "Timestamp")))
        goto forbidden;
    qsort(p, (size_t)n, sizeof(p[0]), by_key);
    static _Thread_local char canon[16384], sts[32768];
    size_t o = 0;
    for (int i = 0; i < n; i++) {
        if (i && o + 1 < sizeof(canon))
            canon[o++] = '&';
        if (pct_encode(p[i].key, canon, sizeof(canon), &o) < 0 || o + 1 >= sizeof(canon))
            goto bad;
        canon[o++] = '=';
        if (pct_encode(p[i].value, canon, sizeof(canon), &o) < 0)
            goto bad;
    }
    size_t so = (size_t)snprintf(sts, sizeof(sts), "POST&%%2F&");
    if (pct_encode(canon, sts, sizeof(sts), &so) < 0)
        goto bad;
    char hkey[256];
    snprintf(hkey, sizeof(hkey), "%s&", secret);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned maclen = 0;
    HMAC(EVP_sha1(), hkey, (int)strlen(hkey), (const unsigned char *)sts, so, mac, &maclen);
    char want[64];
    EVP_EncodeBlock((unsigned char *)want, mac, (int)maclen);
    if (strcmp(want, sig) != 0)
        goto forbidden;
    pthread_mutex_lock(&lock);
    if (nmessages < MAX_MESSAGES) {
        snprintf(messages[nmessages].phone, sizeof(messages[0].phone), "%.23s", phone);
        messages[nmessages].t_ms = wall_ms();
        nmessages++;
    }
    pthread_mutex_unlock(&lock);
    c->status = 200;
    long biz = atomic_fetch_add(&next_biz, 1);
    snprintf(c->answer, sizeof(c->answer),
             "{\"Message\":\"OK\",\"RequestId\":\"FAST-%ld\",\"Code\":\"OK\","
             "\"BizId\":\"%ld^0\"}",
             biz, biz);
    return;
bad:
    c->status = 400;
    snprintf(c->answer, sizeof(c->answer),
             "{\"Code\":\"MissingParameter\",\"Message\":\"bad form\",\"RequestId\":\"FAST\"}");
    goto count;
forbidden:
    c->status = 403;
    snprintf(c->answer, sizeof(c->answer),
             "{\"Code\":\"SignatureDoesNotMatch\",\"Message\":\"signature\","
             "\"RequestId\":\"FAST\"}");
count:
    pthread_mutex_lock(&lock);
    rejected++;
    pthread_mutex_unlock(&lock);
}

static int cmp_phone(const void *a, const void *b)
{
    return strcmp(((const message *)a)->phone, ((const message *)b)->phone);
}

/* stats - the JSON of /_stats */
static void stats(char *out, size_t cap)
{
    pthread_mutex_lock(&lock);
    long n = nmessages, rej = rejected, distinct = 0;
    long long first = n ? messages[0].t_ms : 0, last = n ? messages[n - 1].t_ms : 0;
    message *copy = malloc(sizeof(message) * (size_t)(n ? n : 1));
    if (copy)
        memcpy(copy, messages, sizeof(message) * (size_t)n);
    pthread_mutex_unlock(&lock);
    if (copy) {
        qsort(copy, (size_t)n, sizeof(message), cmp_phone);
        for (long i = 0; i < n; i++)
            if (i == 0 || strcmp(copy[i].phone, copy[i - 1].phone) != 0)
                distinct++;
        free(copy);
    }
    snprintf(out, cap,
             "{\"accepted\":%ld,\"rejected\":%ld,\"distinct_phones\":%ld,\"first_ms\":%lld,"
             "\"last_ms\":%lld}",
             n, rej, distinct, first, last);
}

static enum MHD_Result reply(struct MHD_Connection *conn, int status, const char *body)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload,
                                 size_t *upload_size, void **con_cls)
{
    (void)cls;
    (void)version;
    call *c = *con_cls;
    if (c == NULL) {
        if ((c = calloc(1, sizeof(*c))) == NULL)
            return MHD_NO;
        *con_cls = c;
        return MHD_YES;
    }
    if (*upload_size) {
        if (c->len + *upload_size < MAX_BODY) {
            memcpy(c->body + c->len, upload, *upload_size);
            c->len += *upload_size;
        } else {
            c->too_long = 1;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (strcmp(url, "/_stats") == 0) {
        char out[256];
        stats(out, sizeof(out));
        return reply(conn, 200, out);
    }
    if (strcmp(url, "/_reset") == 0 && strcmp(method, "POST") == 0) {
        pthread_mutex_lock(&lock);
        nmessages = rejected = 0;
        pthread_mutex_unlock(&lock);
        return reply(conn, 200, "{\"ok\":true}");
    }
    if (strcmp(url, "/aliyun/") != 0 || strcmp(method, "POST") != 0)
        return reply(conn, 404, "{\"error\":\"not here\"}");
    if (c->status == 0) {
        if (c->too_long) {
            c->status = 413;
            snprintf(c->answer, sizeof(c->answer), "{\"error\":\"body too long\"}");
        } else {
            decide(c);
        }
    }
    if (!c->suspended && delay_ms > 0) {
        pthread_mutex_lock(&lock);
        if (wait_tail - wait_head < MAX_WAITING) {
            c->suspended = 1;
            waiting[wait_tail % MAX_WAITING].conn = conn;
            waiting[wait_tail % MAX_WAITING].due_ms = now_ms() + delay_ms;
            wait_tail++;
            MHD_suspend_connection(conn);
            pthread_cond_signal(&wake);
            pthread_mutex_unlock(&lock);
            return MHD_YES;
        }
        pthread_mutex_unlock(&lock); /* too many waiting: answer at once */
    }
    return reply(conn, c->status, c->answer);
}

static void done_cb(void *cls, struct MHD_Connection *conn, void **con_cls,
                    enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    free(*con_cls);
    *con_cls = NULL;
}

/* timer - resume each waiting call when its delay is over */
static void *timer(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&lock);
    for (;;) {
        while (wait_head == wait_tail)
            pthread_cond_wait(&wake, &lock);
        long long due = waiting[wait_head % MAX_WAITING].due_ms, now = now_ms();
        if (due > now) {
            pthread_mutex_unlock(&lock);
            usleep((useconds_t)((due - now) * 1000));
            pthread_mutex_lock(&lock);
            continue;
        }
        struct MHD_Connection *conn = waiting[wait_head % MAX_WAITING].conn;
        wait_head++;
        pthread_mutex_unlock(&lock);
        MHD_resume_connection(conn);
        pthread_mutex_lock(&lock);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int port = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--port") == 0)
            port = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--delay-ms") == 0)
            delay_ms = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--key-id") == 0)
            key_id = argv[i + 1];
        else if (strcmp(argv[i], "--secret") == 0)
            secret = argv[i + 1];
        else {
            fprintf(stderr, "usage: fast_gateway --port P [--delay-ms MS] [--key-id ID] "
                            "[--secret S]\n");
            return 2;
        }
    }
    if (port <= 0 || port > 65535 || delay_ms < 0 || delay_ms > 60000) {
        fprintf(stderr, "fast_gateway: --port 1..65535 and --delay-ms 0..60000\n");
        return 2;
    }
    messages = calloc(MAX_MESSAGES, sizeof(message));
    if (messages == NULL)
        return 1;
    signal(SIGPIPE, SIG_IGN);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME, 0, NULL, NULL,
        access_cb, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_THREAD_POOL_SIZE, 2u, MHD_OPTION_CONNECTION_LIMIT, 4000u,
        MHD_OPTION_NOTIFY_COMPLETED, done_cb, NULL, MHD_OPTION_END);
    if (d == NULL) {
        fprintf(stderr, "fast_gateway: cannot listen on 127.0.0.1:%d\n", port);
        return 1;
    }
    pthread_t t;
    pthread_create(&t, NULL, timer, NULL);
    printf("%d\n", port);
    fflush(stdout);
    pause();
    MHD_stop_daemon(d);
    return 0;
}
