/* rattest-bootstrap: the CLI a machine runs at first boot. Each command
 * turns its options into the options of the module that does the work. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "enroll.h"
#include "idkey.h"
#include "net.h"
#include "rattest.pb-c.h"
#include "renew.h"
#include "rpc_report.h"
#include "rt_cli.h"
#include "rt_grpc.h"
#include "rt_log.h"
#include "rt_methods.h"
#include "rt_pcrsel.h"
#include "rt_state.h"
#include "rt_tpm.h"
#include "status.h"
#include "tpm_info.h"
#include "unseal.h"

/* The commands' long options without a short form. */
enum {
  O_VERIFIER = 256,
  O_CA,
  O_TIMEOUT,
  O_MESSAGE,
  O_STATE,
  O_TCTI,
  O_NAME,
  O_KEYALG,
  O_EK,
  O_LOG,
  O_PCRS,
  O_HANDLE,
  O_FORCE,
  O_RENEW,
  O_EKINTER,
  O_EKURL,
  O_OUT,
  O_JSON,
  O_ALL,
  O_WINDOW,
  O_EXEC,
};

/* An option handler's answer when parsing goes on; anything else is the
 * status to exit with. */
#define GO_ON (-1)

static int fail(const char *cmd, const char *msg, int status) {
  fprintf(stderr, "rattest-bootstrap %s: %s\n", cmd, msg);
  if (status == 2)
    fprintf(stderr, "Try 'rattest-bootstrap %s --help'.\n", cmd);
  return status;
}

/* Takes one option (getopt's c and optarg) into a command's options. */
typedef int (*option_fn)(int c, const char *arg, void *opts);

/* Runs getopt over a command's arguments: GO_ON when every option was
 * taken, else the status a handler answered. */
