/* rattest-verifier: command-line front end. */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_ekcert.h"
#include "cmd_eventlog.h"
#include "cmd_platformcert.h"
#include "cmd_policy.h"
#include "enroll.h"
#include "enroll_platform.h"
#include "rt_cli.h"
#include "rt_grpc.h"
#include "rt_log.h"
#include "rt_tpm.h"
#include "service.h"

#define DEFAULT_LISTEN "127.0.0.1:50051"

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

static void usage_serve(FILE *f) {
  fprintf(f,
          "Usage: rattest-verifier serve --tls-cert FILE --tls-key FILE [OPTIONS]\n"
          "\n"
          "Serves rattest.v1.Attestation over gRPC with TLS until SIGINT or SIGTERM.\n"
          "\n"
          "Options:\n"
          "  --listen ADDR            address to listen on (default " DEFAULT_LISTEN ");\n"
          "                           port 0 picks a free port\n"
          "  --tls-cert FILE          server certificate chain, PEM, leaf first\n"
          "  --tls-key FILE           server private key, PEM\n"
          "  --max-message-size SIZE  largest request accepted (default 4MiB)\n"
          "  --threads N              worker threads (default %d)\n"
          "  --port-file FILE         write the bound port to FILE once listening\n"
          "\n"
          "Enrollment:\n"
          "  --ek-ca PATH             manufacturer EK CA certificates (roots and\n"
          "                           intermediates): a PEM/DER file or a directory\n"
          "  --platform-ca PATH       platform certificate CAs (file or directory): the\n"
          "                           machine's TCG platform certificate is then checked\n"
          "                           (policy \"platform_cert\", default \"verify\")\n"
          "  --issuer-cert FILE       issuing CA certificate, PEM, then its chain\n"
          "  --issuer-key FILE        issuing CA private key, PEM\n"
          "  --policy FILE            attestation policy, JSON (docs/policy.md); without\n"
          "                           it the permissive development policy applies\n"
          "  --session-ttl DURATION   time allowed between Begin and Finish (default 5m)\n"
          "  --token-key FILE         32-byte session token key (0600), shared by verifiers\n"
          "                           that must finish each other's sessions; default:\n"
          "                           a random key per process\n"
          "  -v, --verbose            more log output (repeat for debug)\n"
          "  -h, --help               show this help\n",
          RT_GRPC_DEFAULT_THREADS);
}

static int write_port_file(const char *path, int port) {
  /* Written to a temp name and renamed, so a reader polling for the file
   * never sees it half-written. */
  char tmp[4096];
  if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
    return -1;
  FILE *f = fopen(tmp, "w");
  if (f == NULL)
    return -1;
  fprintf(f, "%d\n", port);
  if (fclose(f) != 0)
    return -1;
  return rename(tmp, path);
}

