/* rattest-bootstrap: the CLI a machine runs at first boot. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "enroll.h"
#include "rattest.pb-c.h"
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

static void usage(FILE *f) {
  fprintf(f, "Usage: rattest-bootstrap [-v]... COMMAND [OPTIONS]\n"
             "\n"
             "Proves this machine's TPM identity to a rattest verifier and keeps the\n"
             "issued identity's key inside the TPM.\n"
             "\n"
             "Commands:\n"
             "  enroll     prove this TPM to the verifier and keep the issued identity\n"
             "  status     show the enrolled identities (state file)\n"
             "  unseal     print a sealed secret the verifier delivered to this TPM\n"
             "  ping       check that the verifier answers over TLS (gRPC Ping)\n"
             "  tpm-info   describe the local TPM: vendor, PCR banks, EK and platform\n"
             "             certificates in NV (JSON)\n"
             "  help       show this help, or `help COMMAND` for a command's options\n"
             "  version    print the version\n"
             "\n"
             "Global options:\n"
             "  -v, --verbose   more log output on stderr (repeat for debug)\n"
             "  -h, --help      show this help\n"
             "  -V, --version   print the version\n"
             "\n"
             "The TPM is reached through --tcti STR, else $RATTEST_TCTI, else the\n"
             "tpm2-tss default (/dev/tpmrm0, /dev/tpm0, tpm2-abrmd).\n");
}

static void usage_ping(FILE *f) {
  fprintf(f, "Usage: rattest-bootstrap ping --verifier HOST:PORT --ca FILE [OPTIONS]\n"
             "\n"
             "Options:\n"
             "  --verifier HOST:PORT  the verifier's gRPC address\n"
             "  --ca FILE             PEM CA the verifier's TLS certificate must chain to\n"
             "  --timeout DURATION    give up after this long (default 10s)\n"
             "  --message TEXT        text the verifier echoes back (default \"ping\")\n"
             "  -v, --verbose         more log output\n"
             "  -h, --help            show this help\n");
}

static void usage_tpm_info(FILE *f) {
  fprintf(f, "Usage: rattest-bootstrap tpm-info [--tcti STR]\n"
             "\n"
             "Prints a JSON description of the TPM.\n"
             "\n"
             "Options:\n"
             "  --tcti STR   TCTI configuration, e.g. swtpm:host=127.0.0.1,port=2321,\n"
             "               device:/dev/tpmrm0, tabrmd:bus_type=session\n"
             "  -v, --verbose\n"
             "  -h, --help\n");
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
             "  --verifier HOST:PORT  the verifier's gRPC address\n"
             "  --ca FILE             PEM CA the verifier's TLS certificate must chain to\n"
             "  --state-dir DIR       where state and files go (default " RT_STATE_DIR_DEFAULT ")\n"
             "  --tcti STR            TPM TCTI (default $RATTEST_TCTI, then tpm2-tss default)\n"
             "  --name NAME           identity name (default \"default\")\n"
             "  --key-alg ALG         ecc-p256 (default) or rsa-2048\n"
             "  --ek KIND             rsa, ecc or auto (default): which EK proves the TPM\n"
             "  --event-log FILE      TCG event log (default\n"
             "                        " RT_DEFAULT_EVENT_LOG ")\n"
             "  --ek-intermediates FILE  PEM EK intermediate CAs to send (for verifiers\n"
             "                        that trust only the manufacturer root)\n"
             "  --pcrs SEL            PCR values sent besides the quote (default\n"
             "                        sha256:0,1,2,3,4,5,6,7); the quote covers what the\n"
             "                        verifier demands\n"
             "  --handle HANDLE       persistent handle for the key (default 0x81000100)\n"
             "  --force               replace an object at HANDLE that rattest did not put there\n"
             "  --renew               enroll again even when the identity is still valid\n"
             "  --timeout DURATION    give up after this long, retries included (default 60s)\n"
             "  -v, --verbose         more log output\n"
             "  -h, --help            show this help\n");
}

static void usage_status(FILE *f) {
  fprintf(f, "Usage: rattest-bootstrap status [--state-dir DIR] [--json]\n"
             "\n"
             "Prints the enrolled identities and the delivered secrets (where they\n"
             "are kept, never what they hold) recorded in DIR/state.json.\n");
}

static int fail(const char *cmd, const char *msg, int status) {
  fprintf(stderr, "rattest-bootstrap %s: %s\n", cmd, msg);
  if (status == 2)
    fprintf(stderr, "Try 'rattest-bootstrap %s --help'.\n", cmd);
  return status;
}

static int cmd_ping(int argc, char **argv) {
  enum { O_VERIFIER = 256, O_CA, O_TIMEOUT, O_MESSAGE };
  static const struct option opts[] = {
      {"verifier", required_argument, NULL, O_VERIFIER},
      {"ca", required_argument, NULL, O_CA},
      {"timeout", required_argument, NULL, O_TIMEOUT},
      {"message", required_argument, NULL, O_MESSAGE},
      {"verbose", no_argument, NULL, 'v'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  const char *verifier = NULL, *ca = NULL, *message = "ping";
  uint64_t timeout_ms = 10000;
  rt_err err = {0};
  int c;
  optind = 0; /* glibc: full re-initialisation for the command's options */
  while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
    switch (c) {
    case O_VERIFIER:
      verifier = optarg;
      break;
    case O_CA:
      ca = optarg;
      break;
    case O_TIMEOUT:
      if (rt_cli_parse_duration_ms("--timeout", optarg, &timeout_ms, &err) != RT_OK)
        return fail("ping", err.msg, 2);
      if (timeout_ms == 0 || timeout_ms > 3600 * 1000)
        return fail("ping", "--timeout must be between 1ms and 1h", 2);
      break;
    case O_MESSAGE:
      message = optarg;
      break;
    case 'v':
      rt_log_set_level(rt_log_get_level() + 1);
      break;
    case 'h':
      usage_ping(stdout);
      return 0;
    default:
      usage_ping(stderr);
      return 2;
    }
  }
  if (optind < argc)
    return fail("ping", "unexpected argument", 2);
  if (verifier == NULL || ca == NULL)
    return fail("ping", "--verifier and --ca are required", 2);

  rt_grpc_client *client = NULL;
  if (rt_grpc_client_new(verifier, ca, 0, &client, &err) != RT_OK)
    return fail("ping", err.msg, 1);
  Rattest__V1__PingRequest req = RATTEST__V1__PING_REQUEST__INIT;
  req.message = (char *)message;
  ProtobufCMessage *out = NULL;
  rt_rpc_result res;
  grpc_status_code st =
      rt_grpc_call(client, RT_METHOD_PING, &req.base, &rattest__v1__ping_response__descriptor,
                   (int)timeout_ms, &out, &res);
  rt_grpc_client_free(client);
  if (st != GRPC_STATUS_OK) {
    fprintf(stderr, "rattest-bootstrap ping: %s: %s%s%s\n", rt_grpc_status_name(st), res.message,
            res.code[0] ? " " : "", res.code);
    return 1;
  }
  Rattest__V1__PingResponse *resp = (Rattest__V1__PingResponse *)out;
  printf("verifier %s answered: version %s, message \"%s\", time %lld\n", verifier, resp->version,
         resp->message, (long long)resp->server_time_unix);
  protobuf_c_message_free_unpacked(out, NULL);
  return 0;
}

