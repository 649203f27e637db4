#include "policy_events.h"

#include <regex.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy_json.h"
#include "rt_hex.h"

#define PCR_BOOT_APPS 4
#define PCR_SECURE_BOOT 7
#define PCR_CMDLINE 8
#define MAX_CMDLINE_REGEX 4096

/* A digest of one bank: boot application allow-lists name images by
 * whichever bank the operator has (sha1, sha256, sha384 by their length);
 * dbx entries and authorities are SHA-256. */
typedef struct {
  TPM2_ALG_ID alg;
  size_t len;
  uint8_t d[48];
} digest;

typedef struct {
  size_t n;
  digest *v;
} digest_list;

struct rt_policy_events {
  rt_evproof proof;       /* what a quote of the policy's selection proves */
  bool secure_boot;       /* secure boot must be on */
  bool no_mismatch;       /* no event in a quoted PCR may lie about its data */
  uint32_t separators;    /* PCRs that need a verified, non-error separator */
  digest_list apps_allow; /* n == 0: no allow-list */
  digest_list apps_forbid;
  digest_list dbx_required;
  digest_list authorities; /* n == 0: no authority rule */
  bool has_cmdline;
  regex_t cmdline;
  char *cmdline_src;
};

static rt_code nomem(rt_err *err) {
  return rt_err_set(err, RT_E_NOMEM, "policy: out of memory");
}

static rt_code need_pcr(const char *path, uint32_t quoted, uint32_t pcr, rt_err *err) {
  if (quoted & (1u << pcr))
    return RT_OK;
  return rt_err_set(err, RT_E_INVALID,
                    "%s: needs PCR %u in pcrs (the quote would not prove its events)", path, pcr);
}

/* The bank of a digest by its length: the banks a policy may demand. */
static TPM2_ALG_ID bank_of_len(size_t len) {
  return len == 20 ? TPM2_ALG_SHA1 : len == 32 ? TPM2_ALG_SHA256 : TPM2_ALG_SHA384;
}

/* A non-empty array of hex digests: of any bank (20, 32, 48 bytes), or
 * SHA-256 only. A digest of any bank must be of a bank in which the policy
 * demands PCR pcr: the quote proves no other (and a forbid-list entry that
 * could never match would be silently void). */
static rt_code parse_digests(const char *path, json_t *v, bool sha256_only, const rt_evproof *proof,
                             uint32_t pcr, digest_list *out, rt_err *err) {
  if (!json_is_array(v) || json_array_size(v) == 0)
    return rt_err_set(err, RT_E_INVALID, "%s: expected a non-empty array of %shex digests", path,
                      sha256_only ? "SHA-256 " : "");
  out->v = calloc(json_array_size(v), sizeof *out->v);
  if (out->v == NULL)
    return nomem(err);
  size_t i;
  json_t *e;
  json_array_foreach(v, i, e) {
    const char *hex = json_string_value(e);
    size_t len = hex != NULL ? strlen(hex) / 2 : 0;
    bool size_ok = sha256_only ? len == 32 : len == 20 || len == 32 || len == 48;
    if (!size_ok || !rt_unhex(hex, out->v[i].d, len))
      return rt_err_set(err, RT_E_INVALID,
                        sha256_only
                            ? "%s[%zu]: not 64 hex digits"
                            : "%s[%zu]: not a sha1, sha256 or sha384 digest (40, 64 or 96 hex "
                              "digits)",
                        path, i);
    out->v[i].len = len;
    out->v[i].alg = bank_of_len(len);
    out->n = i + 1;
    if (!sha256_only && !(rt_evproof_pcrs(proof, out->v[i].alg) & (1u << pcr)))
      return rt_err_set(err, RT_E_INVALID,
                        "%s[%zu]: a %s digest, but pcrs does not demand PCR %u in the %s bank "
                        "(the quote would not prove it)",
                        path, i, rt_eventlog_alg_name(out->v[i].alg), (unsigned)pcr,
                        rt_eventlog_alg_name(out->v[i].alg));
  }
  return RT_OK;
}

