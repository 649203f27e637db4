/* rattest-bootstrap: the CLI a machine runs at first boot. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rattest.pb-c.h"
#include "rt_cli.h"
#include "rt_grpc.h"
#include "rt_log.h"
#include "rt_methods.h"
#include "rt_tpm.h"
#include "tpm_info.h"

static void usage(FILE *f) {
  fprintf(f, "Usage: rattest-bootstrap [-v]... COMMAND [OPTIONS]\n"
             "\n"
             "Proves this machine's TPM identity to a rattest verifier and keeps the\n"
             "issued identity's key inside the TPM.\n"
             "\n"
             "Commands:\n"
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
  if (strcmp(cmd, "ping") == 0)
    return cmd_ping(sub_argc, sub_argv);
  if (strcmp(cmd, "tpm-info") == 0)
    return cmd_tpm_info(sub_argc, sub_argv);
  if (strcmp(cmd, "version") == 0) {
    printf("rattest-bootstrap %s\n", RATTEST_VERSION);
    return 0;
  }
  if (strcmp(cmd, "help") == 0) {
    if (sub_argc > 1 && strcmp(sub_argv[1], "ping") == 0)
      usage_ping(stdout);
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
