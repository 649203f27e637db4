#include "options.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "rt_cli.h"
#include "rt_log.h"

#define PROG "rattest-loadgen"

static void usage(FILE *f) {
  fprintf(f, "Usage: " PROG " --write-ca DIR [--verifier HOST:PORT --ca FILE] [options]\n"
             "\n"
             "Emulates machines without a TPM that enroll against a verifier exactly as\n"
             "rattest-bootstrap does (EK certificate, software credential activation,\n"
             "quote and event log, certification and possession signatures), and\n"
             "reports enrollments/s, latency, errors by refusal code and, with\n"
             "--verifier-pid, the verifier's CPU time per enrollment and memory.\n"
             "Calls are retried as rattest-bootstrap retries them, and an enrollment\n"
             "whose Finish answer was lost, or was refused REGISTRY_FAILED, is begun\n"
             "again from Begin (at most 3 times); retries are reported apart from\n"
             "errors.\n"
             "Their EKs are certified by a test manufacturer CA kept in DIR: start the\n"
             "verifier with --ek-ca DIR/ek-ca.pem. Without --verifier, only makes it.\n"
             "\n"
             "Options:\n"
             "  --write-ca DIR        the test manufacturer CA (required): DIR/ek-ca.pem\n"
             "                        (root and intermediate) and DIR/ek-ca-key.pem\n"
             "                        (0600), made when absent, else reused\n"
             "  --verifier HOST:PORT  the verifier's gRPC address\n"
             "  --ca FILE             PEM CA the verifier's certificate chains to\n"
             "  --concurrency N       machines enrolling at once, one thread each\n"
             "                        (default 4, 1-1024)\n"
             "  --rate R              open loop: R enrollments per second whatever the\n"
             "                        answers take (default: closed loop, each machine\n"
             "                        enrolls again as soon as it is answered)\n"
             "  --duration DURATION   stop starting enrollments after this long (default\n"
             "                        10s, or none with --count)\n"
             "  --count N             stop after N enrollments\n"
             "  --ek-mix R:E          machines with an RSA 2048 EK to machines with an\n"
             "                        ECC EK (default 1:1)\n"
             "  --ecc-curve CURVE     the ECC EKs' curve: p384 (default, as swtpm) or p256\n"
             "  --key-alg ALG         the certified key: ecc-p256 (default) or rsa-2048\n"
             "  --event-log FILE      the TCG event log each machine sends; its replay\n"
             "                        gives the quoted PCRs (default the project's\n"
             "                        tests/data/eventlogs/arch-linux-workstation log)\n"
             "  --timeout DURATION    give up on an enrollment's Begin and Finish after\n"
             "                        this long, retries included (default 30s)\n"
             "  --verifier-pid PID    sample this process's CPU time and memory\n"
             "                        (/proc/PID) before and after the load, and its\n"
             "                        RSS every 0.5 s during it\n"
             "  --json                the report as one JSON object\n"
             "  --write-certs DIR     write each accepted machine's certificate and chain\n"
             "                        (DIR/NAME.pem) and software key (DIR/NAME-key.pem,\n"
             "                        0600), NAME lg-0, lg-1, ...\n"
             "  --ek-names            each machine enrolls under its EK's name, ek- and\n"
             "                        16 hex digits (default lg-N): unique across runs,\n"
             "                        as \"name_binding\": \"ek\" wants\n"
             "  --serials FILE        write the key certificate serial (lowercase hex)\n"
             "                        of each accepted enrollment to FILE, one a line,\n"
             "                        as it is accepted\n"
             "  --ping                the transport baseline: each iteration a new TLS\n"
             "                        connection, two Ping calls and close, no\n"
             "                        enrollment (no machines made); reported the same\n"
             "                        way, an iteration counting as an enrollment\n"
             "  -v, --verbose         more log output (each error with -v -v)\n"
             "  -h, --help            show this help\n"
             "\n"
             "Exit status: 0 every enrollment accepted, retried or not (or the CA\n"
             "made), 1 an enrollment refused or failed, or the CA or machines could\n"
             "not be made, 2 bad usage.\n");
}

static int bad(const char *msg) {
  fprintf(stderr, PROG ": %s\n", msg);
  return 2;
}

static int number(const char *opt, const char *arg, uint64_t min, uint64_t max, uint64_t *out) {
  rt_err err;
  return rt_cli_parse_u64(opt, arg, min, max, out, &err) == RT_OK ? LG_RUN : bad(err.msg);
}

static int parse_rate(const char *arg, double *out) {
  char *end = NULL;
  *out = strtod(arg, &end);
  if (end == arg || *end != '\0' || !(*out > 0) || *out > 1e6)
    return bad("--rate must be a number of enrollments per second, above 0");
  return LG_RUN;
}

static int parse_mix(const char *arg, lg_opts *o) {
  char *end = NULL;
  unsigned long r = strtoul(arg, &end, 10), e = 0;
  int ok = end != arg && *end == ':' && r <= 1000;
  if (ok) {
    const char *s = end + 1;
    e = strtoul(s, &end, 10);
    ok = end != s && *end == '\0' && e <= 1000 && r + e > 0 && arg[0] != '-' && s[0] != '-';
  }
  if (!ok)
    return bad("--ek-mix must be R:E, two whole numbers 0-1000 not both 0 (e.g. 1:1, 1:0)");
  o->mix_rsa = (unsigned)r;
  o->mix_ecc = (unsigned)e;
  return LG_RUN;
}

