/* Forged event logs (issue 11): every real log in tests/data/eventlogs,
 * every event rule given a value its honest log fails, and every forgery
 * tests/tools/forge.h writes of that log, judged as rt_policy_judge_log
 * judges them. No forgery may turn the refusal into an acceptance.
 *
 * A forgery is what root on a machine with a genuine TPM can send. Either it
 * keeps the replay of the quoted bank (asserted here by replaying): events
 * relabelled, GRUB prefixes rewritten, an extra bank the quote does not
 * cover, events moved across separators; or it extends the TPM after boot:
 * approving events appended, alone and with the honest events that show the
 * refusal relabelled (the attack shape of the issue).
 *
 * The policy `policy from-log --pin none` writes (which the honest log
 * passes) sees every mutation too, for robustness under the sanitizers: no
 * verdict is asserted there beyond "no error".
 *
 * rt_policy_judge_log derives the log's state again for every policy, and
 * the X.509 parsing of authorities makes that most of the time; here the
 * state is derived once per mutation (and proof) and each policy's rules
 * run on it, as rt_policy_judge_replayed runs them. Every acceptance, and
 * one policy in turn every CHECK_EVERY mutations, goes through
 * rt_policy_judge_log itself, which must agree word for word.
 *
 * Usage: test_forgery DATA_DIR   (ctest: forgery; DATA_DIR is
 * tests/data/eventlogs) */
#include <dirent.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd_policy.h"
#include "forge.h"
#include "policy.h"
#include "policy_judge.h"
#include "rt_evdata.h"
#include "rt_eventlog.h"
#include "rt_evstate.h"
#include "rt_file.h"
#include "rt_hex.h"
#include "rt_test.h"
#include "rt_uefi.h"

/* The PCRs from-log selects and the derived state reads: 0-9 and 14. */
#define STATE_PCRS (((UINT32_C(1) << 10) - 1) | UINT32_C(1) << 14)
#define PCR_APPS 4
#define PCR_SECURE_BOOT 7
#define PCR_CMDLINE 8
#define MAX_CASES 48
#define MAX_TYPES 64
#define MAX_LIST 16
/* Every CHECK_EVERY mutations, one policy in turn also goes through
 * rt_policy_judge_log (judge_parsed). */
#define CHECK_EVERY 8

static const struct {
  const char *dir, *file;
} real_logs[] = {
    {"arch-linux-workstation", "arch-linux-workstation.bin"},
    {"gce-cos85", "eventlog.bin"},
    {"glinux-alex-laptop", "glinux-alex.bin"},
    {"rhel8-gce-vtpm", "rhel8-uefi.bin"},
    {"windows-gcp-shielded-vm", "eventlog.bin"},
};

/* What the refusing policies approve and the honest logs lack: the forger
 * appends exactly these. */
static const char approved_cmdline[] = "/vmlinuz-approved root=/dev/approved ro";
static const char approved_regex[] = "^/vmlinuz-approved root=/dev/approved ro$";
static const char forged_cert[] = "rattest forgery: a signing certificate no firmware measured";
static uint8_t forged_cert_sha256[32];
static uint8_t forged_dbx[32];
static const uint32_t unknown_types[] = {0x8000beefu, 0x00001234u};

enum { FAM_RELABEL, FAM_BANK, FAM_MOVE, FAM_APPEND, FAM_COMBO, N_FAM };
static const char *const family_names[N_FAM] = {"relabel", "extra bank", "move", "append",
                                                "relabel+append"};

typedef struct {
  char rule[160];
  rt_policy *policy;
  bool accepting; /* from-log --pin none: judged for robustness only */
  /* The honest log is refused because something is not measured at all (a
   * separator, a command line). Root can extend it after boot, and nothing
   * in a log tells that extension from the firmware's or the boot loader's
   * (docs/policy.md, "What no rule can prove"): for these, appended events
   * may turn the refusal into an acceptance, and are counted as such. */
  bool absence;
  char honest_why[512]; /* the honest log's refusal */
} policy_case;

typedef struct {
  const char *name;
  char path[1024];
  uint8_t *buf;
  size_t len;
  rt_eventlog log;
  rt_eventlog_pcrs *replay; /* the honest log's */
  rt_evstate st;            /* as a quote of every PCR of bank proves it */
  rt_forge model;
  TPM2_ALG_ID bank; /* demanded: sha256, or sha1 for a SHA1-only log */
  uint16_t bank_size;
  uint32_t pcrs;                       /* PCRs with events among STATE_PCRS */
  uint8_t app[RT_EVENTLOG_MAX_DIGEST]; /* allow-listed; no app of the log has it */
  size_t n_cases;
  policy_case cases[MAX_CASES];
  size_t n_pending; /* refusing rules, before their policies are written */
  struct {
    json_t *rule;
    uint32_t pcrs;
    bool absence;
    char desc[160];
  } pending[MAX_CASES];
} real_log;

/* The family of the mutation being judged (record reads it). */
static int judged_family;

static struct {
  size_t policies, skipped, mutations, judged, checked, accepted, derived, absence_limits;
  size_t family[N_FAM];
} total;

/* Relabelling targets: every TCG type and two unknown values, but not
 * EV_NO_ACTION: replay skips it, so that label takes the event out of what
 * the TPM extended, and the quote would not match (no forgery). */
static uint32_t types[MAX_TYPES];
static size_t n_types;

static void init_types(void) {
  uint32_t all[MAX_TYPES];
  size_t n = rt_forge_event_types(all, MAX_TYPES - 2);
  for (size_t i = 0; i < n; i++)
    if (all[i] != RT_EV_NO_ACTION)
      types[n_types++] = all[i];
  for (size_t i = 0; i < sizeof unknown_types / sizeof unknown_types[0]; i++)
    types[n_types++] = unknown_types[i];
}

static const char *type_label(uint32_t type, char buf[16]) {
  const char *name = rt_eventlog_type_name(type);
  if (name != NULL)
    return name;
  snprintf(buf, 16, "0x%08x", (unsigned)type);
  return buf;
}

static size_t first_event(const rt_forge *f) {
  return f->legacy ? 0 : 1;
}

/* ---- the real logs ------------------------------------------------------- */

static bool derive_state(real_log *l, rt_err *err) {
  rt_evproof proof = {.n = 1};
  proof.banks[0].alg = l->bank;
  proof.banks[0].pcrs = (UINT32_C(1) << RT_EVENTLOG_NUM_PCRS) - 1;
  return rt_evstate_derive(&l->log, &proof, &l->st, err) == RT_OK;
}

