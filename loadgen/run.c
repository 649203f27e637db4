#include "run.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "ping.h"
#include "rt_log.h"

/* Shared by the threads of one run. The gate holds the machines until all
 * are made, so that key generation stays out of the measured load. */
typedef struct {
  const lg_run_cfg *cfg;
  pthread_mutex_t gate;
  pthread_cond_t gate_cond;
  unsigned ready;            /* machines made (or given up) */
  unsigned done;             /* machines finished with the load */
  int go;                    /* set once start_ns is */
  atomic_uint_fast64_t next; /* the next enrollment's number */
  atomic_int setup_failed;
  uint64_t start_ns;
  pthread_mutex_t lock; /* r's counters and errors */
  lg_results *r;
} shared;

typedef struct {
  shared *s;
  unsigned id;
  double *lat;
  size_t n_lat, cap_lat;
  rt_err err;
} worker;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_until(uint64_t t_ns) {
  struct timespec ts = {.tv_sec = (time_t)(t_ns / 1000000000u),
                        .tv_nsec = (long)(t_ns % 1000000000u)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0)
    ;
}

/* Machine id's EK kind: ids spread over the mix in proportion. */
static lg_ek_kind kind_of(const lg_run_cfg *cfg, unsigned id) {
  unsigned total = cfg->mix_rsa + cfg->mix_ecc;
  return id % total < cfg->mix_rsa ? LG_EK_RSA2048 : cfg->ecc_kind;
}

/* When enrollment n is due (open loop) or may start (closed loop); 0 when
 * the run is over. */
static uint64_t due(const shared *s, uint64_t n) {
  const lg_run_cfg *cfg = s->cfg;
  if (cfg->count != 0 && n >= cfg->count)
    return 0;
  uint64_t end = cfg->duration_ms ? s->start_ns + cfg->duration_ms * 1000000u : UINT64_MAX;
  uint64_t t = cfg->rate > 0 ? s->start_ns + (uint64_t)((double)n / cfg->rate * 1e9) : now_ns();
  return t >= end ? 0 : t;
}

static void record(worker *w, const lg_outcome *o, double ms) {
  shared *s = w->s;
  if (o->ok && w->n_lat == w->cap_lat) {
    size_t cap = w->cap_lat ? w->cap_lat * 2 : 256;
    double *p = realloc(w->lat, cap * sizeof *p);
    if (p != NULL) {
      w->lat = p;
      w->cap_lat = cap;
    }
  }
  if (o->ok && w->n_lat < w->cap_lat)
    w->lat[w->n_lat++] = ms;
  pthread_mutex_lock(&s->lock);
  lg_results *r = s->r;
  r->attempted++;
  r->retries += o->retries;
  r->restarts += o->restarts;
  if (o->ok && (o->retries || o->restarts)) {
    r->recovered++;
    if (ms > r->recovery_ms_max)
      r->recovery_ms_max = ms;
  }
  /* Written and flushed as each is accepted, under the lock: a run cut
   * short still names every enrollment it counted. */
  if (o->ok && s->cfg->serials != NULL) {
    fprintf(s->cfg->serials, "%s\n", o->serial);
    fflush(s->cfg->serials);
  }
  if (o->ok)
    r->accepted++;
  else
    lg_results_error(r, o->code, o->message);
  pthread_mutex_unlock(&s->lock);
  if (!o->ok)
    rt_debug("%s: %s", o->code, o->message);
}

/* A machine's thread is done: watch stops when all are. */
static void *finished(shared *s) {
  pthread_mutex_lock(&s->gate);
  s->done++;
  pthread_cond_broadcast(&s->gate_cond);
  pthread_mutex_unlock(&s->gate);
  return NULL;
}

static void *work(void *arg) {
  worker *w = arg;
  shared *s = w->s;
  lg_machine m;
  memset(&m, 0, sizeof m);
  if (!s->cfg->ping && (lg_machine_new(s->cfg->ca, kind_of(s->cfg, w->id), s->cfg->target.key_alg,
                                       w->id, &m, &w->err) != RT_OK ||
                        (s->cfg->ek_names && lg_machine_use_ek_name(&m, &w->err) != RT_OK)))
    atomic_store(&s->setup_failed, 1);
  pthread_mutex_lock(&s->gate);
  s->ready++;
  pthread_cond_broadcast(&s->gate_cond);
  while (!s->go)
    pthread_cond_wait(&s->gate_cond, &s->gate);
  pthread_mutex_unlock(&s->gate);
  if (atomic_load(&s->setup_failed)) {
    lg_machine_free(&m);
    return finished(s);
  }
  for (;;) {
    uint64_t t0 = due(s, atomic_fetch_add(&s->next, 1));
    if (t0 == 0)
      break;
    if (s->cfg->rate > 0)
      sleep_until(t0);
    lg_outcome o;
    if (s->cfg->ping)
      lg_ping(&s->cfg->target, &o);
    else
      lg_enroll(&s->cfg->target, &m, &o);
    record(w, &o, (double)(now_ns() - t0) / 1e6);
  }
  lg_machine_free(&m); /* zeroed, so a no-op, with --ping */
  return finished(s);
}

