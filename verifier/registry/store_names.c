/* Name bindings and revocation in the store. */
#include <stdlib.h>
#include <string.h>

#include "rt_name.h"
#include "store_internal.h"

rt_code rt_store_name_owner(rt_store *s, const char *name, char *ek, rt_err *err) {
  if (rt_name_check(name, err) != RT_OK)
    return err->code;
  rt_store_param p[] = {{.type = RT_SP_TEXT, .text = name}};
  rt_store_rows rows = {0};
  rt_store_link *l = rt_store_acquire(s);
  rt_code code =
      rt_store_exec(l, "SELECT ek_sha256 FROM name_bindings WHERE name = $1", p, 1, &rows, err);
  rt_store_release(s, l);
  const char *owner = rt_store_text(&rows, 0, 0);
  if (code == RT_OK && owner == NULL)
    code = rt_err_set(err, RT_E_NOT_FOUND, "the name %s is bound to no EK", name);
  else if (code == RT_OK)
    snprintf(ek, RT_STORE_EK_HEX + 1, "%s", owner);
  rt_store_rows_free(&rows);
  return code;
}

/* The three steps of a binding; the caller holds the lock. */
static rt_code bind_locked(rt_store_link *l, const char *name, const char *ek, time_t now,
                           bool *taken, rt_err *err) {
  rt_store_param m[] = {{.type = RT_SP_TEXT, .text = ek}, {.type = RT_SP_INT, .i = now}};
  rt_store_param b[] = {{.type = RT_SP_TEXT, .text = name},
                        {.type = RT_SP_TEXT, .text = ek},
                        {.type = RT_SP_INT, .i = now}};
  rt_store_rows rows = {0};
  /* Of two EKs binding one name at once, the primary key lets one insert;
   * the other then reads the winner. */
  rt_code code = rt_store_exec(l,
                               "INSERT INTO machines (ek_sha256, added) VALUES ($1, $2)"
                               " ON CONFLICT (ek_sha256) DO NOTHING",
                               m, 2, NULL, err);
  if (code == RT_OK)
    code = rt_store_exec(l,
                         "INSERT INTO name_bindings (name, ek_sha256, bound_at)"
                         " VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
                         b, 3, NULL, err);
  if (code == RT_OK)
    code =
        rt_store_exec(l, "SELECT ek_sha256 FROM name_bindings WHERE name = $1", b, 1, &rows, err);
  const char *owner = rt_store_text(&rows, 0, 0);
  if (code == RT_OK && owner == NULL)
    code = rt_err_set(err, RT_E_IO, "the binding of %s was removed while it was made", name);
  if (code == RT_OK)
    *taken = strcmp(owner, ek) != 0;
  rt_store_rows_free(&rows);
  return code;
}

rt_code rt_store_bind_name(rt_store *s, const char *name, const char *ek_sha256, time_t now,
                           bool *taken, rt_err *err) {
  if (rt_name_check(name, err) != RT_OK || rt_store_ek_check(ek_sha256, err) != RT_OK)
    return err->code;
  rt_store_link *l = rt_store_acquire(s);
  /* One transaction: a refused binding leaves no machine row behind. */
  rt_code code = rt_store_exec(l, "BEGIN", NULL, 0, NULL, err);
  if (code == RT_OK) {
    code = bind_locked(l, name, ek_sha256, now, taken, err);
    code = rt_store_end(l, code, code == RT_OK && !*taken, err);
  }
  rt_store_release(s, l);
  return code;
}

rt_code rt_store_unbind_name(rt_store *s, const char *name, rt_err *err) {
  if (rt_name_check(name, err) != RT_OK)
    return err->code;
  rt_store_param p[] = {{.type = RT_SP_TEXT, .text = name}};
  rt_store_rows rows = {0};
  rt_store_link *l = rt_store_acquire(s);
  rt_code code = rt_store_exec(l, "DELETE FROM name_bindings WHERE name = $1 RETURNING name", p, 1,
                               &rows, err);
  rt_store_release(s, l);
  if (code == RT_OK && rows.n_rows == 0)
    code = rt_err_set(err, RT_E_NOT_FOUND, "the name %s is bound to no EK", name);
  rt_store_rows_free(&rows);
  return code;
}

