#include "cmd_policy.h"

#include <getopt.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "policy_events.h"
#include "policy_judge.h"
#include "rt_err.h"
#include "rt_eventlog.h"
#include "rt_evstate.h"
#include "rt_hex.h"
#include "rt_json.h"
#include "rt_pcrsel.h"

#define PROG "rattest-verifier policy"
/* What from-log selects by default: firmware, boot loader, secure boot
 * configuration, kernel command line (8), files GRUB read (9), shim's MOK
 * state (14): the PCRs the derived state reads. */
#define STATE_PCRS (((1u << 10) - 1u) | (1u << 14))
#define DEFAULT_PIN 0xffu /* PCRs 0-7 */

void rt_cmd_policy_usage(FILE *f) {
  fprintf(f, "Usage: " PROG " from-log LOG [--bank BANK] [--pin PCRS] [--dbx]\n"
             "       " PROG " check POLICY LOG\n"
             "\n"
             "from-log  prints a policy (JSON, docs/policy.md) that a machine booting as in\n"
             "          LOG (a known-good TCG event log) satisfies, for editing rather than\n"
             "          hand-copying digests: the PCRs with events among 0-9 and 14, values\n"
             "          pinned for the PCRs in --pin and \"any\" for the others, and event\n"
             "          rules from what the log proves (secure boot, separators, boot\n"
             "          application digests, signing authorities, kernel command line).\n"
             "check     replays LOG and applies POLICY's PCR values and event rules to it,\n"
             "          as the service does once a quote has matched the log.\n"
             "\n"
             "Options:\n"
             "  --bank BANK  sha1, sha256 or sha384 (default sha256, or sha1 for a SHA1-only\n"
             "               log; sha1 also sets allow_sha1)\n"
             "  --pin PCRS   PCRs whose values are pinned, e.g. 0-7,14 (default 0-7), or\n"
             "               none; other selected PCRs accept any value and are judged by\n"
             "               the rules\n"
             "  --dbx        require every SHA-256 revocation of the log's dbx\n"
             "               (events.dbx_required): no machine with an older dbx passes\n"
             "  -h, --help   show this help\n"
             "\n"
             "Exit status: 0 policy printed / log passes, 1 unreadable log or policy, or the\n"
             "log fails the policy (the reason names rule, PCR and event), 2 bad usage.\n");
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, PROG ": ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\nTry 'rattest-verifier help policy'.\n");
  va_end(ap);
  return 2;
}

/* A log parsed and replayed; from-log derives its state for one bank. */
typedef struct {
  rt_eventlog log;
  rt_eventlog_pcrs pcrs;
  rt_evstate state;
} loaded_log;

static int load_log(const char *path, loaded_log *l) {
  rt_err err;
  memset(l, 0, sizeof *l);
  if (rt_eventlog_read_file(path, NULL, &l->log, &err) != RT_OK ||
      rt_eventlog_replay(&l->log, &l->pcrs, &err) != RT_OK) {
    fprintf(stderr, PROG ": %s\n", err.msg);
    return 1;
  }
  return 0;
}

/* The state as a quote of every PCR in bank would prove it. */
static int derive_for(loaded_log *l, TPM2_ALG_ID bank) {
  rt_err err;
  rt_evproof proof = {.n = 1};
  proof.banks[0].alg = bank;
  proof.banks[0].pcrs = (UINT32_C(1) << RT_EVENTLOG_NUM_PCRS) - 1;
  if (rt_evstate_derive(&l->log, &proof, &l->state, &err) != RT_OK) {
    fprintf(stderr, PROG ": %s\n", err.msg);
    return 1;
  }
  return 0;
}

/* Whether rules reading pcr can pass on this log: no flawed event there
 * (PCR 7 also needs its separator, without an error). */
static bool rules_can_read(const loaded_log *l, uint32_t selected, uint32_t pcr) {
  const rt_evstate *st = &l->state;
  if (!(selected & (1u << pcr)) || rt_evstate_first_flaw(&l->log, st, pcr) >= 0)
    return false;
  return pcr != 7 || ((st->separators & ~st->separator_error) & (1u << 7));
}

static void free_log(loaded_log *l) {
  rt_evstate_free(&l->state);
  rt_eventlog_free(&l->log);
}

/* ---- from-log ------------------------------------------------------------- */

static json_t *hex_string(const uint8_t *b, size_t n) {
  char hex[2 * RT_EVENTLOG_MAX_DIGEST + 1];
  if (n > RT_EVENTLOG_MAX_DIGEST)
    return NULL;
  rt_hex(b, n, hex);
  return json_string(hex);
}

/* Appends hex to arr unless already there: logs measure the same image or
 * authority more than once. */
