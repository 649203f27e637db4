#include "cmd_revoke.h"

#include <ctype.h>
#include <getopt.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "rt_name.h"
#include "store.h"

#define PROG "rattest-verifier revoke"
/* RFC 5280's name for a revocation without a stated reason. */
#define DEFAULT_REASON "unspecified"

void rt_cmd_revoke_usage(FILE *f) {
  fprintf(f, "Usage: " PROG " WHAT --db DB [--reason TEXT] [--undo]\n"
             "\n"
             "Revokes in the machine registry (docs/operations.md) what WHAT names:\n"
             "  NAME          the active certificates issued to NAME\n"
             "  --serial S    one certificate, by its serial (hex)\n"
             "  --ek HEX      the machine: its EK may not enroll again, and its active\n"
             "                certificates are revoked; with --undo the EK may enroll\n"
             "                again (its certificates stay revoked)\n"
             "\n"
             "Options:\n"
             "  --db DB          the registry, a SQLite file or postgresql:// URL (required)\n"
             "  --serial S       a certificate serial, hex\n"
             "  --ek HEX         an EK SHA-256, 64 hex digits\n"
             "  --reason TEXT    why, 1-256 printable characters (default \"" DEFAULT_REASON "\")\n"
             "  --undo           with --ek: lift the EK's revocation\n"
             "  -h, --help       show this help\n"
             "\n"
             "Exit status: 0 revoked (or lifted), 1 failed or nothing to revoke (an\n"
             "unknown name or serial, an EK not revoked for --undo), 2 bad usage.\n");
}

typedef struct {
  const char *db;
  const char *reason;
  bool undo;
  rt_store_revoke_by by;
  char value[RT_STORE_EK_HEX + 1]; /* the name, serial or EK, lowercased */
  int n_what;
} revoke_opts;

static int usage_error(const char *what, const char *msg) {
  fprintf(stderr, PROG ": %s%s%s\n", what ? what : "", what ? ": " : "", msg);
  rt_cmd_revoke_usage(stderr);
  return 2;
}

/* Takes WHAT; serials and EKs are stored in lowercase. -1: go on. */
static int take_what(revoke_opts *o, rt_store_revoke_by by, const char *what, const char *v) {
  rt_err err;
  size_t n = strlen(v);
  if (o->n_what++ > 0)
    return usage_error(what, "one of NAME, --serial and --ek");
  if (n >= sizeof o->value)
    return usage_error(what, "too long");
  for (size_t i = 0; i <= n; i++)
    o->value[i] = by == RT_STORE_BY_NAME ? v[i] : (char)tolower((unsigned char)v[i]);
  o->by = by;
  rt_code code = by == RT_STORE_BY_NAME ? rt_name_check(o->value, &err)
                 : by == RT_STORE_BY_EK ? rt_store_ek_check(o->value, &err)
                                        : rt_store_serial_check(o->value, &err);
  return code == RT_OK ? -1 : usage_error(what, err.msg);
}

static int parse_opts(int argc, char **argv, revoke_opts *o) {
  enum { O_DB = 1000, O_SERIAL, O_EK, O_REASON, O_UNDO };
  static const struct option opts[] = {{"db", required_argument, NULL, O_DB},
                                       {"serial", required_argument, NULL, O_SERIAL},
                                       {"ek", required_argument, NULL, O_EK},
                                       {"reason", required_argument, NULL, O_REASON},
                                       {"undo", no_argument, NULL, O_UNDO},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  int c, status = -1;
  optind = 0; /* glibc: 0 re-initializes getopt after main's own "+" parsing */
  while (status < 0 && (c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    if (c == O_DB) {
      o->db = optarg;
    } else if (c == O_SERIAL) {
      status = take_what(o, RT_STORE_BY_SERIAL, "--serial", optarg);
    } else if (c == O_EK) {
      status = take_what(o, RT_STORE_BY_EK, "--ek", optarg);
    } else if (c == O_REASON) {
      o->reason = optarg;
    } else if (c == O_UNDO) {
      o->undo = true;
    } else {
      rt_cmd_revoke_usage(c == 'h' ? stdout : stderr);
      return c == 'h' ? 0 : 2;
    }
  }
  for (; status < 0 && optind < argc; optind++)
    status = take_what(o, RT_STORE_BY_NAME, "NAME", argv[optind]);
  if (status >= 0)
    return status;
  if (o->n_what == 0)
    return usage_error(NULL, "what to revoke? NAME, --serial S or --ek HEX");
  if (o->undo && o->by != RT_STORE_BY_EK)
    return usage_error("--undo", "only with --ek");
  if (o->undo && o->reason != NULL)
    return usage_error("--reason", "not with --undo");
  rt_err err;
  if (o->reason != NULL && rt_store_reason_check(o->reason, &err) != RT_OK)
    return usage_error("--reason", err.msg);
  return o->db == NULL ? usage_error("--db", "required") : -1;
}

/* 0 done, 1 failed. */
static int run(rt_store *s, const revoke_opts *o) {
  rt_err err;
  size_t n = 0;
  const char *reason = o->reason ? o->reason : DEFAULT_REASON;
  rt_code code = o->undo ? rt_store_unrevoke_ek(s, o->value, &err)
                         : rt_store_revoke(s, o->by, o->value, reason, time(NULL), &n, &err);
  if (code != RT_OK) {
    fprintf(stderr, PROG ": %s\n", err.msg);
    return 1;
  }
  if (o->undo)
    printf("EK %s may enroll again\n", o->value);
  else if (o->by == RT_STORE_BY_EK)
    printf("EK %s revoked; %zu certificate(s) revoked\n", o->value, n);
  else
    printf("%zu certificate(s) revoked\n", n);
  return 0;
}

int rt_cmd_revoke(int argc, char **argv) {
  revoke_opts o = {0};
  int status = parse_opts(argc, argv, &o);
  if (status >= 0)
    return status;
  rt_err err;
  rt_store *s = NULL;
  if (rt_store_open(o.db, &s, &err) != RT_OK) {
    fprintf(stderr, PROG ": --db: %s\n", err.msg);
    return 1;
  }
  status = run(s, &o);
  rt_store_close(s);
  return status;
}
