/*
 * test_metrics.c - the Prometheus exposition: families grouped (HELP and
 * TYPE once, then every label set), counters add up, gauges set, callback
 * gauges read at scrape time.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/metrics.h"

static double seven(void *arg)
{
    (void)arg;
    return 7;
}

int main(void)
{
    metric *a = metrics_counter("t_requests_total", "requests", "code=\"200\"");
    metrics_gauge("t_queue", "queue depth", "");
    metric *b = metrics_counter("t_requests_total", "requests", "code=\"500\"");
    metrics_gauge_fn("t_callback", "read when scraped", seven, NULL);
    CHECK(metrics_counter("t_requests_total", "requests", "code=\"200\"") == a,
          "same name and labels find the same metric");
    metrics_inc(a);
    metrics_add(a, 2);
    metrics_inc(b);
    metrics_set(metrics_gauge("t_queue", "queue depth", ""), 4.5);
    char *text = metrics_render();
    CHECK(text != NULL, "render");
    if (text == NULL)
        return check_done();
    const char *help = strstr(text, "# HELP t_requests_total");
    const char *s200 = strstr(text, "t_requests_total{code=\"200\"} 3\n");
    const char *s500 = strstr(text, "t_requests_total{code=\"500\"} 1\n");
    const char *queue = strstr(text, "t_queue 4.5\n");
    CHECK(help && s200 && s500 && queue, "samples present:\n%s", text);
    CHECK(help && strstr(help + 1, "# HELP t_requests_total") == NULL, "HELP once per family");
    CHECK(s200 && s500 && queue && s200 < s500 && s500 < queue,
          "a family's label sets stand together:\n%s", text);
    CHECK(strstr(text, "# TYPE t_queue gauge") != NULL, "gauge type");
    CHECK(strstr(text, "t_callback 7\n") != NULL, "callback gauge");
    free(text);
    return check_done();
}
