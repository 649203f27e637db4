#include "health.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "decision.h"
#include "health.pb-c.h"
#include "rt_clock.h"
#include "rt_log.h"
#include "rt_methods.h"

/* Paths of the upstream service, grpc.health.v1.Health. */
#define CHECK_PATH "/grpc.health.v1.Health/Check"
#define WATCH_PATH "/grpc.health.v1.Health/Watch"

/* How often the watchdog compares the status with the one watches were
 * told. */
#define TICK_MS 250

struct rt_health {
  rt_store *store;
  atomic_bool draining;
  atomic_bool store_ok;
  /* When the probe under way began (ms of CLOCK_MONOTONIC), 0 if none. */
  atomic_llong probe_since;
  pthread_mutex_t lock; /* srv, stop, told, started */
  pthread_cond_t wake;
  rt_grpc_server *srv;
  bool stop, told, started;
  pthread_t probe, watchdog;
};

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A probe that hangs (a database behind a network that drops packets)
 * says as much as one that fails, once it has taken RT_HEALTH_STALL_MS. */
bool rt_health_serving(rt_health *h) {
  long long since = atomic_load(&h->probe_since);
  bool stalled = since != 0 && now_ms() - since > RT_HEALTH_STALL_MS;
  return !atomic_load(&h->draining) && atomic_load(&h->store_ok) && !stalled;
}

/* "" names the whole server; the only service is the attestation one. */
static bool known_service(const char *name) {
  return name[0] == '\0' || strcmp(name, RT_SERVICE) == 0;
}

/* A response with status, or the out-of-memory refusal. */
static grpc_status_code respond(Grpc__Health__V1__HealthCheckResponse__ServingStatus status,
                                ProtobufCMessage **resp, rt_rpc_status *st) {
  Grpc__Health__V1__HealthCheckResponse *r = malloc(sizeof *r);
  if (r == NULL)
    return rt_deny_nomem(st, "the health response");
  grpc__health__v1__health_check_response__init(r);
  r->status = status;
  *resp = &r->base;
  return GRPC_STATUS_OK;
}

static Grpc__Health__V1__HealthCheckResponse__ServingStatus status_of(rt_health *h) {
  return rt_health_serving(h)
             ? GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
             : GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
}

static grpc_status_code check(void *user, const rt_rpc_call_info *info, const ProtobufCMessage *msg,
                              ProtobufCMessage **resp, rt_rpc_status *st) {
  (void)info;
  const Grpc__Health__V1__HealthCheckRequest *req =
      (const Grpc__Health__V1__HealthCheckRequest *)msg;
  if (!known_service(req->service)) {
    /* The contract's answer, no rattest code; not worth a log line each. */
    st->quiet = true;
    return rt_deny(st, GRPC_STATUS_NOT_FOUND, NULL, "unknown service");
  }
  return respond(status_of(user), resp, st);
}

/* Called again at each change (rt_grpc_server_notify). An unknown name
 * gets SERVICE_UNKNOWN and the watch stays open, as the contract says. */
static grpc_status_code watch(void *user, const rt_rpc_call_info *info, const ProtobufCMessage *msg,
                              ProtobufCMessage **resp, rt_rpc_status *st) {
  (void)info;
  const Grpc__Health__V1__HealthCheckRequest *req =
      (const Grpc__Health__V1__HealthCheckRequest *)msg;
  if (!known_service(req->service))
    return respond(GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN, resp,
                   st);
  return respond(status_of(user), resp, st);
}

static void free_response(ProtobufCMessage *resp) {
  free(resp);
}

void rt_health_methods(rt_health *h, rt_rpc_method *check_method, rt_rpc_method *watch_method) {
  *check_method =
      (rt_rpc_method){.path = CHECK_PATH,
                      .request_type = &grpc__health__v1__health_check_request__descriptor,
                      .handler = check,
                      .free_response = free_response,
                      .user = h};
  *watch_method = *check_method;
  watch_method->path = WATCH_PATH;
  watch_method->handler = watch;
}

