#include "cmd_serve.h"

#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>

#include "enroll.h"
#include "enroll_platform.h"
#include "rt_cli.h"
#include "rt_grpc.h"
#include "rt_log.h"
#include "service.h"
#include "store.h"

#define DEFAULT_LISTEN "127.0.0.1:50051"

void rt_cmd_serve_usage(FILE *f) {
  fprintf(f,
          "Usage: rattest-verifier serve --tls-cert FILE --tls-key FILE --ek-ca PATH\n"
          "       --issuer-cert FILE --issuer-key FILE [OPTIONS]\n"
          "\n"
          "Serves rattest.v1.Attestation over gRPC with TLS until SIGINT or SIGTERM.\n"
          "\n"
          "Options:\n"
          "  --listen HOST:PORT       address to listen on (default " DEFAULT_LISTEN ");\n"
          "                           port 0 picks a free port, IPv6 in brackets: [::]:PORT\n"
          "  --tls-cert FILE          server certificate chain, PEM, leaf first (required)\n"
          "  --tls-key FILE           server private key, PEM (required)\n"
          "  --max-message-size SIZE  largest request accepted (default 4MiB)\n"
          "  --threads N              worker threads (default %d)\n"
          "  --port-file FILE         write the bound port to FILE once listening\n"
          "\n"
          "Enrollment:\n"
          "  --ek-ca PATH             manufacturer EK CA certificates (required): roots\n"
          "                           and intermediates, a PEM/DER file or a directory\n"
          "  --ek-aia-fetch           fetch an EK issuer missing from the chain from the\n"
          "                           certificate's AIA caIssuers URL (http only, 64 KiB,\n"
          "                           5 s; off by default: clients steer the fetches)\n"
          "  --ek-aia-cache DIR       keep fetched EK issuers in DIR, used before fetching\n"
          "  --platform-ca PATH       platform certificate CAs (file or directory): the\n"
          "                           machine's TCG platform certificate is then checked\n"
          "                           (policy \"platform_cert\", default \"verify\")\n"
          "  --issuer-cert FILE       issuing CA certificate and its chain, PEM (required)\n"
          "  --issuer-key FILE        issuing CA private key, PEM (required)\n"
          "  --policy FILE            attestation policy, JSON (docs/policy.md); without\n"
          "                           it the permissive development policy applies\n"
          "  --session-ttl DURATION   time allowed between Begin and Finish (default 5m)\n"
          "  --token-key FILE         32-byte session token key (0600), shared by verifiers\n"
          "                           that must finish each other's sessions; default:\n"
          "                           a random key per process\n"
          "  --db DB                  the machine registry, a SQLite file or postgresql://\n"
          "                           URL (docs/operations.md): tokens single-use across\n"
          "                           every verifier sharing it, revoked EKs refused,\n"
          "                           names first come, decisions and machines recorded;\n"
          "                           without it, this process's memory only\n"
          "  -v, --verbose            more log output (repeat for debug)\n"
          "  -h, --help               show this help\n"
          "\n"
          "Exit status: 0 stopped by SIGINT or SIGTERM, 1 could not start (a file\n"
          "unreadable or invalid, the address taken) or could not write --port-file,\n"
          "2 bad usage.\n",
          RT_GRPC_DEFAULT_THREADS);
}

/* What the command line says; the files are read by load_verifier. */
typedef struct {
  rt_grpc_server_config cfg;
  const char *port_file, *ek_ca, *issuer_cert, *issuer_key;
  const char *policy_file, *token_key, *platform_ca;
  uint64_t ttl_ms;
  bool ek_aia_fetch;
  const char *ek_aia_cache;
  const char *db;
} serve_opts;

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
  O_PLATFORM_CA,
  O_AIA_FETCH,
  O_AIA_CACHE,
  O_DB
};

