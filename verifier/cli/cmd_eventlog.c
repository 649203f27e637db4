#include "cmd_eventlog.h"

#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_err.h"
#include "rt_evdecode.h"
#include "rt_eventlog.h"
#include "rt_evstate.h"
#include "rt_evstate_out.h"
#include "rt_hex.h"
#include "rt_json.h"

#define PROG "rattest-verifier eventlog"

void rt_cmd_eventlog_usage(FILE *f) {
  fprintf(f, "Usage: " PROG " FILE [--json]\n"
             "\n"
             "Parses a TCG PC Client event log (binary_bios_measurements; SHA1-only or\n"
             "crypto-agile), lists its events, replays it into PCR values, checks each\n"
             "event whose data is what was hashed (UEFI variables, separators, actions,\n"
             "GRUB strings, GPT, ...) against its digests, and derives the machine's\n"
             "state from the events that check out (PCRs 0-9 and 14): secure boot,\n"
             "PK/KEK/db/dbx, signing authorities, boot applications, kernel command\n"
             "lines, separators. An event marked MISMATCH carries data that does not hash\n"
             "to its digests: the log was altered, and that event counts for nothing. An\n"
             "event marked FLAWED could be something other than its label says (a type\n"
             "the TCG PC Client profile does not define or place in that PCR, data that\n"
             "is not what the type holds, a separator under another label, a second\n"
             "separator, firmware or Secure Boot configuration after the separator): a\n"
             "policy rule reading its PCR refuses the machine (docs/policy.md).\n"
             "\n"
             "Options:\n"
             "  --json       print {\"events\": [{index, pcr, type, digests, check, data},\n"
             "               ...], \"pcrs\": {BANK: {PCR: HEX}}, \"state\": {secure_boot,\n"
             "               pk, kek, db, dbx, dbx_sha256, authorities, boot_apps,\n"
             "               kernel_cmdlines, separators, separator_errors, mismatches,\n"
             "               flawed}}; \"check\" is ok, mismatch or unchecked (the digest\n"
             "               covers something the log does not carry), \"flaw\" (when\n"
             "               there is one) names why the event is flawed; only PCRs\n"
             "               that had events appear under \"pcrs\"\n"
             "  -h, --help   show this help\n"
             "\n"
             "Exit status: 0 success, 1 unreadable or malformed log, 2 bad usage.\n");
}

/* Short ASCII payloads (EV_EFI_ACTION strings, separators, versions) are
 * shown; anything with a byte outside printable ASCII is not. */
static bool printable(const uint8_t *d, uint32_t n, uint32_t *shown) {
  while (n > 0 && d[n - 1] == 0)
    n--;
  if (n == 0 || n > 96)
    return false;
  for (uint32_t i = 0; i < n; i++)
    if (d[i] < 0x20 || d[i] > 0x7e)
      return false;
  *shown = n;
  return true;
}

