/*
 * metrics.c - Prometheus counters and gauges.
 *
 * Registration takes a mutex (start-up, or the first time a label set is
 * seen); updates are atomic on the value's bit pattern. Rendering walks the
 * list under the mutex and writes each family together: HELP and TYPE
 * once, then every label set of that name.
 */
#include "core/metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct metric {
    char name[96];        /* metric name */
    char help[160];       /* HELP text */
    char labels[256];     /* label set, "" for none */
    int gauge;            /* 1 gauge, 0 counter */
    _Atomic double value; /* current value */
    double (*fn)(void *); /* callback gauge, or NULL */
    void *arg;            /* callback argument */
    struct metric *next;  /* registration order */
};

static pthread_mutex_t metrics_lock = PTHREAD_MUTEX_INITIALIZER;
static metric *metrics_head, *metrics_tail;

/* metrics_find_or_add - the metric of name+labels, registered if new */
static metric *metrics_find_or_add(const char *name, const char *help, const char *labels,
                                   int gauge)
{
    pthread_mutex_lock(&metrics_lock);
    metric *m;
    for (m = metrics_head; m; m = m->next)
        if (strcmp(m->name, name) == 0 && strcmp(m->labels, labels ? labels : "") == 0)
            break;
    if (m == NULL && (m = calloc(1, sizeof(*m))) != NULL) {
        snprintf(m->name, sizeof(m->name), "%s", name);
        snprintf(m->help, sizeof(m->help), "%s", help);
        snprintf(m->labels, sizeof(m->labels), "%s", labels ? labels : "");
        m->gauge = gauge;
        if (metrics_tail)
            metrics_tail->next = m;
        else
            metrics_head = m;
        metrics_tail = m;
    }
    pthread_mutex_unlock(&metrics_lock);
    return m;
}

metric *metrics_counter(const char *name, const char *help, const char *labels)
{
    return metrics_find_or_add(name, help, labels, 0);
}

metric *metrics_gauge(const char *name, const char *help, const char *labels)
{
    return metrics_find_or_add(name, help, labels, 1);
}

/* metrics_gauge_fn - a gauge read from fn(arg) when scraped */
void metrics_gauge_fn(const char *name, const char *help, double (*fn)(void *), void *arg)
{
    metric *m = metrics_find_or_add(name, help, "", 1);
    if (m) {
        pthread_mutex_lock(&metrics_lock);
        m->fn = fn;
        m->arg = arg;
        pthread_mutex_unlock(&metrics_lock);
    }
}

void metrics_inc(metric *m)
{
    metrics_add(m, 1.0);
}

/* metrics_add - atomic add by compare-and-swap */
void metrics_add(metric *m, double v)
{
    if (m == NULL)
        return;
    double old = atomic_load(&m->value);
    while (!atomic_compare_exchange_weak(&m->value, &old, old + v))
        ;
}

void metrics_set(metric *m, double v)
{
    if (m)
        atomic_store(&m->value, v);
}

/* metrics_render - the exposition text, malloc'd */
char *metrics_render(void)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    if (out == NULL)
        return NULL;
    pthread_mutex_lock(&metrics_lock);
    /* One family at a time: HELP and TYPE, then every label set of that name. */
    for (metric *m = metrics_head; m; m = m->next) {
        int first = 1;
        for (metric *p = metrics_head; p != m && first; p = p->next)
            first = strcmp(p->name, m->name) != 0;
        if (!first)
            continue;
        fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", m->name, m->help, m->name,
                m->gauge ? "gauge" : "counter");
        for (metric *s = m; s; s = s->next) {
            if (strcmp(s->name, m->name) != 0)
                continue;
            double v = s->fn ? s->fn(s->arg) : atomic_load(&s->value);
            if (s->labels[0])
                fprintf(out, "%s{%s} %.17g\n", s->name, s->labels, v);
            else
                fprintf(out, "%s %.17g\n", s->name, v);
        }
    }
    pthread_mutex_unlock(&metrics_lock);
    fclose(out);
    return buf;
}