/* The certificate revocation of each kind: $1 the value, $2 the reason, $3
 * the time. */
static const char *const revoke_certs[] = {
    [RT_STORE_BY_NAME] = "UPDATE identities SET status = 'revoked', revoked_reason = $2,"
                         " revoked_at = $3 WHERE name = $1 AND status = 'active' RETURNING serial",
    [RT_STORE_BY_SERIAL] = "UPDATE identities SET status = 'revoked', revoked_reason = $2,"
                           " revoked_at = $3 WHERE serial = $1 AND status = 'active'"
                           " RETURNING serial",
    [RT_STORE_BY_EK] = "UPDATE identities SET status = 'revoked', revoked_reason = $2,"
                       " revoked_at = $3 WHERE ek_sha256 = $1 AND status = 'active'"
                       " RETURNING serial",
};

/* The EK's row and its certificates, in one transaction. */
static rt_code revoke_ek_locked(rt_store_link *l, const rt_store_param p[3], rt_store_rows *rows,
                                rt_err *err) {
  if (rt_store_exec(l, "BEGIN", NULL, 0, NULL, err) != RT_OK)
    return err->code;
  rt_code code = rt_store_exec(l,
                               "INSERT INTO revoked_eks (ek_sha256, reason, revoked_at)"
                               " VALUES ($1, $2, $3) ON CONFLICT (ek_sha256) DO NOTHING",
                               p, 3, NULL, err);
  if (code == RT_OK)
    code = rt_store_exec(l, revoke_certs[RT_STORE_BY_EK], p, 3, rows, err);
  return rt_store_end(l, code, true, err);
}

static rt_code revoke_value_check(rt_store_revoke_by by, const char *value, rt_err *err) {
  if (by == RT_STORE_BY_NAME)
    return rt_name_check(value, err);
  if (by == RT_STORE_BY_EK)
    return rt_store_ek_check(value, err);
  return rt_store_serial_check(value, err);
}

rt_code rt_store_revoke(rt_store *s, rt_store_revoke_by by, const char *value, const char *reason,
                        time_t now, size_t *n_certs, rt_err *err) {
  if (revoke_value_check(by, value, err) != RT_OK)
    return err->code;
  if (rt_store_reason_check(reason, err) != RT_OK)
    return err->code;
  rt_store_param p[] = {{.type = RT_SP_TEXT, .text = value},
                        {.type = RT_SP_TEXT, .text = reason},
                        {.type = RT_SP_INT, .i = now}};
  rt_store_rows rows = {0};
  rt_store_link *l = rt_store_acquire(s);
  rt_code code = by == RT_STORE_BY_EK ? revoke_ek_locked(l, p, &rows, err)
                                      : rt_store_exec(l, revoke_certs[by], p, 3, &rows, err);
  rt_store_release(s, l);
  if (code == RT_OK && by != RT_STORE_BY_EK && rows.n_rows == 0)
    code = rt_err_set(err, RT_E_NOT_FOUND, "no active certificate %s %s",
                      by == RT_STORE_BY_NAME ? "for the name" : "with the serial", value);
  if (code == RT_OK && n_certs != NULL)
    *n_certs = rows.n_rows;
  rt_store_rows_free(&rows);
  return code;
}

rt_code rt_store_unrevoke_ek(rt_store *s, const char *ek_sha256, rt_err *err) {
  if (rt_store_ek_check(ek_sha256, err) != RT_OK)
    return err->code;
  rt_store_param p[] = {{.type = RT_SP_TEXT, .text = ek_sha256}};
  rt_store_rows rows = {0};
  rt_store_link *l = rt_store_acquire(s);
  rt_code code = rt_store_exec(
      l, "DELETE FROM revoked_eks WHERE ek_sha256 = $1 RETURNING ek_sha256", p, 1, &rows, err);
  rt_store_release(s, l);
  if (code == RT_OK && rows.n_rows == 0)
    code = rt_err_set(err, RT_E_NOT_FOUND, "the EK %s is not revoked", ek_sha256);
  rt_store_rows_free(&rows);
  return code;
}