static bool push_unique(json_t *arr, const uint8_t *b, size_t n) {
  char hex[2 * RT_EVENTLOG_MAX_DIGEST + 1];
  size_t i;
  json_t *e;
  if (n > RT_EVENTLOG_MAX_DIGEST)
    return false;
  rt_hex(b, n, hex);
  json_array_foreach(arr, i, e) {
    if (strcmp(json_string_value(e), hex) == 0)
      return true;
  }
  return rt_jpush(arr, json_string(hex));
}

/* The command line as an anchored POSIX extended expression matching exactly
 * that text. */
static char *literal_regex(const char *s) {
  size_t n = strlen(s);
  char *out = malloc(2 * n + 3), *o = out;
  if (out == NULL)
    return NULL;
  *o++ = '^';
  for (; *s != '\0'; s++) {
    if (strchr(".[]{}()\\*+?^$|", *s) != NULL)
      *o++ = '\\';
    *o++ = *s;
  }
  *o++ = '$';
  *o = '\0';
  return out;
}

/* "separators": the PCRs 0-7 the rules can read whose separator is the
 * normal one. false: out of memory. */
static bool rule_separators(json_t *ev, const loaded_log *l, uint32_t selected) {
  const rt_evstate *st = &l->state;
  uint32_t seps = 0;
  for (uint32_t p = 0; p < 8; p++)
    if (rules_can_read(l, selected, p) && ((st->separators & ~st->separator_error) & (1u << p)))
      seps |= 1u << p;
  if (seps == 0)
    return true;
  json_t *a = json_array();
  bool ok = rt_jset(ev, "separators", a);
  for (int p = 0; ok && p < 8; p++)
    if (seps & (1u << p))
      ok = rt_jpush(a, json_integer(p));
  return ok;
}

/* "boot_apps": {"allow": every boot application's digest in bank}. */
static bool rule_boot_apps(json_t *ev, const loaded_log *l, TPM2_ALG_ID bank) {
  const rt_evstate *st = &l->state;
  json_t *apps = json_object(), *allow = json_array();
  bool ok = rt_jset(ev, "boot_apps", apps) && rt_jset(apps, "allow", allow);
  for (size_t i = 0; ok && i < st->n_boot_apps; i++) {
    const rt_eventlog_digest *d =
        rt_eventlog_event_digest(&l->log.events[st->boot_apps[i].event], bank);
    ok = d != NULL && push_unique(allow, d->bytes, d->len);
  }
  return ok;
}

/* "dbx_required": every SHA-256 entry the log's dbx holds, each once. */
static bool rule_dbx(json_t *ev, const rt_evstate *st) {
  json_t *a = json_array();
  bool ok = rt_jset(ev, "dbx_required", a);
  for (size_t i = 0; ok && i < st->n_dbx_sha256; i++)
    ok = push_unique(a, st->dbx_sha256[i], 32);
  return ok;
}

static bool rule_authorities(json_t *ev, const rt_evstate *st) {
  json_t *a = json_array();
  bool ok = rt_jset(ev, "authorities", a);
  for (size_t i = 0; ok && i < st->n_authorities; i++)
    ok = push_unique(a, st->authorities[i].sha256, 32);
  return ok;
}

/* The expression that matches exactly the measured lines: "(a|b)", or "a"
 * for one line. NULL: out of memory. */
static char *cmdline_regex(const rt_evstate *st) {
  size_t len = 3;
  char **parts = calloc(st->n_cmdlines, sizeof *parts);
  bool ok = parts != NULL;
  for (size_t i = 0; ok && i < st->n_cmdlines; i++) {
    ok = (parts[i] = literal_regex(st->cmdlines[i].cmdline)) != NULL;
    if (ok)
      len += strlen(parts[i]) + 3;
  }
  char *re = ok ? malloc(len) : NULL;
  if (re != NULL) {
    strcpy(re, st->n_cmdlines > 1 ? "(" : "");
    for (size_t i = 0; i < st->n_cmdlines; i++) {
      if (i > 0)
        strcat(re, "|");
      strcat(re, parts[i]);
    }
    if (st->n_cmdlines > 1)
      strcat(re, ")");
  }
  for (size_t i = 0; parts != NULL && i < st->n_cmdlines; i++)
    free(parts[i]);
  free(parts);
  return re;
}

/* One expression for all of them: every measured line must match. */
static bool rule_cmdline(json_t *ev, const rt_evstate *st) {
  char *re = cmdline_regex(st);
  bool ok = re != NULL && rt_jset(ev, "kernel_cmdline", json_string(re));
  free(re);
  return ok;
}

/* The "events" rules the log passes, for the PCRs the rules can read in
 * bank. NULL: out of memory. */
