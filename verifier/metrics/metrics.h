/* What the enrollment service has done, for Prometheus (`serve
 * --metrics-listen`, metrics_http.h): calls by method, decision and refusal
 * code, latency histograms per method, calls in flight, the replay guard's
 * size, the issuer certificate's notAfter, the build. Counting is lock-free
 * on the hot path except for the (method, code) table, which takes a mutex
 * only to find or add its row. */
#ifndef RT_VERIFIER_METRICS_H
#define RT_VERIFIER_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "rt_err.h"
#include "rt_grpc.h"

typedef struct rt_metrics rt_metrics;

/* Read when the metrics are scraped: the replay guard's entry count. */
typedef size_t (*rt_metrics_gauge_fn)(void *arg);

rt_code rt_metrics_new(rt_metrics **out, rt_err *err);
void rt_metrics_free(rt_metrics *m);

/* Set once at start-up, before serving. */
void rt_metrics_set_guard(rt_metrics *m, rt_metrics_gauge_fn count, void *arg);
void rt_metrics_set_issuer_not_after(rt_metrics *m, int64_t unix_seconds);

/* A call of an enrollment method starts (in flight) and ends: code is the
 * refusal code (NULL when accepted). m may be NULL (no metrics). */
void rt_metrics_call_start(rt_metrics *m);
void rt_metrics_call_end(rt_metrics *m, const char *method, grpc_status_code status,
                         const char *code, double seconds);

/* The text exposition format (version 0.0.4): *text malloc'd. */
rt_code rt_metrics_render(rt_metrics *m, char **text, size_t *len, rt_err *err);

#endif
