#include "metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The enrollment methods, in the order they are exposed. */
static const char *const methods[] = {"Begin", "Finish", "Confirm"};
#define N_METHODS (sizeof methods / sizeof methods[0])

/* Latency bucket upper bounds, seconds: an enrollment step takes
 * milliseconds; seconds mean a slow fetch (AIA) or an overloaded verifier. */
static const double bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
#define N_BUCKETS (sizeof bounds / sizeof bounds[0])

/* Refusal codes are the fixed set of docs/protocol.md; the cap only guards
 * against a bug adding codes without end. Past it, rows count as "OTHER". */
#define MAX_ROWS 128
#define CODE_MAX 40

typedef struct {
  size_t method;
  char code[CODE_MAX]; /* "" when accepted */
  atomic_ullong count;
} row;

typedef struct {
  atomic_ullong buckets[N_BUCKETS]; /* not cumulative: summed when rendered */
  atomic_ullong count;
  atomic_ullong sum_us;
} histogram;

struct rt_metrics {
  pthread_mutex_t lock; /* rows and n_rows */
  row rows[MAX_ROWS];
  size_t n_rows;
  histogram latency[N_METHODS];
  atomic_llong in_flight;
  rt_metrics_gauge_fn guard_count;
  void *guard_arg;
  int64_t issuer_not_after;
};

rt_code rt_metrics_new(rt_metrics **out, rt_err *err) {
  rt_metrics *m = calloc(1, sizeof *m);
  if (m == NULL)
    return rt_err_set(err, RT_E_NOMEM, "out of memory for the metrics");
  pthread_mutex_init(&m->lock, NULL);
  *out = m;
  return RT_OK;
}

void rt_metrics_free(rt_metrics *m) {
  if (m == NULL)
    return;
  pthread_mutex_destroy(&m->lock);
  free(m);
}

void rt_metrics_set_guard(rt_metrics *m, rt_metrics_gauge_fn count, void *arg) {
  m->guard_count = count;
  m->guard_arg = arg;
}

void rt_metrics_set_issuer_not_after(rt_metrics *m, int64_t unix_seconds) {
  m->issuer_not_after = unix_seconds;
}

void rt_metrics_call_start(rt_metrics *m) {
  if (m != NULL)
    atomic_fetch_add(&m->in_flight, 1);
}

static size_t method_index(const char *method) {
  for (size_t i = 0; i < N_METHODS; i++)
    if (strcmp(methods[i], method) == 0)
      return i;
  return N_METHODS;
}

/* The row of (method, code), added when new; NULL only if the table is
 * full and holds no OTHER row for the method yet (cannot happen with
 * MAX_ROWS above the codes times the methods). */
static row *find_row(rt_metrics *m, size_t method, const char *code) {
  pthread_mutex_lock(&m->lock);
  row *r = NULL;
  for (size_t i = 0; i < m->n_rows && r == NULL; i++)
    if (m->rows[i].method == method && strcmp(m->rows[i].code, code) == 0)
      r = &m->rows[i];
  if (r == NULL && m->n_rows < MAX_ROWS) {
    r = &m->rows[m->n_rows++];
    r->method = method;
    snprintf(r->code, sizeof r->code, "%s", code);
  }
  pthread_mutex_unlock(&m->lock);
  return r;
}

static void observe(histogram *h, double seconds) {
  size_t b = 0;
  while (b < N_BUCKETS && seconds > bounds[b])
    b++;
  if (b < N_BUCKETS)
    atomic_fetch_add(&h->buckets[b], 1);
  atomic_fetch_add(&h->count, 1);
  atomic_fetch_add(&h->sum_us, (unsigned long long)(seconds * 1e6));
}

void rt_metrics_call_end(rt_metrics *m, const char *method, grpc_status_code status,
                         const char *code, double seconds) {
  if (m == NULL)
    return;
  atomic_fetch_sub(&m->in_flight, 1);
  size_t i = method_index(method);
  if (i == N_METHODS)
    return;
  const char *label = status == GRPC_STATUS_OK ? "" : code != NULL ? code : "OTHER";
  row *r = find_row(m, i, label);
  if (r == NULL)
    r = find_row(m, i, "OTHER");
  if (r != NULL)
    atomic_fetch_add(&r->count, 1);
  observe(&m->latency[i], seconds);
}