static int cmd_tpm_info(int argc, char **argv) {
  enum { O_TCTI = 256 };
  static const struct option opts[] = {
      {"tcti", required_argument, NULL, O_TCTI},
      {"verbose", no_argument, NULL, 'v'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  const char *tcti = NULL;
  int c;
  optind = 0;
  while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
    switch (c) {
    case O_TCTI:
      tcti = optarg;
      break;
    case 'v':
      rt_log_set_level(rt_log_get_level() + 1);
      break;
    case 'h':
      usage_tpm_info(stdout);
      return 0;
    default:
      usage_tpm_info(stderr);
      return 2;
    }
  }
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

static int cmd_enroll(int argc, char **argv) {
  enum {
    O_VERIFIER = 256,
    O_CA,
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
    O_TIMEOUT,
    O_EKINTER
  };
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
  rt_err err = {0};
  uint64_t v;
  int c;
  optind = 0;
  while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
    switch (c) {
    case O_VERIFIER:
      o.verifier = optarg;
      break;
    case O_CA:
      o.ca_file = optarg;
      break;
    case O_STATE:
      o.state_dir = optarg;
      break;
    case O_TCTI:
      o.tcti = optarg;
      break;
    case O_NAME:
      o.name = optarg;
      break;
    case O_KEYALG:
      o.key_alg = rt_key_alg_parse(optarg);
      if (o.key_alg == RT_ALG_NONE)
        return fail("enroll", "--key-alg must be ecc-p256 or rsa-2048", 2);
      break;
    case O_EK:
      if (strcmp(optarg, "rsa") == 0)
        o.ek = RT_EK_RSA;
      else if (strcmp(optarg, "ecc") == 0)
        o.ek = RT_EK_ECC;
      else if (strcmp(optarg, "auto") == 0)
        o.ek = RT_EK_AUTO;
      else
        return fail("enroll", "--ek must be rsa, ecc or auto", 2);
      break;
    case O_LOG:
      o.event_log = optarg;
      break;
    case O_EKINTER:
      o.ek_intermediates = optarg;
      break;
    case O_PCRS: {
      TPML_PCR_SELECTION sel;
      if (rt_pcrsel_parse(optarg, &sel, &err) != RT_OK)
        return fail("enroll", err.msg, 2);
      o.pcrs = optarg;
      break;
    }
    case O_HANDLE:
      if (rt_cli_parse_u64("--handle", optarg, 0x81000000u, 0x817fffffu, &v, &err) != RT_OK)
        return fail("enroll", err.msg, 2);
      o.handle = (uint32_t)v;
      break;
    case O_FORCE:
      o.force = 1;
      break;
    case O_RENEW:
      o.renew = 1;
      break;
    case O_TIMEOUT:
      if (rt_cli_parse_duration_ms("--timeout", optarg, &o.timeout_ms, &err) != RT_OK)
        return fail("enroll", err.msg, 2);
      if (o.timeout_ms == 0 || o.timeout_ms > 24 * 3600 * 1000u)
        return fail("enroll", "--timeout must be between 1ms and 24h", 2);
      break;
    case 'v':
      rt_log_set_level(rt_log_get_level() + 1);
      break;
    case 'h':
      usage_enroll(stdout);
      return 0;
    default:
      usage_enroll(stderr);
      return 2;
    }
  }
  if (optind < argc)
    return fail("enroll", "unexpected argument", 2);
  if (o.verifier == NULL || o.ca_file == NULL)
    return fail("enroll", "--verifier and --ca are required", 2);
  if (rt_state_check_name(o.name, &err) != RT_OK)
    return fail("enroll", err.msg, 2);
  return rt_enroll(&o);
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
             "policy not satisfied, TPM unreachable, ...), 2 usage error.\n");
}

