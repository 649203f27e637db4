#include "status.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "rt_state.h"

/* One pass over the identities: the verdicts and what is printed. */
typedef struct {
  const rt_status_opts *o;
  time_t now;
  int worst;   /* lowest non-zero rt_validity seen, 0 when all valid */
  int shown;   /* identities printed */
  json_t *arr; /* JSON mode: the identities array */
} walk;

static void judge(walk *w, const rt_identity *id, rt_verdict *v) {
  rt_validity_judge(id, &w->o->window, w->now, v);
  if (v->validity != RT_VALIDITY_VALID && (w->worst == 0 || (int)v->validity < w->worst))
    w->worst = (int)v->validity;
  w->shown++;
}

static void fmt_time(time_t t, char out[RT_STATE_TIME_LEN]) {
  rt_err err;
  if (rt_state_time_format(t, out, &err) != RT_OK)
    snprintf(out, RT_STATE_TIME_LEN, "?");
}

/* "(valid until T, renewal from W)" and the other verdicts in words. */
static void describe(const rt_verdict *v, char *out, size_t len) {
  char na[RT_STATE_TIME_LEN], wo[RT_STATE_TIME_LEN];
  fmt_time(v->not_after, na);
  fmt_time(v->window_opens, wo);
  switch (v->validity) {
  case RT_VALIDITY_VALID:
    snprintf(out, len, "valid until %s, renewal from %s", na, wo);
    break;
  case RT_VALIDITY_DUE:
    snprintf(out, len, "RENEWAL DUE since %s, valid until %s", wo, na);
    break;
  case RT_VALIDITY_EXPIRED:
    snprintf(out, len, "EXPIRED at %s", na);
    break;
  case RT_VALIDITY_MISSING:
    snprintf(out, len, "MISSING: %s", v->why);
    break;
  }
}

/* Says on stderr why the exit status is not 0. */
static void complain(const rt_identity *id, const rt_verdict *v) {
  if (v->validity == RT_VALIDITY_VALID)
    return;
  char words[512];
  describe(v, words, sizeof words);
  fprintf(stderr, "rattest-bootstrap status: identity \"%s\" %s: %s\n", id->name,
          rt_validity_name(v->validity), words);
}

static int print_text(const rt_identity *id, void *ctx) {
  walk *w = ctx;
  if (w->o->name != NULL && strcmp(w->o->name, id->name) != 0)
    return 0;
  rt_verdict v;
  judge(w, id, &v);
  char words[512];
  describe(&v, words, sizeof words);
  printf("%s\n  algorithm   %s\n  handle      0x%08x\n  key file    %s\n  certificate %s (%s)\n"
         "  chain       %s\n  AK cert     %s\n  EK          sha256:%s\n  verifier    %s\n"
         "  enrolled    %s\n",
         id->name, id->algorithm, (unsigned)id->handle, id->key_file, id->cert_file, words,
         id->chain_file, id->ak_cert_file, id->ek_sha256, id->verifier, id->enrolled_at);
  complain(id, &v);
  return 0;
}

static int add_json(const rt_identity *id, void *ctx) {
  walk *w = ctx;
  if (w->o->name != NULL && strcmp(w->o->name, id->name) != 0)
    return 0;
  rt_verdict v;
  judge(w, id, &v);
  char handle[16], renew_from[RT_STATE_TIME_LEN] = "";
  snprintf(handle, sizeof handle, "0x%08x", (unsigned)id->handle);
  if (v.validity != RT_VALIDITY_MISSING)
    fmt_time(v.window_opens, renew_from);
  json_array_append_new(
      w->arr, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "name", id->name,
                        "algorithm", id->algorithm, "handle", handle, "key_file", id->key_file,
                        "cert_file", id->cert_file, "chain_file", id->chain_file, "ak_cert_file",
                        id->ak_cert_file, "ek_sha256", id->ek_sha256, "verifier", id->verifier,
                        "not_after", id->not_after, "enrolled_at", id->enrolled_at, "validity",
                        rt_validity_name(v.validity), "renew_from", renew_from));
  complain(id, &v);
  return 0;
}

/* Secrets: where they are, never what they hold. */
static int print_secret(const rt_secret_entry *s, void *ctx) {
  (void)ctx;
  printf("secret %s (%s)\n  received    %s\n", s->name, rt_secret_type_name(s->type),
         s->received_at);
  if (s->type == RT_SECRET_TYPE_RSA_KEY)
    printf("  handle      0x%08x (identity %s)\n", (unsigned)s->handle, s->name);
  else
    printf("  PCR policy  %s\n", s->pcrs[0] ? s->pcrs : "none");
  return 0;
}

static int add_secret_json(const rt_secret_entry *s, void *ctx) {
  json_t *obj = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "name", s->name, "type",
                          rt_secret_type_name(s->type), "pcrs", s->pcrs, "pub_file", s->pub_file,
                          "priv_file", s->priv_file, "received_at", s->received_at);
  if (obj != NULL && s->type == RT_SECRET_TYPE_RSA_KEY) {
    char handle[16];
    snprintf(handle, sizeof handle, "0x%08x", (unsigned)s->handle);
    json_object_set_new(obj, "handle", json_string(handle));
    json_object_set_new(obj, "cert_file", json_string(s->cert_file));
  }
  json_array_append_new(ctx, obj);
  return 0;
}

static rt_code print_json(const rt_state *st, walk *w, rt_err *err) {
  json_t *secrets = json_array();
  w->arr = json_array();
  rt_code code = rt_state_foreach(st, add_json, w, err);
  if (code == RT_OK)
    code = rt_state_secret_foreach(st, add_secret_json, secrets, err);
  if (code == RT_OK) {
    json_t *out = json_pack("{s:s,s:O,s:O}", "state_file", rt_state_path(st), "identities", w->arr,
                            "secrets", secrets);
    json_dumpf(out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', stdout);
    json_decref(out);
  }
  json_decref(secrets);
  json_decref(w->arr);
  return code;
}

static rt_code print_all_text(const rt_state *st, walk *w, rt_err *err) {
  if (rt_state_count(st) == 0)
    printf("no identity enrolled (state %s)\n", rt_state_path(st));
  rt_code code = rt_state_foreach(st, print_text, w, err);
  if (code == RT_OK && w->o->name == NULL)
    code = rt_state_secret_foreach(st, print_secret, NULL, err);
  return code;
}

int rt_status_print(const rt_status_opts *o) {
  rt_err err;
  rt_state *st = NULL;
  if (rt_state_load(o->state_dir, &st, &err) != RT_OK) {
    fprintf(stderr, "rattest-bootstrap status: %s\n", err.msg);
    return 1;
  }
  walk w = {.o = o, .now = time(NULL)};
  rt_code code = o->json ? print_json(st, &w, &err) : print_all_text(st, &w, &err);
  if (code != RT_OK) {
    fprintf(stderr, "rattest-bootstrap status: %s\n", err.msg);
    rt_state_free(st);
    return 1;
  }
  if (w.shown == 0) {
    if (o->name != NULL)
      fprintf(stderr, "rattest-bootstrap status: identity \"%s\" missing: not in %s\n", o->name,
              rt_state_path(st));
    else
      fprintf(stderr, "rattest-bootstrap status: missing: no identity enrolled in %s\n",
              rt_state_path(st));
    w.worst = RT_VALIDITY_MISSING;
  }
  rt_state_free(st);
  return w.worst;
}