static json_t *event_rules(const loaded_log *l, TPM2_ALG_ID bank, uint32_t selected, bool dbx) {
  const rt_evstate *st = &l->state;
  json_t *ev = json_object();
  if (ev == NULL)
    return NULL;
  bool pcr7 = rules_can_read(l, selected, 7);
  bool ok = st->n_mismatches != 0 || rt_jset(ev, "no_mismatched_events", json_true());
  if (ok && st->secure_boot == RT_SECURE_BOOT_ON && pcr7)
    ok = rt_jset(ev, "secure_boot", json_true());
  ok = ok && rule_separators(ev, l, selected);
  if (ok && st->n_boot_apps > 0 && rules_can_read(l, selected, 4))
    ok = rule_boot_apps(ev, l, bank);
  if (ok && dbx && st->n_dbx_sha256 > 0 && pcr7)
    ok = rule_dbx(ev, st);
  if (ok && st->n_authorities > 0 && pcr7)
    ok = rule_authorities(ev, st);
  if (ok && st->n_cmdlines > 0 && rules_can_read(l, selected, 8))
    ok = rule_cmdline(ev, st);
  if (!ok) {
    json_decref(ev);
    return NULL;
  }
  return ev;
}

static json_t *policy_from_log(const loaded_log *l, TPM2_ALG_ID bank, uint32_t pin, bool dbx) {
  const rt_eventlog_bank *b = rt_eventlog_pcrs_bank(&l->pcrs, bank);
  const char *bname = rt_eventlog_alg_name(bank);
  uint32_t selected = b->extended & STATE_PCRS;
  json_t *root = json_object(), *pcrs = json_object(), *sel = json_array();
  json_t *expected = json_object(), *values = json_object();
  bool ok = root != NULL && rt_jset(root, "pcrs", pcrs) && rt_jset(pcrs, bname, sel) &&
            rt_jset(root, "expected", expected) && rt_jset(expected, bname, values);
  if (ok && bank == TPM2_ALG_SHA1)
    ok = rt_jset(root, "allow_sha1", json_true());
  for (int p = 0; ok && p < RT_EVENTLOG_NUM_PCRS; p++) {
    if (!(selected & (1u << p)))
      continue;
    char key[4];
    snprintf(key, sizeof key, "%d", p);
    ok = rt_jpush(sel, json_integer(p));
    if (ok && (pin & (1u << p))) {
      json_t *list = json_array();
      ok = rt_jset(values, key, list) && rt_jpush(list, hex_string(b->pcr[p], b->size));
    } else if (ok) {
      ok = rt_jset(values, key, json_string("any"));
    }
  }
  if (ok)
    ok = rt_jset(root, "events", event_rules(l, bank, selected, dbx));
  if (!ok) {
    json_decref(root);
    return NULL;
  }
  return root;
}

static int judge(const rt_policy *policy, const loaded_log *l, char *why, size_t why_size);

typedef struct {
  const char *log;
  TPM2_ALG_ID bank; /* TPM2_ALG_ERROR: sha256 if the log has it, else sha1 */
  uint32_t pin;
  bool dbx;
} from_log_args;

/* "0-7,14" or "none" (a rules-only policy: every selected PCR "any"). */
static bool parse_pin(const char *arg, uint32_t *pin) {
  char text[64];
  TPML_PCR_SELECTION s;
  rt_err err;
  *pin = 0;
  if (strcmp(arg, "none") == 0)
    return true;
  snprintf(text, sizeof text, "sha256:%.50s", arg);
  if (rt_pcrsel_parse(text, &s, &err) != RT_OK)
    return false;
  for (uint32_t p = 0; p < RT_EVENTLOG_NUM_PCRS; p++)
    if (rt_pcrsel_has(&s, TPM2_ALG_SHA256, p))
      *pin |= 1u << p;
  return true;
}