static int cmd_unseal(int argc, char **argv) {
  enum { O_OUT = 256, O_STATE, O_TCTI, O_EK };
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
  rt_err err = {0};
  int c;
  optind = 0;
  while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
    switch (c) {
    case O_OUT:
      o.out = optarg;
      break;
    case O_STATE:
      o.state_dir = optarg;
      break;
    case O_TCTI:
      o.tcti = optarg;
      break;
    case O_EK:
      if (strcmp(optarg, "rsa") == 0)
        o.ek = RT_EK_RSA;
      else if (strcmp(optarg, "ecc") == 0)
        o.ek = RT_EK_ECC;
      else if (strcmp(optarg, "auto") == 0)
        o.ek = RT_EK_AUTO;
      else
        return fail("unseal", "--ek must be rsa, ecc or auto", 2);
      break;
    case 'v':
      rt_log_set_level(rt_log_get_level() + 1);
      break;
    case 'h':
      usage_unseal(stdout);
      return 0;
    default:
      usage_unseal(stderr);
      return 2;
    }
  }
  if (optind >= argc)
    return fail("unseal", "the secret's NAME is required", 2);
  if (optind + 1 < argc)
    return fail("unseal", "unexpected argument", 2);
  o.name = argv[optind];
  if (rt_state_check_name(o.name, &err) != RT_OK)
    return fail("unseal", err.msg, 2);
  if (o.out != NULL && o.out[0] == '\0')
    return fail("unseal", "--out needs a file name", 2);
  return rt_unseal(&o);
}

