#include "audit.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rt_text.h"
#include "throttle.h"

/* Every string of the line but the secrets' names bounded and escaped
 * (rt_text_bound): most come from the client (name, peer, certificate
 * fields, reasons quoting them), and one rule for all of them cannot miss
 * one. */
static void set_opt(json_t *o, const char *key, const char *value) {
  char buf[RT_TEXT_BUF];
  if (value != NULL && value[0] != '\0')
    json_object_set_new(o, key, json_string(rt_text_bound(value, buf)));
}

/* RATE_LIMITED refusals cost the client nothing, so one line each would let
 * a flood write the log at the flood's rate: at most one such line per
 * second is written, carrying in "suppressed" how many were not written
 * since the previous one. Returns -1 when this refusal is not written. */
static long long rate_limited_line(void) {
  static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  static long long last = -1;
  static long long suppressed;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  long long n = -1;
  pthread_mutex_lock(&mu);
  if ((long long)ts.tv_sec != last) {
    last = (long long)ts.tv_sec;
    n = suppressed;
    suppressed = 0;
  } else {
    suppressed++;
  }
  pthread_mutex_unlock(&mu);
  return n;
}

/* What certificates said of the TPM and the machine. */
static void set_certified(json_t *o, const rt_audit *a) {
  if (a->ek != NULL) {
    /* The TPM as its manufacturer certified it: lets an operator find
     * machines by TPM vendor/firmware, and see EKs accepted past expiry. */
    json_t *t = json_object();
    set_opt(t, "vendor", a->ek->vendor);
    set_opt(t, "manufacturer", a->ek->manufacturer);
    set_opt(t, "model", a->ek->model);
    set_opt(t, "version", a->ek->version);
    set_opt(t, "not_after", a->ek->not_after);
    json_object_set_new(t, "expired", json_boolean(a->ek->expired));
    json_object_set_new(o, "ek_tpm", t);
  }
  if (a->platform != NULL) {
    /* The machine as its manufacturer certified it; "verified" false when
     * the certificate was refused (the line then says why). */
    json_t *pl = json_object();
    set_opt(pl, "manufacturer", a->platform->manufacturer);
    set_opt(pl, "model", a->platform->model);
    set_opt(pl, "version", a->platform->version);
    set_opt(pl, "serial", a->platform->serial);
    json_object_set_new(pl, "verified", json_boolean(a->platform_verified));
    json_object_set_new(o, "platform", pl);
  }
}

void rt_audit_decision(const rt_audit *a, grpc_status_code status, const rt_rpc_status *st) {
  long long suppressed = -1;
  if (status != GRPC_STATUS_OK && st->code != NULL && strcmp(st->code, rt_rate_limited_code) == 0 &&
      (suppressed = rate_limited_line()) < 0)
    return;
  json_t *o = json_object();
  char when[32];
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  json_object_set_new(o, "time", json_string(when));
  json_object_set_new(o, "event", json_string("enroll"));
  set_opt(o, "method", a->method);
  json_object_set_new(o, "decision", json_string(status == GRPC_STATUS_OK ? "accept" : "reject"));
  if (status != GRPC_STATUS_OK) {
    set_opt(o, "code", st->code ? st->code : rt_grpc_status_name(status));
    set_opt(o, "reason", st->message);
  }
  set_opt(o, "name", a->name);
  set_opt(o, "ek_sha256", a->ek_sha256);
  set_opt(o, "ek_trust", a->ek_trust);
  set_opt(o, "key_serial", a->key_serial);
  /* Secret names come from the policy, never the client, and up to
   * RT_SECRET_MAX of them must all be named: written whole. */
  if (a->secrets != NULL && a->secrets[0] != '\0')
    json_object_set_new(o, "secrets", json_string(a->secrets));
  set_certified(o, a);
  set_opt(o, "peer", a->peer);
  if (suppressed >= 0)
    json_object_set_new(o, "suppressed", json_integer(suppressed));
  char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(o);
  if (line != NULL) {
    /* One write per line keeps concurrent handlers' lines whole. */
    flockfile(stdout);
    fputs(line, stdout);
    fputc('\n', stdout);
    fflush(stdout);
    funlockfile(stdout);
    free(line);
  }
}