static rt_code parse_separators(json_t *v, uint32_t quoted, uint32_t *out, rt_err *err) {
  if (!json_is_array(v) || json_array_size(v) == 0)
    return rt_err_set(err, RT_E_INVALID, "events.separators: expected a non-empty array of PCRs");
  size_t i;
  json_t *e;
  json_array_foreach(v, i, e) {
    char path[48];
    snprintf(path, sizeof path, "events.separators[%zu]", i);
    json_int_t n = json_is_integer(e) ? json_integer_value(e) : -1;
    if (n < 0 || n > 23)
      return rt_err_set(err, RT_E_INVALID, "%s: expected a PCR index 0..23", path);
    if (*out & (1u << n))
      return rt_err_set(err, RT_E_INVALID, "%s: PCR %lld listed twice", path, (long long)n);
    rt_code code = need_pcr(path, quoted, (uint32_t)n, err);
    if (code != RT_OK)
      return code;
    *out |= 1u << n;
  }
  return RT_OK;
}

static rt_code parse_boot_apps(rt_policy_events *p, json_t *v, uint32_t quoted, rt_err *err) {
  if (!json_is_object(v) || json_object_size(v) == 0)
    return rt_err_set(err, RT_E_INVALID, "events.boot_apps: expected an object with allow/forbid");
  static const char *const keys[] = {"allow", "forbid", NULL};
  json_t *list;
  rt_code code = rt_policy_check_keys(v, "events.boot_apps", keys, err);
  if (code == RT_OK)
    code = need_pcr("events.boot_apps", quoted, PCR_BOOT_APPS, err);
  if (code == RT_OK && (list = json_object_get(v, "allow")) != NULL)
    code = parse_digests("events.boot_apps.allow", list, false, &p->proof, PCR_BOOT_APPS,
                         &p->apps_allow, err);
  if (code == RT_OK && (list = json_object_get(v, "forbid")) != NULL)
    code = parse_digests("events.boot_apps.forbid", list, false, &p->proof, PCR_BOOT_APPS,
                         &p->apps_forbid, err);
  return code;
}

static rt_code parse_cmdline(rt_policy_events *p, json_t *v, uint32_t quoted, rt_err *err) {
  const char *re = json_string_value(v);
  if (re == NULL || *re == '\0' || strlen(re) > MAX_CMDLINE_REGEX)
    return rt_err_set(err, RT_E_INVALID,
                      "events.kernel_cmdline: expected a POSIX extended regular expression "
                      "(1..%d characters)",
                      MAX_CMDLINE_REGEX);
  rt_code code = need_pcr("events.kernel_cmdline", quoted, PCR_CMDLINE, err);
  if (code != RT_OK)
    return code;
  int rc = regcomp(&p->cmdline, re, REG_EXTENDED | REG_NOSUB);
  if (rc != 0) {
    char msg[128];
    regerror(rc, &p->cmdline, msg, sizeof msg);
    return rt_err_set(err, RT_E_INVALID, "events.kernel_cmdline: %s", msg);
  }
  p->has_cmdline = true;
  p->cmdline_src = strdup(re);
  return p->cmdline_src != NULL ? RT_OK : nomem(err);
}

static rt_code parse_all(rt_policy_events *p, json_t *v, uint32_t quoted, rt_err *err) {
  static const char *const keys[] = {"secure_boot",          "separators",  "boot_apps",
                                     "dbx_required",         "authorities", "kernel_cmdline",
                                     "no_mismatched_events", NULL};
  json_t *e;
  rt_code code = rt_policy_check_keys(v, "events", keys, err);
  if (code == RT_OK)
    code = rt_policy_get_bool(v, "events", "secure_boot", &p->secure_boot, err);
  if (code == RT_OK)
    code = rt_policy_get_bool(v, "events", "no_mismatched_events", &p->no_mismatch, err);
  if (code == RT_OK && p->secure_boot)
    code = need_pcr("events.secure_boot", quoted, PCR_SECURE_BOOT, err);
  if (code == RT_OK && (e = json_object_get(v, "separators")) != NULL)
    code = parse_separators(e, quoted, &p->separators, err);
  if (code == RT_OK && (e = json_object_get(v, "boot_apps")) != NULL)
    code = parse_boot_apps(p, e, quoted, err);
  if (code == RT_OK && (e = json_object_get(v, "dbx_required")) != NULL) {
    code = need_pcr("events.dbx_required", quoted, PCR_SECURE_BOOT, err);
    if (code == RT_OK)
      code = parse_digests("events.dbx_required", e, true, &p->proof, PCR_SECURE_BOOT,
                           &p->dbx_required, err);
  }
  if (code == RT_OK && (e = json_object_get(v, "authorities")) != NULL) {
    code = need_pcr("events.authorities", quoted, PCR_SECURE_BOOT, err);
    if (code == RT_OK)
      code = parse_digests("events.authorities", e, true, &p->proof, PCR_SECURE_BOOT,
                           &p->authorities, err);
  }
  if (code == RT_OK && (e = json_object_get(v, "kernel_cmdline")) != NULL)
    code = parse_cmdline(p, e, quoted, err);
  return code;
}