enum {
  O_CADIR = 256,
  O_VERIFIER,
  O_CA,
  O_CONC,
  O_RATE,
  O_DURATION,
  O_COUNT,
  O_MIX,
  O_CURVE,
  O_KEYALG,
  O_LOG,
  O_TIMEOUT,
  O_PID,
  O_JSON,
  O_CERTS,
  O_SERIALS,
  O_EKNAMES,
  O_PING,
};

static int option(int c, const char *arg, lg_opts *o) {
  rt_err err;
  uint64_t v = 0;
  int st = LG_RUN;
  switch (c) {
  case O_CADIR:
    o->ca_dir = arg;
    break;
  case O_VERIFIER:
    o->verifier = arg;
    if (rt_cli_parse_hostport("--verifier", arg, 1, NULL, &err) != RT_OK)
      st = bad(err.msg);
    break;
  case O_CA:
    o->ca_file = arg;
    break;
  case O_CONC:
    if ((st = number("--concurrency", arg, 1, 1024, &v)) == LG_RUN)
      o->concurrency = (unsigned)v;
    break;
  case O_RATE:
    st = parse_rate(arg, &o->rate);
    break;
  case O_DURATION:
  case O_TIMEOUT:
    if (rt_cli_parse_duration_ms(c == O_DURATION ? "--duration" : "--timeout", arg,
                                 c == O_DURATION ? &o->duration_ms : &o->timeout_ms, &err) != RT_OK)
      st = bad(err.msg);
    break;
  case O_COUNT:
    st = number("--count", arg, 1, UINT32_MAX, &o->count);
    break;
  case O_MIX:
    st = parse_mix(arg, o);
    break;
  case O_CURVE:
    if (strcmp(arg, "p384") == 0 || strcmp(arg, "p256") == 0)
      o->ecc_kind = arg[1] == '3' ? LG_EK_P384 : LG_EK_P256;
    else
      st = bad("--ecc-curve must be p384 or p256");
    break;
  case O_KEYALG:
    if ((o->key_alg = rt_key_alg_parse(arg)) == RT_ALG_NONE)
      st = bad("--key-alg must be ecc-p256 or rsa-2048");
    break;
  case O_LOG:
    o->event_log = arg;
    break;
  case O_PID:
    if ((st = number("--verifier-pid", arg, 1, INT32_MAX, &v)) == LG_RUN)
      o->verifier_pid = (pid_t)v;
    break;
  case O_JSON:
    o->json = 1;
    break;
  case O_CERTS:
    o->certs_dir = arg;
    break;
  case O_SERIALS:
    o->serials = arg;
    break;
  case O_EKNAMES:
    o->ek_names = 1;
    break;
  case O_PING:
    o->ping = 1;
    break;
  default:
    st = 2;
  }
  return st;
}

/* What the options cannot say alone. */
static int check(lg_opts *o, int duration_given) {
  if (o->ca_dir == NULL)
    return bad("--write-ca DIR is required");
  if ((o->verifier == NULL) != (o->ca_file == NULL))
    return bad("--verifier and --ca go together");
  if (o->count != 0 && !duration_given)
    o->duration_ms = 0;
  if (o->timeout_ms == 0 || o->timeout_ms > INT32_MAX)
    return bad("--timeout must be between 1ms and 24 days");
  return LG_RUN;
}

int lg_opts_parse(int argc, char **argv, lg_opts *o) {
  static const struct option opts[] = {
      {"write-ca", required_argument, NULL, O_CADIR},
      {"verifier", required_argument, NULL, O_VERIFIER},
      {"ca", required_argument, NULL, O_CA},
      {"concurrency", required_argument, NULL, O_CONC},
      {"rate", required_argument, NULL, O_RATE},
      {"duration", required_argument, NULL, O_DURATION},
      {"count", required_argument, NULL, O_COUNT},
      {"ek-mix", required_argument, NULL, O_MIX},
      {"ecc-curve", required_argument, NULL, O_CURVE},
      {"key-alg", required_argument, NULL, O_KEYALG},
      {"event-log", required_argument, NULL, O_LOG},
      {"timeout", required_argument, NULL, O_TIMEOUT},
      {"verifier-pid", required_argument, NULL, O_PID},
      {"json", no_argument, NULL, O_JSON},
      {"write-certs", required_argument, NULL, O_CERTS},
      {"serials", required_argument, NULL, O_SERIALS},
      {"ek-names", no_argument, NULL, O_EKNAMES},
      {"ping", no_argument, NULL, O_PING},
      {"verbose", no_argument, NULL, 'v'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  *o = (lg_opts){.concurrency = 4,
                 .duration_ms = 10000,
                 .timeout_ms = 30000,
                 .mix_rsa = 1,
                 .mix_ecc = 1,
                 .ecc_kind = LG_EK_P384,
                 .key_alg = RT_ALG_ECC_P256,
                 .event_log = LG_DEFAULT_EVENT_LOG};
  int c, verbose = 0, duration_given = 0;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
    if (c == 'h') {
      usage(stdout);
      return 0;
    }
    if (c == 'v') {
      verbose++;
      continue;
    }
    if (c == '?') {
      fprintf(stderr, PROG ": unknown option or missing value: %s\n", argv[optind - 1]);
      usage(stderr);
      return 2;
    }
    duration_given |= c == O_DURATION;
    int st = option(c, optarg, o);
    if (st != LG_RUN)
      return st;
  }
  if (optind < argc)
    return bad("unexpected argument");
  rt_log_set_level((rt_log_level)(RT_LOG_WARN + (verbose > 2 ? 2 : verbose)));
  return check(o, duration_given);
}