static void print_text(const char *path, const rt_eventlog *log, const rt_eventlog_pcrs *pcrs,
                       const rt_evstate *st) {
  char hex[2 * RT_EVENTLOG_MAX_DIGEST + 1], buf[8];
  printf("%s: %s event log, %zu events, algorithms", path,
         log->legacy ? "SHA1-only (legacy)" : "crypto-agile", log->n_events);
  for (size_t i = 0; i < log->n_algs; i++)
    printf(" %s", rt_eventlog_alg_label(log->algs[i].alg, buf));
  if (log->has_startup_locality)
    printf(", StartupLocality %u", (unsigned)log->startup_locality);
  printf("\n\n");

  for (size_t i = 0; i < log->n_events; i++) {
    const rt_eventlog_event *ev = &log->events[i];
    const char *name = rt_eventlog_type_name(ev->type);
    char flaw[160];
    printf(
        "event %" PRIu32 ": PCR %" PRIu32 ", %s (0x%" PRIx32 "), %" PRIu32 " bytes of data%s%s\n",
        ev->index, ev->pcr, name != NULL ? name : "unknown type", ev->type, ev->data_len,
        rt_evcheck_extended(log, i) ? "" : " [not extended]",
        st->checks[i] == RT_EVCHECK_MISMATCH ? " [MISMATCH: the data does not hash to the digests]"
                                             : "");
    if (st->flaws[i] != RT_EVFLAW_NONE && st->flaws[i] != RT_EVFLAW_MISMATCH)
      printf("  [FLAWED: %s]\n", rt_evflaw_text(st->flaws[i], ev, flaw, sizeof flaw));
    for (size_t d = 0; d < ev->n_digests; d++) {
      rt_hex(ev->digests[d].bytes,
             ev->digests[d].len > RT_EVENTLOG_MAX_DIGEST ? RT_EVENTLOG_MAX_DIGEST
                                                         : ev->digests[d].len,
             hex);
      printf("  %-8s %s%s\n", rt_eventlog_alg_label(ev->digests[d].alg, buf), hex,
             ev->digests[d].len > RT_EVENTLOG_MAX_DIGEST ? "..." : "");
    }
    uint32_t shown;
    if (ev->data_len > 0 && printable(ev->data, ev->data_len, &shown))
      printf("  data     \"%.*s\"\n", (int)shown, (const char *)ev->data);
  }

  printf("\nPCRs replayed from the log (PCRs with events only):\n");
  for (size_t b = 0; b < pcrs->n_banks; b++) {
    const rt_eventlog_bank *bank = &pcrs->banks[b];
    for (int p = 0; p < RT_EVENTLOG_NUM_PCRS; p++) {
      if (!(bank->extended & (UINT32_C(1) << p)))
        continue;
      rt_hex(bank->pcr[p], bank->size, hex);
      printf("  %-8s %2d %s\n", rt_eventlog_alg_name(bank->alg), p, hex);
    }
  }
  printf("\n");
  rt_evstate_print(stdout, st);
}

static json_t *pcrs_json(const rt_eventlog_pcrs *pcrs) {
  char hex[2 * RT_EVENTLOG_MAX_DIGEST + 1], key[4];
  json_t *root = json_object();
  if (root == NULL)
    return NULL;
  for (size_t b = 0; b < pcrs->n_banks; b++) {
    const rt_eventlog_bank *bank = &pcrs->banks[b];
    json_t *obj = json_object();
    if (!rt_jset(root, rt_eventlog_alg_name(bank->alg), obj))
      goto fail;
    for (int p = 0; p < RT_EVENTLOG_NUM_PCRS; p++) {
      if (!(bank->extended & (UINT32_C(1) << p)))
        continue;
      rt_hex(bank->pcr[p], bank->size, hex);
      snprintf(key, sizeof key, "%d", p);
      if (!rt_jset(obj, key, json_string(hex)))
        goto fail;
    }
  }
  return root;
fail:
  json_decref(root);
  return NULL;
}

static json_t *event_json(const rt_eventlog *log, const rt_evstate *st, size_t i) {
  const rt_eventlog_event *ev = &log->events[i];
  json_t *obj = json_object();
  if (obj == NULL)
    return NULL;
  const char *name = rt_eventlog_type_name(ev->type);
  if (!rt_jset(obj, "index", json_integer(ev->index)) ||
      !rt_jset(obj, "offset", json_integer((json_int_t)ev->offset)) ||
      !rt_jset(obj, "pcr", json_integer(ev->pcr)) ||
      !rt_jset(obj, "type", json_string(name != NULL ? name : "EV_UNKNOWN")) ||
      !rt_jset(obj, "type_name", json_string(name != NULL ? name : "EV_UNKNOWN")) ||
      !rt_jset(obj, "type_id", json_integer(ev->type)) ||
      !rt_jset(obj, "digests", rt_evstate_digests_json(ev)) ||
      !rt_jset(obj, "data_len", json_integer(ev->data_len)) ||
      !rt_jset(obj, "check", json_string(rt_evcheck_name(st->checks[i]))) ||
      (st->flaws[i] != RT_EVFLAW_NONE &&
       !rt_jset(obj, "flaw", json_string(rt_evflaw_name(st->flaws[i])))) ||
      !rt_jset(obj, "data", rt_evdecode_json(log, i))) {
    json_decref(obj);
    return NULL;
  }
  return obj;
}