static uint64_t own_cpu_ms(void) {
  struct rusage u;
  if (getrusage(RUSAGE_SELF, &u) != 0)
    return 0;
  return (uint64_t)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1000u +
         (uint64_t)(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1000u;
}

/* The verifier's sample, or an invalid one with a warning. */
static void sample(pid_t pid, lg_proc_sample *out) {
  rt_err err;
  memset(out, 0, sizeof *out);
  if (pid != 0 && lg_proc_read(pid, out, &err) != RT_OK)
    rt_warn("--verifier-pid: %s", err.msg);
}

static void rss_seen(lg_results *r, const lg_proc_sample *p) {
  if (!p->valid)
    return;
  r->rss_samples++;
  if (p->rss_kib > r->rss_kib_max)
    r->rss_kib_max = p->rss_kib;
}

/* Until the n machines are done (called with the gate held), the
 * verifier's RSS every LG_RSS_PERIOD_MS: the memory throughout, which
 * VmHWM alone does not show (the kernel updates it lazily; a sample has
 * been seen above a later VmHWM). A verifier gone meanwhile is not sampled
 * (no warning per sample: the sample after the load warns once). */
static void watch(shared *s, unsigned n) {
  uint64_t next = now_ns();
  while (s->done < n) {
    next += (uint64_t)LG_RSS_PERIOD_MS * 1000000u;
    struct timespec until = {.tv_sec = (time_t)(next / 1000000000u),
                             .tv_nsec = (long)(next % 1000000000u)};
    while (s->done < n && pthread_cond_timedwait(&s->gate_cond, &s->gate, &until) == 0)
      ;
    if (s->done >= n || s->cfg->verifier_pid == 0)
      continue;
    lg_proc_sample p;
    rt_err err;
    pthread_mutex_unlock(&s->gate);
    if (lg_proc_read(s->cfg->verifier_pid, &p, &err) == RT_OK)
      rss_seen(s->r, &p);
    pthread_mutex_lock(&s->gate);
  }
}

/* Releases the machines' threads together once all are made, between the
 * samples that bracket the load; collects their latencies. */
static void drive(shared *s, worker *w, pthread_t *t, unsigned n) {
  lg_results *r = s->r;
  pthread_mutex_lock(&s->gate);
  while (s->ready < n)
    pthread_cond_wait(&s->gate_cond, &s->gate);
  sample(s->cfg->verifier_pid, &r->before);
  rss_seen(r, &r->before);
  uint64_t cpu0 = own_cpu_ms();
  s->start_ns = now_ns();
  s->go = 1;
  pthread_cond_broadcast(&s->gate_cond);
  watch(s, n);
  pthread_mutex_unlock(&s->gate);
  for (unsigned i = 0; i < n; i++)
    pthread_join(t[i], NULL);
  r->elapsed_s = (double)(now_ns() - s->start_ns) / 1e9;
  r->loadgen_cpu_ms = own_cpu_ms() - cpu0;
  sample(s->cfg->verifier_pid, &r->after);
  rss_seen(r, &r->after);
  for (unsigned i = 0; i < n; i++) {
    double *p = w[i].n_lat ? realloc(r->latency_ms, (r->n_latency + w[i].n_lat) * sizeof *p) : NULL;
    if (p != NULL) {
      r->latency_ms = p;
      memcpy(p + r->n_latency, w[i].lat, w[i].n_lat * sizeof *p);
      r->n_latency += w[i].n_lat;
    }
    free(w[i].lat);
  }
}

rt_code lg_run(const lg_run_cfg *cfg, lg_results *r, rt_err *err) {
  unsigned n = cfg->concurrency;
  shared s = {.cfg = cfg, .r = r};
  worker *w = calloc(n, sizeof *w);
  pthread_t *t = calloc(n, sizeof *t);
  if (w == NULL || t == NULL) {
    free(w);
    free(t);
    return rt_err_set(err, RT_E_NOMEM, "out of memory for %u machines", n);
  }
  atomic_init(&s.next, 0);
  atomic_init(&s.setup_failed, 0);
  pthread_mutex_init(&s.lock, NULL);
  pthread_mutex_init(&s.gate, NULL);
  /* watch's timed waits are on CLOCK_MONOTONIC, like now_ns. */
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&s.gate_cond, &ca);
  pthread_condattr_destroy(&ca);
  unsigned started = 0;
  rt_code code = RT_OK;
  for (; started < n; started++) {
    w[started] = (worker){.s = &s, .id = started};
    if (pthread_create(&t[started], NULL, work, &w[started]) != 0) {
      /* Those started run nothing: the run is refused. */
      code = rt_err_set(err, RT_E_NOMEM, "cannot start thread %u of %u", started + 1, n);
      atomic_store(&s.setup_failed, 1);
      break;
    }
  }
  drive(&s, w, t, started);
  for (unsigned i = 0; i < started && code == RT_OK; i++)
    if (atomic_load(&s.setup_failed) && w[i].err.msg[0] != '\0')
      code = rt_err_set(err, w[i].err.code, "machine %u: %s", i, w[i].err.msg);
  pthread_cond_destroy(&s.gate_cond);
  pthread_mutex_destroy(&s.gate);
  pthread_mutex_destroy(&s.lock);
  free(w);
  free(t);
  return code;
}
