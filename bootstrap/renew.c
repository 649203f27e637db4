#include "renew.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "enroll.h"
#include "rt_state.h"

/* The identities to consider, copied: each renewal rewrites the state. */
typedef struct {
  rt_identity *ids;
  size_t n, cap;
} id_list;

static int collect(const rt_identity *id, void *ctx) {
  id_list *l = ctx;
  if (l->n == l->cap) {
    size_t cap = l->cap ? 2 * l->cap : 4;
    rt_identity *ids = realloc(l->ids, cap * sizeof *ids);
    if (ids == NULL)
      return 1;
    l->ids = ids;
    l->cap = cap;
  }
  l->ids[l->n++] = *id;
  return 0;
}

static int fail(const char *name, const char *msg) {
  fprintf(stderr, "rattest-bootstrap renew: identity \"%s\": %s\n", name, msg);
  return 1;
}

/* The identities of the state (all, or o->name), without the RSA keys the
 * verifier delivered: those come with another identity's enrollment. */
static int select_identities(const rt_renew_opts *o, id_list *l) {
  rt_err err;
  rt_state *st = NULL;
  if (rt_state_load(o->enroll.state_dir, &st, &err) != RT_OK) {
    fprintf(stderr, "rattest-bootstrap renew: %s\n", err.msg);
    return 1;
  }
  int rc = 0;
  rt_identity one;
  rt_secret_entry s;
  if (o->name == NULL) {
    if (rt_state_foreach(st, collect, l, &err) != RT_OK || l->n < rt_state_count(st))
      rc = fail("*", "cannot list the identities (out of memory)");
  } else if (rt_state_get(st, o->name, &one, &err) != RT_OK) {
    fprintf(stderr, "rattest-bootstrap renew: no identity \"%s\" in %s: enroll it first\n", o->name,
            rt_state_path(st));
    rc = 1;
  } else if (collect(&one, l) != 0) {
    rc = fail(o->name, "out of memory");
  }
  size_t kept = 0;
  for (size_t i = 0; i < l->n; i++) {
    if (rt_state_secret_get(st, l->ids[i].name, &s, &err) != RT_OK ||
        s.type != RT_SECRET_TYPE_RSA_KEY) {
      l->ids[kept++] = l->ids[i];
      continue;
    }
    printf("identity \"%s\": an RSA key the verifier delivered, renewed by enrolling the "
           "identity it came with: skipped\n",
           l->ids[i].name);
    if (o->name != NULL)
      rc = 1;
  }
  l->n = kept;
  rt_state_free(st);
  return rc;
}

/* The identity's new record, for the hook. */
static int renewed_record(const rt_renew_opts *o, const char *name, rt_identity *out) {
  rt_err err;
  rt_state *st = NULL;
  rt_code code = rt_state_load(o->enroll.state_dir, &st, &err);
  if (code == RT_OK)
    code = rt_state_get(st, name, out, &err);
  rt_state_free(st);
  return code == RT_OK ? 0 : fail(name, err.msg);
}

/* Enrolls again with what the identity recorded: its name, key algorithm,
 * handle and (unless --verifier) verifier. */
static int reenroll(const rt_renew_opts *o, const rt_identity *id) {
  rt_enroll_opts e = o->enroll;
  if (e.verifier == NULL)
    e.verifier = id->verifier;
  e.name = id->name;
  e.key_alg = rt_key_alg_parse(id->algorithm);
  e.handle = id->handle;
  e.renew = 1;
  if (e.key_alg == RT_ALG_NONE)
    return fail(id->name, "its key algorithm cannot be enrolled again (ecc-p256 or rsa-2048)");
  if (rt_enroll(&e) != 0)
    return 1;
  rt_identity now;
  if (o->exec == NULL)
    return 0;
  return renewed_record(o, id->name, &now) != 0 ? 1
                                                : rt_renew_hook(o->exec, o->enroll.state_dir, &now);
}

static int renew_one(const rt_renew_opts *o, const rt_identity *id) {
  rt_verdict v;
  rt_validity_judge(id, &o->window, time(NULL), &v);
  char na[RT_STATE_TIME_LEN] = "?", wo[RT_STATE_TIME_LEN] = "?";
  rt_err err;
  (void)rt_state_time_format(v.not_after, na, &err);
  (void)rt_state_time_format(v.window_opens, wo, &err);
  switch (v.validity) {
  case RT_VALIDITY_VALID:
    printf("identity \"%s\": valid until %s, renewal window opens %s: nothing to do\n", id->name,
           na, wo);
    return 0;
  case RT_VALIDITY_DUE:
    printf("identity \"%s\": valid until %s, inside the renewal window since %s: renewing\n",
           id->name, na, wo);
    break;
  case RT_VALIDITY_EXPIRED:
    printf("identity \"%s\": expired at %s: renewing\n", id->name, na);
    break;
  case RT_VALIDITY_MISSING:
    printf("identity \"%s\": %s: renewing\n", id->name, v.why);
    break;
  }
  fflush(stdout);
  return reenroll(o, id);
}

int rt_renew(const rt_renew_opts *o) {
  id_list l = {0};
  int rc = select_identities(o, &l);
  if (rc == 0 && l.n == 0)
    printf("no identity enrolled in %s/%s: nothing to renew\n", o->enroll.state_dir, RT_STATE_FILE);
  int failed = 0;
  for (size_t i = 0; i < l.n; i++)
    failed |= renew_one(o, &l.ids[i]);
  free(l.ids);
  return rc != 0 || failed ? 1 : 0;
}