static int parse_options(int argc, char **argv, const char *shortopts,
                         const struct option *longopts, option_fn take, void *opts) {
  int c, status = GO_ON;
  optind = 0; /* glibc: full re-initialisation for the command's options */
  while (status == GO_ON && (c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1)
    status = take(c, optarg, opts);
  return status;
}

/* What every command does with -v, -h and an option it does not know. */
static int common_option(int c, void (*usage)(FILE *)) {
  switch (c) {
  case 'v':
    rt_log_set_level(rt_log_get_level() + 1);
    return GO_ON;
  case 'h':
    usage(stdout);
    return 0;
  default:
    usage(stderr);
    return 2;
  }
}

static int parse_timeout(const char *cmd, const char *arg, uint64_t max_ms, const char *range,
                         uint64_t *out) {
  rt_err err = {0};
  if (rt_cli_parse_duration_ms("--timeout", arg, out, &err) != RT_OK)
    return fail(cmd, err.msg, 2);
  if (*out == 0 || *out > max_ms)
    return fail(cmd, range, 2);
  return GO_ON;
}

/* HOST:PORT, the port 1-65535: gRPC would take a missing port as 443. */
static int parse_verifier(const char *cmd, const char *arg, const char **out) {
  rt_err err = {0};
  if (rt_cli_parse_hostport("--verifier", arg, 1, NULL, &err) != RT_OK)
    return fail(cmd, err.msg, 2);
  *out = arg;
  return GO_ON;
}

static int parse_ek(const char *cmd, const char *arg, rt_ek_choice *out) {
  if (strcmp(arg, "rsa") == 0)
    *out = RT_EK_RSA;
  else if (strcmp(arg, "ecc") == 0)
    *out = RT_EK_ECC;
  else if (strcmp(arg, "auto") == 0)
    *out = RT_EK_AUTO;
  else
    return fail(cmd, "--ek must be rsa, ecc or auto", 2);
  return GO_ON;
}

static void usage_ping(FILE *f) {
  fprintf(f, "Usage: rattest-bootstrap ping --verifier HOST:PORT --ca FILE [OPTIONS]\n"
             "\n"
             "Options:\n"
             "  --verifier HOST:PORT  the verifier's gRPC address (required)\n"
             "  --ca FILE             PEM CA the verifier's certificate chains to (required)\n"
             "  --timeout DURATION    keep trying this long while unreachable (default 10s)\n"
             "  --message TEXT        text the verifier echoes back (default \"ping\")\n"
             "  -v, --verbose         more log output\n"
             "  -h, --help            show this help\n"
             "\n"
             "Exit status: 0 the verifier answered, 1 no answer (--ca unreadable,\n"
             "unreachable, TLS verification failed, refused), 2 bad usage.\n");
}

typedef struct {
  const char *verifier, *ca, *message;
  uint64_t timeout_ms;
} ping_opts;

static int ping_option(int c, const char *arg, void *opts) {
  ping_opts *o = opts;
  switch (c) {
  case O_VERIFIER:
    return parse_verifier("ping", arg, &o->verifier);
  case O_CA:
    o->ca = arg;
    return GO_ON;
  case O_TIMEOUT:
    return parse_timeout("ping", arg, 3600 * 1000, "--timeout must be between 1ms and 1h",
                         &o->timeout_ms);
  case O_MESSAGE:
    o->message = arg;
    return GO_ON;
  default:
    return common_option(c, usage_ping);
  }
}

/* A gRPC Ping, retried like enroll's calls until --timeout: the verifier
 * answers over TLS with its version. */
static int ping_verifier(const ping_opts *o) {
  rt_err err = {0};
  rt_grpc_client *client = NULL;
  uint64_t deadline = rt_grpc_now_ms() + o->timeout_ms;
  if (rt_net_client_new(o->verifier, o->ca, &client, &err) != RT_OK)
    return fail("ping", err.msg, 1);
  Rattest__V1__PingRequest req = RATTEST__V1__PING_REQUEST__INIT;
  req.message = (char *)o->message;
  ProtobufCMessage *out = NULL;
  rt_rpc_result res;
  grpc_status_code st =
      rt_net_call_retry(client, RT_METHOD_PING, &req.base, &rattest__v1__ping_response__descriptor,
                        deadline, RT_RETRY_TRANSIENT, &out, &res);
  if (st != GRPC_STATUS_OK)
    rt_report_rpc("ping", "Ping", client, &res);
  rt_net_client_free(client);
  if (st != GRPC_STATUS_OK)
    return 1;
  Rattest__V1__PingResponse *resp = (Rattest__V1__PingResponse *)out;
  printf("verifier %s answered: version %s, message \"%s\", time %lld\n", o->verifier,
         resp->version, resp->message, (long long)resp->server_time_unix);
  protobuf_c_message_free_unpacked(out, NULL);
  return 0;
}

static int cmd_ping(int argc, char **argv) {
  static const struct option opts[] = {
      {"verifier", required_argument, NULL, O_VERIFIER},
      {"ca", required_argument, NULL, O_CA},
      {"timeout", required_argument, NULL, O_TIMEOUT},
      {"message", required_argument, NULL, O_MESSAGE},
      {"verbose", no_argument, NULL, 'v'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  ping_opts o = {.message = "ping", .timeout_ms = 10000};
  int status = parse_options(argc, argv, "vh", opts, ping_option, &o);
  if (status != GO_ON)
    return status;
  if (optind < argc)
    return fail("ping", "unexpected argument", 2);
  if (o.verifier == NULL || o.ca == NULL)
    return fail("ping", "--verifier and --ca are required", 2);
  return ping_verifier(&o);
}

static void usage_tpm_info(FILE *f) {
  fprintf(f, "Usage: rattest-bootstrap tpm-info [--tcti STR]\n"
             "\n"
             "Prints a JSON description of the TPM.\n"
             "\n"
             "Options:\n"
             "  --tcti STR     TCTI configuration, e.g. swtpm:host=127.0.0.1,port=2321,\n"
             "                 device:/dev/tpmrm0, tabrmd:bus_type=session\n"
             "  -v, --verbose  more log output\n"
             "  -h, --help     show this help\n"
             "\n"
             "Exit status: 0 described, 1 the TPM could not be opened or read, 2 bad usage.\n");
}

static int tpm_info_option(int c, const char *arg, void *opts) {
  if (c != O_TCTI)
    return common_option(c, usage_tpm_info);
  *(const char **)opts = arg;
  return GO_ON;
}

static int cmd_tpm_info(int argc, char **argv) {
  static const struct option opts[] = {
      {"tcti", required_argument, NULL, O_TCTI},
      {"verbose", no_argument, NULL, 'v'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  const char *tcti = NULL;
  int status = parse_options(argc, argv, "vh", opts, tpm_info_option, &tcti);
  if (status != GO_ON)
    return status;
  if (optind < argc)
    return fail("tpm-info", "unexpected argument", 2);
  rt_err err = {0};
  rt_tpm *tpm = NULL;
  rt_tpm_quiet_tss_logs();
  if (rt_tpm_open(tcti, &tpm, &err) != RT_OK)
    return fail("tpm-info", err.msg, 1);
  json_t *info = NULL;
  rt_code code = rt_tpm_describe(tpm, &info, &err);
  rt_tpm_close(tpm);
  if (code != RT_OK)
    return fail("tpm-info", err.msg, 1);
  json_dumpf(info, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  fputc('\n', stdout);
  json_decref(info);
  return 0;
}

static void usage_enroll(FILE *f) {
  fprintf(f, "Usage: rattest-bootstrap enroll --verifier HOST:PORT --ca FILE [OPTIONS]\n"
             "\n"
             "Attests this machine's TPM to the verifier (EK certificate, credential\n"
             "activation, quote + event log, certification of a new TPM key) and keeps\n"
             "the issued identity: the key at a persistent handle and as a TSS2 key\n"
             "file, its certificate and chain, and state.json linking them.\n"
             "\n"
             "Options:\n"
             "  --verifier HOST:PORT  the verifier's gRPC address (required)\n"
             "  --ca FILE             PEM CA the verifier's certificate chains to (required)\n"
             "  --state-dir DIR       where state and files go (default " RT_STATE_DIR_DEFAULT ")\n"
             "  --tcti STR            TPM TCTI (default $RATTEST_TCTI, then tpm2-tss default)\n"
             "  --name NAME           identity name (default \"default\")\n"
             "  --key-alg ALG         ecc-p256 (default) or rsa-2048\n"
             "  --ek KIND             rsa, ecc or auto (default): which EK proves the TPM\n"
             "  --event-log FILE      TCG event log (default\n"
             "                        " RT_DEFAULT_EVENT_LOG ")\n"
             "  --ek-intermediates FILE  PEM EK intermediate CAs to send (for verifiers\n"
             "                        that trust only the manufacturer root), besides\n"
             "                        those the TPM carries in NV 0x01c00100-0x01c001ff\n"
             "  --ek-cert-url URL     for a TPM with no EK certificate in NV: fetch it from\n"
             "                        the manufacturer's EK certificate service at URL\n"
             "                        (Intel: https://ekop.intel.com/ekcertservice/,\n"
             "                        AMD: https://ftpm.amd.com/pki/aia/; docs/cli.md)\n"
             "  --pcrs SEL            PCR values sent when there is no event log (default\n"
             "                        sha256:0,1,2,3,4,5,6,7); the quote covers what the\n"
             "                        verifier demands\n"
             "  --handle HANDLE       persistent handle for the key (default 0x81000100)\n"
             "  --force               replace an object at HANDLE that rattest did not put there\n"
             "  --renew               enroll again even when the identity is still valid\n"
             "  --timeout DURATION    give up after this long, retries included (default 60s)\n"
             "  -v, --verbose         more log output\n"
             "  -h, --help            show this help\n"
             "\n"
             "Every argument is checked before anything is sent: --handle in the owner\n"
             "range, not the EK range, and free or holding this identity's key (or\n"
             "--force); --state-dir an absolute path writable by no one but this user\n"
             "(or root). A first enrollment that fails leaves no state directory behind.\n"
             "\n"
             "Exit status: 0 enrolled, or still enrolled and valid (nothing to do),\n"
             "1 failed (TPM, verifier unreachable or refusing, files, --handle taken),\n"
             "2 bad usage (an option's value, a --state-dir others can write to).\n");
}

static int parse_key_alg(const char *arg, rt_key_alg *out) {
  *out = rt_key_alg_parse(arg);
  if (*out == RT_ALG_NONE)
    return fail("enroll", "--key-alg must be ecc-p256 or rsa-2048", 2);
  return GO_ON;
}

/* Checked now, used by the enrollment as the text it is. */
static int parse_pcrs(const char *cmd, const char *arg, const char **out) {
  rt_err err = {0};
  TPML_PCR_SELECTION sel;
  if (rt_pcrsel_parse(arg, &sel, &err) != RT_OK)
    return fail(cmd, err.msg, 2);
  *out = arg;
  return GO_ON;
}

/* The range rt_idkey_persist will hold the handle to, checked now: after
 * Finish the verifier has issued (and audited) a certificate. */
static int parse_handle(const char *arg, uint32_t *out) {
  rt_err err = {0};
  uint64_t v;
  if (rt_cli_parse_u64("--handle", arg, 0, UINT32_MAX, &v, &err) != RT_OK)
    return fail("enroll", err.msg, 2);
  if (rt_idkey_handle_check((uint32_t)v, &err) != RT_OK) {
    rt_err_prefix(&err, "--handle: ");
    return fail("enroll", err.msg, 2);
  }
  *out = (uint32_t)v;
  return GO_ON;
}

/* What the state will record, checked now (after Finish the verifier has
 * issued a certificate): the verifier address in its field, and absolute
 * file paths in a directory only this user (or root) can change, or none
 * yet (enroll creates it, 0700). */
static int check_recorded(const rt_enroll_opts *o) {
  if (strlen(o->verifier) >= sizeof((rt_identity *)NULL)->verifier)
    return fail("enroll", "--verifier: longer than 255 characters", 2);
  /* Room for the longest name enroll adds, "/secrets/NAME-TAG.chain.pem". */
  if (strlen(o->state_dir) + 100 >= RT_STATE_PATH_MAX)
    return fail("enroll", "--state-dir: too long for the state's file paths", 2);
  rt_err err = {0};
  if (o->state_dir[0] != '/') {
    rt_err_set(&err, RT_E_INVALID, "--state-dir: \"%s\" is not an absolute path", o->state_dir);
    return fail("enroll", err.msg, 2);
  }
  rt_code code = rt_state_dir_check(o->state_dir, geteuid(), &err);
  if (code == RT_OK || code == RT_E_NOT_FOUND)
    return GO_ON;
  rt_err_prefix(&err, "--state-dir ");
  return fail("enroll", err.msg, 2);
}

/* The options enroll and renew share, into the enrollment they run
 * (renew's: every renewal's), CMD naming the command in errors; NOT_SHARED
 * when c is not one of them. */
#define NOT_SHARED (-2)
static int attest_option(const char *cmd, int c, const char *arg, rt_enroll_opts *o) {
  switch (c) {
  case O_VERIFIER:
    return parse_verifier(cmd, arg, &o->verifier);
  case O_CA:
    o->ca_file = arg;
    return GO_ON;
  case O_STATE:
    o->state_dir = arg;
    return GO_ON;
  case O_TCTI:
    o->tcti = arg;
    return GO_ON;
  case O_LOG:
    o->event_log = arg;
    return GO_ON;
  case O_EKINTER:
    o->ek_intermediates = arg;
    return GO_ON;
  case O_EK:
    return parse_ek(cmd, arg, &o->ek);
  case O_PCRS:
    return parse_pcrs(cmd, arg, &o->pcrs);
  case O_TIMEOUT:
    return parse_timeout(cmd, arg, 24 * 3600 * 1000u, "--timeout must be between 1ms and 24h",
                         &o->timeout_ms);
  default:
    return NOT_SHARED;
  }
}

static int enroll_option(int c, const char *arg, void *opts) {
  rt_enroll_opts *o = opts;
  int st = attest_option("enroll", c, arg, o);
  if (st != NOT_SHARED)
    return st;
  switch (c) {
  case O_NAME:
    o->name = arg;
    return GO_ON;
  case O_EKURL:
    if (strncasecmp(arg, "http://", 7) != 0 && strncasecmp(arg, "https://", 8) != 0)
      return fail("enroll", "--ek-cert-url must be an http:// or https:// URL", 2);
    o->ek_cert_url = arg;
    return GO_ON;
  case O_FORCE:
    o->force = 1;
    return GO_ON;
  case O_RENEW:
    o->renew = 1;
    return GO_ON;
  case O_KEYALG:
    return parse_key_alg(arg, &o->key_alg);
  case O_HANDLE:
    return parse_handle(arg, &o->handle);
  default:
    return common_option(c, usage_enroll);
  }
}

static int cmd_enroll(int argc, char **argv) {
  static const struct option opts[] = {
      {"verifier", required_argument, NULL, O_VERIFIER},
      {"ca", required_argument, NULL, O_CA},
      {"state-dir", required_argument, NULL, O_STATE},
      {"tcti", required_argument, NULL, O_TCTI},
      {"name", required_argument, NULL, O_NAME},
      {"key-alg", required_argument, NULL, O_KEYALG},
      {"ek", required_argument, NULL, O_EK},
      {"event-log", required_argument, NULL, O_LOG},
      {"pcrs", required_argument, NULL, O_PCRS},
      {"handle", required_argument, NULL, O_HANDLE},
      {"force", no_argument, NULL, O_FORCE},
      {"renew", no_argument, NULL, O_RENEW},
      {"timeout", required_argument, NULL, O_TIMEOUT},
      {"ek-intermediates", required_argument, NULL, O_EKINTER},
      {"ek-cert-url", required_argument, NULL, O_EKURL},
      {"verbose", no_argument, NULL, 'v'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  rt_enroll_opts o = {
      .state_dir = RT_STATE_DIR_DEFAULT,
      .name = "default",
      .key_alg = RT_ALG_ECC_P256,
      .ek = RT_EK_AUTO,
      .event_log = RT_DEFAULT_EVENT_LOG,
      .pcrs = "sha256:0,1,2,3,4,5,6,7",
      .handle = RT_DEFAULT_HANDLE,
      .timeout_ms = 60000,
  };
  int status = parse_options(argc, argv, "vh", opts, enroll_option, &o);
  if (status != GO_ON)
    return status;
  if (optind < argc)
    return fail("enroll", "unexpected argument", 2);
  if (o.verifier == NULL || o.ca_file == NULL)
    return fail("enroll", "--verifier and --ca are required", 2);
  rt_err err = {0};
  if (rt_name_check(o.name, &err) != RT_OK)
    return fail("enroll", err.msg, 2);
  status = check_recorded(&o);
  return status != GO_ON ? status : rt_enroll(&o);
}

static void usage_unseal(FILE *f) {
  fprintf(f, "Usage: rattest-bootstrap unseal NAME [--out FILE] [--state-dir DIR]\n"
             "\n"
             "Opens the sealed secret NAME that the verifier delivered to this TPM\n"
             "(recorded in DIR/state.json) and writes its bytes to FILE (created 0600)\n"
             "or to stdout. A secret bound to PCR values opens only while those PCRs\n"
             "hold the values it was sealed to.\n"
             "\n"
             "Options:\n"
             "  --out FILE       write the secret to FILE (mode 0600) instead of stdout\n"
             "  --state-dir DIR  state directory (default " RT_STATE_DIR_DEFAULT ")\n"
             "  --tcti STR       TPM TCTI (default $RATTEST_TCTI, then tpm2-tss default)\n"
             "  --ek KIND        rsa, ecc or auto (default): the EK the secret was\n"
             "                   delivered to; auto finds it\n"
             "  -v, --verbose    more log output\n"
             "  -h, --help       show this help\n"
             "\n"
             "Exit status: 0 written, 1 failed (unknown name, not a sealed secret, PCR\n"
             "policy not satisfied, TPM unreachable, ...), 2 bad usage.\n");
}

static int unseal_option(int c, const char *arg, void *opts) {
  rt_unseal_opts *o = opts;
  switch (c) {
  case O_OUT:
    o->out = arg;
    return GO_ON;
  case O_STATE:
    o->state_dir = arg;
    return GO_ON;
  case O_TCTI:
    o->tcti = arg;
    return GO_ON;
  case O_EK:
    return parse_ek("unseal", arg, &o->ek);
  default:
    return common_option(c, usage_unseal);
  }
}

static int cmd_unseal(int argc, char **argv) {
  static const struct option opts[] = {
      {"out", required_argument, NULL, O_OUT},
      {"state-dir", required_argument, NULL, O_STATE},
      {"tcti", required_argument, NULL, O_TCTI},
      {"ek", required_argument, NULL, O_EK},
      {"verbose", no_argument, NULL, 'v'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  rt_unseal_opts o = {.state_dir = RT_STATE_DIR_DEFAULT, .ek = RT_EK_AUTO};
  int status = parse_options(argc, argv, "vh", opts, unseal_option, &o);
  if (status != GO_ON)
    return status;
  if (optind >= argc)
    return fail("unseal", "the secret's NAME is required", 2);
  if (optind + 1 < argc)
    return fail("unseal", "unexpected argument", 2);
  o.name = argv[optind];
  rt_err err = {0};
  if (rt_name_check(o.name, &err) != RT_OK)
    return fail("unseal", err.msg, 2);
  if (o.out != NULL && o.out[0] == '\0')
    return fail("unseal", "--out needs a file name", 2);
  return rt_unseal(&o);
}

static void usage_status(FILE *f) {
  fprintf(f, "Usage: rattest-bootstrap status [NAME] [--state-dir DIR] [--window W] [--json]\n"
             "\n"
             "Prints the enrolled identities (or identity NAME) and the delivered\n"
             "secrets (where they are kept, never what they hold) recorded in\n"
             "DIR/state.json, and judges each identity's certificate: valid, inside\n"
             "its renewal window, expired, or missing (file unreadable).\n"
             "\n"
             "Options:\n"
             "  --state-dir DIR  state directory (default " RT_STATE_DIR_DEFAULT ")\n"
             "  --window W       the renewal window, as `renew` takes it: a fraction of\n"
             "                   the validity (0.25, 25%%) or a duration (72h) before\n"
             "                   notAfter (default: the last third of the validity)\n"
             "  --json           print {state_file, identities: [...], secrets: [...]}\n"
             "                   as JSON, with the fields of docs/state.md\n"
             "  -h, --help       show this help\n"
             "\n"
             "Exit status: 0 every identity shown is valid and outside its renewal\n"
             "window, 1 the state file could not be read or is invalid, 2 bad usage,\n"
             "3 missing (nothing enrolled, no identity NAME, or a certificate file\n"
             "unreadable), 4 expired, 5 inside the renewal window. With several\n"
             "identities the lowest of 3, 4, 5 that applies; stderr says which.\n");
}

static int parse_window(const char *cmd, const char *arg, rt_window *out) {
  rt_err err = {0};
  if (rt_window_parse(arg, out, &err) != RT_OK)
    return fail(cmd, err.msg, 2);
  return GO_ON;
}

static int status_option(int c, const char *arg, void *opts) {
  rt_status_opts *o = opts;
  switch (c) {
  case O_STATE:
    o->state_dir = arg;
    return GO_ON;
  case O_WINDOW:
    return parse_window("status", arg, &o->window);
  case O_JSON:
    o->json = 1;
    return GO_ON;
  default:
    return common_option(c, usage_status);
  }
}

/* An optional NAME after the options: the identity, checked. */
static int optional_name(const char *cmd, int argc, char **argv, const char **name) {
  if (optind + 1 < argc)
    return fail(cmd, "unexpected argument", 2);
  if (optind == argc)
    return GO_ON;
  rt_err err = {0};
  if (rt_name_check(argv[optind], &err) != RT_OK)
    return fail(cmd, err.msg, 2);
  *name = argv[optind];
  return GO_ON;
}

static int cmd_status(int argc, char **argv) {
  static const struct option opts[] = {
      {"state-dir", required_argument, NULL, O_STATE},
      {"window", required_argument, NULL, O_WINDOW},
      {"json", no_argument, NULL, O_JSON},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  rt_status_opts o = {.state_dir = RT_STATE_DIR_DEFAULT, .window = RT_WINDOW_DEFAULT};
  int status = parse_options(argc, argv, "h", opts, status_option, &o);
  if (status == GO_ON)
    status = optional_name("status", argc, argv, &o.name);
  return status != GO_ON ? status : rt_status_print(&o);
}

static void usage_renew(FILE *f) {
  fprintf(f, "Usage: rattest-bootstrap renew [NAME|--all] --ca FILE [OPTIONS]\n"
             "\n"
             "Renews identity NAME (default \"default\"), or every identity with --all,\n"
             "when its certificate is inside the renewal window, has expired or is\n"
             "missing: attests again (fresh quote and event log, a new key certified\n"
             "in the TPM) and replaces the identity atomically, as enroll --renew does,\n"
             "keeping its name, key algorithm and handle. Outside the window it does\n"
             "nothing and says so.\n"
             "\n"
             "Options:\n"
             "  --all                 every enrolled identity (not NAME)\n"
             "  --ca FILE             PEM CA the verifier's certificate chains to (required)\n"
             "  --verifier HOST:PORT  the verifier's gRPC address (default: the one the\n"
             "                        identity was enrolled with)\n"
             "  --window W            renew within the last W of the validity: a fraction\n"
             "                        (0.25, 25%%) or a duration (72h) before notAfter\n"
             "                        (default: the last third of the validity)\n"
             "  --exec CMD            after each renewal, run CMD with /bin/sh -c, with\n"
             "                        RATTEST_NAME, RATTEST_STATE_DIR, RATTEST_CERT_FILE,\n"
             "                        RATTEST_CHAIN_FILE and RATTEST_KEY_FILE set\n"
             "                        (e.g. to reload a server)\n"
             "  --state-dir DIR       state directory (default " RT_STATE_DIR_DEFAULT ")\n"
             "  --tcti STR            TPM TCTI (default $RATTEST_TCTI, then tpm2-tss default)\n"
             "  --ek KIND             rsa, ecc or auto (default): which EK proves the TPM\n"
             "  --event-log FILE      TCG event log (default\n"
             "                        " RT_DEFAULT_EVENT_LOG ")\n"
             "  --ek-intermediates FILE  PEM EK intermediate CAs to send\n"
             "  --pcrs SEL            PCR values sent when there is no event log (default\n"
             "                        sha256:0,1,2,3,4,5,6,7)\n"
             "  --timeout DURATION    give up on an identity after this long, retries\n"
             "                        included (default 60s)\n"
             "  -v, --verbose         more log output\n"
             "  -h, --help            show this help\n"
             "\n"
             "Exit status: 0 renewed, or not yet due (nothing to do), 1 failed (no such\n"
             "identity, TPM, verifier unreachable or refusing, --exec CMD failed; with\n"
             "--all the other identities are still renewed), 2 bad usage.\n");
}

typedef struct {
  rt_renew_opts r;
  int all;
} renew_args;

static int renew_option(int c, const char *arg, void *opts) {
  renew_args *a = opts;
  rt_renew_opts *o = &a->r;
  int st = attest_option("renew", c, arg, &o->enroll);
  if (st != NOT_SHARED)
    return st;
  switch (c) {
  case O_ALL:
    a->all = 1;
    return GO_ON;
  case O_WINDOW:
    return parse_window("renew", arg, &o->window);
  case O_EXEC:
    o->exec = arg;
    return GO_ON;
  default:
    return common_option(c, usage_renew);
  }
}

/* The state renew replaces files in: an absolute path only this user (or
 * root) can change, as enroll requires. */
static int check_renew_state_dir(const char *dir) {
  rt_err err = {0};
  if (dir[0] != '/') {
    rt_err_set(&err, RT_E_INVALID, "--state-dir: \"%s\" is not an absolute path", dir);
    return fail("renew", err.msg, 2);
  }
  rt_code code = rt_state_dir_check(dir, geteuid(), &err);
  if (code == RT_OK)
    return GO_ON;
  rt_err_prefix(&err, "--state-dir ");
  return fail("renew", err.msg, code == RT_E_NOT_FOUND ? 1 : 2);
}

static int cmd_renew(int argc, char **argv) {
  static const struct option opts[] = {
      {"all", no_argument, NULL, O_ALL},
      {"verifier", required_argument, NULL, O_VERIFIER},
      {"ca", required_argument, NULL, O_CA},
      {"window", required_argument, NULL, O_WINDOW},
      {"exec", required_argument, NULL, O_EXEC},
      {"state-dir", required_argument, NULL, O_STATE},
      {"tcti", required_argument, NULL, O_TCTI},
      {"ek", required_argument, NULL, O_EK},
      {"event-log", required_argument, NULL, O_LOG},
      {"ek-intermediates", required_argument, NULL, O_EKINTER},
      {"pcrs", required_argument, NULL, O_PCRS},
      {"timeout", required_argument, NULL, O_TIMEOUT},
      {"verbose", no_argument, NULL, 'v'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  renew_args a = {.r = {.enroll = {.state_dir = RT_STATE_DIR_DEFAULT,
                                   .ek = RT_EK_AUTO,
                                   .event_log = RT_DEFAULT_EVENT_LOG,
                                   .pcrs = "sha256:0,1,2,3,4,5,6,7",
                                   .timeout_ms = 60000},
                        .window = RT_WINDOW_DEFAULT}};
  const char *name = NULL;
  int status = parse_options(argc, argv, "vh", opts, renew_option, &a);
  if (status == GO_ON)
    status = optional_name("renew", argc, argv, &name);
  if (status != GO_ON)
    return status;
  if (a.all && name != NULL)
    return fail("renew", "NAME and --all exclude each other", 2);
  if (a.r.enroll.ca_file == NULL)
    return fail("renew", "--ca is required", 2);
  if (a.r.exec != NULL && a.r.exec[0] == '\0')
    return fail("renew", "--exec needs a command", 2);
  a.r.name = a.all ? NULL : name != NULL ? name : "default";
  status = check_renew_state_dir(a.r.enroll.state_dir);
  return status != GO_ON ? status : rt_renew(&a.r);
}

/* The one list of commands: dispatch and the help's command list. */
static const rt_cli_command commands[] = {
    {"enroll", cmd_enroll, usage_enroll,
     "prove this TPM to the verifier and keep the issued identity"},
    {"renew", cmd_renew, usage_renew,
     "attest again and replace an identity inside its renewal window"},
    {"status", cmd_status, usage_status,
     "show the enrolled identities (state file) and whether they are due"},
    {"unseal", cmd_unseal, usage_unseal,
     "print a sealed secret the verifier delivered to this TPM"},
    {"ping", cmd_ping, usage_ping, "check that the verifier answers over TLS (gRPC Ping)"},
    {"tpm-info", cmd_tpm_info, usage_tpm_info,
     "describe the local TPM: vendor, PCR banks, EK and platform\ncertificates in NV (JSON)"},
};

static const rt_cli_program program = {
    .name = "rattest-bootstrap",
    .about = "Proves this machine's TPM identity to a rattest verifier and keeps the\n"
             "issued identity's key inside the TPM.\n",
    .commands = commands,
    .n_commands = sizeof commands / sizeof commands[0],
    .epilogue = "The TPM is reached through --tcti STR, else $RATTEST_TCTI, else the\n"
                "tpm2-tss default (/dev/tpmrm0, /dev/tpm0, tpm2-abrmd).\n",
};

#if defined(__SANITIZE_ADDRESS__)
/* ASan builds: the network module's libraries (libgrpc, abseil) are
 * dlopened, so their thread-locals are dynamic TLS. Up to GCC 13 / LLVM 16
 * the runtime's __tls_get_addr interceptor takes a malloc'd TLS block that
 * happens to start 16 bytes into a page for a pre-2.25 glibc one, and
 * LeakSanitizer's tracer then dies at exit ("Tracer caught signal 11"), as
 * once in the enroll tests. glibc mallocs those blocks and the thread's DTV
 * points at them, so leak checking stays complete without the interceptor. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) {
  return "intercept_tls_get_addr=0";
}
#endif

int main(int argc, char **argv) {
  rt_log_set_prog(program.name);
  int status = rt_cli_globals(&program, argc, argv);
  if (status != RT_CLI_RUN_COMMAND)
    return status;
  status = rt_cli_dispatch(&program, argc - optind, argv + optind);
  rt_net_end_process(status); /* (why: rt_grpc_end_process, rt_grpc.h) */
  return status;
}
