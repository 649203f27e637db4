/* `serve --crl-file / --crl-url / --crl-period`: the serve side of the
 * issuing CA's CRL (docs/operations.md, "Revocation"). The CRL is made by
 * crl_registry.h from the registry (--db), so `revoke`, a separate
 * process, reaches it through the database: a thread polls the number of
 * revoked certificates every second (one COUNT, cheap, and it works the
 * same for a shared PostgreSQL and for replicas) and rewrites the file when
 * it changed, when SIGHUP reloaded the issuer, and at half the period,
 * long before nextUpdate. --crl-url puts the distribution point in every
 * certificate issued (rt_issuer_set_crl_url). */
#ifndef RT_VERIFIER_SERVE_CRL_H
#define RT_VERIFIER_SERVE_CRL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "enroll.h"
#include "rt_err.h"

/* getopt codes of the options (cmd_serve.c's table names them). */
enum { RT_SERVE_O_CRL_FILE = 600, RT_SERVE_O_CRL_URL, RT_SERVE_O_CRL_PERIOD };

typedef struct {
  const char *file, *url;
  uint64_t period_ms; /* 0: the default */
} rt_serve_crl_opts;

/* The options' part of serve's help. */
void rt_serve_crl_usage(FILE *f);

/* Takes option c if it is one of these: true, and *code the result
 * (RT_E_INVALID in err for a bad value); false for other options. */
bool rt_serve_crl_opt(rt_serve_crl_opts *o, int c, const char *arg, rt_code *code, rt_err *err);

/* What the options need of each other: --crl-file needs --db,
 * --crl-period --crl-file. */
rt_code rt_serve_crl_check(const rt_serve_crl_opts *o, const char *db, rt_err *err);

/* --crl-url into a freshly loaded issuer (at start and SIGHUP). */
rt_code rt_serve_crl_issuer(const rt_serve_crl_opts *o, rt_issuer *issuer, rt_err *err);

typedef struct rt_serve_crl rt_serve_crl;

/* With --crl-file: writes the CRL once (a failure is the start's failure),
 * then starts the thread keeping it; *out NULL without. v's store, issuer
 * and config_lock must outlive rt_serve_crl_stop. */
rt_code rt_serve_crl_start(const rt_serve_crl_opts *o, rt_verifier *v, rt_serve_crl **out,
                           rt_err *err);
/* SIGHUP: rewrite now (the issuer may have changed). NULL is a no-op. */
void rt_serve_crl_kick(rt_serve_crl *c);
void rt_serve_crl_stop(rt_serve_crl *c);

#endif
