/* pthread_setname_np: the thread is named "rt-crl" (ps, tests). */
#define _GNU_SOURCE
#include "serve_crl.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crl_registry.h"
#include "rt_cli.h"
#include "rt_clock.h"
#include "rt_log.h"
#include "store.h"

/* How often the registry is asked whether something was revoked. */
#define POLL_MS 1000
/* A failing rewrite is logged once, then every this many tries. */
#define LOG_EVERY 60

void rt_serve_crl_usage(FILE *f) {
  fputs(
      "Revocation (docs/operations.md, \"Revocation\"):\n"
      "  --crl-file FILE          keep the issuing CA's CRL (PEM, 0644) in FILE, made\n"
      "                           from --db's revoked certificates (needs --db):\n"
      "                           rewritten atomically within 1 s of a revocation, at\n"
      "                           SIGHUP and at half the period\n"
      "  --crl-period DURATION    the CRL's nextUpdate - thisUpdate (default " RT_CRL_PERIOD_DEFAULT
      ",\n"
      "                           1m to 720h)\n"
      "  --crl-url URL            put this CRL distribution point (http:// or\n"
      "                           https://) in every certificate issued\n"
      "\n",
      f);
}

bool rt_serve_crl_opt(rt_serve_crl_opts *o, int c, const char *arg, rt_code *code, rt_err *err) {
  *code = RT_OK;
  if (c == RT_SERVE_O_CRL_FILE)
    o->file = arg;
  else if (c == RT_SERVE_O_CRL_URL)
    o->url = arg;
  else if (c != RT_SERVE_O_CRL_PERIOD)
    return false;
  else if ((*code = rt_cli_parse_duration_ms("--crl-period", arg, &o->period_ms, err)) != RT_OK)
    return true;
  else if (o->period_ms < RT_CRL_PERIOD_MIN_S * 1000ull ||
           o->period_ms > RT_CRL_PERIOD_MAX_S * 1000ull)
    *code = rt_err_set(err, RT_E_INVALID, "--crl-period must be between 1m and 720h");
  return true;
}

rt_code rt_serve_crl_check(const rt_serve_crl_opts *o, const char *db, rt_err *err) {
  if (o->file != NULL && db == NULL)
    return rt_err_set(err, RT_E_INVALID, "--crl-file needs --db (the CRL lists its revocations)");
  if (o->period_ms != 0 && o->file == NULL)
    return rt_err_set(err, RT_E_INVALID, "--crl-period needs --crl-file");
  return o->url != NULL ? rt_issuer_crl_url_check(o->url, err) : RT_OK;
}

rt_code rt_serve_crl_issuer(const rt_serve_crl_opts *o, rt_issuer *issuer, rt_err *err) {
  return o->url != NULL ? rt_issuer_set_crl_url(issuer, o->url, err) : RT_OK;
}

struct rt_serve_crl {
  const char *file;
  int64_t period_s;
  rt_verifier *v;
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t wake; /* CLOCK_MONOTONIC */
  bool stop, kicked;
  int64_t revoked;   /* the count the file's CRL holds */
  time_t written_at; /* its thisUpdate */
  unsigned failures; /* rewrites failed in a row */
};

/* Makes and writes the CRL; the issuer is read under the config lock. */
static rt_code rewrite(rt_serve_crl *c, time_t now, rt_err *err) {
  char *pem = NULL;
  size_t len = 0;
  int64_t revoked = 0;
  pthread_rwlock_rdlock(&c->v->config_lock);
  rt_code code =
      rt_crl_from_registry(c->v->store, c->v->issuer, now, c->period_s, &pem, &len, &revoked, err);
  pthread_rwlock_unlock(&c->v->config_lock);
  if (code == RT_OK)
    code = rt_crl_write(c->file, pem, len, err);
  free(pem);
  if (code != RT_OK)
    return code;
  c->revoked = revoked;
  c->written_at = now;
  return RT_OK;
}

