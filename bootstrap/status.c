#include "status.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "rt_state.h"

static int print_text(const rt_identity *id, void *ctx) {
  (void)ctx;
  rt_err err;
  time_t not_after = 0;
  const char *validity = "valid";
  if (rt_state_time_parse(id->not_after, &not_after, &err) != RT_OK || not_after <= time(NULL))
    validity = "EXPIRED";
  printf("%s\n  algorithm   %s\n  handle      0x%08x\n  key file    %s\n  certificate %s (%s "
         "until %s)\n  chain       %s\n  AK cert     %s\n  EK          sha256:%s\n  verifier    "
         "%s\n  enrolled    %s\n",
         id->name, id->algorithm, (unsigned)id->handle, id->key_file, id->cert_file, validity,
         id->not_after, id->chain_file, id->ak_cert_file, id->ek_sha256, id->verifier,
         id->enrolled_at);
  return 0;
}

static int add_json(const rt_identity *id, void *ctx) {
  json_t *arr = ctx;
  char handle[16];
  snprintf(handle, sizeof handle, "0x%08x", (unsigned)id->handle);
  json_array_append_new(
      arr, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "name", id->name, "algorithm",
                     id->algorithm, "handle", handle, "key_file", id->key_file, "cert_file",
                     id->cert_file, "chain_file", id->chain_file, "ak_cert_file", id->ak_cert_file,
                     "ek_sha256", id->ek_sha256, "verifier", id->verifier, "not_after",
                     id->not_after, "enrolled_at", id->enrolled_at));
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

int rt_status_print(const char *state_dir, int json) {
  rt_err err;
  rt_state *st = NULL;
  if (rt_state_load(state_dir, &st, &err) != RT_OK) {
    fprintf(stderr, "rattest-bootstrap status: %s\n", err.msg);
    return 1;
  }
  int rc = 0;
  if (json) {
    json_t *arr = json_array(), *secrets = json_array();
    if (rt_state_foreach(st, add_json, arr, &err) != RT_OK ||
        rt_state_secret_foreach(st, add_secret_json, secrets, &err) != RT_OK) {
      fprintf(stderr, "rattest-bootstrap status: %s\n", err.msg);
      json_decref(secrets);
      rc = 1;
    } else {
      json_t *out = json_pack("{s:s,s:o,s:o}", "state_file", rt_state_path(st), "identities", arr,
                              "secrets", secrets);
      json_dumpf(out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
      fputc('\n', stdout);
      json_decref(out);
      arr = NULL;
    }
    json_decref(arr);
  } else if (rt_state_count(st) == 0) {
    printf("no identity enrolled (state %s)\n", rt_state_path(st));
  } else if (rt_state_foreach(st, print_text, NULL, &err) != RT_OK) {
    fprintf(stderr, "rattest-bootstrap status: %s\n", err.msg);
    rc = 1;
  }
  if (!json && rc == 0 && rt_state_secret_foreach(st, print_secret, NULL, &err) != RT_OK) {
    fprintf(stderr, "rattest-bootstrap status: %s\n", err.msg);
    rc = 1;
  }
  rt_state_free(st);
  return rc;
}
