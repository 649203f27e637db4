/* What the operator commands read: the machine list and one machine's
 * record, as JSON (the text forms are the command's). */
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "rt_json.h"
#include "rt_name.h"
#include "store_internal.h"

/* The columns machine_object reads, in order; show adds two after them. */
#define MACHINE_COLUMNS                                                                            \
  "SELECT m.ek_sha256, m.tpm_vendor, m.tpm_model, m.added, m.first_enrolled, m.last_enrolled,"     \
  " r.reason, r.revoked_at"

static json_t *text_or_null(const rt_store_rows *rows, size_t row, size_t col) {
  const char *t = rt_store_text(rows, row, col);
  return t != NULL ? json_string(t) : json_null();
}

static json_t *int_or_null(const rt_store_rows *rows, size_t row, size_t col) {
  return rt_store_text(rows, row, col) != NULL ? json_integer(rt_store_int(rows, row, col))
                                               : json_null();
}

/* The machine of row i (MACHINE_COLUMNS), with an empty "names". */
static json_t *machine_object(const rt_store_rows *rows, size_t i) {
  json_t *o = json_object();
  json_t *revocation = rt_store_text(rows, i, 6) == NULL ? json_null() : json_object();
  bool ok = o != NULL && revocation != NULL && rt_jset(o, "ek_sha256", text_or_null(rows, i, 0)) &&
            rt_jset(o, "names", json_array()) &&
            rt_jset(o, "tpm_vendor", text_or_null(rows, i, 1)) &&
            rt_jset(o, "tpm_model", text_or_null(rows, i, 2)) &&
            rt_jset(o, "added", int_or_null(rows, i, 3)) &&
            rt_jset(o, "first_enrolled", int_or_null(rows, i, 4)) &&
            rt_jset(o, "last_enrolled", int_or_null(rows, i, 5)) &&
            rt_jset(o, "revoked", json_boolean(!json_is_null(revocation)));
  if (ok && json_is_object(revocation))
    ok = rt_jset(revocation, "reason", text_or_null(rows, i, 6)) &&
         rt_jset(revocation, "revoked_at", int_or_null(rows, i, 7));
  if (ok && rt_jset(o, "revocation", json_incref(revocation))) {
    json_decref(revocation);
    return o;
  }
  json_decref(revocation);
  json_decref(o);
  return NULL;
}

/* Adds the names of the bindings rows (name, ek_sha256) to the machines of
 * by_ek (EK -> machine object). */
static bool add_names(json_t *by_ek, const rt_store_rows *rows) {
  for (size_t i = 0; i < rows->n_rows; i++) {
    json_t *m = json_object_get(by_ek, rt_store_text(rows, i, 1));
    if (m != NULL && !rt_jpush(json_object_get(m, "names"), text_or_null(rows, i, 0)))
      return false;
  }
  return true;
}

static rt_code list_locked(rt_store_link *l, rt_store_rows *machines, rt_store_rows *names,
                           rt_err *err) {
  if (rt_store_exec(l,
                    MACHINE_COLUMNS " FROM machines m LEFT JOIN revoked_eks r"
                                    " ON r.ek_sha256 = m.ek_sha256 ORDER BY m.ek_sha256",
                    NULL, 0, machines, err) != RT_OK)
    return err->code;
  return rt_store_exec(l, "SELECT name, ek_sha256 FROM name_bindings ORDER BY name", NULL, 0, names,
                       err);
}

rt_code rt_store_machines_list(rt_store *s, json_t **out, rt_err *err) {
  rt_store_rows machines = {0}, names = {0};
  rt_store_link *l = rt_store_acquire(s);
  rt_code code = list_locked(l, &machines, &names, err);
  rt_store_release(s, l);
  json_t *list = json_array(), *by_ek = json_object();
  bool ok = list != NULL && by_ek != NULL;
  for (size_t i = 0; code == RT_OK && ok && i < machines.n_rows; i++) {
    json_t *m = machine_object(&machines, i);
    ok = m != NULL && json_object_set(by_ek, rt_store_text(&machines, i, 0), m) == 0 &&
         rt_jpush(list, m);
  }
  ok = ok && add_names(by_ek, &names);
  rt_store_rows_free(&machines);
  rt_store_rows_free(&names);
  json_decref(by_ek);
  if (code == RT_OK && !ok)
    code = rt_err_set(err, RT_E_NOMEM, "store: out of memory");
  if (code != RT_OK) {
    json_decref(list);
    return code;
  }
  *out = list;
  return RT_OK;
}

/* The EK name belongs to: its binding, else the machine of its latest
 * certificate. */