static int print_json(const rt_eventlog *log, const rt_eventlog_pcrs *pcrs, const rt_evstate *st) {
  json_t *root = json_object();
  json_t *events = json_array();
  if (root == NULL) {
    json_decref(events);
    goto fail;
  }
  if (!rt_jset(root, "pcrs", pcrs_json(pcrs)) || !rt_jset(root, "events", events) ||
      !rt_jset(root, "state", rt_evstate_json(log, st)) ||
      !rt_jset(root, "format", json_string(log->legacy ? "sha1-legacy" : "crypto-agile")) ||
      (log->has_startup_locality &&
       !rt_jset(root, "startup_locality", json_integer(log->startup_locality))))
    goto fail;
  for (size_t i = 0; i < log->n_events; i++)
    if (json_array_append_new(events, event_json(log, st, i)) != 0)
      goto fail;
  if (json_dumpf(root, stdout, JSON_INDENT(2)) != 0)
    goto fail;
  putchar('\n');
  json_decref(root);
  return 0;
fail:
  json_decref(root);
  fprintf(stderr, PROG ": out of memory writing JSON\n");
  return 1;
}

/* -1: go on with *path; else the exit status (help, or bad usage). */
static int parse_opts(int argc, char **argv, bool *json, const char **path) {
  static const struct option opts[] = {
      {"json", no_argument, NULL, 'j'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  int c;
  optind = 0; /* glibc: full re-initialisation for the command's options */
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    if (c == 'j') {
      *json = true;
    } else if (c == 'h') {
      rt_cmd_eventlog_usage(stdout);
      return 0;
    } else {
      fprintf(stderr, "Try '" PROG " --help'.\n");
      return 2;
    }
  }
  if (optind + 1 == argc) {
    *path = argv[optind];
    return -1;
  }
  if (optind >= argc)
    fprintf(stderr, PROG ": an event log FILE is required\n");
  else
    fprintf(stderr, PROG ": unexpected argument \"%s\"\n", argv[optind + 1]);
  fprintf(stderr, "Try '" PROG " --help'.\n");
  return 2;
}

/* Reads, replays and reads the state of the log at path, with every digest
 * taken as proven (there is no quote here). Reports its own errors. */
static bool load_log(const char *path, rt_eventlog *log, rt_eventlog_pcrs *pcrs, rt_evstate *st) {
  rt_err err = {0};
  if (rt_eventlog_read_file(path, NULL, log, &err) != RT_OK) {
    fprintf(stderr, PROG ": %s\n", err.msg);
    return false;
  }
  rt_evproof all;
  rt_evproof_all(log, &all);
  if (rt_eventlog_replay(log, pcrs, &err) != RT_OK ||
      rt_evstate_derive(log, &all, st, &err) != RT_OK) {
    fprintf(stderr, PROG ": %s: %s\n", path, err.msg);
    rt_eventlog_free(log);
    return false;
  }
  return true;
}

int rt_cmd_eventlog(int argc, char **argv) {
  bool json = false;
  const char *path = NULL;
  int rc = parse_opts(argc, argv, &json, &path);
  if (rc >= 0)
    return rc;
  rt_eventlog log;
  rt_eventlog_pcrs pcrs;
  rt_evstate st;
  if (!load_log(path, &log, &pcrs, &st))
    return 1;
  rc = 0;
  if (json)
    rc = print_json(&log, &pcrs, &st);
  else
    print_text(path, &log, &pcrs, &st);
  rt_evstate_free(&st);
  rt_eventlog_free(&log);
  if (fflush(stdout) != 0) {
    fprintf(stderr, PROG ": cannot write the output\n");
    rc = 1;
  }
  return rc;
}