static int cmd_status(int argc, char **argv) {
  enum { O_STATE = 256, O_JSON };
  static const struct option opts[] = {
      {"state-dir", required_argument, NULL, O_STATE},
      {"json", no_argument, NULL, O_JSON},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  const char *dir = RT_STATE_DIR_DEFAULT;
  int json = 0, c;
  optind = 0;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    switch (c) {
    case O_STATE:
      dir = optarg;
      break;
    case O_JSON:
      json = 1;
      break;
    case 'h':
      usage_status(stdout);
      return 0;
    default:
      usage_status(stderr);
      return 2;
    }
  }
  if (optind < argc)
    return fail("status", "unexpected argument", 2);
  return rt_status_print(dir, json);
}

int main(int argc, char **argv) {
  static const struct option opts[] = {
      {"verbose", no_argument, NULL, 'v'},
      {"help", no_argument, NULL, 'h'},
      {"version", no_argument, NULL, 'V'},
      {NULL, 0, NULL, 0},
  };
  rt_log_set_prog("rattest-bootstrap");
  int c;
  while ((c = getopt_long(argc, argv, "+vhV", opts, NULL)) != -1) {
    switch (c) {
    case 'v':
      rt_log_set_level(rt_log_get_level() + 1);
      break;
    case 'h':
      usage(stdout);
      return 0;
    case 'V':
      printf("rattest-bootstrap %s\n", RATTEST_VERSION);
      return 0;
    default:
      usage(stderr);
      return 2;
    }
  }
  if (optind >= argc) {
    usage(stderr);
    return 2;
  }
  const char *cmd = argv[optind];
  int sub_argc = argc - optind;
  char **sub_argv = argv + optind;
  if (strcmp(cmd, "enroll") == 0)
    return cmd_enroll(sub_argc, sub_argv);
  if (strcmp(cmd, "status") == 0)
    return cmd_status(sub_argc, sub_argv);
  if (strcmp(cmd, "ping") == 0)
    return cmd_ping(sub_argc, sub_argv);
  if (strcmp(cmd, "tpm-info") == 0)
    return cmd_tpm_info(sub_argc, sub_argv);
  if (strcmp(cmd, "unseal") == 0)
    return cmd_unseal(sub_argc, sub_argv);
  if (strcmp(cmd, "version") == 0) {
    printf("rattest-bootstrap %s\n", RATTEST_VERSION);
    return 0;
  }
  if (strcmp(cmd, "help") == 0) {
    if (sub_argc > 1 && strcmp(sub_argv[1], "enroll") == 0)
      usage_enroll(stdout);
    else if (sub_argc > 1 && strcmp(sub_argv[1], "status") == 0)
      usage_status(stdout);
    else if (sub_argc > 1 && strcmp(sub_argv[1], "ping") == 0)
      usage_ping(stdout);
    else if (sub_argc > 1 && strcmp(sub_argv[1], "unseal") == 0)
      usage_unseal(stdout);
    else if (sub_argc > 1 && strcmp(sub_argv[1], "tpm-info") == 0)
      usage_tpm_info(stdout);
    else
      usage(stdout);
    return 0;
  }
  fprintf(stderr, "rattest-bootstrap: unknown command \"%s\"\n", cmd);
  usage(stderr);
  return 2;
}