static bool load_log(real_log *l, const char *dir, size_t k) {
  rt_err err = {0};
  memset(l, 0, sizeof *l);
  l->name = real_logs[k].dir;
  snprintf(l->path, sizeof l->path, "%s/%s/%s", dir, real_logs[k].dir, real_logs[k].file);
  l->replay = calloc(1, sizeof *l->replay);
  bool ok = l->replay != NULL &&
            rt_file_read(l->path, RT_EVENTLOG_DEFAULT_MAX_SIZE, &l->buf, &l->len, &err) == RT_OK &&
            rt_eventlog_parse(l->buf, l->len, NULL, &l->log, &err) == RT_OK &&
            rt_eventlog_replay(&l->log, l->replay, &err) == RT_OK &&
            rt_forge_from_log(&l->log, &l->model, &err) == RT_OK;
  if (ok) {
    l->bank =
        rt_eventlog_pcrs_bank(l->replay, TPM2_ALG_SHA256) != NULL ? TPM2_ALG_SHA256 : TPM2_ALG_SHA1;
    const rt_eventlog_bank *b = rt_eventlog_pcrs_bank(l->replay, l->bank);
    l->bank_size = b->size;
    l->pcrs = b->extended & STATE_PCRS;
    memset(l->app, 0xa5, sizeof l->app);
    ok = derive_state(l, &err);
  }
  CHECK(ok, "%s: %s", l->path, err.msg);
  return ok;
}

static void free_log(real_log *l) {
  for (size_t c = 0; c < l->n_cases; c++)
    rt_policy_free(l->cases[c].policy);
  rt_forge_free(&l->model);
  rt_evstate_free(&l->st);
  rt_eventlog_free(&l->log);
  free(l->replay);
  free(l->buf);
}

/* Every directory of DATA_DIR is one of real_logs: a log added there is
 * judged here too, or this test says so. */
static void check_all_listed(const char *dir) {
  DIR *d = opendir(dir);
  CHECK(d != NULL, "%s: cannot list", dir);
  if (d == NULL)
    return;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    char path[1024];
    struct stat sb;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    if (e->d_name[0] == '.' || stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
      continue;
    bool known = false;
    for (size_t k = 0; k < sizeof real_logs / sizeof real_logs[0]; k++)
      known = known || strcmp(real_logs[k].dir, e->d_name) == 0;
    CHECK(known, "%s: a log this test does not judge (add it to real_logs)", path);
  }
  closedir(d);
}

/* ---- policies ------------------------------------------------------------ */

typedef struct {
  size_t len;
  uint8_t b[RT_EVENTLOG_MAX_DIGEST];
} digest;

static json_t *hex_json(const uint8_t *b, size_t n) {
  char hex[2 * RT_EVENTLOG_MAX_DIGEST + 1];
  rt_hex(b, n, hex);
  return json_string(hex);
}

/* The digests of list but the one at skip (SIZE_MAX: none), then extra. */
static json_t *hex_list(const digest *list, size_t n, size_t skip, const uint8_t *extra,
                        size_t extra_len) {
  json_t *a = json_array();
  for (size_t i = 0; a != NULL && i < n; i++)
    if (i != skip && json_array_append_new(a, hex_json(list[i].b, list[i].len)) != 0)
      json_decref(a), a = NULL;
  if (a != NULL && extra != NULL && json_array_append_new(a, hex_json(extra, extra_len)) != 0)
    json_decref(a), a = NULL;
  return a;
}

/* The policy around one rule, as from-log --pin none writes them: the log's
 * bank and pcrs, every value "any", so that only the rule judges. rule is
 * stolen. */
static char *policy_text(const real_log *l, json_t *rule, uint32_t pcrs) {
  json_t *sel = json_array(), *any = json_object();
  for (int p = 0; sel != NULL && any != NULL && p < RT_EVENTLOG_NUM_PCRS; p++) {
    char key[4];
    snprintf(key, sizeof key, "%d", p);
    if (pcrs & (UINT32_C(1) << p)) {
      json_array_append_new(sel, json_integer(p));
      json_object_set_new(any, key, json_string("any"));
    }
  }
  const char *bank = rt_eventlog_alg_name(l->bank);
  json_t *root = json_pack("{s:{s:o}, s:{s:o}, s:b, s:o}", "pcrs", bank, sel, "expected", bank, any,
                           "allow_sha1", l->bank == TPM2_ALG_SHA1, "events", rule);
  char *text = root != NULL ? json_dumps(root, JSON_COMPACT) : NULL;
  json_decref(root);
  return text;
}

/* A policy for the log: it must load, and the honest log must pass it
 * (accepting) or be refused by it (any other: else its forgeries would test
 * nothing). */
static void add_policy(real_log *l, const char *text, const char *rule, bool accepting,
                       bool absence) {
  rt_err err = {0};
  rt_log_verdict v = {0};
  rt_policy *p = NULL;
  if (l->n_cases == MAX_CASES) {
    CHECK(0, "%s: more than %d policies", l->name, MAX_CASES);
    return;
  }
  if (text == NULL || rt_policy_parse(text, strlen(text), &p, &err) != RT_OK) {
    CHECK(0, "%s: %s: the policy does not load: %s\n%s", l->name, rule, err.msg,
          text != NULL ? text : "(none)");
    return;
  }
  rt_code rc = rt_policy_judge_log(p, l->buf, l->len, &v, &err);
  bool ok = rc == RT_OK && (accepting ? v.code == NULL : v.code != NULL);
  CHECK(ok, "%s: %s: the honest log %s: %s", l->name, rule,
        rc != RT_OK ? "cannot be judged"
        : accepting ? "fails its own policy"
                    : "passes",
        rc != RT_OK ? err.msg : v.why);
  if (!ok) {
    rt_policy_free(p);
    return;
  }
  policy_case *c = &l->cases[l->n_cases++];
  snprintf(c->rule, sizeof c->rule, "%s", rule);
  snprintf(c->honest_why, sizeof c->honest_why, "%s", accepting ? "(accepted)" : v.why);
  c->policy = p;
  c->accepting = accepting;
  c->absence = absence;
  total.policies++;
  printf("forgery: %s: %s: honest log %s\n", l->name, rule,
         accepting ? "accepted" : "refused, as it must be");
}

