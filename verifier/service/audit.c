#include "audit.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static void set_opt(json_t *o, const char *key, const char *value) {
  if (value != NULL && value[0] != '\0')
    json_object_set_new(o, key, json_string(value));
}

void rt_audit_decision(const rt_audit *a, grpc_status_code status, const rt_rpc_status *st) {
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
  set_opt(o, "secrets", a->secrets);
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
  set_opt(o, "peer", a->peer);
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
