/* Where an identity's certificate stands: valid, inside its renewal window,
 * expired, or missing. `status` exits with the verdict and `renew` acts on
 * it; both read the window from --window. */
#ifndef RT_BOOTSTRAP_VALIDITY_H
#define RT_BOOTSTRAP_VALIDITY_H

#include <time.h>

#include "rt_err.h"
#include "rt_state.h"

/* The renewal window: the last `fraction` of the certificate's validity
 * (notBefore..notAfter) when fraction > 0, else the last `seconds`. */
typedef struct {
  double fraction;
  long long seconds;
} rt_window;

/* The default: the last third of the validity. */
#define RT_WINDOW_DEFAULT ((rt_window){.fraction = 1.0 / 3.0, .seconds = 0})

/* "0.25" or "25%" (a fraction in (0, 1]), or a duration ("72h", "90m",
 * "3600": a bare number is seconds, as everywhere else). Errors name
 * --window. */
rt_code rt_window_parse(const char *arg, rt_window *out, rt_err *err);

/* The verdicts, each also the exit status `status` gives it: the worst
 * (lowest non-zero) of several identities wins. */
typedef enum {
  RT_VALIDITY_VALID = 0,
  RT_VALIDITY_MISSING = 3, /* not enrolled, or its certificate file is unreadable */
  RT_VALIDITY_EXPIRED = 4,
  RT_VALIDITY_DUE = 5, /* inside the renewal window */
} rt_validity;

typedef struct {
  rt_validity validity;
  time_t not_before, not_after; /* from the certificate file */
  time_t window_opens;          /* renewal is due from then on */
  char why[320];                /* "cannot read FILE: ..." when missing */
} rt_verdict;

/* Reads id's certificate file (the certificate the provider serves) and
 * judges it at `now`. */
void rt_validity_judge(const rt_identity *id, const rt_window *w, time_t now, rt_verdict *out);

/* "valid", "missing", "expired", "renewal-due". */
const char *rt_validity_name(rt_validity v);

#endif