static void render_calls(rt_metrics *m, FILE *f) {
  fputs("# HELP rattest_enrollment_calls_total Enrollment calls by method, decision and "
        "refusal code (OK when accepted).\n"
        "# TYPE rattest_enrollment_calls_total counter\n",
        f);
  pthread_mutex_lock(&m->lock);
  for (size_t i = 0; i < m->n_rows; i++) {
    const row *r = &m->rows[i];
    fprintf(f, "rattest_enrollment_calls_total{method=\"%s\",decision=\"%s\",code=\"%s\"} %llu\n",
            methods[r->method], r->code[0] ? "reject" : "accept", r->code[0] ? r->code : "OK",
            (unsigned long long)atomic_load(&r->count));
  }
  pthread_mutex_unlock(&m->lock);
}

static void render_latency(rt_metrics *m, FILE *f) {
  fputs("# HELP rattest_enrollment_call_duration_seconds Time from request to decision, by "
        "method.\n"
        "# TYPE rattest_enrollment_call_duration_seconds histogram\n",
        f);
  for (size_t i = 0; i < N_METHODS; i++) {
    const histogram *h = &m->latency[i];
    unsigned long long cumulative = 0;
    for (size_t b = 0; b < N_BUCKETS; b++) {
      cumulative += atomic_load(&h->buckets[b]);
      fprintf(f, "rattest_enrollment_call_duration_seconds_bucket{method=\"%s\",le=\"%g\"} %llu\n",
              methods[i], bounds[b], cumulative);
    }
    unsigned long long count = atomic_load(&h->count);
    fprintf(f,
            "rattest_enrollment_call_duration_seconds_bucket{method=\"%s\",le=\"+Inf\"} %llu\n"
            "rattest_enrollment_call_duration_seconds_sum{method=\"%s\"} %.6f\n"
            "rattest_enrollment_call_duration_seconds_count{method=\"%s\"} %llu\n",
            methods[i], count, methods[i], (double)atomic_load(&h->sum_us) / 1e6, methods[i],
            count);
  }
}

static void render_gauges(rt_metrics *m, FILE *f) {
  fprintf(f,
          "# HELP rattest_enrollment_calls_in_flight Enrollment calls being decided.\n"
          "# TYPE rattest_enrollment_calls_in_flight gauge\n"
          "rattest_enrollment_calls_in_flight %lld\n",
          (long long)atomic_load(&m->in_flight));
  if (m->guard_count != NULL)
    fprintf(f,
            "# HELP rattest_replay_guard_entries Token ids the replay guard remembers.\n"
            "# TYPE rattest_replay_guard_entries gauge\n"
            "rattest_replay_guard_entries %zu\n",
            m->guard_count(m->guard_arg));
  if (m->issuer_not_after != 0)
    fprintf(f,
            "# HELP rattest_issuer_not_after_timestamp_seconds When the issuing CA certificate "
            "expires (Unix time).\n"
            "# TYPE rattest_issuer_not_after_timestamp_seconds gauge\n"
            "rattest_issuer_not_after_timestamp_seconds %lld\n",
            (long long)m->issuer_not_after);
  fprintf(f,
          "# HELP rattest_build_info The verifier's version.\n"
          "# TYPE rattest_build_info gauge\n"
          "rattest_build_info{version=\"%s\"} 1\n",
          RATTEST_VERSION);
}

rt_code rt_metrics_render(rt_metrics *m, char **text, size_t *len, rt_err *err) {
  *text = NULL;
  *len = 0;
  FILE *f = open_memstream(text, len);
  if (f == NULL)
    return rt_err_set(err, RT_E_NOMEM, "out of memory rendering the metrics");
  render_calls(m, f);
  render_latency(m, f);
  render_gauges(m, f);
  if (fclose(f) != 0) {
    free(*text);
    *text = NULL;
    return rt_err_set(err, RT_E_NOMEM, "out of memory rendering the metrics");
  }
  return RT_OK;
}
