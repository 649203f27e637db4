#include "health.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "decision.h"
#include "health.pb-c.h"
#include "rt_log.h"
#include "rt_methods.h"

/* Paths of the upstream service, grpc.health.v1.Health. */
#define CHECK_PATH "/grpc.health.v1.Health/Check"
#define WATCH_PATH "/grpc.health.v1.Health/Watch"

struct rt_health {
  rt_store *store;
  atomic_bool draining;
  atomic_bool store_ok;
  pthread_mutex_t lock; /* srv, stop, probing */
  pthread_cond_t wake;
  rt_grpc_server *srv;
  bool stop, probing;
  pthread_t probe;
};

bool rt_health_serving(rt_health *h) {
  return !atomic_load(&h->draining) && atomic_load(&h->store_ok);
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

/* The probe's outcome: logged and told to the watches when it changes. */
static void probed(rt_health *h, bool ok, const rt_err *err) {
  if (ok == atomic_load(&h->store_ok))
    return;
  atomic_store(&h->store_ok, ok);
  if (ok)
    rt_info("health: the registry answers again: SERVING");
  else
    rt_warn("health: the registry does not answer: NOT_SERVING (%s)", err->msg);
  if (h->srv != NULL)
    rt_grpc_server_notify(h->srv);
}

/* Asks the registry for its schema version every RT_HEALTH_PROBE_MS: a
 * query on its connection, which it reconnects when it was lost. */
static void *probe(void *arg) {
  rt_health *h = arg;
  pthread_mutex_lock(&h->lock);
  while (!h->stop) {
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += RT_HEALTH_PROBE_MS / 1000;
    until.tv_nsec += (long)(RT_HEALTH_PROBE_MS % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
      until.tv_sec++;
      until.tv_nsec -= 1000000000L;
    }
    while (!h->stop && pthread_cond_timedwait(&h->wake, &h->lock, &until) != ETIMEDOUT) {
    }
    if (h->stop)
      break;
    pthread_mutex_unlock(&h->lock);
    rt_err err = {0};
    int64_t version = 0;
    bool ok = rt_store_schema_version(h->store, &version, &err) == RT_OK;
    pthread_mutex_lock(&h->lock);
    probed(h, ok, &err);
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
  pthread_mutex_init(&h->lock, NULL);
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&h->wake, &attr);
  pthread_condattr_destroy(&attr);
  return RT_OK;
}

rt_code rt_health_start(rt_health *h, rt_grpc_server *srv, rt_err *err) {
  pthread_mutex_lock(&h->lock);
  h->srv = srv;
  pthread_mutex_unlock(&h->lock);
  if (h->store == NULL)
    return RT_OK;
  if (pthread_create(&h->probe, NULL, probe, h) != 0)
    return rt_err_set(err, RT_E_INTERNAL, "cannot start the health probe thread");
  h->probing = true;
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
  pthread_mutex_lock(&h->lock);
  h->stop = true;
  pthread_cond_signal(&h->wake);
  pthread_mutex_unlock(&h->lock);
  if (h->probing)
    pthread_join(h->probe, NULL);
  pthread_cond_destroy(&h->wake);
  pthread_mutex_destroy(&h->lock);
  free(h);
}