/* -1 to go on, else the exit status (help, usage error). */
static int from_log_parse(int argc, char **argv, from_log_args *a) {
  static const struct option opts[] = {
      {"bank", required_argument, NULL, 'b'},
      {"pin", required_argument, NULL, 'p'},
      {"dbx", no_argument, NULL, 'd'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  *a = (from_log_args){NULL, TPM2_ALG_ERROR, DEFAULT_PIN, false};
  int c;
  optind = 0;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    if (c == 'b') {
      a->bank = rt_eventlog_alg_from_name(optarg);
      if (!rt_policy_bank_known(a->bank))
        return usage_error("--bank: \"%s\" is not sha1, sha256 or sha384", optarg);
    } else if (c == 'p' && !parse_pin(optarg, &a->pin)) {
      return usage_error("--pin: not a PCR list such as 0-7,14, or none: \"%s\"", optarg);
    } else if (c == 'd') {
      a->dbx = true;
    } else if (c == 'h') {
      rt_cmd_policy_usage(stdout);
      return 0;
    } else if (c != 'p') {
      return usage_error("bad option");
    }
  }
  if (optind + 1 != argc)
    return usage_error("from-log takes exactly one LOG");
  a->log = argv[optind];
  return -1;
}

/* The policy text for a loaded log, checked: what is printed must load, and
 * the log it came from must pass it (else the generator is wrong, and the
 * operator should not find out later). NULL after a message. */
static char *generate(loaded_log *l, const from_log_args *a) {
  rt_err err;
  const rt_eventlog_bank *b = rt_eventlog_pcrs_bank(&l->pcrs, a->bank);
  if (b == NULL) {
    fprintf(stderr, PROG ": %s: the log has no %s bank\n", a->log, rt_eventlog_alg_name(a->bank));
    return NULL;
  }
  if ((b->extended & STATE_PCRS) == 0) {
    fprintf(stderr, PROG ": %s: no events in PCRs 0-9 or 14\n", a->log);
    return NULL;
  }
  if (derive_for(l, a->bank) != 0)
    return NULL;
  json_t *policy = policy_from_log(l, a->bank, a->pin, a->dbx);
  char *text = policy != NULL ? json_dumps(policy, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
  json_decref(policy);
  if (text == NULL) {
    fprintf(stderr, PROG ": out of memory\n");
    return NULL;
  }
  rt_policy *p = NULL;
  char why[512] = "", problem[600] = "";
  if (rt_policy_parse(text, strlen(text), &p, &err) != RT_OK)
    snprintf(problem, sizeof problem, "the generated policy does not load: %.400s", err.msg);
  else if (judge(p, l, why, sizeof why) != 0)
    snprintf(problem, sizeof problem, "the log fails its own policy: %s", why);
  rt_policy_free(p);
  if (problem[0] == '\0')
    return text;
  fprintf(stderr, PROG ": internal error: %s\n", problem);
  free(text);
  return NULL;
}

static int from_log(int argc, char **argv) {
  from_log_args a;
  int rc = from_log_parse(argc, argv, &a);
  if (rc >= 0)
    return rc;
  loaded_log l;
  if (load_log(a.log, &l) != 0) {
    free_log(&l);
    return 1;
  }
  if (a.bank == TPM2_ALG_ERROR)
    a.bank =
        rt_eventlog_pcrs_bank(&l.pcrs, TPM2_ALG_SHA256) != NULL ? TPM2_ALG_SHA256 : TPM2_ALG_SHA1;
  char *text = generate(&l, &a);
  if (text != NULL && l.state.n_flawed > 0)
    fprintf(stderr,
            PROG ": warning: %zu flawed event(s) (data that does not hash to its digest, or a "
                 "label the log cannot back); no rule reads their PCRs (see `rattest-verifier "
                 "eventlog`)\n",
            l.state.n_flawed);
  rc = text != NULL ? 0 : 1;
  if (text != NULL)
    printf("%s\n", text);
  free(text);
  free_log(&l);
  return rc;
}

/* ---- check ---------------------------------------------------------------- */

/* 0 pass, 1 fail (why says why), as the service judges the log once the
 * quote matched it (policy_judge.h). */
static int judge(const rt_policy *policy, const loaded_log *l, char *why, size_t why_size) {
  rt_log_verdict v;
  rt_err err;
  if (rt_policy_judge_replayed(policy, &l->log, &l->pcrs, &v, &err) != RT_OK) {
    snprintf(why, why_size, "%.400s", err.msg);
    return 1;
  }
  snprintf(why, why_size, "%s", v.why);
  return v.code == NULL ? 0 : 1;
}

static int check(int argc, char **argv) {
  if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
    rt_cmd_policy_usage(stdout);
    return 0;
  }
  if (argc != 3)
    return usage_error("check takes POLICY and LOG");
  rt_err err;
  rt_policy *policy = NULL;
  if (rt_policy_load(argv[1], &policy, &err) != RT_OK) {
    fprintf(stderr, PROG ": %s\n", err.msg);
    return 1;
  }
  loaded_log l;
  int rc = load_log(argv[2], &l);
  if (rc == 0) {
    char why[512] = "";
    rc = judge(policy, &l, why, sizeof why);
    if (rc == 0)
      printf("%s: passes %s\n", argv[2], argv[1]);
    else
      printf("%s: fails %s: %s\n", argv[2], argv[1], why);
  }
  free_log(&l);
  rt_policy_free(policy);
  return rc;
}

int rt_cmd_policy(int argc, char **argv) {
  if (argc < 2)
    return usage_error("missing subcommand (from-log or check)");
  if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
    rt_cmd_policy_usage(stdout);
    return 0;
  }
  if (strcmp(argv[1], "from-log") == 0)
    return from_log(argc - 1, argv + 1);
  if (strcmp(argv[1], "check") == 0)
    return check(argc - 1, argv + 1);
  return usage_error("unknown subcommand \"%s\" (from-log or check)", argv[1]);
}
