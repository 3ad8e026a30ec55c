/*
 * metrics.h - Prometheus counters and gauges, exposed at /metrics.
 *
 * Metrics are registered once at start-up (name, help, fixed label set) and
 * updated lock-free with atomics. Callback gauges read a value when scraped.
 */
#ifndef SHANTANG_CORE_METRICS_H
#define SHANTANG_CORE_METRICS_H

#include <stddef.h>

typedef struct metric metric;

/*
 * metrics_counter / metrics_gauge - register (or find, if name+labels were
 * registered before) a metric; labels is "" or like `route="/v1/projects",code="201"`.
 * Never fails short of memory exhaustion (then NULL; updates on NULL are no-ops).
 */
metric *metrics_counter(const char *name, const char *help, const char *labels);
metric *metrics_gauge(const char *name, const char *help, const char *labels);

/* metrics_gauge_fn - a gauge whose value is read from fn(arg) at scrape time */
void metrics_gauge_fn(const char *name, const char *help, double (*fn)(void *), void *arg);

void metrics_inc(metric *m);
void metrics_add(metric *m, double v);
void metrics_set(metric *m, double v);

/* metrics_render - the exposition text (format 0.0.4); malloc'd, caller frees */
char *metrics_render(void);

#endif