rt_code rt_policy_events_parse(json_t *v, const rt_evproof *proof, rt_policy_events **out,
                               rt_err *err) {
  *out = NULL;
  if (!json_is_object(v))
    return rt_err_set(err, RT_E_INVALID, "events: expected an object of rules");
  rt_policy_events *p = calloc(1, sizeof *p);
  if (p == NULL)
    return nomem(err);
  p->proof = *proof;
  rt_code code = parse_all(p, v, rt_evproof_any(proof), err);
  if (code != RT_OK) {
    rt_policy_events_free(p);
    return code;
  }
  *out = p;
  return RT_OK;
}

void rt_policy_events_free(rt_policy_events *p) {
  if (p == NULL)
    return;
  free(p->apps_allow.v);
  free(p->apps_forbid.v);
  free(p->dbx_required.v);
  free(p->authorities.v);
  if (p->has_cmdline)
    regfree(&p->cmdline);
  free(p->cmdline_src);
  free(p);
}

/* ---- Evaluation ---------------------------------------------------------- */

static bool fail(char *why, size_t why_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static bool fail(char *why, size_t why_size, const char *fmt, ...) {
  if (why != NULL && why_size > 0) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_size, fmt, ap);
    va_end(ap);
  }
  return false;
}

/* "PCR 7 event 9 (EV_EFI_VARIABLE_DRIVER_CONFIG)". */
static const char *event_label(const rt_eventlog *log, uint32_t i, char *buf, size_t size) {
  const rt_eventlog_event *ev = &log->events[i];
  const char *name = rt_eventlog_type_name(ev->type);
  if (name != NULL)
    snprintf(buf, size, "PCR %u event %u (%s)", (unsigned)ev->pcr, (unsigned)i, name);
  else
    snprintf(buf, size, "PCR %u event %u (type 0x%08x)", (unsigned)ev->pcr, (unsigned)i,
             (unsigned)ev->type);
  return buf;
}

