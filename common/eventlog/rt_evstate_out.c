#include "rt_evstate_out.h"

#include <inttypes.h>
#include <stdlib.h>

#include "rt_hex.h"
#include "rt_json.h"

static json_t *hex_json(const uint8_t *b, size_t n) {
  char *hex = malloc(2 * n + 1);
  if (hex == NULL)
    return NULL;
  rt_hex(b, n, hex);
  json_t *s = json_string(hex);
  free(hex);
  return s;
}

/* A string, or null for NULL. */
static json_t *opt_string(const char *s) {
  return s != NULL ? json_string(s) : json_null();
}

json_t *rt_evstate_digests_json(const rt_eventlog_event *ev) {
  char buf[8];
  json_t *obj = json_object();
  if (obj == NULL)
    return NULL;
  for (size_t d = 0; d < ev->n_digests; d++)
    if (!rt_jset(obj, rt_eventlog_alg_label(ev->digests[d].alg, buf),
                 hex_json(ev->digests[d].bytes, ev->digests[d].len))) {
      json_decref(obj);
      return NULL;
    }
  return obj;
}

static json_t *var_json(const rt_evstate_var *v) {
  if (!v->present)
    return json_null();
  json_t *obj = json_object();
  if (obj == NULL || !rt_jset(obj, "sha256", hex_json(v->sha256, 32)) ||
      !rt_jset(obj, "event", json_integer(v->event)) ||
      !rt_jset(obj, "data_len", json_integer((json_int_t)v->data_len))) {
    json_decref(obj);
    return NULL;
  }
  return obj;
}

static json_t *pcr_list(uint32_t bits) {
  json_t *arr = json_array();
  for (int p = 0; arr != NULL && p < 32; p++)
    if ((bits & UINT32_C(1) << p) && json_array_append_new(arr, json_integer(p)) != 0) {
      json_decref(arr);
      return NULL;
    }
  return arr;
}

/* Appends a new object to arr; NULL when out of memory. */
static json_t *append_obj(json_t *arr) {
  json_t *o = json_object();
  return o != NULL && json_array_append_new(arr, o) == 0 ? o : NULL;
}

static bool lists(json_t *root, const rt_eventlog *log, const rt_evstate *st) {
  json_t *dbx, *auth, *apps, *cmd, *mism, *flawed;
  /* Each array is owned by root once set; later ones are not made if one
   * fails. */
  if (!rt_jset(root, "dbx_sha256", dbx = json_array()) ||
      !rt_jset(root, "authorities", auth = json_array()) ||
      !rt_jset(root, "boot_apps", apps = json_array()) ||
      !rt_jset(root, "kernel_cmdlines", cmd = json_array()) ||
      !rt_jset(root, "mismatches", mism = json_array()) ||
      !rt_jset(root, "flawed", flawed = json_array()))
    return false;
  for (size_t i = 0; i < st->n_dbx_sha256; i++)
    if (json_array_append_new(dbx, hex_json(st->dbx_sha256[i], 32)) != 0)
      return false;
  for (size_t i = 0; i < st->n_authorities; i++) {
    const rt_evstate_authority *a = &st->authorities[i];
    json_t *o = append_obj(auth);
    if (o == NULL || !rt_jset(o, "sha256", hex_json(a->sha256, 32)) ||
        !rt_jset(o, "subject", opt_string(a->subject)) ||
        !rt_jset(o, "variable", opt_string(a->variable)) ||
        !rt_jset(o, "event", json_integer(a->event)))
      return false;
  }
  for (size_t i = 0; i < st->n_boot_apps; i++) {
    const rt_evstate_app *a = &st->boot_apps[i];
    json_t *o = append_obj(apps);
    if (o == NULL || !rt_jset(o, "event", json_integer(a->event)) ||
        !rt_jset(o, "path", opt_string(a->path)) ||
        (a->event < log->n_events &&
         !rt_jset(o, "digests", rt_evstate_digests_json(&log->events[a->event]))))
      return false;
  }
  for (size_t i = 0; i < st->n_cmdlines; i++) {
    json_t *o = append_obj(cmd);
    if (o == NULL || !rt_jset(o, "event", json_integer(st->cmdlines[i].event)) ||
        !rt_jset(o, "cmdline", json_string(st->cmdlines[i].cmdline)))
      return false;
  }
  for (size_t i = 0; i < st->n_events; i++) {
    if (st->checks[i] == RT_EVCHECK_MISMATCH &&
        json_array_append_new(mism, json_integer((json_int_t)i)) != 0)
      return false;
    if (st->flaws[i] == RT_EVFLAW_NONE)
      continue;
    json_t *o = append_obj(flawed);
    if (o == NULL || !rt_jset(o, "event", json_integer((json_int_t)i)) ||
        !rt_jset(o, "flaw", json_string(rt_evflaw_name(st->flaws[i]))))
      return false;
  }
  return true;
}