/* One poll: rewrites when something changed or half the period passed. */
static void poll_once(rt_serve_crl *c, bool kicked) {
  rt_err err = {0};
  int64_t revoked = 0;
  time_t now = time(NULL);
  rt_code code = rt_store_revoked_count(c->v->store, &revoked, &err);
  bool due = kicked || c->failures > 0 || revoked != c->revoked ||
             now - c->written_at >= c->period_s / 2 || now < c->written_at;
  if (code == RT_OK && !due)
    return;
  if (code == RT_OK)
    code = rewrite(c, now, &err);
  if (code != RT_OK) {
    if (c->failures++ % LOG_EVERY == 0)
      rt_error("CRL %s not rewritten (retrying every %d s): %s", c->file, POLL_MS / 1000, err.msg);
    return;
  }
  if (c->failures > 0)
    rt_info("CRL %s rewritten again after %u failed tries", c->file, c->failures);
  else
    rt_info("CRL %s rewritten: %lld certificate(s) ever revoked", c->file, (long long)c->revoked);
  c->failures = 0;
}

static void *run(void *arg) {
  rt_serve_crl *c = arg;
  pthread_mutex_lock(&c->lock);
  while (!c->stop) {
    struct timespec until = rt_clock_after_ms(CLOCK_MONOTONIC, POLL_MS);
    while (!c->stop && !c->kicked &&
           pthread_cond_timedwait(&c->wake, &c->lock, &until) != ETIMEDOUT)
      ;
    if (c->stop)
      break;
    bool kicked = c->kicked;
    c->kicked = false;
    pthread_mutex_unlock(&c->lock);
    poll_once(c, kicked);
    pthread_mutex_lock(&c->lock);
  }
  pthread_mutex_unlock(&c->lock);
  return NULL;
}

static void destroy(rt_serve_crl *c) {
  pthread_cond_destroy(&c->wake);
  pthread_mutex_destroy(&c->lock);
  free(c);
}

rt_code rt_serve_crl_start(const rt_serve_crl_opts *o, rt_verifier *v, rt_serve_crl **out,
                           rt_err *err) {
  *out = NULL;
  if (o->file == NULL)
    return RT_OK;
  rt_serve_crl *c = calloc(1, sizeof *c);
  if (c == NULL)
    return rt_err_set(err, RT_E_NOMEM, "CRL: out of memory");
  uint64_t period_ms = o->period_ms;
  if (period_ms == 0)
    rt_cli_parse_duration_ms("--crl-period", RT_CRL_PERIOD_DEFAULT, &period_ms, err);
  *c = (rt_serve_crl){.file = o->file, .period_s = (int64_t)(period_ms / 1000), .v = v};
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_mutex_init(&c->lock, NULL);
  pthread_cond_init(&c->wake, &attr);
  pthread_condattr_destroy(&attr);
  if (rewrite(c, time(NULL), err) != RT_OK) {
    destroy(c);
    return RT_E_IO;
  }
  /* The thread inherits serve's mask: SIGHUP and SIGTERM stay with serve's
   * main thread (block_stop_signals in cmd_serve.c). */
  int rc = pthread_create(&c->thread, NULL, run, c);
  if (rc == 0)
    pthread_setname_np(c->thread, "rt-crl");
  if (rc != 0) {
    destroy(c);
    return rt_err_set(err, RT_E_NOMEM, "CRL: cannot start its thread");
  }
  rt_info("CRL %s written (%lld certificate(s) ever revoked), kept within %d s of a revocation",
          c->file, (long long)c->revoked, POLL_MS / 1000);
  *out = c;
  return RT_OK;
}

void rt_serve_crl_kick(rt_serve_crl *c) {
  if (c == NULL)
    return;
  pthread_mutex_lock(&c->lock);
  c->kicked = true;
  pthread_cond_signal(&c->wake);
  pthread_mutex_unlock(&c->lock);
}

void rt_serve_crl_stop(rt_serve_crl *c) {
  if (c == NULL)
    return;
  pthread_mutex_lock(&c->lock);
  c->stop = true;
  pthread_cond_signal(&c->wake);
  pthread_mutex_unlock(&c->lock);
  pthread_join(c->thread, NULL);
  destroy(c);
}