/* Measured text goes into log lines: keep it printable and short. */
static void printable(const char *s, char *out, size_t size) {
  size_t o = 0;
  for (; *s != '\0' && o + 4 < size; s++)
    out[o++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
  if (*s != '\0' && o + 4 <= size) {
    memcpy(out + o, "...", 3);
    o += 3;
  }
  out[o] = '\0';
}

/* Every rule first asks that the PCR it reads holds no flawed event
 * (rt_evclass.h): a flawed event could be what the rule judges, under a
 * label the rule would not look at. */
static bool pcr_clean(const char *rule, const rt_eventlog *log, const rt_evstate *st, uint32_t pcr,
                      char *why, size_t why_size) {
  char l[96], text[200];
  long i = rt_evstate_first_flaw(log, st, pcr);
  if (i < 0)
    return true;
  const rt_eventlog_event *ev = &log->events[i];
  return fail(why, why_size, "rule events.%s: %s: %s", rule,
              event_label(log, (uint32_t)i, l, sizeof l),
              rt_evflaw_text(st->flaws[i], ev, text, sizeof text));
}

/* The separator the rules of PCR 7 rely on: without it, Secure Boot
 * configuration cannot be told from events extended after boot. */
static bool has_separator(const char *rule, const rt_evstate *st, uint32_t pcr, char *why,
                          size_t why_size) {
  if (!(st->separators & (1u << pcr)))
    return fail(why, why_size,
                "rule events.%s: PCR %u: no verified EV_SEPARATOR, so what the firmware measured "
                "cannot be told from what was extended after boot",
                rule, (unsigned)pcr);
  if (st->separator_error & (1u << pcr))
    return fail(why, why_size, "rule events.%s: PCR %u: the separator reports a firmware error",
                rule, (unsigned)pcr);
  return true;
}

/* What the rules of one PCR share: a clean PCR and, for PCR 7, its
 * separator. */
static bool pcr_ready(const char *rule, const rt_eventlog *log, const rt_evstate *st, uint32_t pcr,
                      char *why, size_t why_size) {
  return pcr_clean(rule, log, st, pcr, why, why_size) &&
         (pcr != PCR_SECURE_BOOT || has_separator(rule, st, pcr, why, why_size));
}

static bool check_no_mismatch(const rt_eventlog *log, const rt_evstate *st, char *why,
                              size_t why_size) {
  char l[96];
  for (size_t i = 0; i < log->n_events && i < st->n_events; i++)
    if (st->checks[i] == RT_EVCHECK_MISMATCH)
      return fail(why, why_size,
                  "rule events.no_mismatched_events: %s: the event's data does not hash to its "
                  "digest",
                  event_label(log, (uint32_t)i, l, sizeof l));
  return true;
}

static bool check_secure_boot(const rt_eventlog *log, const rt_evstate *st, char *why,
                              size_t why_size) {
  char l[96];
  if (!pcr_ready("secure_boot", log, st, PCR_SECURE_BOOT, why, why_size))
    return false;
  if (st->secure_boot == RT_SECURE_BOOT_ON)
    return true;
  if (st->secure_boot == RT_SECURE_BOOT_OFF)
    return fail(why, why_size, "rule events.secure_boot: %s SecureBoot: secure boot is off",
                event_label(log, st->secure_boot_event, l, sizeof l));
  return fail(why, why_size,
              "rule events.secure_boot: PCR 7: no verified SecureBoot variable before the "
              "separator");
}

static bool check_separators(const rt_eventlog *log, const rt_evstate *st, uint32_t need, char *why,
                             size_t why_size) {
  for (uint32_t pcr = 0; pcr < 24; pcr++)
    if ((need & (1u << pcr)) && (!pcr_clean("separators", log, st, pcr, why, why_size) ||
                                 !has_separator("separators", st, pcr, why, why_size)))
      return false;
  return true;
}

/* Whether one of the event's proven digests in PCR 4 is on the list:
 * entries are compared with the digest of their own bank only, and only
 * when the quote proves that bank's PCR 4. */
static bool app_in(const rt_evproof *proof, const rt_eventlog_event *ev, const digest_list *list) {
  for (size_t i = 0; i < list->n; i++) {
    const rt_eventlog_digest *d = rt_eventlog_event_digest(ev, list->v[i].alg);
    if (d != NULL && (rt_evproof_pcrs(proof, list->v[i].alg) & (1u << PCR_BOOT_APPS)) &&
        d->len == list->v[i].len && memcmp(d->bytes, list->v[i].d, d->len) == 0)
      return true;
  }
  return false;
}

/* "sha256:<hex>": the event's sha256 digest, else its first one. */
static const char *app_hex(const rt_eventlog_event *ev, char out[2 * 64 + 16]) {
  const rt_eventlog_digest *g = rt_eventlog_event_digest(ev, TPM2_ALG_SHA256);
  if (g == NULL && ev->n_digests > 0)
    g = &ev->digests[0];
  if (g == NULL || g->len > 64) {
    snprintf(out, 16, "(no digest)");
    return out;
  }
  char alg[8];
  int n = snprintf(out, 16, "%s:", rt_eventlog_alg_label(g->alg, alg));
  rt_hex(g->bytes, g->len, out + n);
  return out;
}

static bool check_boot_apps(const rt_policy_events *p, const rt_eventlog *log, const rt_evstate *st,
                            char *why, size_t why_size) {
  char l[96], hex[2 * 64 + 16], path[160];
  if (!pcr_ready("boot_apps", log, st, PCR_BOOT_APPS, why, why_size))
    return false;
  for (size_t i = 0; i < st->n_boot_apps; i++) {
    uint32_t e = st->boot_apps[i].event;
    const rt_eventlog_event *ev = &log->events[e];
    printable(st->boot_apps[i].path != NULL ? st->boot_apps[i].path : "no path", path, sizeof path);
    if (p->apps_forbid.n > 0 && app_in(&p->proof, ev, &p->apps_forbid))
      return fail(why, why_size, "rule events.boot_apps.forbid: %s %s: %s is forbidden",
                  event_label(log, e, l, sizeof l), path, app_hex(ev, hex));
    if (p->apps_allow.n > 0 && !app_in(&p->proof, ev, &p->apps_allow))
      return fail(why, why_size, "rule events.boot_apps.allow: %s %s: %s is not allowed",
                  event_label(log, e, l, sizeof l), path, app_hex(ev, hex));
  }
  return true;
}

/* Whether the SHA-256 d is on a list of SHA-256 digests. */
static bool in_sha256s(const digest_list *list, const uint8_t d[32]) {
  for (size_t i = 0; i < list->n; i++)
    if (memcmp(list->v[i].d, d, 32) == 0)
      return true;
  return false;
}

static bool check_dbx(const rt_policy_events *p, const rt_eventlog *log, const rt_evstate *st,
                      char *why, size_t why_size) {
  char l[96], hex[65];
  if (!pcr_ready("dbx_required", log, st, PCR_SECURE_BOOT, why, why_size))
    return false;
  if (!st->dbx.present)
    return fail(why, why_size,
                "rule events.dbx_required: PCR 7: no verified dbx variable before the separator");
  for (size_t i = 0; i < p->dbx_required.n; i++) {
    bool found = false;
    for (size_t j = 0; j < st->n_dbx_sha256 && !found; j++)
      found = memcmp(st->dbx_sha256[j], p->dbx_required.v[i].d, 32) == 0;
    if (!found) {
      rt_hex(p->dbx_required.v[i].d, 32, hex);
      return fail(why, why_size, "rule events.dbx_required: %s dbx: revocation %s is missing",
                  event_label(log, st->dbx.event, l, sizeof l), hex);
    }
  }
  return true;
}

static bool check_authorities(const rt_policy_events *p, const rt_eventlog *log,
                              const rt_evstate *st, char *why, size_t why_size) {
  char l[96], hex[65], subject[160];
  if (!pcr_ready("authorities", log, st, PCR_SECURE_BOOT, why, why_size))
    return false;
  for (size_t i = 0; i < st->n_authorities; i++) {
    const rt_evstate_authority *a = &st->authorities[i];
    if (in_sha256s(&p->authorities, a->sha256))
      continue;
    rt_hex(a->sha256, 32, hex);
    printable(a->subject != NULL ? a->subject : "not a certificate", subject, sizeof subject);
    return fail(why, why_size, "rule events.authorities: %s %s \"%s\": authority %s is not allowed",
                event_label(log, a->event, l, sizeof l), a->variable ? a->variable : "?", subject,
                hex);
  }
  return true;
}

static bool check_cmdline(const rt_policy_events *p, const rt_eventlog *log, const rt_evstate *st,
                          char *why, size_t why_size) {
  char l[96], text[200];
  if (!pcr_ready("kernel_cmdline", log, st, PCR_CMDLINE, why, why_size))
    return false;
  if (st->n_cmdlines == 0)
    return fail(why, why_size,
                "rule events.kernel_cmdline: PCR 8: no verified kernel command line");
  for (size_t i = 0; i < st->n_cmdlines; i++) {
    if (regexec(&p->cmdline, st->cmdlines[i].cmdline, 0, NULL, 0) == 0)
      continue;
    printable(st->cmdlines[i].cmdline, text, sizeof text);
    return fail(why, why_size,
                "rule events.kernel_cmdline: %s: kernel command line \"%s\" does not match the "
                "policy's expression",
                event_label(log, st->cmdlines[i].event, l, sizeof l), text);
  }
  return true;
}

bool rt_policy_events_check(const rt_policy_events *p, const rt_eventlog *log, const rt_evstate *st,
                            char *why, size_t why_size) {
  if (p == NULL)
    return true;
  if (p->no_mismatch && !check_no_mismatch(log, st, why, why_size))
    return false;
  if (p->secure_boot && !check_secure_boot(log, st, why, why_size))
    return false;
  if (p->separators != 0 && !check_separators(log, st, p->separators, why, why_size))
    return false;
  if ((p->apps_allow.n > 0 || p->apps_forbid.n > 0) && !check_boot_apps(p, log, st, why, why_size))
    return false;
  if (p->dbx_required.n > 0 && !check_dbx(p, log, st, why, why_size))
    return false;
  if (p->authorities.n > 0 && !check_authorities(p, log, st, why, why_size))
    return false;
  if (p->has_cmdline && !check_cmdline(p, log, st, why, why_size))
    return false;
  return true;
}

const rt_evproof *rt_policy_events_proof(const rt_policy_events *p) {
  return &p->proof;
}