static int cmd_serve(int argc, char **argv) {
  enum {
    O_LISTEN = 256,
    O_CERT,
    O_KEY,
    O_MAXMSG,
    O_THREADS,
    O_PORTFILE,
    O_EKCA,
    O_ISSUER_CERT,
    O_ISSUER_KEY,
    O_POLICY,
    O_TTL,
    O_TOKEN_KEY,
    O_PLATFORM_CA
  };
  static const struct option opts[] = {
      {"listen", required_argument, NULL, O_LISTEN},
      {"tls-cert", required_argument, NULL, O_CERT},
      {"tls-key", required_argument, NULL, O_KEY},
      {"max-message-size", required_argument, NULL, O_MAXMSG},
      {"threads", required_argument, NULL, O_THREADS},
      {"port-file", required_argument, NULL, O_PORTFILE},
      {"ek-ca", required_argument, NULL, O_EKCA},
      {"issuer-cert", required_argument, NULL, O_ISSUER_CERT},
      {"issuer-key", required_argument, NULL, O_ISSUER_KEY},
      {"policy", required_argument, NULL, O_POLICY},
      {"session-ttl", required_argument, NULL, O_TTL},
      {"token-key", required_argument, NULL, O_TOKEN_KEY},
      {"platform-ca", required_argument, NULL, O_PLATFORM_CA},
      {"verbose", no_argument, NULL, 'v'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  rt_grpc_server_config cfg = {.listen = DEFAULT_LISTEN};
  const char *port_file = NULL, *ek_ca = NULL, *issuer_cert = NULL, *issuer_key = NULL;
  const char *policy_file = NULL, *token_key = NULL, *platform_ca = NULL;
  uint64_t ttl_ms = 5 * 60 * 1000;
  rt_err err = {0};
  uint64_t n;
  int c;
  optind = 0; /* glibc: full re-initialisation for the command's options */
  while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
    switch (c) {
    case O_LISTEN:
      cfg.listen = optarg;
      break;
    case O_CERT:
      cfg.tls_cert_file = optarg;
      break;
    case O_KEY:
      cfg.tls_key_file = optarg;
      break;
    case O_MAXMSG:
      if (rt_cli_parse_size("--max-message-size", optarg, &cfg.max_message_size, &err) != RT_OK)
        goto bad;
      if (cfg.max_message_size < 1024 || cfg.max_message_size > (size_t)INT32_MAX) {
        rt_err_set(&err, RT_E_INVALID, "--max-message-size must be between 1KiB and 2GiB");
        goto bad;
      }
      break;
    case O_THREADS:
      if (rt_cli_parse_u64("--threads", optarg, 1, 256, &n, &err) != RT_OK)
        goto bad;
      cfg.threads = (int)n;
      break;
    case O_PORTFILE:
      port_file = optarg;
      break;
    case O_EKCA:
      ek_ca = optarg;
      break;
    case O_ISSUER_CERT:
      issuer_cert = optarg;
      break;
    case O_ISSUER_KEY:
      issuer_key = optarg;
      break;
    case O_POLICY:
      policy_file = optarg;
      break;
    case O_PLATFORM_CA:
      platform_ca = optarg;
      break;
    case O_TOKEN_KEY:
      token_key = optarg;
      break;
    case O_TTL:
      if (rt_cli_parse_duration_ms("--session-ttl", optarg, &ttl_ms, &err) != RT_OK)
        goto bad;
      if (ttl_ms < 1000 || ttl_ms > 3600 * 1000) {
        rt_err_set(&err, RT_E_INVALID, "--session-ttl must be between 1s and 1h");
        goto bad;
      }
      break;
    case 'v':
      rt_log_set_level(rt_log_get_level() + 1);
      break;
    case 'h':
      usage_serve(stdout);
      return 0;
    default:
      usage_serve(stderr);
      return 2;
    }
  }
  if (optind < argc) {
    rt_err_set(&err, RT_E_INVALID, "unexpected argument \"%s\"", argv[optind]);
    goto bad;
  }
  if (cfg.tls_cert_file == NULL || cfg.tls_key_file == NULL) {
    rt_err_set(&err, RT_E_INVALID, "--tls-cert and --tls-key are required");
    goto bad;
  }
  if (ek_ca == NULL || issuer_cert == NULL || issuer_key == NULL) {
    rt_err_set(&err, RT_E_INVALID, "--ek-ca, --issuer-cert and --issuer-key are required");
    goto bad;
  }
  rt_verifier v = {.session_ttl = (int64_t)(ttl_ms / 1000)};
  int status = 1;
  if (rt_ek_roots_load(ek_ca, &v.ek_roots, &err) != RT_OK ||
      rt_issuer_load(issuer_cert, issuer_key, &v.issuer, &err) != RT_OK ||
      (policy_file ? rt_policy_load(policy_file, &v.policy, &err)
                   : rt_policy_default(&v.policy, &err)) != RT_OK ||
      (token_key ? rt_token_key_load(token_key, &v.token_key, &err)
                 : rt_token_key_random(&v.token_key, &err)) != RT_OK ||
      rt_replay_guard_new(RT_REPLAY_GUARD_DEFAULT_CAP, &v.guard, &err) != RT_OK) {
    rt_error("%s", err.msg);
    goto done;
  }
  rt_info("trusting %zu EK CA certificate(s) from %s", rt_ek_roots_count(v.ek_roots), ek_ca);
  if ((platform_ca != NULL && rt_platform_ca_load(platform_ca, &v.platform_ca, &err) != RT_OK) ||
      rt_platform_config_check(v.policy, v.platform_ca != NULL, &err) != RT_OK) {
    rt_error("%s", err.msg);
    goto done;
  }
  static const char *const modes[] = {"", "ignored", "verified when sent", "required"};
  if (v.platform_ca != NULL)
    rt_info("trusting %zu platform CA certificate(s) from %s", rt_platform_ca_count(v.platform_ca),
            platform_ca);
  rt_info("platform certificates: %s", modes[rt_platform_mode(v.policy, v.platform_ca != NULL)]);
  if (rt_policy_is_default(v.policy))
    rt_warn("no --policy: running the permissive development policy (sha256 PCRs 0-7 must "
            "replay from the event log, any values accepted)");
  if (token_key == NULL)
    rt_info("no --token-key: sessions can only be finished by this process");
  rt_rpc_method methods[RT_VERIFIER_N_METHODS];
  cfg.n_methods = rt_verifier_methods(&v, methods);
  cfg.methods = methods;

  /* Block the stop signals before any thread exists so that every thread
   * inherits the mask and only sigwait() below receives them. */
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, NULL);

  rt_grpc_server *srv = NULL;
  if (rt_grpc_server_start(&cfg, &srv, &err) != RT_OK) {
    rt_error("%s", err.msg);
    goto done;
  }
  int port = rt_grpc_server_port(srv);
  rt_info("serving rattest.v1.Attestation on %s (port %d)", cfg.listen, port);
  if (port_file != NULL && write_port_file(port_file, port) != 0) {
    rt_error("cannot write port file %s", port_file);
    rt_grpc_server_stop(srv);
    goto done;
  }
  int sig = 0;
  sigwait(&stop, &sig);
  rt_info("signal %d: stopping", sig);
  rt_grpc_server_stop(srv);
  status = 0;
done:
  rt_replay_guard_free(v.guard);
  rt_token_key_free(v.token_key);
  rt_policy_free(v.policy);
  rt_issuer_free(v.issuer);
  rt_ek_roots_free(v.ek_roots);
  rt_platform_ca_free(v.platform_ca);
  return status;

bad:
  fprintf(stderr, "rattest-verifier serve: %s\n", err.msg);
  fprintf(stderr, "Try 'rattest-verifier serve --help'.\n");
  return 2;
}

/* Verifiers that share this key can finish each other's sessions. */
static int cmd_token_key(int argc, char **argv) {
  if (argc != 2 || argv[1][0] == '-') {
    fprintf(argc == 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr,
            "Usage: rattest-verifier token-key FILE\n"
            "\n"
            "Writes a new random 32-byte session token key to FILE (mode 0600; an\n"
            "existing file is never overwritten). Give the same file to every\n"
            "verifier behind one address with --token-key.\n");
    return argc == 2 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
  }
  rt_err err;
  if (rt_token_key_generate_file(argv[1], &err) != RT_OK) {
    fprintf(stderr, "rattest-verifier token-key: %s\n", err.msg);
    return 1;
  }
  printf("session token key written to %s\n", argv[1]);
  return 0;
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
    return cmd_serve(sub_argc, sub_argv);
  if (strcmp(cmd, "token-key") == 0)
    return cmd_token_key(sub_argc, sub_argv);
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
      usage_serve(stdout);
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