static const struct option serve_options[] = {
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
    {"ek-aia-fetch", no_argument, NULL, O_AIA_FETCH},
    {"ek-aia-cache", required_argument, NULL, O_AIA_CACHE},
    {"db", required_argument, NULL, O_DB},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* The options with a value to check. */
static rt_code parse_number_opt(serve_opts *o, int c, const char *arg, rt_err *err) {
  uint64_t n;
  switch (c) {
  case O_MAXMSG:
    if (rt_cli_parse_size("--max-message-size", arg, &o->cfg.max_message_size, err) != RT_OK)
      return RT_E_INVALID;
    if (o->cfg.max_message_size < 1024 || o->cfg.max_message_size > (size_t)INT32_MAX)
      return rt_err_set(err, RT_E_INVALID, "--max-message-size must be between 1KiB and 2GiB");
    return RT_OK;
  case O_THREADS:
    if (rt_cli_parse_u64("--threads", arg, 1, 256, &n, err) != RT_OK)
      return RT_E_INVALID;
    o->cfg.threads = (int)n;
    return RT_OK;
  default: /* O_TTL */
    if (rt_cli_parse_duration_ms("--session-ttl", arg, &o->ttl_ms, err) != RT_OK)
      return RT_E_INVALID;
    if (o->ttl_ms < 1000 || o->ttl_ms > 3600 * 1000)
      return rt_err_set(err, RT_E_INVALID, "--session-ttl must be between 1s and 1h");
    return RT_OK;
  }
}

/* Where each path option lands in serve_opts. */
static const char **path_opt(serve_opts *o, int c) {
  switch (c) {
  case O_LISTEN:
    return &o->cfg.listen;
  case O_CERT:
    return &o->cfg.tls_cert_file;
  case O_KEY:
    return &o->cfg.tls_key_file;
  case O_PORTFILE:
    return &o->port_file;
  case O_EKCA:
    return &o->ek_ca;
  case O_ISSUER_CERT:
    return &o->issuer_cert;
  case O_ISSUER_KEY:
    return &o->issuer_key;
  case O_POLICY:
    return &o->policy_file;
  case O_PLATFORM_CA:
    return &o->platform_ca;
  case O_TOKEN_KEY:
    return &o->token_key;
  case O_AIA_CACHE:
    return &o->ek_aia_cache;
  case O_DB:
    return &o->db;
  default:
    return NULL;
  }
}

/* What no single option can check: arguments left over, the required
 * options, and the listen address (in full: HOST:PORT). */
static rt_code check_args(const serve_opts *o, int argc, char **argv, rt_err *err) {
  if (optind < argc)
    return rt_err_set(err, RT_E_INVALID, "unexpected argument \"%s\"", argv[optind]);
  if (o->cfg.tls_cert_file == NULL || o->cfg.tls_key_file == NULL)
    return rt_err_set(err, RT_E_INVALID, "--tls-cert and --tls-key are required");
  if (o->ek_ca == NULL || o->issuer_cert == NULL || o->issuer_key == NULL)
    return rt_err_set(err, RT_E_INVALID, "--ek-ca, --issuer-cert and --issuer-key are required");
  if (o->ek_aia_cache != NULL && !o->ek_aia_fetch)
    return rt_err_set(err, RT_E_INVALID, "--ek-aia-cache needs --ek-aia-fetch");
  return rt_cli_parse_hostport("--listen", o->cfg.listen, 0, NULL, err);
}

/* -1: go on and serve; else the exit status (help printed, or bad usage
 * reported). */
static int parse_serve_opts(int argc, char **argv, serve_opts *o) {
  rt_err err = {0};
  int c;
  optind = 0; /* glibc: full re-initialisation for the command's options */
  while ((c = getopt_long(argc, argv, "vh", serve_options, NULL)) != -1) {
    const char **path = path_opt(o, c);
    if (path != NULL) {
      *path = optarg;
    } else if (c == O_MAXMSG || c == O_THREADS || c == O_TTL) {
      if (parse_number_opt(o, c, optarg, &err) != RT_OK)
        goto bad;
    } else if (c == O_AIA_FETCH) {
      o->ek_aia_fetch = true;
    } else if (c == 'v') {
      rt_log_set_level(rt_log_get_level() + 1);
    } else if (c == 'h') {
      rt_cmd_serve_usage(stdout);
      return 0;
    } else {
      rt_cmd_serve_usage(stderr);
      return 2;
    }
  }
  if (check_args(o, argc, argv, &err) == RT_OK)
    return -1;
bad:
  fprintf(stderr, "rattest-verifier serve: %s\n", err.msg);
  fprintf(stderr, "Try 'rattest-verifier serve --help'.\n");
  return 2;
}

static rt_code load_trust(const serve_opts *o, rt_verifier *v, rt_err *err) {
  if (rt_ca_set_load(o->ek_ca, "EK CA", &v->ek_roots, err) != RT_OK ||
      rt_issuer_load(o->issuer_cert, o->issuer_key, &v->issuer, err) != RT_OK ||
      (o->policy_file ? rt_policy_load(o->policy_file, &v->policy, err)
                      : rt_policy_default(&v->policy, err)) != RT_OK ||
      (o->token_key ? rt_token_key_load(o->token_key, &v->token_key, err)
                    : rt_token_key_random(&v->token_key, err)) != RT_OK ||
      rt_replay_guard_new(RT_REPLAY_GUARD_DEFAULT_CAP, &v->guard, err) != RT_OK)
    return RT_E_INVALID;
  rt_info("trusting %zu EK CA certificate(s) from %s", rt_ca_set_count(v->ek_roots), o->ek_ca);
  v->ek_aia = (rt_aia_opts){.cache_dir = o->ek_aia_cache};
  v->ek_aia_fetch = o->ek_aia_fetch;
  if (o->ek_aia_cache != NULL && rt_aia_cache_check(o->ek_aia_cache, err) != RT_OK)
    return RT_E_INVALID;
  if (o->ek_aia_fetch)
    rt_info("EK issuers missing from a chain are fetched from AIA URLs (http only)%s%s",
            o->ek_aia_cache ? ", cached in " : "", o->ek_aia_cache ? o->ek_aia_cache : "");
  if ((o->platform_ca != NULL &&
       rt_ca_set_load(o->platform_ca, "platform CA", &v->platform_ca, err) != RT_OK) ||
      rt_platform_config_check(v->policy, v->platform_ca != NULL, err) != RT_OK)
    return RT_E_INVALID;
  return RT_OK;
}

/* What the operator should know about how this verifier will decide. */
static void log_configuration(const serve_opts *o, const rt_verifier *v) {
  static const char *const modes[] = {"", "ignored", "verified when sent", "required"};
  if (v->platform_ca != NULL)
    rt_info("trusting %zu platform CA certificate(s) from %s", rt_ca_set_count(v->platform_ca),
            o->platform_ca);
  rt_info("platform certificates: %s", modes[rt_platform_mode(v->policy, v->platform_ca != NULL)]);
  if (rt_policy_is_default(v->policy))
    rt_warn("no --policy: running the permissive development policy (sha256 PCRs 0-7 must "
            "replay from the event log, any values accepted)");
  if (o->token_key == NULL)
    rt_info("no --token-key: sessions can only be finished by this process");
}

/* The registry (issue 14): opened and migrated before serving. Without
 * --db the replay guard is this process's memory and nothing is recorded. */
static rt_code open_registry(const serve_opts *o, rt_verifier *v, rt_err *err) {
  if (o->db == NULL && rt_policy_names(v->policy) == RT_POLICY_NAMES_REGISTERED)
    return rt_err_set(err, RT_E_INVALID,
                      "the policy's \"name_binding\": \"registered\" needs --db");
  if (o->db == NULL) {
    rt_warn("no --db: tokens are single-use per process only, and no decision, machine or "
            "certificate is recorded (docs/operations.md)");
    return RT_OK;
  }
  int64_t version = 0;
  if (rt_store_open(o->db, &v->store, err) != RT_OK ||
      rt_store_schema_version(v->store, &version, err) != RT_OK)
    return rt_err_prefix(err, "--db: ");
  rt_info("registry: %s, schema version %lld", rt_store_backend_name(v->store), (long long)version);
  return RT_OK;
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

/* Serves until SIGINT or SIGTERM: 0 after a clean stop, 1 if it cannot. */
static int serve_until_signal(rt_grpc_server_config *cfg, const char *port_file) {
  /* Block the stop signals before any thread exists so that every thread
   * inherits the mask and only sigwait() below receives them. */
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, NULL);
  rt_err err = {0};
  rt_grpc_server *srv = NULL;
  if (rt_grpc_server_start(cfg, &srv, &err) != RT_OK) {
    rt_error("%s", err.msg);
    return 1;
  }
  int port = rt_grpc_server_port(srv);
  rt_info("serving rattest.v1.Attestation on %s (port %d)", cfg->listen, port);
  if (port_file != NULL && write_port_file(port_file, port) != 0) {
    rt_error("cannot write port file %s", port_file);
    rt_grpc_server_stop(srv);
    return 1;
  }
  int sig = 0;
  sigwait(&stop, &sig);
  rt_info("signal %d: stopping", sig);
  rt_grpc_server_stop(srv);
  return 0;
}

int rt_cmd_serve(int argc, char **argv) {
  serve_opts o = {.cfg = {.listen = DEFAULT_LISTEN}, .ttl_ms = 5 * 60 * 1000};
  int status = parse_serve_opts(argc, argv, &o);
  if (status >= 0)
    return status;
  rt_verifier v = {.session_ttl = (int64_t)(o.ttl_ms / 1000)};
  rt_err err = {0};
  status = 1;
  if (load_trust(&o, &v, &err) != RT_OK || open_registry(&o, &v, &err) != RT_OK) {
    rt_error("%s", err.msg);
  } else {
    log_configuration(&o, &v);
    rt_rpc_method methods[RT_VERIFIER_N_METHODS];
    o.cfg.n_methods = rt_verifier_methods(&v, methods);
    o.cfg.methods = methods;
    status = serve_until_signal(&o.cfg, o.port_file);
  }
  rt_replay_guard_free(v.guard);
  rt_store_close(v.store);
  rt_token_key_free(v.token_key);
  rt_policy_free(v.policy);
  rt_issuer_free(v.issuer);
  rt_ca_set_free(v.ek_roots);
  rt_ca_set_free(v.platform_ca);
  return status;
}
