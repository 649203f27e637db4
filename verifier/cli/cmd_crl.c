#include "cmd_crl.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "crl_registry.h"
#include "rt_cli.h"

#define PROG "rattest-verifier crl"

void rt_cmd_crl_usage(FILE *f) {
  fprintf(f,
          "Usage: " PROG " --db DB --issuer-cert FILE --issuer-key FILE\n"
          "       [--crl-period DURATION] [--out FILE]\n"
          "\n"
          "Prints the issuing CA's certificate revocation list (PEM), made from the\n"
          "certificates revoked in the machine registry as `serve --crl-file` makes it\n"
          "(docs/operations.md, \"Revocation\"): signed by the issuer key, thisUpdate\n"
          "now, a crlNumber larger than any made before.\n"
          "\n"
          "Options:\n"
          "  --db DB                  the registry, SQLite file or postgresql:// (required)\n"
          "  --issuer-cert FILE       issuing CA certificate and its chain, PEM (required)\n"
          "  --issuer-key FILE        issuing CA private key, PEM, 0600 (required)\n"
          "  --crl-period DURATION    nextUpdate = now + DURATION (default " RT_CRL_PERIOD_DEFAULT
          ",\n"
          "                           1m to 720h)\n"
          "  --out FILE               write it to FILE (atomically, mode 0644) instead\n"
          "  -h, --help               show this help\n"
          "\n"
          "Exit status: 0 printed or written, 1 failed (a SQLite registry that does\n"
          "not exist: crl does not create one; the registry, the issuer files or --out\n"
          "failing), 2 bad usage.\n");
}

typedef struct {
  const char *db, *issuer_cert, *issuer_key, *out;
  uint64_t period_ms;
} crl_opts;

static int usage_error(const char *msg) {
  fprintf(stderr, PROG ": %s\n", msg);
  rt_cmd_crl_usage(stderr);
  return 2;
}

/* -1: go on; else the exit status. */
static int parse_opts(int argc, char **argv, crl_opts *o) {
  enum { O_DB = 1000, O_CERT, O_KEY, O_PERIOD, O_OUT };
  static const struct option opts[] = {{"db", required_argument, NULL, O_DB},
                                       {"issuer-cert", required_argument, NULL, O_CERT},
                                       {"issuer-key", required_argument, NULL, O_KEY},
                                       {"crl-period", required_argument, NULL, O_PERIOD},
                                       {"out", required_argument, NULL, O_OUT},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  const char **paths[] = {[O_DB - O_DB] = &o->db,
                          [O_CERT - O_DB] = &o->issuer_cert,
                          [O_KEY - O_DB] = &o->issuer_key,
                          [O_OUT - O_DB] = &o->out};
  rt_err err;
  int c;
  optind = 0; /* glibc: 0 re-initializes getopt after main's own "+" parsing */
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    if (c >= O_DB && c <= O_OUT && c != O_PERIOD) {
      *paths[c - O_DB] = optarg;
    } else if (c == O_PERIOD) {
      if (rt_cli_parse_duration_ms("--crl-period", optarg, &o->period_ms, &err) != RT_OK)
        return usage_error(err.msg);
    } else {
      rt_cmd_crl_usage(c == 'h' ? stdout : stderr);
      return c == 'h' ? 0 : 2;
    }
  }
  if (optind < argc)
    return usage_error("unexpected argument");
  if (o->db == NULL || o->issuer_cert == NULL || o->issuer_key == NULL)
    return usage_error("--db, --issuer-cert and --issuer-key are required");
  if (o->period_ms < RT_CRL_PERIOD_MIN_S * 1000ull || o->period_ms > RT_CRL_PERIOD_MAX_S * 1000ull)
    return usage_error("--crl-period must be between 1m and 720h");
  return -1;
}

/* A SQLite path that names no file would be created empty, and an empty
 * CRL published from a mistyped path would clear every revocation. */
static rt_code registry_exists(const char *db, rt_err *err) {
  struct stat st;
  if (strncmp(db, "postgresql://", 13) == 0 || strncmp(db, "postgres://", 11) == 0 ||
      stat(db, &st) == 0)
    return RT_OK;
  return rt_err_set(err, RT_E_NOT_FOUND, "--db: no registry at %s (crl does not create one)", db);
}

int rt_cmd_crl(int argc, char **argv) {
  crl_opts o = {0};
  rt_err err;
  rt_cli_parse_duration_ms("--crl-period", RT_CRL_PERIOD_DEFAULT, &o.period_ms, &err);
  int status = parse_opts(argc, argv, &o);
  if (status >= 0)
    return status;
  rt_store *s = NULL;
  rt_issuer *is = NULL;
  char *pem = NULL;
  size_t len = 0;
  status = 1;
  if (rt_issuer_load(o.issuer_cert, o.issuer_key, &is, &err) != RT_OK ||
      registry_exists(o.db, &err) != RT_OK || rt_store_open(o.db, &s, &err) != RT_OK ||
      rt_crl_from_registry(s, is, time(NULL), (int64_t)(o.period_ms / 1000), &pem, &len, NULL,
                           &err) != RT_OK ||
      (o.out != NULL ? rt_crl_write(o.out, pem, len, &err)
                     : (fwrite(pem, 1, len, stdout) == len && fflush(stdout) == 0
                            ? RT_OK
                            : rt_err_set(&err, RT_E_IO, "cannot write to stdout"))) != RT_OK)
    fprintf(stderr, PROG ": %s\n", err.msg);
  else
    status = 0;
  free(pem);
  rt_store_close(s);
  rt_issuer_free(is);
  return status;
}