static rt_code find_ek(rt_store_link *l, const char *name, char *ek, rt_err *err) {
  rt_store_param p[] = {{.type = RT_SP_TEXT, .text = name}};
  rt_store_rows rows = {0};
  rt_code code = rt_store_exec(l,
                               "SELECT COALESCE((SELECT ek_sha256 FROM name_bindings"
                               " WHERE name = $1), (SELECT ek_sha256 FROM identities"
                               " WHERE name = $1 ORDER BY issued DESC, serial DESC LIMIT 1))",
                               p, 1, &rows, err);
  const char *found = rt_store_text(&rows, 0, 0);
  if (code == RT_OK && found == NULL)
    code = rt_err_set(err, RT_E_NOT_FOUND, "no machine has the name %s", name);
  else if (code == RT_OK)
    snprintf(ek, RT_STORE_EK_HEX + 1, "%s", found);
  rt_store_rows_free(&rows);
  return code;
}

/* The rows show reads: [0] the machine (MACHINE_COLUMNS, ek_cert,
 * platform), [1] its names, [2] its certificates. */
static rt_code show_locked(rt_store_link *l, const char *name, rt_store_rows rows[3], rt_err *err) {
  char ek[RT_STORE_EK_HEX + 1];
  if (find_ek(l, name, ek, err) != RT_OK)
    return err->code;
  rt_store_param p[] = {{.type = RT_SP_TEXT, .text = ek}};
  if (rt_store_exec(l,
                    MACHINE_COLUMNS ", m.ek_cert, m.platform FROM machines m LEFT JOIN"
                                    " revoked_eks r ON r.ek_sha256 = m.ek_sha256"
                                    " WHERE m.ek_sha256 = $1",
                    p, 1, &rows[0], err) != RT_OK ||
      rt_store_exec(l,
                    "SELECT name, ek_sha256 FROM name_bindings WHERE ek_sha256 = $1"
                    " ORDER BY name",
                    p, 1, &rows[1], err) != RT_OK ||
      rt_store_exec(l,
                    "SELECT name, serial, issued, not_after, status, revoked_reason, revoked_at"
                    " FROM identities WHERE ek_sha256 = $1 ORDER BY issued, serial",
                    p, 1, &rows[2], err) != RT_OK)
    return err->code;
  if (rows[0].n_rows == 0)
    return rt_err_set(err, RT_E_NOT_FOUND, "no machine has the name %s", name);
  return RT_OK;
}

static json_t *base64_or_null(const rt_store_rows *rows, size_t row, size_t col) {
  const rt_store_cell *c = rt_store_cell_at(rows, row, col);
  if (c == NULL || c->null || c->len > (1u << 24))
    return json_null();
  char *b64 = malloc(4 * ((c->len + 2) / 3) + 1);
  if (b64 == NULL)
    return NULL;
  EVP_EncodeBlock((unsigned char *)b64, c->bytes, (int)c->len);
  json_t *v = json_string(b64);
  free(b64);
  return v;
}

static json_t *identity_object(const rt_store_rows *rows, size_t i) {
  return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "name", text_or_null(rows, i, 0),
                   "serial", text_or_null(rows, i, 1), "issued", int_or_null(rows, i, 2),
                   "not_after", int_or_null(rows, i, 3), "status", text_or_null(rows, i, 4),
                   "revoked_reason", text_or_null(rows, i, 5), "revoked_at",
                   int_or_null(rows, i, 6));
}

static json_t *show_object(const rt_store_rows rows[3]) {
  json_t *m = machine_object(&rows[0], 0), *by_ek = json_object(), *ids = json_array();
  const char *platform = rt_store_text(&rows[0], 0, 9);
  json_t *pj = platform != NULL ? json_loads(platform, 0, NULL) : NULL;
  bool ok = m != NULL && by_ek != NULL && ids != NULL &&
            json_object_set(by_ek, rt_store_text(&rows[0], 0, 0), m) == 0 &&
            add_names(by_ek, &rows[1]) && rt_jset(m, "ek_cert", base64_or_null(&rows[0], 0, 8)) &&
            rt_jset(m, "platform", pj != NULL ? pj : json_null());
  for (size_t i = 0; ok && i < rows[2].n_rows; i++)
    ok = rt_jpush(ids, identity_object(&rows[2], i));
  ok = ok && rt_jset(m, "identities", json_incref(ids));
  json_decref(by_ek);
  json_decref(ids);
  if (!ok) {
    json_decref(m);
    return NULL;
  }
  return m;
}

rt_code rt_store_machine_show(rt_store *s, const char *name, json_t **out, rt_err *err) {
  if (rt_name_check(name, err) != RT_OK)
    return err->code;
  rt_store_rows rows[3] = {{0}, {0}, {0}};
  rt_store_link *l = rt_store_acquire(s);
  rt_code code = show_locked(l, name, rows, err);
  rt_store_release(s, l);
  json_t *m = code == RT_OK ? show_object(rows) : NULL;
  if (code == RT_OK && m == NULL)
    code = rt_err_set(err, RT_E_NOMEM, "store: out of memory");
  for (int i = 0; i < 3; i++)
    rt_store_rows_free(&rows[i]);
  if (code == RT_OK)
    *out = m;
  return code;
}
