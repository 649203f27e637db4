/* rattest-verifier: command-line front end. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_ekcert.h"
#include "cmd_eventlog.h"
#include "cmd_platformcert.h"
#include "cmd_policy.h"
#include "cmd_serve.h"
#include "cmd_token_key.h"
#include "rt_log.h"
#include "rt_tpm.h"

static void usage(FILE *f) {
  fprintf(f, "Usage: rattest-verifier [-v]... COMMAND [OPTIONS]\n"
             "\n"
             "The rattest verifier: a gRPC service (TLS) that checks a machine's TPM\n"
             "evidence and issues x509 certificates for its TPM-resident keys.\n"
             "\n"
             "Commands:\n"
             "  serve      run the rattest.v1.Attestation gRPC service\n"
             "  eventlog   parse a TCG event log and replay its PCRs\n"
             "  ek-cert    check EK certificates against a manufacturer CA bundle\n"
             "  policy     make a policy from a known-good event log, or check a log\n"
             "  platform-cert  check a TCG platform certificate against platform CAs\n"
             "  token-key  write a new session token key file (for --token-key)\n"
             "  help       show this help, or `help COMMAND` for a command's options\n"
             "  version    print the version\n"
             "\n"
             "Global options:\n"
             "  -v, --verbose   more log output on stderr (repeat for debug)\n"
             "  -h, --help      show this help\n"
             "  -V, --version   print the version\n");
}

int main(int argc, char **argv) {
  static const struct option opts[] = {
      {"verbose", no_argument, NULL, 'v'},
      {"help", no_argument, NULL, 'h'},
      {"version", no_argument, NULL, 'V'},
      {NULL, 0, NULL, 0},
  };
  rt_log_set_prog("rattest-verifier");
  /* A service logs its decisions by default; -v adds debug detail. */
  rt_log_set_level(RT_LOG_INFO);
  int c;
  /* '+': stop at the command, whose options are parsed by the command. */
  while ((c = getopt_long(argc, argv, "+vhV", opts, NULL)) != -1) {
    switch (c) {
    case 'v':
      rt_log_set_level(rt_log_get_level() + 1);
      break;
    case 'h':
      usage(stdout);
      return 0;
    case 'V':
      printf("rattest-verifier %s\n", RATTEST_VERSION);
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
  /* libtss2-mu logs every malformed structure a client sends on stderr:
   * without this, any client could fill the verifier's log. The verifier
   * reports refusals itself (audit line, rt_log). */
  rt_tpm_quiet_tss_logs();
  const char *cmd = argv[optind];
  int sub_argc = argc - optind;
  char **sub_argv = argv + optind;
  if (strcmp(cmd, "serve") == 0)
    return rt_cmd_serve(sub_argc, sub_argv);
  if (strcmp(cmd, "token-key") == 0)
    return rt_cmd_token_key(sub_argc, sub_argv);
  if (strcmp(cmd, "eventlog") == 0)
    return rt_cmd_eventlog(sub_argc, sub_argv);
  if (strcmp(cmd, "ek-cert") == 0)
    return rt_cmd_ekcert(sub_argc, sub_argv);
  if (strcmp(cmd, "policy") == 0)
    return rt_cmd_policy(sub_argc, sub_argv);
  if (strcmp(cmd, "platform-cert") == 0)
    return rt_cmd_platformcert(sub_argc, sub_argv);
  if (strcmp(cmd, "version") == 0) {
    printf("rattest-verifier %s\n", RATTEST_VERSION);
    return 0;
  }
  if (strcmp(cmd, "help") == 0) {
    if (sub_argc > 1 && strcmp(sub_argv[1], "serve") == 0)
      rt_cmd_serve_usage(stdout);
    else if (sub_argc > 1 && strcmp(sub_argv[1], "eventlog") == 0)
      rt_cmd_eventlog_usage(stdout);
    else if (sub_argc > 1 && strcmp(sub_argv[1], "ek-cert") == 0)
      rt_cmd_ekcert_usage(stdout);
    else if (sub_argc > 1 && strcmp(sub_argv[1], "policy") == 0)
      rt_cmd_policy_usage(stdout);
    else if (sub_argc > 1 && strcmp(sub_argv[1], "platform-cert") == 0)
      rt_cmd_platformcert_usage(stdout);
    else
      usage(stdout);
    return 0;
  }
  fprintf(stderr, "rattest-verifier: unknown command \"%s\"\n", cmd);
  usage(stderr);
  return 2;
}