static void add_case(real_log *l, json_t *rule, uint32_t rule_pcrs, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void add_case(real_log *l, json_t *rule, uint32_t rule_pcrs, const char *fmt, ...) {
  va_list ap;
  CHECK(l->n_pending < MAX_CASES && rule != NULL, "%s: too many rules, or out of memory", l->name);
  if (l->n_pending == MAX_CASES || rule == NULL) {
    json_decref(rule);
    return;
  }
  l->pending[l->n_pending].rule = rule;
  l->pending[l->n_pending].pcrs = rule_pcrs;
  l->pending[l->n_pending].absence = false;
  va_start(ap, fmt);
  vsnprintf(l->pending[l->n_pending++].desc, sizeof l->pending[0].desc, fmt, ap);
  va_end(ap);
}

/* The refusing policies, each demanding the log's PCRs and every PCR one of
 * its rules reads: all "any", so no rule is judged differently, and they
 * share one proof, whose state is derived once per mutation. */
static void write_cases(real_log *l) {
  uint32_t pcrs = l->pcrs;
  for (size_t i = 0; i < l->n_pending; i++)
    pcrs |= l->pending[i].pcrs;
  for (size_t i = 0; i < l->n_pending; i++) {
    char *text = policy_text(l, l->pending[i].rule, pcrs);
    add_policy(l, text, l->pending[i].desc, false, l->pending[i].absence);
    free(text);
  }
  l->n_pending = 0;
}

/* The case just added is refused for an absence (policy_case.absence). */
static void mark_absence(real_log *l) {
  if (l->n_pending > 0)
    l->pending[l->n_pending - 1].absence = true;
}

static void skip(const real_log *l, const char *rule, const char *why) {
  total.skipped++;
  printf("forgery: %s: %s: skipped: %s\n", l->name, rule, why);
}

static void cases_secure_boot(real_log *l) {
  if (l->st.secure_boot == RT_SECURE_BOOT_ON) {
    skip(l, "secure_boot", "the log shows Secure Boot on, and false is no rule");
    return;
  }
  add_case(l, json_pack("{s:b}", "secure_boot", 1), UINT32_C(1) << PCR_SECURE_BOOT,
           "secure_boot true (the log shows it %s)", rt_secure_boot_name(l->st.secure_boot));
}

/* One policy per PCR the log measures without a verified separator, and
 * for PCR 8, which the profile gives none (the boot loader's). */
static void cases_separators(real_log *l) {
  uint32_t missing = (l->pcrs | UINT32_C(1) << PCR_CMDLINE) & ~l->st.separators;
  for (uint32_t p = 0; p < RT_EVENTLOG_NUM_PCRS; p++)
    if (missing & (UINT32_C(1) << p)) {
      add_case(l, json_pack("{s:[i]}", "separators", (int)p), UINT32_C(1) << p,
               "separators [%u] (the log has no separator there)", (unsigned)p);
      mark_absence(l);
    }
}

/* The distinct digests (in the demanded bank) of the log's boot apps. */
static size_t app_digests(const real_log *l, digest *out) {
  size_t n = 0;
  for (size_t i = 0; i < l->st.n_boot_apps && n < MAX_LIST; i++) {
    const rt_eventlog_digest *d =
        rt_eventlog_event_digest(&l->log.events[l->st.boot_apps[i].event], l->bank);
    bool dup = d == NULL;
    for (size_t k = 0; k < n && !dup; k++)
      dup = out[k].len == d->len && memcmp(out[k].b, d->bytes, d->len) == 0;
    if (!dup) {
      out[n].len = d->len;
      memcpy(out[n++].b, d->bytes, d->len);
    }
  }
  return n;
}

/* allow: a digest no app has; each app's digest left out of a list of the
 * others (and the forged one); forbid: each app's digest. */
static void cases_boot_apps(real_log *l) {
  digest apps[MAX_LIST];
  size_t n = app_digests(l, apps);
  uint32_t pcr4 = UINT32_C(1) << PCR_APPS;
  if (n == 0) {
    skip(l, "boot_apps", "the log has no boot application");
    return;
  }
  add_case(l,
           json_pack("{s:{s:o}}", "boot_apps", "allow", hex_list(NULL, 0, 0, l->app, l->bank_size)),
           pcr4, "boot_apps.allow [a digest no app of the log has]");
  for (size_t k = 0; n > 1 && k < n; k++)
    add_case(
        l, json_pack("{s:{s:o}}", "boot_apps", "allow", hex_list(apps, n, k, l->app, l->bank_size)),
        pcr4, "boot_apps.allow without app digest %zu of %zu", k + 1, n);
  for (size_t k = 0; k < n; k++)
    add_case(
        l, json_pack("{s:{s:o}}", "boot_apps", "forbid", hex_list(&apps[k], 1, SIZE_MAX, NULL, 0)),
        pcr4, "boot_apps.forbid [app digest %zu of %zu]", k + 1, n);
}

static void cases_dbx(real_log *l) {
  if (!l->st.dbx.present) {
    skip(l, "dbx_required", "the log measures no dbx");
    return;
  }
  add_case(l, json_pack("{s:o}", "dbx_required", hex_list(NULL, 0, 0, forged_dbx, 32)),
           UINT32_C(1) << PCR_SECURE_BOOT, "dbx_required [a hash not in the log's dbx]");
}

/* A list with only the forged authority; each of the log's left out of a
 * list of the others and the forged one. */
static void cases_authorities(real_log *l) {
  digest a[MAX_LIST];
  size_t n = 0;
  for (size_t i = 0; i < l->st.n_authorities && n < MAX_LIST; i++) {
    bool dup = false;
    for (size_t k = 0; k < n && !dup; k++)
      dup = memcmp(a[k].b, l->st.authorities[i].sha256, 32) == 0;
    if (!dup) {
      a[n].len = 32;
      memcpy(a[n++].b, l->st.authorities[i].sha256, 32);
    }
  }
  if (n == 0) {
    skip(l, "authorities", "the log measures no authority, so every list passes it");
    return;
  }
  uint32_t pcr7 = UINT32_C(1) << PCR_SECURE_BOOT;
  add_case(l, json_pack("{s:o}", "authorities", hex_list(NULL, 0, 0, forged_cert_sha256, 32)), pcr7,
           "authorities [an authority the log does not have]");
  for (size_t k = 0; n > 1 && k < n; k++)
    add_case(l, json_pack("{s:o}", "authorities", hex_list(a, n, k, forged_cert_sha256, 32)), pcr7,
             "authorities without authority %zu of %zu", k + 1, n);
}

static void cases_cmdline(real_log *l) {
  add_case(l, json_pack("{s:s}", "kernel_cmdline", approved_regex), UINT32_C(1) << PCR_CMDLINE,
           "kernel_cmdline %s (the log has %zu other line(s))", approved_regex, l->st.n_cmdlines);
  if (l->st.n_cmdlines == 0)
    mark_absence(l);
}

/* The generator's own output, in-process with stdout in a temporary file. */
static char *from_log_policy(char *path) {
  char tmp[] = "/tmp/rt_forgery_XXXXXX";
  char a0[] = "policy", a1[] = "from-log", a2[] = "--pin", a3[] = "none";
  char *argv[] = {a0, a1, a2, a3, path, NULL};
  int fd = mkstemp(tmp);
  if (fd < 0)
    return NULL;
  unlink(tmp);
  fflush(stdout);
  int saved = dup(STDOUT_FILENO);
  int rc = saved >= 0 && dup2(fd, STDOUT_FILENO) >= 0 ? rt_cmd_policy(5, argv) : -1;
  fflush(stdout);
  if (saved >= 0) {
    dup2(saved, STDOUT_FILENO);
    close(saved);
  }
  struct stat sb;
  char *text = rc == 0 && fstat(fd, &sb) == 0 ? calloc(1, (size_t)sb.st_size + 1) : NULL;
  if (text != NULL && pread(fd, text, (size_t)sb.st_size, 0) != sb.st_size) {
    free(text);
    text = NULL;
  }
  close(fd);
  return text;
}

static void build_cases(real_log *l) {
  char *text = from_log_policy(l->path);
  add_policy(l, text, "from-log --pin none (accepting)", true, false);
  free(text);
  if (l->st.n_mismatches == 0)
    skip(l, "no_mismatched_events", "true passes a log without mismatch, and false is no rule");
  else
    add_case(l, json_pack("{s:b}", "no_mismatched_events", 1), 0, "no_mismatched_events true");
  cases_secure_boot(l);
  cases_separators(l);
  cases_boot_apps(l);
  cases_dbx(l);
  cases_authorities(l);
  cases_cmdline(l);
  write_cases(l);
}

/* ---- judging ------------------------------------------------------------- */

/* The next event replay extends, from i on. */
static size_t next_extended(const rt_forge *f, size_t i) {
  while (i < f->n_events && ((!f->legacy && i == 0) || f->events[i].type == RT_EV_NO_ACTION ||
                             f->events[i].pcr >= RT_EVENTLOG_NUM_PCRS))
    i++;
  return i;
}

/* Whether replay would extend the same digests of bank into the same PCRs,
 * event by event: for a log that declares an algorithm replay refuses. */
static bool same_chain(const rt_forge *a, const rt_forge *b, TPM2_ALG_ID bank) {
  for (size_t i = next_extended(a, 0), j = next_extended(b, 0);;
       i = next_extended(a, i + 1), j = next_extended(b, j + 1)) {
    if (i == a->n_events || j == b->n_events)
      return i == a->n_events && j == b->n_events;
    const rt_forge_digest *x = rt_forge_digest_of(a, i, bank), *y = rt_forge_digest_of(b, j, bank);
    if (a->events[i].pcr != b->events[j].pcr || x == NULL || y == NULL || x->len != y->len ||
        memcmp(x->bytes, y->bytes, x->len) != 0)
      return false;
  }
}

/* Whether the replayed mutation has the honest PCRs in the demanded bank:
 * what makes it a forgery rather than a log the quote refutes. */
static bool same_replay(const real_log *l, const rt_eventlog_pcrs *p) {
  const rt_eventlog_bank *a = rt_eventlog_pcrs_bank(l->replay, l->bank);
  const rt_eventlog_bank *b = rt_eventlog_pcrs_bank(p, l->bank);
  bool same = b != NULL && b->size == a->size;
  for (int k = 0; same && k < RT_EVENTLOG_NUM_PCRS; k++)
    same = memcmp(a->pcr[k], b->pcr[k], a->size) == 0;
  return same;
}

/* The states a mutated log derives, one per distinct proof among the log's
 * policies (most share one). */
typedef struct {
  size_t n;
  rt_evproof proof[MAX_CASES];
  rt_evstate st[MAX_CASES];
} states;

static bool same_proof(const rt_evproof *a, const rt_evproof *b) {
  bool same = a->n == b->n;
  for (size_t i = 0; same && i < a->n; i++)
    same = a->banks[i].alg == b->banks[i].alg && a->banks[i].pcrs == b->banks[i].pcrs;
  return same;
}

/* The state for proof, derived on first use; NULL if derivation failed. */
static const rt_evstate *state_for(states *s, const rt_eventlog *log, const rt_evproof *proof,
                                   rt_err *err) {
  for (size_t i = 0; i < s->n; i++)
    if (same_proof(&s->proof[i], proof))
      return &s->st[i];
  total.derived++;
  if (s->n == MAX_CASES || rt_evstate_derive(log, proof, &s->st[s->n], err) != RT_OK)
    return NULL;
  s->proof[s->n] = *proof;
  return &s->st[s->n++];
}

/* rt_policy_judge_replayed's steps, with the state derived once per proof
 * (see the top of the file). */
static rt_code fast_verdict(const policy_case *c, const rt_eventlog *log,
                            const rt_eventlog_pcrs *pcrs, states *s, rt_log_verdict *v,
                            rt_err *err) {
  rt_policy_bank_sel sel[RT_POLICY_MAX_BANKS];
  size_t n = rt_policy_selection(c->policy, sel);
  memset(v, 0, sizeof *v);
  for (size_t i = 0; i < n; i++) {
    const rt_eventlog_bank *b = rt_eventlog_pcrs_bank(pcrs, sel[i].bank);
    if (b == NULL) {
      v->code = "EVENTLOG_BANK_MISSING";
      snprintf(v->why, sizeof v->why, "the event log has no %s bank",
               rt_eventlog_alg_name(sel[i].bank));
      return RT_OK;
    }
    for (uint32_t p = 0; p < RT_POLICY_NUM_PCRS; p++)
      if ((sel[i].mask & (UINT32_C(1) << p)) &&
          rt_policy_check_pcrs(c->policy, sel[i].bank, p, b->pcr[p], b->size, v->why,
                               sizeof v->why) != RT_POLICY_ALLOW) {
        v->code = "POLICY_PCR";
        return RT_OK;
      }
  }
  const rt_policy_events *rules = rt_policy_event_rules(c->policy);
  if (rules == NULL)
    return RT_OK;
  const rt_evstate *st = state_for(s, log, rt_policy_events_proof(rules), err);
  if (st == NULL)
    return err->code != RT_OK ? err->code : RT_E_NOMEM;
  if (!rt_policy_events_check(rules, log, st, v->why, sizeof v->why))
    v->code = "POLICY_EVENT";
  return RT_OK;
}

/* A verdict for one policy: an acceptance by a refusing policy fails the
 * test, with the verdict of rt_policy_judge_log itself. */
static void record(const real_log *l, const policy_case *c, const rt_log_verdict *v,
                   const char *desc) {
  total.judged++;
  if (c->accepting)
    return;
  if (v->code == NULL && c->absence && judged_family >= FAM_APPEND) {
    total.absence_limits++;
    printf("forgery: limit: %s: %s: %s supplies what was not measured\n", l->name, c->rule, desc);
    return;
  }
  total.accepted += v->code == NULL;
  CHECK(v->code != NULL,
        "ACCEPTED FORGERY: log %s, rule %s, mutation %s (the honest log is refused: %s)", l->name,
        c->rule, desc, c->honest_why);
}

/* rt_policy_judge_log, the verifier's own verdict. */
static bool real_verdict(const real_log *l, const policy_case *c, const uint8_t *d, size_t n,
                         const char *desc, rt_log_verdict *v) {
  rt_err err = {0};
  rt_code rc = rt_policy_judge_log(c->policy, d, n, v, &err);
  CHECK(rc == RT_OK, "%s: %s: %s: the verdict failed: %s", l->name, c->rule, desc, err.msg);
  return rc == RT_OK;
}

/* Every policy by the shared state. Also by rt_policy_judge_log, which must
 * agree word for word: every acceptance, and one policy in turn every
 * CHECK_EVERY mutations. */
static void judge_parsed(const real_log *l, const rt_eventlog *log, const rt_eventlog_pcrs *pcrs,
                         const uint8_t *d, size_t n, const char *desc) {
  static states shared; /* reused: per-mutation allocations dominate under ASan */
  states *s = &shared;
  size_t sample =
      total.mutations % CHECK_EVERY == 0 ? (total.mutations / CHECK_EVERY) % l->n_cases : SIZE_MAX;
  s->n = 0;
  for (size_t k = 0; k < l->n_cases; k++) {
    const policy_case *c = &l->cases[k];
    rt_log_verdict fast, real;
    rt_err err = {0};
    rt_code rc = fast_verdict(c, log, pcrs, s, &fast, &err);
    CHECK(rc == RT_OK, "%s: %s: %s: the verdict failed: %s", l->name, c->rule, desc, err.msg);
    if (rc != RT_OK)
      continue;
    bool check = k == sample || (fast.code == NULL && !c->accepting);
    if (check && real_verdict(l, c, d, n, desc, &real)) {
      bool agree = (fast.code == NULL) == (real.code == NULL) &&
                   (fast.code == NULL || strcmp(fast.code, real.code) == 0) &&
                   strcmp(fast.why, real.why) == 0;
      CHECK(agree, "%s: %s: %s: rt_policy_judge_log says %s \"%s\", the shared state %s \"%s\"",
            l->name, c->rule, desc, real.code ? real.code : "pass", real.why,
            fast.code ? fast.code : "pass", fast.why);
      total.checked++;
      fast = real;
    }
    record(l, c, &fast, desc);
  }
  for (size_t i = 0; i < s->n; i++)
    rt_evstate_free(&s->st[i]);
}

/* One mutated log through every policy of its real log. Families before
 * FAM_APPEND must keep the replay (they are forgeries by construction): by
 * replay, or event by event for a log replay refuses (an unknown bank),
 * which goes to rt_policy_judge_log only. */
static void judge(const real_log *l, const rt_forge *m, int family, const char *desc) {
  judged_family = family;
  uint8_t *d = NULL;
  size_t n = 0;
  rt_err err = {0};
  rt_eventlog log;
  static rt_eventlog_pcrs mutated_pcrs; /* reused, as the states are */
  rt_eventlog_pcrs *pcrs = &mutated_pcrs;
  if (rt_forge_serialize(m, &d, &n, &err) != RT_OK) {
    CHECK(0, "%s: %s: %s", l->name, desc, err.msg);
    return;
  }
  total.mutations++;
  total.family[family]++;
  bool parsed = rt_eventlog_parse(d, n, NULL, &log, &err) == RT_OK;
  bool replayed = parsed && rt_eventlog_check_algs(&log, &err) == RT_EVENTLOG_ALG_OK &&
                  rt_eventlog_replay(&log, pcrs, &err) == RT_OK;
  if (family < FAM_APPEND)
    CHECK(replayed ? same_replay(l, pcrs) : parsed && same_chain(&l->model, m, l->bank),
          "%s: %s: not a forgery: the %s replay changed", l->name, desc,
          rt_eventlog_alg_name(l->bank));
  if (replayed)
    judge_parsed(l, &log, pcrs, d, n, desc);
  for (size_t k = 0; !replayed && k < l->n_cases; k++) {
    rt_log_verdict v;
    if (real_verdict(l, &l->cases[k], d, n, desc, &v))
      record(l, &l->cases[k], &v, desc);
    total.checked++;
  }
  if (parsed)
    rt_eventlog_free(&log);
  free(d);
}

/* ---- 1. relabelled types ----------------------------------------------------- */

/* Every event to every other type (EV_NO_ACTION events excepted: replay
 * skips them, so another label would extend them). w is the honest model,
 * left as it was. */
static void family_relabel(const real_log *l, rt_forge *w) {
  char desc[96], buf[16];
  for (size_t i = first_event(w); i < w->n_events; i++) {
    uint32_t orig = w->events[i].type;
    if (orig == RT_EV_NO_ACTION)
      continue;
    for (size_t t = 0; t < n_types; t++) {
      if (types[t] == orig || rt_forge_relabel(w, i, types[t], NULL) != RT_OK)
        continue;
      snprintf(desc, sizeof desc, "event %zu relabelled %s", i, type_label(types[t], buf));
      judge(l, w, FAM_RELABEL, desc);
    }
    rt_forge_relabel(w, i, orig, NULL);
  }
}

/* GRUB's prefix is a label too: the digest covers the text only. Every
 * GRUB string in PCR 8 under every prefix the verifier tells apart. */
static const char *const grub_prefixes[] = {"grub_cmd: ", "grub_cmd ",
                                            "kernel_cmdline: ", "grub_kernel_cmdline "};

static void family_grub_prefix(const real_log *l, rt_forge *w) {
  char desc[96];
  for (size_t i = first_event(w); i < w->n_events; i++) {
    rt_forge_event *ev = &w->events[i];
    rt_grub_string g;
    if (ev->pcr != PCR_CMDLINE || !rt_evdata_grub(ev->data, ev->data_len, &g))
      continue;
    uint8_t *orig = malloc(ev->data_len);
    size_t orig_len = ev->data_len;
    if (orig == NULL)
      continue;
    memcpy(orig, ev->data, orig_len);
    for (size_t k = 0; k < sizeof grub_prefixes / sizeof grub_prefixes[0]; k++) {
      size_t plen = strlen(grub_prefixes[k]);
      if (orig_len > plen && memcmp(orig, grub_prefixes[k], plen) == 0)
        continue;
      if (rt_forge_set_grub_prefix(w, i, grub_prefixes[k], NULL) != RT_OK)
        continue;
      snprintf(desc, sizeof desc, "event %zu GRUB prefix \"%s\"", i, grub_prefixes[k]);
      judge(l, w, FAM_RELABEL, desc);
      rt_forge_set_data(w, i, orig, orig_len, NULL);
    }
    free(orig);
  }
}

/* ---- 2. an extra unquoted bank ------------------------------------------------- */

static const struct {
  TPM2_ALG_ID alg;
  uint16_t size;
  rt_forge_fill fill;
} extra_banks[] = {
    {0x4242, 20, RT_FORGE_FILL_ZERO},
    {0x4242, 32, RT_FORGE_FILL_ZERO},
    {0x4242, 64, RT_FORGE_FILL_ZERO},
    {TPM2_ALG_SHA384, 48, RT_FORGE_FILL_MEASURED},
    {TPM2_ALG_SHA512, 64, RT_FORGE_FILL_MEASURED},
    {TPM2_ALG_SM3_256, 32, RT_FORGE_FILL_MEASURED},
    {TPM2_ALG_SHA256, 32, RT_FORGE_FILL_MEASURED}, /* unquoted beside a SHA1-only log's sha1 */
};

static bool declares(const rt_forge *f, TPM2_ALG_ID alg) {
  for (size_t a = 0; a < f->n_algs; a++)
    if (f->algs[a].alg == alg)
      return true;
  return false;
}

/* Whether OpenSSL here can compute the bank (replay needs it). */
static bool can_hash(TPM2_ALG_ID alg) {
  const char *name = rt_eventlog_alg_evp_name(alg);
  EVP_MD *md = name != NULL ? EVP_MD_fetch(NULL, name, NULL) : NULL;
  EVP_MD_free(md);
  return md != NULL || name == NULL;
}

/* The allow-listed digest in the unquoted bank of each PCR 4 event, one at
 * a time and then all at once. */
static void bank_app_digests(const real_log *l, const rt_forge *base, TPM2_ALG_ID alg,
                             const char *bank) {
  char desc[128];
  rt_forge all, m;
  if (rt_forge_copy(base, &all, NULL) != RT_OK)
    return;
  for (size_t i = first_event(base); i < base->n_events; i++) {
    if (base->events[i].pcr != PCR_APPS || base->events[i].type == RT_EV_NO_ACTION ||
        rt_forge_copy(base, &m, NULL) != RT_OK)
      continue;
    if (rt_forge_set_digest(&m, i, alg, l->app, l->bank_size, NULL) == RT_OK &&
        rt_forge_set_digest(&all, i, alg, l->app, l->bank_size, NULL) == RT_OK) {
      snprintf(desc, sizeof desc, "%s, event %zu's the allow-listed app digest", bank, i);
      judge(l, &m, FAM_BANK, desc);
    }
    rt_forge_free(&m);
  }
  snprintf(desc, sizeof desc, "%s, every PCR 4 event's the allow-listed app digest", bank);
  judge(l, &all, FAM_BANK, desc);
  rt_forge_free(&all);
}

static void family_banks(const real_log *l) {
  char bank[64], buf[8];
  for (size_t k = 0; k < sizeof extra_banks / sizeof extra_banks[0]; k++) {
    TPM2_ALG_ID alg = extra_banks[k].alg;
    rt_forge m;
    rt_err err = {0};
    if (declares(&l->model, alg))
      continue;
    snprintf(bank, sizeof bank, "extra bank %s (%u bytes, %s)", rt_eventlog_alg_label(alg, buf),
             (unsigned)extra_banks[k].size,
             extra_banks[k].fill == RT_FORGE_FILL_ZERO ? "zeros" : "measured");
    if (!can_hash(alg)) {
      printf("forgery: %s: %s: skipped: OpenSSL here cannot hash it\n", l->name, bank);
      continue;
    }
    if (rt_forge_copy(&l->model, &m, &err) != RT_OK ||
        rt_forge_add_bank(&m, alg, extra_banks[k].size, extra_banks[k].fill, &err) != RT_OK) {
      CHECK(0, "%s: %s: %s", l->name, bank, err.msg);
      rt_forge_free(&m);
      continue;
    }
    judge(l, &m, FAM_BANK, bank);
    if (extra_banks[k].size == l->bank_size)
      bank_app_digests(l, &m, alg, bank);
    rt_forge_free(&m);
  }
}

/* ---- 3. events moved across separators ------------------------------------------ */

/* Event i moved to index to, judged when every PCR keeps its order (else
 * the replay of its PCR would change), then moved back. seen: the indexes
 * already tried for this event. */
static void try_move(const real_log *l, rt_forge *w, size_t i, size_t to, bool *seen,
                     const char *where) {
  char desc[96];
  if (to == i || seen[to] || rt_forge_move(w, i, to, NULL) != RT_OK)
    return;
  seen[to] = true;
  if (rt_forge_pcr_order_kept(w)) {
    snprintf(desc, sizeof desc, "event %zu moved %s", i, where);
    judge(l, w, FAM_MOVE, desc);
  }
  rt_forge_move(w, to, i, NULL);
}

/* Each event just before and just after each separator, and to the end:
 * at most (2 * separators + 1) moves per event. */
static void family_moves(const real_log *l, rt_forge *w) {
  char where[48];
  size_t n = w->n_events;
  bool *seen = calloc(n, sizeof *seen);
  for (size_t i = first_event(w); seen != NULL && i < n; i++) {
    memset(seen, 0, n * sizeof *seen);
    for (size_t s = first_event(w); s < n; s++) {
      if (s == i || w->events[s].type != RT_EV_SEPARATOR)
        continue;
      snprintf(where, sizeof where, "just before separator %zu", s);
      try_move(l, w, i, i < s ? s - 1 : s, seen, where);
      snprintf(where, sizeof where, "just after separator %zu", s);
      try_move(l, w, i, i < s ? s : s + 1, seen, where);
    }
    try_move(l, w, i, n - 1, seen, "to the end");
  }
  free(seen);
}

/* ---- 4. events appended after boot ------------------------------------------------ */

/* What root extends to approve each rule. */
typedef enum {
  AP_SECURE_BOOT, /* SecureBoot = 1 */
  AP_DBX,         /* a dbx holding the required revocation */
  AP_AUTHORITY,   /* the allowed authority */
  AP_APP,         /* an image with the allow-listed digest */
  AP_CMDLINE_GRUB,
  AP_CMDLINE_REDHAT,
  AP_CMDLINE_SDBOOT,
  AP_CMDLINE_LINUX, /* GRUB's `linux` command and the line completing it */
  N_AP,
} approval;

static const char *const approval_names[N_AP] = {
    "SecureBoot=1",          "a dbx with the required hash",
    "the allowed authority", "the allowed boot app",
    "GRUB kernel_cmdline",   "Red Hat grub_kernel_cmdline",
    "systemd-boot options",  "GRUB linux command and its line",
};

static const uint8_t owner_guid[16] = {0x52, 0x61, 0x74, 0x74, 0x65, 0x73, 0x74, 0x20,
                                       0x66, 0x6f, 0x72, 0x67, 0x65, 0x72, 0x79, 0x21};

static rt_code append_var(rt_forge *m, uint32_t type, const uint8_t guid[16], const char *name,
                          const uint8_t *data, size_t n, rt_err *err) {
  rt_forge_buf v;
  rt_code rc = rt_forge_uefi_var(guid, name, data, n, &v, err);
  if (rc == RT_OK)
    rc = rt_forge_append(m, PCR_SECURE_BOOT, type, v.data, v.len, err);
  rt_forge_buf_free(&v);
  return rc;
}

static rt_code append_pcr7(rt_forge *m, approval a, rt_err *err) {
  static const uint8_t on = 1;
  if (a == AP_SECURE_BOOT)
    return append_var(m, RT_EV_EFI_VARIABLE_DRIVER_CONFIG, RT_GUID_EFI_GLOBAL, "SecureBoot", &on, 1,
                      err);
  if (a == AP_DBX) {
    rt_forge_buf list;
    rt_code rc =
        rt_forge_siglist_sha256(owner_guid, (const uint8_t(*)[32]) & forged_dbx, 1, &list, err);
    if (rc == RT_OK)
      rc = append_var(m, RT_EV_EFI_VARIABLE_DRIVER_CONFIG, RT_GUID_IMAGE_SECURITY_DB, "dbx",
                      list.data, list.len, err);
    rt_forge_buf_free(&list);
    return rc;
  }
  /* EFI_SIGNATURE_DATA: owner, then the "certificate" the policy allows. */
  uint8_t sig[16 + sizeof forged_cert - 1];
  memcpy(sig, owner_guid, 16);
  memcpy(sig + 16, forged_cert, sizeof forged_cert - 1);
  return append_var(m, RT_EV_EFI_VARIABLE_AUTHORITY, RT_GUID_IMAGE_SECURITY_DB, "db", sig,
                    sizeof sig, err);
}

/* Appends approval a; command lines go into pcr. */
static rt_code approve(const real_log *l, rt_forge *m, approval a, uint32_t pcr, rt_err *err) {
  static const uint8_t image[32] = {0}; /* UEFI_IMAGE_LOAD_EVENT, no device path */
  rt_forge_digest d = {.alg = l->bank, .len = l->bank_size};
  rt_code rc;
  switch (a) {
  case AP_SECURE_BOOT:
  case AP_DBX:
  case AP_AUTHORITY:
    return append_pcr7(m, a, err);
  case AP_APP:
    memcpy(d.bytes, l->app, l->bank_size);
    return rt_forge_append_digests(m, PCR_APPS, RT_EV_EFI_BOOT_SERVICES_APPLICATION, image,
                                   sizeof image, &d, 1, err);
  case AP_CMDLINE_GRUB:
    return rt_forge_append_cmdline(m, pcr, RT_FORGE_CMDLINE_GRUB, approved_cmdline, err);
  case AP_CMDLINE_REDHAT:
    return rt_forge_append_cmdline(m, pcr, RT_FORGE_CMDLINE_REDHAT, approved_cmdline, err);
  case AP_CMDLINE_SDBOOT:
    return rt_forge_append_cmdline(m, pcr, RT_FORGE_CMDLINE_SDBOOT, approved_cmdline, err);
  default: {
    char linux_cmd[sizeof approved_cmdline + 8];
    snprintf(linux_cmd, sizeof linux_cmd, "linux %s", approved_cmdline);
    rc = rt_forge_append_grub(m, pcr, "grub_cmd: ", linux_cmd, err);
    return rc == RT_OK ? rt_forge_append_grub(m, pcr, "grub_cmd: ", approved_cmdline, err) : rc;
  }
  }
}

static void one_append(const real_log *l, approval a, uint32_t pcr) {
  char desc[96];
  rt_forge m;
  rt_err err = {0};
  if (rt_forge_copy(&l->model, &m, &err) == RT_OK && approve(l, &m, a, pcr, &err) == RT_OK) {
    snprintf(desc, sizeof desc, "appended %s (PCR %u)", approval_names[a], (unsigned)pcr);
    judge(l, &m, FAM_APPEND, desc);
  } else {
    CHECK(0, "%s: appending %s: %s", l->name, approval_names[a], err.msg);
  }
  rt_forge_free(&m);
}

/* A separator of value 0 appended to each PCR in pcrs. */
static void append_separators(const real_log *l, uint32_t pcrs, const char *desc) {
  uint8_t zero[4];
  rt_forge m;
  rt_err err = {0};
  bool ok = rt_forge_copy(&l->model, &m, &err) == RT_OK;
  rt_forge_separator(0, zero);
  for (uint32_t p = 0; ok && p < RT_EVENTLOG_NUM_PCRS; p++)
    if (pcrs & (UINT32_C(1) << p))
      ok = rt_forge_append(&m, p, RT_EV_SEPARATOR, zero, sizeof zero, &err) == RT_OK;
  CHECK(ok, "%s: %s: %s", l->name, desc, err.msg);
  if (ok)
    judge(l, &m, FAM_APPEND, desc);
  rt_forge_free(&m);
}

static void family_appends(const real_log *l) {
  static const uint32_t cmdline_pcrs[] = {8, 9, 12};
  char desc[96];
  for (approval a = AP_SECURE_BOOT; a <= AP_APP; a++)
    one_append(l, a, a == AP_APP ? PCR_APPS : PCR_SECURE_BOOT);
  for (approval a = AP_CMDLINE_GRUB; a < N_AP; a++)
    for (size_t k = 0; k < sizeof cmdline_pcrs / sizeof cmdline_pcrs[0]; k++)
      one_append(l, a, cmdline_pcrs[k]);
  uint32_t missing = (l->pcrs | UINT32_C(1) << PCR_CMDLINE) & ~l->st.separators;
  for (uint32_t p = 0; p < RT_EVENTLOG_NUM_PCRS; p++)
    if (missing & (UINT32_C(1) << p)) {
      snprintf(desc, sizeof desc, "appended a separator (value 0) to PCR %u", (unsigned)p);
      append_separators(l, UINT32_C(1) << p, desc);
    }
  if (missing & (missing - 1))
    append_separators(l, missing, "appended a separator (value 0) to every PCR lacking one");
}

/* ---- 4b. the honest event hidden, the approving one appended ------------------- */

/* The honest events that show what a rule refuses, and what root appends
 * to approve instead. */
typedef struct {
  const char *rule;
  uint32_t events[MAX_LIST];
  size_t n;
  approval ap[4];
  size_t n_ap;
} reveal;

static void reveal_add(reveal *r, uint32_t event) {
  if (r->n < MAX_LIST)
    r->events[r->n++] = event;
}

static size_t reveals(const real_log *l, reveal out[5]) {
  const rt_evstate *st = &l->st;
  memset(out, 0, 5 * sizeof *out);
  out[0] = (reveal){.rule = "secure_boot", .ap = {AP_SECURE_BOOT}, .n_ap = 1};
  if (st->secure_boot != RT_SECURE_BOOT_UNKNOWN)
    reveal_add(&out[0], st->secure_boot_event);
  out[1] = (reveal){.rule = "dbx_required", .ap = {AP_DBX}, .n_ap = 1};
  if (st->dbx.present)
    reveal_add(&out[1], st->dbx.event);
  out[2] = (reveal){.rule = "authorities", .ap = {AP_AUTHORITY}, .n_ap = 1};
  for (size_t i = 0; i < st->n_authorities; i++)
    reveal_add(&out[2], st->authorities[i].event);
  out[3] = (reveal){.rule = "boot_apps", .ap = {AP_APP}, .n_ap = 1};
  for (size_t i = 0; i < st->n_boot_apps; i++)
    reveal_add(&out[3], st->boot_apps[i].event);
  out[4] = (reveal){.rule = "kernel_cmdline",
                    .ap = {AP_CMDLINE_GRUB, AP_CMDLINE_REDHAT, AP_CMDLINE_SDBOOT, AP_CMDLINE_LINUX},
                    .n_ap = 4};
  for (size_t i = 0; i < st->n_cmdlines; i++)
    reveal_add(&out[4], st->cmdlines[i].event);
  return 5;
}

/* The events [from, to) of r relabelled type, then approval a appended. */
static void combo(const real_log *l, const reveal *r, size_t from, size_t to, uint32_t type,
                  approval a) {
  char desc[160], buf[16];
  rt_forge m;
  rt_err err = {0};
  bool ok = rt_forge_copy(&l->model, &m, &err) == RT_OK;
  for (size_t k = from; ok && k < to; k++)
    ok = rt_forge_relabel(&m, r->events[k], type, &err) == RT_OK;
  ok = ok && approve(l, &m, a, PCR_CMDLINE, &err) == RT_OK;
  CHECK(ok, "%s: %s combination: %s", l->name, r->rule, err.msg);
  if (ok) {
    int w = to - from == 1 ? snprintf(desc, sizeof desc, "%s event %u", r->rule, r->events[from])
                           : snprintf(desc, sizeof desc, "all %zu %s events", to - from, r->rule);
    snprintf(desc + w, sizeof desc - (size_t)w, " relabelled %s, appended %s",
             type_label(type, buf), approval_names[a]);
    judge(l, &m, FAM_COMBO, desc);
  }
  rt_forge_free(&m);
}

/* Each revealing event alone, then all of a rule's at once, to every type,
 * with each of the rule's approvals. */
static void combos_of(const real_log *l, const reveal *r) {
  for (size_t e = 0; e <= r->n; e++) {
    size_t from = e < r->n ? e : 0, to = e < r->n ? e + 1 : r->n;
    if (e == r->n && r->n < 2)
      break;
    for (size_t t = 0; t < n_types; t++) {
      if (to - from == 1 && l->model.events[r->events[from]].type == types[t])
        continue;
      for (size_t a = 0; a < r->n_ap; a++)
        combo(l, r, from, to, types[t], r->ap[a]);
    }
  }
}

/* GRUB command lines renamed ordinary commands, a good line appended. */
static void combos_grub_prefix(const real_log *l, const reveal *r) {
  char desc[160];
  for (size_t e = 0; e < r->n; e++)
    for (size_t k = 0; k < 2; k++)
      for (size_t a = 0; a < r->n_ap; a++) {
        rt_forge m;
        rt_err err = {0};
        if (rt_forge_copy(&l->model, &m, &err) != RT_OK ||
            rt_forge_set_grub_prefix(&m, r->events[e], grub_prefixes[k], &err) != RT_OK ||
            approve(l, &m, r->ap[a], PCR_CMDLINE, &err) != RT_OK) {
          rt_forge_free(&m);
          continue; /* systemd-boot's line has no GRUB prefix */
        }
        snprintf(desc, sizeof desc, "kernel_cmdline event %u prefixed \"%s\", appended %s",
                 r->events[e], grub_prefixes[k], approval_names[r->ap[a]]);
        judge(l, &m, FAM_COMBO, desc);
        rt_forge_free(&m);
      }
}

static void family_combos(const real_log *l) {
  reveal r[5];
  size_t n = reveals(l, r);
  for (size_t k = 0; k < n; k++)
    combos_of(l, &r[k]);
  combos_grub_prefix(l, &r[4]);
}

/* ---- main ---------------------------------------------------------------------------- */

static void run_log(const char *dir, size_t k) {
  real_log *l = calloc(1, sizeof *l);
  rt_forge w;
  CHECK(l != NULL, "out of memory");
  if (l == NULL || !load_log(l, dir, k)) {
    if (l != NULL)
      free_log(l);
    free(l);
    return;
  }
  build_cases(l);
  size_t before = total.mutations, judged = total.judged;
  if (rt_forge_copy(&l->model, &w, NULL) == RT_OK) {
    family_relabel(l, &w);
    family_grub_prefix(l, &w);
    family_moves(l, &w);
    rt_forge_free(&w);
  }
  family_banks(l);
  family_appends(l);
  family_combos(l);
  printf("forgery: %s: %zu policies, %zu mutations, %zu judged\n", l->name, l->n_cases,
         total.mutations - before, total.judged - judged);
  free_log(l);
  free(l);
}

static bool init_constants(void) {
  memset(forged_dbx, 0xdb, sizeof forged_dbx);
  init_types();
  return rt_evdata_sha256((const uint8_t *)forged_cert, sizeof forged_cert - 1, forged_cert_sha256);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s DATA_DIR (tests/data/eventlogs)\n", argv[0]);
    return 2;
  }
  CHECK(init_constants(), "SHA-256 failed");
  check_all_listed(argv[1]);
  for (size_t k = 0; k < sizeof real_logs / sizeof real_logs[0]; k++)
    run_log(argv[1], k);
  for (int f = 0; f < N_FAM; f++)
    printf("forgery: family %s: %zu mutations\n", family_names[f], total.family[f]);
  printf("forgery: %zu states derived\n", total.derived);
  printf("forgery: %zu judged by rt_policy_judge_log itself, the others by the same rules on a "
         "state derived once per mutation\n",
         total.checked);
  printf("forgery: %zu acceptances by an appended event supplying what a log did not measure "
         "(documented limit)\n",
         total.absence_limits);
  printf("forgery: %zu policies, %zu mutations, %zu judged, %zu accepted\n", total.policies,
         total.mutations, total.judged, total.accepted);
  return rt_test_done("forgery");
}