json_t *rt_evstate_json(const rt_eventlog *log, const rt_evstate *st) {
  json_t *root = json_object();
  if (root == NULL)
    return NULL;
  bool sb_known = st->secure_boot != RT_SECURE_BOOT_UNKNOWN;
  if (!rt_jset(root, "secure_boot", json_string(rt_secure_boot_name(st->secure_boot))) ||
      !rt_jset(root, "secure_boot_event",
               sb_known ? json_integer(st->secure_boot_event) : json_null()) ||
      !rt_jset(root, "pk", var_json(&st->pk)) || !rt_jset(root, "kek", var_json(&st->kek)) ||
      !rt_jset(root, "db", var_json(&st->db)) || !rt_jset(root, "dbx", var_json(&st->dbx)) ||
      !rt_jset(root, "separators", pcr_list(st->separators)) ||
      !rt_jset(root, "separator_errors", pcr_list(st->separator_error)) || !lists(root, log, st)) {
    json_decref(root);
    return NULL;
  }
  return root;
}

static void print_var(FILE *f, const char *name, const rt_evstate_var *v) {
  char hex[65];
  if (!v->present) {
    fprintf(f, "  %-15s not measured (or not verified)\n", name);
    return;
  }
  rt_hex(v->sha256, 32, hex);
  fprintf(f, "  %-15s sha256 %s, %" PRIu64 " bytes (event %" PRIu32 ")\n", name, hex, v->data_len,
          v->event);
}

static void print_pcrs(FILE *f, uint32_t bits) {
  const char *sep = "";
  for (int p = 0; p < 32; p++)
    if (bits & UINT32_C(1) << p) {
      fprintf(f, "%s%d", sep, p);
      sep = " ";
    }
  if (*sep == '\0')
    fprintf(f, "none");
}

void rt_evstate_print(FILE *f, const rt_evstate *st) {
  char hex[65];
  fprintf(f, "State, from the events whose data matches their digests (PCRs 0-9, 14):\n");
  fprintf(f, "  %-15s %s", "secure boot", rt_secure_boot_name(st->secure_boot));
  if (st->secure_boot != RT_SECURE_BOOT_UNKNOWN)
    fprintf(f, " (event %" PRIu32 ")", st->secure_boot_event);
  fprintf(f, "\n");
  print_var(f, "PK", &st->pk);
  print_var(f, "KEK", &st->kek);
  print_var(f, "db", &st->db);
  print_var(f, "dbx", &st->dbx);
  if (st->dbx.present)
    fprintf(f, "  %-15s %zu SHA-256 entries\n", "", st->n_dbx_sha256);
  for (size_t i = 0; i < st->n_authorities; i++) {
    const rt_evstate_authority *a = &st->authorities[i];
    rt_hex(a->sha256, 32, hex);
    fprintf(f, "  %-15s event %" PRIu32 ", %s: %s (sha256 %.16s...)\n", i == 0 ? "authorities" : "",
            a->event, a->variable, a->subject != NULL ? a->subject : "not an X.509 certificate",
            hex);
  }
  for (size_t i = 0; i < st->n_boot_apps; i++)
    fprintf(f, "  %-15s event %" PRIu32 ": %s\n", i == 0 ? "boot apps" : "", st->boot_apps[i].event,
            st->boot_apps[i].path != NULL ? st->boot_apps[i].path : "(no device path)");
  for (size_t i = 0; i < st->n_cmdlines; i++)
    fprintf(f, "  %-15s event %" PRIu32 ": %s\n", i == 0 ? "kernel cmdline" : "",
            st->cmdlines[i].event, st->cmdlines[i].cmdline);
  fprintf(f, "  %-15s PCRs ", "separators");
  print_pcrs(f, st->separators);
  if (st->separator_error != 0) {
    fprintf(f, "; reporting an error: PCRs ");
    print_pcrs(f, st->separator_error);
  }
  fprintf(f, "\n  %-15s ", "mismatches");
  if (st->n_mismatches == 0)
    fprintf(f, "none");
  const char *sep = "events ";
  for (size_t i = 0; i < st->n_events; i++)
    if (st->checks[i] == RT_EVCHECK_MISMATCH) {
      fprintf(f, "%s%zu", sep, i);
      sep = ", ";
    }
  fprintf(f, "\n  %-15s ", "flawed");
  if (st->n_flawed == 0)
    fprintf(f, "none");
  sep = "events ";
  for (size_t i = 0; i < st->n_events; i++)
    if (st->flaws[i] != RT_EVFLAW_NONE) {
      fprintf(f, "%s%zu (%s)", sep, i, rt_evflaw_name(st->flaws[i]));
      sep = ", ";
    }
  fprintf(f, "\n");
}
