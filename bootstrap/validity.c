#include "validity.h"

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_asn1_time.h"
#include "rt_cli.h"

/* A fraction is written with a dot or a percent sign; anything else is a
 * duration. Only digits and one dot: strtod alone would take "nan", "1e3"
 * and hex. */
static rt_code parse_fraction(const char *arg, rt_window *out, rt_err *err) {
  size_t len = strlen(arg), digits = strspn(arg, "0123456789.");
  int percent = len > 0 && arg[len - 1] == '%';
  const char *dot = strchr(arg, '.');
  if (len == 0 || len > 16 || digits != len - (size_t)percent || digits == 0 ||
      (dot != NULL && strchr(dot + 1, '.') != NULL) || strcmp(arg, ".") == 0)
    return rt_err_set(err, RT_E_INVALID,
                      "--window: \"%.32s\" is neither a fraction (0.25, 25%%) "
                      "nor a duration (72h)",
                      arg);
  double f = strtod(arg, NULL) / (percent ? 100.0 : 1.0);
  if (!(f > 0.0 && f <= 1.0))
    return rt_err_set(err, RT_E_INVALID, "--window: the fraction \"%.32s\" is not in (0, 1]", arg);
  out->fraction = f;
  out->seconds = 0;
  return RT_OK;
}

rt_code rt_window_parse(const char *arg, rt_window *out, rt_err *err) {
  if (strchr(arg, '.') != NULL || strchr(arg, '%') != NULL)
    return parse_fraction(arg, out, err);
  uint64_t ms = 0;
  rt_code code = rt_cli_parse_duration_ms("--window", arg, &ms, err);
  if (code != RT_OK)
    return code;
  /* At most ten years: longer than any certificate the verifier issues. */
  if (ms < 1000 || ms > 87600ull * 3600 * 1000)
    return rt_err_set(err, RT_E_INVALID, "--window: \"%.32s\" outside 1s..87600h", arg);
  out->fraction = 0;
  out->seconds = (long long)(ms / 1000);
  return RT_OK;
}

/* The certificate's validity period, or a reason in out->why. */
static int read_validity(const char *path, rt_verdict *out) {
  BIO *b = BIO_new_file(path, "r");
  X509 *x = b != NULL ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
  int ok = x != NULL && rt_asn1_time_unix(X509_get0_notBefore(x), &out->not_before) &&
           rt_asn1_time_unix(X509_get0_notAfter(x), &out->not_after);
  if (!ok)
    snprintf(out->why, sizeof out->why, "cannot read the certificate %.256s%s", path,
             b == NULL ? ": no such file or not readable" : ": not a PEM certificate");
  X509_free(x);
  BIO_free(b);
  return ok;
}

void rt_validity_judge(const rt_identity *id, const rt_window *w, time_t now, rt_verdict *out) {
  memset(out, 0, sizeof *out);
  if (!read_validity(id->cert_file, out)) {
    out->validity = RT_VALIDITY_MISSING;
    return;
  }
  long long span = (long long)out->not_after - (long long)out->not_before;
  long long window =
      w->fraction > 0 ? (long long)((double)(span > 0 ? span : 0) * w->fraction) : w->seconds;
  out->window_opens = out->not_after - (time_t)window;
  if (now >= out->not_after)
    out->validity = RT_VALIDITY_EXPIRED;
  else if (now >= out->window_opens)
    out->validity = RT_VALIDITY_DUE;
  else
    out->validity = RT_VALIDITY_VALID;
}

const char *rt_validity_name(rt_validity v) {
  switch (v) {
  case RT_VALIDITY_VALID:
    return "valid";
  case RT_VALIDITY_MISSING:
    return "missing";
  case RT_VALIDITY_EXPIRED:
    return "expired";
  case RT_VALIDITY_DUE:
    return "renewal-due";
  }
  return "?";
}