rt_code rt_store_is_ek_revoked(rt_store *s, const char *ek_sha256, bool *revoked, rt_err *err) {
  if (rt_store_ek_check(ek_sha256, err) != RT_OK)
    return err->code;
  rt_store_param p[] = {{.type = RT_SP_TEXT, .text = ek_sha256}};
  rt_store_rows rows = {0};
  rt_store_link *l = rt_store_acquire(s);
  rt_code code =
      rt_store_exec(l, "SELECT 1 FROM revoked_eks WHERE ek_sha256 = $1", p, 1, &rows, err);
  rt_store_release(s, l);
  if (code == RT_OK)
    *revoked = rows.n_rows > 0;
  rt_store_rows_free(&rows);
  return code;
}

/* ---- The revoked certificates, for the CRL ---------------------------------- */

static rt_code revoked_from_rows(const rt_store_rows *rows, rt_store_revoked *list, rt_err *err) {
  for (size_t i = 0; i < rows->n_rows; i++) {
    const char *serial = rt_store_text(rows, i, 0), *reason = rt_store_text(rows, i, 1);
    if (serial == NULL || rt_store_serial_check(serial, err) != RT_OK)
      return rt_err_set(err, RT_E_INVALID, "store: a revoked certificate has a malformed serial");
    snprintf(list[i].serial, sizeof list[i].serial, "%s", serial);
    list[i].reason = strdup(reason != NULL ? reason : "unspecified");
    list[i].revoked_at = (time_t)rt_store_int(rows, i, 2);
    list[i].not_after = (time_t)rt_store_int(rows, i, 3);
    if (list[i].reason == NULL)
      return rt_err_set(err, RT_E_NOMEM, "store: out of memory");
  }
  return RT_OK;
}

rt_code rt_store_revoked_list(rt_store *s, rt_store_revoked **list, size_t *n, rt_err *err) {
  *list = NULL;
  *n = 0;
  rt_store_rows rows = {0};
  rt_store_link *link = rt_store_acquire(s);
  rt_code code =
      rt_store_exec(link,
                    "SELECT serial, revoked_reason, revoked_at, not_after FROM identities"
                    " WHERE status = 'revoked' ORDER BY serial",
                    NULL, 0, &rows, err);
  rt_store_release(s, link);
  rt_store_revoked *l = NULL;
  if (code == RT_OK && rows.n_rows > 0 && (l = calloc(rows.n_rows, sizeof *l)) == NULL)
    code = rt_err_set(err, RT_E_NOMEM, "store: out of memory");
  if (code == RT_OK)
    code = revoked_from_rows(&rows, l, err);
  if (code == RT_OK) {
    *list = l;
    *n = rows.n_rows;
  } else {
    rt_store_revoked_free(l, rows.n_rows);
  }
  rt_store_rows_free(&rows);
  return code;
}

void rt_store_revoked_free(rt_store_revoked *list, size_t n) {
  for (size_t i = 0; list != NULL && i < n; i++)
    free(list[i].reason);
  free(list);
}

rt_code rt_store_revoked_count(rt_store *s, int64_t *n, rt_err *err) {
  rt_store_rows rows = {0};
  rt_store_link *l = rt_store_acquire(s);
  rt_code code = rt_store_exec(l, "SELECT COUNT(*) FROM identities WHERE status = 'revoked'", NULL,
                               0, &rows, err);
  rt_store_release(s, l);
  if (code == RT_OK)
    *n = rt_store_int(&rows, 0, 0);
  rt_store_rows_free(&rows);
  return code;
}