/* Waits ms (h->lock held); false when told to stop. */
static bool pause_ms(rt_health *h, int ms) {
  struct timespec until = rt_clock_after_ms(CLOCK_MONOTONIC, ms);
  while (!h->stop && pthread_cond_timedwait(&h->wake, &h->lock, &until) != ETIMEDOUT) {
  }
  return !h->stop;
}

/* Asks the registry for its schema version every RT_HEALTH_PROBE_MS: a
 * query on its connection, which it reconnects when it was lost. Logs
 * each change of outcome; the watchdog tells the watches. */
static void *probe(void *arg) {
  rt_health *h = arg;
  pthread_mutex_lock(&h->lock);
  while (pause_ms(h, RT_HEALTH_PROBE_MS)) {
    pthread_mutex_unlock(&h->lock);
    rt_err err = {0};
    int64_t version = 0;
    atomic_store(&h->probe_since, now_ms());
    bool ok = rt_store_schema_version(h->store, &version, &err) == RT_OK;
    atomic_store(&h->probe_since, 0);
    if (ok != atomic_exchange(&h->store_ok, ok)) {
      if (ok)
        rt_info("health: the registry answers again");
      else
        rt_warn("health: the registry does not answer: NOT_SERVING (%s)", err.msg);
    }
    pthread_mutex_lock(&h->lock);
  }
  pthread_mutex_unlock(&h->lock);
  return NULL;
}

/* Tells the watches when the status changes: also when a probe stalls,
 * which the probe itself, blocked, cannot. */
static void *watchdog(void *arg) {
  rt_health *h = arg;
  pthread_mutex_lock(&h->lock);
  while (pause_ms(h, TICK_MS)) {
    bool serving = rt_health_serving(h);
    if (serving == h->told || h->srv == NULL)
      continue;
    h->told = serving;
    if (serving)
      rt_info("health: SERVING");
    else
      rt_warn("health: NOT_SERVING");
    rt_grpc_server_notify(h->srv);
  }
  pthread_mutex_unlock(&h->lock);
  return NULL;
}

rt_code rt_health_new(rt_store *store, rt_health **out, rt_err *err) {
  rt_health *h = calloc(1, sizeof *h);
  if ((*out = h) == NULL)
    return rt_err_set(err, RT_E_NOMEM, "out of memory");
  h->store = store;
  atomic_init(&h->draining, false);
  atomic_init(&h->store_ok, true); /* rt_store_open has just reached it */
  atomic_init(&h->probe_since, 0);
  h->told = true;
  pthread_mutex_init(&h->lock, NULL);
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&h->wake, &attr);
  pthread_condattr_destroy(&attr);
  return RT_OK;
}

/* Stops the threads (the probe after the ping under way). */
static void stop_threads(rt_health *h, bool watchdog_running) {
  pthread_mutex_lock(&h->lock);
  h->stop = true;
  pthread_cond_broadcast(&h->wake);
  pthread_mutex_unlock(&h->lock);
  pthread_join(h->probe, NULL);
  if (watchdog_running)
    pthread_join(h->watchdog, NULL);
}

rt_code rt_health_start(rt_health *h, rt_grpc_server *srv, rt_err *err) {
  pthread_mutex_lock(&h->lock);
  h->srv = srv;
  pthread_mutex_unlock(&h->lock);
  if (h->store == NULL)
    return RT_OK;
  if (pthread_create(&h->probe, NULL, probe, h) != 0)
    return rt_err_set(err, RT_E_INTERNAL, "cannot start the health probe thread");
  if (pthread_create(&h->watchdog, NULL, watchdog, h) != 0) {
    stop_threads(h, false);
    return rt_err_set(err, RT_E_INTERNAL, "cannot start the health watchdog thread");
  }
  h->started = true;
  return RT_OK;
}

void rt_health_drain(rt_health *h) {
  atomic_store(&h->draining, true);
  pthread_mutex_lock(&h->lock);
  if (h->srv != NULL)
    rt_grpc_server_notify(h->srv);
  h->srv = NULL;
  pthread_mutex_unlock(&h->lock);
}

void rt_health_free(rt_health *h) {
  if (h == NULL)
    return;
  if (h->started)
    stop_threads(h, true);
  pthread_cond_destroy(&h->wake);
  pthread_mutex_destroy(&h->lock);
  free(h);
}
