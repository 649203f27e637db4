/* pthread_rwlockattr_setkind_np: a SIGHUP must not wait behind an endless
 * stream of calls (init_config_lock). */
#define _GNU_SOURCE
#include "cmd_serve.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "enroll.h"
#include "enroll_platform.h"
#include "health.h"
#include "metrics_http.h"
#include "rt_cli.h"
#include "rt_grpc.h"
#include "rt_log.h"
#include "rt_tls_files.h"
#include "serve_config.h"
#include "serve_crl.h"
#include "service.h"
#include "store.h"

#define DEFAULT_LISTEN "127.0.0.1:50051"
/* Rate limits: an enrollment is a Begin, a Finish and a Confirm from one
 * address, two of them counted for its EK. The per-peer limit leaves room
 * for machines behind one NAT address; the all-clients Finish rate for a
 * fleet's boot wave, and with the default TTL it keeps the replay guard at
 * 31,100 entries (2 x (500 + 50 x 301)). */
#define DEFAULT_RATE_PEER "20/200"
#define DEFAULT_RATE_EK "5/50"
#define DEFAULT_RATE_FINISH "50/500"

/* One call printing the help as it reads: long, but a list. */
/* The transport limits' part of the help, with their defaults. */
static void usage_transport(FILE *f) {
  fprintf(f,
          "Transport limits (docs/protocol.md):\n"
          "  --max-connections N      connections held at once (default %d; fewer\n"
          "                           when the descriptor limit leaves less room)\n"
          "  --handshake-timeout DURATION\n"
          "                           close a connection still without TLS and\n"
          "                           HTTP/2 settings after DURATION (default %ds)\n"
          "  --idle-timeout DURATION  close a connection without calls (default %ds)\n"
          "  --keepalive-time DURATION\n"
          "                           ping a connection silent this long (default %ds)\n"
          "  --keepalive-timeout DURATION\n"
          "                           close it if the ping is not answered in time\n"
          "                           (default %ds)\n"
          "  --max-connection-age DURATION\n"
          "                           close connections this old, after %d s for the\n"
          "                           calls still running (default %ds)\n"
          "  --drain-delay DURATION   after SIGTERM, go on serving this long with the\n"
          "                           health service saying NOT_SERVING, so that load\n"
          "                           balancers stop sending calls before the drain\n"
          "                           (default 0s, at most 5m; a second SIGTERM cuts it)\n"
          "\n",
          RT_GRPC_DEFAULT_MAX_CONNECTIONS, RT_GRPC_DEFAULT_HANDSHAKE_TIMEOUT_MS / 1000,
          RT_GRPC_DEFAULT_IDLE_TIMEOUT_MS / 1000, RT_GRPC_DEFAULT_KEEPALIVE_TIME_MS / 1000,
          RT_GRPC_DEFAULT_KEEPALIVE_TIMEOUT_MS / 1000, RT_GRPC_AGE_GRACE_MS / 1000,
          RT_GRPC_DEFAULT_MAX_CONNECTION_AGE_MS / 1000);
}

/* The rate limits' part of the help (their defaults are strings). */
static void usage_registry(FILE *f) {
  fputs("Registry (docs/operations.md):\n"
        "  --db DB                  the machine registry, a SQLite file or postgresql://\n"
        "                           URL: tokens single-use across every verifier\n"
        "                           sharing it, revoked EKs refused, names first come,\n"
        "                           decisions and machines recorded; without it, this\n"
        "                           process's memory only\n"
        "  --decisions-keep DAYS    with --db: delete decisions older than DAYS and\n"
        "                           expired token ids, hourly (default 90; 0 keeps all)\n"
        "\n",
        f);
}

static void usage_rates(FILE *f) {
  fputs("Rate limits (RATE/BURST: RATE calls a second on average, e.g. 0.5, up to\n"
        "BURST at once; 0 turns a limit off; over it: RESOURCE_EXHAUSTED RATE_LIMITED):\n"
        "  --rate-peer RATE/BURST   Begin, Finish and Confirm calls per client address\n"
        "                           (IPv6: per /64) (default " DEFAULT_RATE_PEER ")\n"
        "  --rate-ek RATE/BURST     Begin, and Finish with the right secret, per EK\n"
        "                           (default " DEFAULT_RATE_EK ")\n"
        "  --rate-finish RATE/BURST Finishes with the right secret, all clients together\n"
        "                           (default " DEFAULT_RATE_FINISH "); sizes the replay guard:\n"
        "                           2 x (BURST + RATE x (session TTL + 1 s)) entries\n"
        "\n",
        f);
}

static void usage_enrollment(FILE *f) {
  fputs("Enrollment:\n"
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
        "\n",
        f);
}

void rt_cmd_serve_usage(FILE *f) {
  fprintf(f,
          "Usage: rattest-verifier serve --tls-cert FILE --tls-key FILE --ek-ca PATH\n"
          "       --issuer-cert FILE --issuer-key FILE [OPTIONS]\n"
          "\n"
          "Serves rattest.v1.Attestation over gRPC with TLS until SIGINT or SIGTERM\n"
          "(calls in flight get 10 s to finish). SIGHUP reloads the policy, the issuer\n"
          "certificate and key, the EK and platform CAs and the TLS certificate and\n"
          "key, all or nothing. The standard health service (grpc.health.v1.Health)\n"
          "says NOT_SERVING from SIGTERM on and while --db does not answer\n"
          "(docs/operations.md).\n"
          "\n"
          "Options:\n"
          "  --config FILE            every option below from a JSON object keyed by the\n"
          "                           option names ({\"listen\": \"0.0.0.0:50051\"}); flags\n"
          "                           given here override it (docs/operations.md)\n"
          "  --listen HOST:PORT       address to listen on (default " DEFAULT_LISTEN ");\n"
          "                           port 0 picks a free port, IPv6 in brackets: [::]:PORT\n"
          "  --tls-cert FILE          server certificate chain, PEM, leaf first (required)\n"
          "  --tls-key FILE           server private key, PEM, mode 0600 (required)\n"
          "  --max-message-size SIZE  largest request accepted (default 4MiB)\n"
          "  --threads N              worker threads (default %d)\n"
          "  --port-file FILE         write the bound port to FILE once listening\n"
          "  --metrics-listen HOST:PORT  serve Prometheus metrics over plain HTTP at\n"
          "                           /metrics (port 0 picks a free port; off by default)\n"
          "  --log-format FORMAT      diagnostics on stderr as text (default) or json, one\n"
          "                           object a line\n"
          "\n",
          RT_GRPC_DEFAULT_THREADS);
  usage_transport(f);
  usage_enrollment(f);
  usage_rates(f);
  rt_serve_crl_usage(f);
  usage_registry(f);
  fputs("  -v, --verbose            more log output (repeat for debug)\n"
        "  -h, --help               show this help\n"
        "\n"
        "Exit status: 0 stopped by SIGINT or SIGTERM, 1 could not start (a file\n"
        "unreadable or invalid, the address taken) or could not write --port-file,\n"
        "2 bad usage (also a --config file that is unreadable or names an unknown key).\n",
        f);
}

/* What the command line says; the files are read by load_verifier. */
typedef struct {
  rt_grpc_server_config cfg;
  const char *port_file, *ek_ca, *issuer_cert, *issuer_key;
  const char *policy_file, *token_key, *platform_ca;
  uint64_t ttl_ms;
  rt_rate rate_peer, rate_ek, rate_finish;
  size_t guard_cap; /* from --rate-finish and --session-ttl */
  bool ek_aia_fetch;
  const char *ek_aia_cache;
  const char *metrics_listen;
  const char *db;
  rt_serve_crl_opts crl;    /* --crl-file, --crl-url, --crl-period */
  rt_serve_crl *crl_writer; /* running with --crl-file */
  uint64_t keep_days;       /* --decisions-keep */
  int drain_delay_ms;       /* --drain-delay */
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
  O_METRICS,
  O_LOG_FORMAT,
  O_CONFIG,
  O_MAX_CONN,
  O_HANDSHAKE,
  O_IDLE,
  O_KA_TIME,
  O_KA_TIMEOUT,
  O_MAX_AGE,
  O_DRAIN_DELAY,
  O_RATE_PEER,
  O_RATE_EK,
  O_RATE_FINISH,
  O_DB,
  O_KEEP
};

static const struct option serve_options[] = {
    {"config", required_argument, NULL, O_CONFIG},
    {"listen", required_argument, NULL, O_LISTEN},
    {"tls-cert", required_argument, NULL, O_CERT},
    {"tls-key", required_argument, NULL, O_KEY},
    {"max-message-size", required_argument, NULL, O_MAXMSG},
    {"threads", required_argument, NULL, O_THREADS},
    {"port-file", required_argument, NULL, O_PORTFILE},
    {"max-connections", required_argument, NULL, O_MAX_CONN},
    {"handshake-timeout", required_argument, NULL, O_HANDSHAKE},
    {"idle-timeout", required_argument, NULL, O_IDLE},
    {"keepalive-time", required_argument, NULL, O_KA_TIME},
    {"keepalive-timeout", required_argument, NULL, O_KA_TIMEOUT},
    {"max-connection-age", required_argument, NULL, O_MAX_AGE},
    {"drain-delay", required_argument, NULL, O_DRAIN_DELAY},
    {"ek-ca", required_argument, NULL, O_EKCA},
    {"issuer-cert", required_argument, NULL, O_ISSUER_CERT},
    {"issuer-key", required_argument, NULL, O_ISSUER_KEY},
    {"policy", required_argument, NULL, O_POLICY},
    {"session-ttl", required_argument, NULL, O_TTL},
    {"token-key", required_argument, NULL, O_TOKEN_KEY},
    {"platform-ca", required_argument, NULL, O_PLATFORM_CA},
    {"ek-aia-fetch", no_argument, NULL, O_AIA_FETCH},
    {"ek-aia-cache", required_argument, NULL, O_AIA_CACHE},
    {"metrics-listen", required_argument, NULL, O_METRICS},
    {"log-format", required_argument, NULL, O_LOG_FORMAT},
    {"rate-peer", required_argument, NULL, O_RATE_PEER},
    {"rate-ek", required_argument, NULL, O_RATE_EK},
    {"rate-finish", required_argument, NULL, O_RATE_FINISH},
    {"db", required_argument, NULL, O_DB},
    {"crl-file", required_argument, NULL, RT_SERVE_O_CRL_FILE},
    {"crl-url", required_argument, NULL, RT_SERVE_O_CRL_URL},
    {"crl-period", required_argument, NULL, RT_SERVE_O_CRL_PERIOD},
    {"decisions-keep", required_argument, NULL, O_KEEP},
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
  case O_KEEP:
    return rt_cli_parse_u64("--decisions-keep", arg, 0, 36500, &o->keep_days, err);
  default: /* O_TTL */
    if (rt_cli_parse_duration_ms("--session-ttl", arg, &o->ttl_ms, err) != RT_OK)
      return RT_E_INVALID;
    if (o->ttl_ms < 1000 || o->ttl_ms > 3600 * 1000)
      return rt_err_set(err, RT_E_INVALID, "--session-ttl must be between 1s and 1h");
    return RT_OK;
  }
}

/* The transport limits: where each lands and what it may be. */
static rt_code parse_limit_opt(serve_opts *o, int c, const char *arg, rt_err *err) {
  rt_grpc_limits *l = &o->cfg.limits;
  uint64_t v;
  if (c == O_MAX_CONN) {
    if (rt_cli_parse_u64("--max-connections", arg, 1, 1000000, &v, err) != RT_OK)
      return RT_E_INVALID;
    l->max_connections = (int)v;
    return RT_OK;
  }
  static const uint64_t S = 1000, DAY = 24 * 3600 * 1000;
  const struct {
    int opt;
    const char *name, *range;
    int *field;
    uint64_t min, max;
  } limits[] = {
      {O_HANDSHAKE, "--handshake-timeout", "100ms and 2m", &l->handshake_timeout_ms, 100, 120 * S},
      {O_IDLE, "--idle-timeout", "1s and 24h", &l->idle_timeout_ms, S, DAY},
      {O_KA_TIME, "--keepalive-time", "1s and 24h", &l->keepalive_time_ms, S, DAY},
      {O_KA_TIMEOUT, "--keepalive-timeout", "1s and 10m", &l->keepalive_timeout_ms, S, 600 * S},
      {O_MAX_AGE, "--max-connection-age", "1s and 24h", &l->max_connection_age_ms, S, DAY},
      {O_DRAIN_DELAY, "--drain-delay", "0s and 5m", &o->drain_delay_ms, 0, 300 * S},
  };
  for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
    if (limits[i].opt != c)
      continue;
    if (rt_cli_parse_duration_ms(limits[i].name, arg, &v, err) != RT_OK)
      return RT_E_INVALID;
    if (v < limits[i].min || v > limits[i].max)
      return rt_err_set(err, RT_E_INVALID, "%s must be between %s", limits[i].name,
                        limits[i].range);
    *limits[i].field = (int)v;
    return RT_OK;
  }
  return rt_err_set(err, RT_E_INTERNAL, "unknown limit option %d", c);
}

/* Where each rate option lands in serve_opts, and its name. */
static rt_rate *rate_opt(serve_opts *o, int c, const char **name) {
  switch (c) {
  case O_RATE_PEER:
    *name = "--rate-peer";
    return &o->rate_peer;
  case O_RATE_EK:
    *name = "--rate-ek";
    return &o->rate_ek;
  case O_RATE_FINISH:
    *name = "--rate-finish";
    return &o->rate_finish;
  default:
    return NULL;
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
  case O_METRICS:
    return &o->metrics_listen;
  case O_DB:
    return &o->db;
  default:
    return NULL;
  }
}

/* What no single option can check: arguments left over, the required
 * options, the replay guard's size (from --rate-finish and --session-ttl,
 * into o->guard_cap), and the listen address (in full: HOST:PORT). */
static rt_code check_args(serve_opts *o, int argc, char **argv, rt_err *err) {
  if (optind < argc)
    return rt_err_set(err, RT_E_INVALID, "unexpected argument \"%s\"", argv[optind]);
  if (o->cfg.tls_cert_file == NULL || o->cfg.tls_key_file == NULL)
    return rt_err_set(err, RT_E_INVALID, "--tls-cert and --tls-key are required");
  if (o->ek_ca == NULL || o->issuer_cert == NULL || o->issuer_key == NULL)
    return rt_err_set(err, RT_E_INVALID, "--ek-ca, --issuer-cert and --issuer-key are required");
  if (o->ek_aia_cache != NULL && !o->ek_aia_fetch)
    return rt_err_set(err, RT_E_INVALID, "--ek-aia-cache needs --ek-aia-fetch");
  if (o->metrics_listen != NULL &&
      rt_cli_parse_hostport("--metrics-listen", o->metrics_listen, 0, NULL, err) != RT_OK)
    return RT_E_INVALID;
  if (rt_serve_crl_check(&o->crl, o->db, err) != RT_OK)
    return RT_E_INVALID;
  if (rt_replay_guard_cap_for((int64_t)(o->ttl_ms / 1000), o->rate_finish.milli_per_s,
                              o->rate_finish.burst, &o->guard_cap, err) != RT_OK)
    return RT_E_INVALID;
  return rt_cli_parse_hostport("--listen", o->cfg.listen, 0, NULL, err);
}

/* -1: go on and serve; else the exit status (help printed, or bad usage
 * reported). */
static int parse_serve_opts(int argc, char **argv, serve_opts *o) {
  rt_err err = {0};
  int c;
  rt_code crl_code;
  optind = 0; /* glibc: full re-initialisation for the command's options */
  while ((c = getopt_long(argc, argv, "vh", serve_options, NULL)) != -1) {
    const char **path = path_opt(o, c), *name = NULL;
    rt_rate *rate = rate_opt(o, c, &name);
    if (rt_serve_crl_opt(&o->crl, c, optarg, &crl_code, &err)) {
      if (crl_code != RT_OK)
        goto bad;
    } else if (path != NULL) {
      *path = optarg;
    } else if (rate != NULL) {
      if (rt_rate_parse(name, optarg, rate, &err) != RT_OK)
        goto bad;
    } else if (c == O_MAXMSG || c == O_THREADS || c == O_TTL || c == O_KEEP) {
      if (parse_number_opt(o, c, optarg, &err) != RT_OK)
        goto bad;
    } else if (c >= O_MAX_CONN && c <= O_DRAIN_DELAY) {
      if (parse_limit_opt(o, c, optarg, &err) != RT_OK)
        goto bad;
    } else if (c == O_LOG_FORMAT) {
      if (strcmp(optarg, "json") != 0 && strcmp(optarg, "text") != 0) {
        rt_err_set(&err, RT_E_INVALID, "--log-format must be text or json");
        goto bad;
      }
      rt_log_set_json(strcmp(optarg, "json") == 0);
    } else if (c == O_CONFIG) {
      continue; /* read before parsing (rt_serve_config_args) */
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

/* What decides, from its files: at start and again at SIGHUP. */
static rt_code load_decisions(const serve_opts *o, rt_verifier *v, rt_err *err) {
  if (rt_ca_set_load(o->ek_ca, "EK CA", &v->ek_roots, err) != RT_OK ||
      rt_issuer_load(o->issuer_cert, o->issuer_key, &v->issuer, err) != RT_OK ||
      rt_serve_crl_issuer(&o->crl, v->issuer, err) != RT_OK ||
      (o->policy_file ? rt_policy_load(o->policy_file, &v->policy, err)
                      : rt_policy_default(&v->policy, err)) != RT_OK ||
      (o->platform_ca != NULL &&
       rt_ca_set_load(o->platform_ca, "platform CA", &v->platform_ca, err) != RT_OK) ||
      rt_platform_config_check(v->policy, v->platform_ca != NULL, err) != RT_OK)
    return RT_E_INVALID;
  /* Here, not at --db's opening: a policy reloaded at SIGHUP is held to it. */
  if (o->db == NULL && rt_policy_names(v->policy) == RT_POLICY_NAMES_REGISTERED)
    return rt_err_set(err, RT_E_INVALID,
                      "the policy's \"name_binding\": \"registered\" needs --db");
  return RT_OK;
}

static void free_decisions(rt_verifier *v) {
  rt_policy_free(v->policy);
  rt_issuer_free(v->issuer);
  rt_ca_set_free(v->ek_roots);
  rt_ca_set_free(v->platform_ca);
  v->policy = NULL;
  v->issuer = NULL;
  v->ek_roots = v->platform_ca = NULL;
}

static void swap_decisions(rt_verifier *a, rt_verifier *b) {
  rt_verifier t = {0};
  t.ek_roots = a->ek_roots, t.platform_ca = a->platform_ca;
  t.policy = a->policy, t.issuer = a->issuer;
  a->ek_roots = b->ek_roots, a->platform_ca = b->platform_ca;
  a->policy = b->policy, a->issuer = b->issuer;
  b->ek_roots = t.ek_roots, b->platform_ca = t.platform_ca;
  b->policy = t.policy, b->issuer = t.issuer;
}

static rt_code load_trust(const serve_opts *o, rt_verifier *v, rt_err *err) {
  if (load_decisions(o, v, err) != RT_OK ||
      (o->token_key ? rt_token_key_load(o->token_key, &v->token_key, err)
                    : rt_token_key_random(&v->token_key, err)) != RT_OK ||
      rt_replay_guard_new(o->guard_cap, &v->guard, err) != RT_OK ||
      rt_rate_limiter_new(o->rate_peer, &v->rate_peer, err) != RT_OK ||
      rt_rate_limiter_new(o->rate_ek, &v->rate_ek, err) != RT_OK ||
      rt_rate_limiter_new(o->rate_finish, &v->rate_finish, err) != RT_OK)
    return RT_E_INVALID;
  rt_info("trusting %zu EK CA certificate(s) from %s", rt_ca_set_count(v->ek_roots), o->ek_ca);
  v->ek_aia = (rt_aia_opts){.cache_dir = o->ek_aia_cache};
  v->ek_aia_fetch = o->ek_aia_fetch;
  if (o->ek_aia_cache != NULL && rt_aia_cache_check(o->ek_aia_cache, err) != RT_OK)
    return RT_E_INVALID;
  if (o->ek_aia_fetch)
    rt_info("EK issuers missing from a chain are fetched from AIA URLs (http only)%s%s",
            o->ek_aia_cache ? ", cached in " : "", o->ek_aia_cache ? o->ek_aia_cache : "");
  return RT_OK;
}

/* SIGHUP: the files read again, all or nothing. The TLS pair is staged
 * first (its failure changes nothing), then what decides is swapped while
 * no call runs; the old objects are freed after. */
static void reload(const serve_opts *o, rt_verifier *v, rt_grpc_server *srv) {
  rt_verifier fresh = {0};
  rt_err err = {0};
  if (load_decisions(o, &fresh, &err) != RT_OK ||
      rt_grpc_server_reload_tls(srv, o->cfg.tls_cert_file, o->cfg.tls_key_file, &err) != RT_OK) {
    rt_error("SIGHUP: nothing reloaded, the running configuration stays: %s", err.msg);
    free_decisions(&fresh);
    return;
  }
  pthread_rwlock_wrlock(&v->config_lock);
  swap_decisions(v, &fresh);
  pthread_rwlock_unlock(&v->config_lock);
  free_decisions(&fresh); /* now the old ones */
  rt_serve_crl_kick(o->crl_writer);
  if (v->metrics != NULL)
    rt_metrics_set_issuer_not_after(v->metrics, rt_issuer_not_after(v->issuer));
  rt_info("SIGHUP: reloaded the policy, the issuer, the EK and platform CAs (%zu EK CA "
          "certificates) and the TLS certificate",
          rt_ca_set_count(v->ek_roots));
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
  if (o->rate_finish.milli_per_s == 0)
    rt_warn("--rate-finish 0: the replay guard holds %zu entries, and past them Finish is "
            "refused TOKEN_GUARD_FULL until entries expire",
            o->guard_cap);
  else
    rt_info("replay guard: %zu entries (from --rate-finish and --session-ttl)", o->guard_cap);
}

static size_t guard_count(void *guard) {
  return rt_replay_guard_count(guard);
}

/* --metrics-listen: the counters the handlers move, and the HTTP server
 * Prometheus scrapes them from. */
static rt_code start_metrics(const serve_opts *o, rt_verifier *v, rt_metrics_http **http,
                             rt_err *err) {
  if (o->metrics_listen == NULL)
    return RT_OK;
  if (rt_metrics_new(&v->metrics, err) != RT_OK)
    return RT_E_NOMEM;
  rt_metrics_set_guard(v->metrics, guard_count, v->guard);
  rt_metrics_set_issuer_not_after(v->metrics, rt_issuer_not_after(v->issuer));
  if (rt_metrics_http_start(o->metrics_listen, v->metrics, http, err) != RT_OK)
    return RT_E_IO;
  rt_info("metrics on http://%s/metrics (port %d)", o->metrics_listen, rt_metrics_http_port(*http));
  return RT_OK;
}

/* The registry (issue 14): opened and migrated before serving. Without
 * --db the replay guard is this process's memory and nothing is recorded. */
static rt_code open_registry(const serve_opts *o, rt_verifier *v, rt_err *err) {
  if (o->db == NULL) {
    rt_warn("no --db: tokens are single-use per process only, and no decision, machine or "
            "certificate is recorded (docs/operations.md)");
    return RT_OK;
  }
  int64_t version = 0;
  /* A connection per worker thread: no call waits for another's. */
  int threads = o->cfg.threads > 0 ? o->cfg.threads : RT_GRPC_DEFAULT_THREADS;
  if (rt_store_open_pool(o->db, (size_t)threads, &v->store, err) != RT_OK ||
      rt_store_schema_version(v->store, &version, err) != RT_OK)
    return rt_err_prefix(err, "--db: ");
  rt_info("registry: %s, schema version %lld", rt_store_backend_name(v->store), (long long)version);
  rt_store_set_retention(v->store, (int64_t)o->keep_days * 86400);
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

/* Each connection holds a descriptor: the soft limit (1024 under systemd by
 * default) is raised to the hard one, which needs no privilege. */
static void raise_descriptor_limit(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
    return;
  unsigned long long was = (unsigned long long)rl.rlim_cur;
  rl.rlim_cur = rl.rlim_max;
  if (was < (unsigned long long)rl.rlim_max && setrlimit(RLIMIT_NOFILE, &rl) != 0) {
    rt_warn("descriptor limit stays %llu: cannot raise it to %llu: %s", was,
            (unsigned long long)rl.rlim_max, strerror(errno));
    return;
  }
  rt_info("descriptor limit %llu (was %llu)", (unsigned long long)rl.rlim_cur, was);
}

/* Certificates this close to their notAfter are announced, at start, after
 * SIGHUP and once a day: renewing an issuer or a TLS certificate takes an
 * operator, who needs the warning well before clients start failing. */
#define EXPIRY_WARN_DAYS 30

static void warn_if_soon(const char *what, const char *file, int64_t not_after, time_t now) {
  if (not_after == 0 || not_after - (int64_t)now > EXPIRY_WARN_DAYS * 86400LL)
    return;
  if (not_after <= (int64_t)now)
    rt_warn("the %s %s has expired", what, file);
  else
    rt_warn("the %s %s expires in %lld day(s): renew it and send SIGHUP", what, file,
            (long long)((not_after - (int64_t)now) / 86400));
}

static void warn_expiring(const serve_opts *o, const rt_verifier *v) {
  time_t now = time(NULL);
  warn_if_soon("issuer certificate", o->issuer_cert, rt_issuer_not_after(v->issuer), now);
  warn_if_soon("TLS certificate", o->cfg.tls_cert_file, rt_tls_cert_not_after(o->cfg.tls_cert_file),
               now);
}

/* Calls hold the lock as readers; glibc's default lets readers in while a
 * writer waits, so under steady load a SIGHUP could wait for ever. Writers
 * first: new calls wait the few milliseconds of the swap. */
static void init_config_lock(rt_verifier *v) {
  pthread_rwlockattr_t attr;
  pthread_rwlockattr_init(&attr);
  pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
  pthread_rwlock_init(&v->config_lock, &attr);
  pthread_rwlockattr_destroy(&attr);
}

/* Calls in flight get this long to finish after SIGTERM or SIGINT. */
#define DRAIN_MS 10000

/* --drain-delay: health already says NOT_SERVING and calls are still
 * served, so that load balancers probing it move their traffic before the
 * drain refuses new calls (a Check during the drain gets UNAVAILABLE). A
 * second SIGTERM or SIGINT ends the wait; a SIGHUP now is ignored. */
static void drain_delay(const serve_opts *o, sigset_t sigs) {
  if (o->drain_delay_ms <= 0)
    return;
  rt_info("health: NOT_SERVING; still serving for %d ms (--drain-delay)", o->drain_delay_ms);
  uint64_t end = rt_grpc_now_ms() + (uint64_t)o->drain_delay_ms;
  for (uint64_t now; (now = rt_grpc_now_ms()) < end;) {
    uint64_t left = end - now;
    struct timespec wait = {.tv_sec = (time_t)(left / 1000),
                            .tv_nsec = (long)(left % 1000) * 1000000L};
    int sig = sigtimedwait(&sigs, NULL, &wait);
    if (sig == SIGTERM || sig == SIGINT)
      return;
  }
}

/* Blocks the signals serve waits for (SIGS) before any thread exists (the
 * CRL writer's, the health probe's, libmicrohttpd's, gRPC's), so that every
 * thread inherits the mask and only sigtimedwait() in serve_until_signal
 * receives them; one arriving before then stays pending. */
static void block_stop_signals(sigset_t *sigs) {
  sigemptyset(sigs);
  sigaddset(sigs, SIGINT);
  sigaddset(sigs, SIGTERM);
  sigaddset(sigs, SIGHUP);
  pthread_sigmask(SIG_BLOCK, sigs, NULL);
}

/* Serves until SIGINT or SIGTERM (SIGS, blocked), reloading at SIGHUP: 0
 * after a clean stop, 1 if it cannot. health: NOT_SERVING from the signal
 * on. */
static int serve_until_signal(serve_opts *o, rt_verifier *v, sigset_t sigs, rt_health *health) {
  rt_err err = {0};
  rt_grpc_server *srv = NULL;
  warn_expiring(o, v); /* before the port file: a test that waits for it sees them */
  raise_descriptor_limit();
  if (rt_grpc_server_start(&o->cfg, &srv, &err) != RT_OK) {
    rt_error("%s", err.msg);
    return 1;
  }
  if (rt_health_start(health, srv, &err) != RT_OK) {
    rt_error("%s", err.msg);
    rt_health_drain(health);
    rt_grpc_server_stop(srv);
    return 1;
  }
  int port = rt_grpc_server_port(srv);
  rt_info("serving rattest.v1.Attestation on %s (port %d)", o->cfg.listen, port);
  if (o->port_file != NULL && write_port_file(o->port_file, port) != 0) {
    rt_error("cannot write port file %s", o->port_file);
    rt_health_drain(health);
    rt_grpc_server_stop(srv);
    return 1;
  }
  const struct timespec day = {.tv_sec = 86400};
  int sig;
  while ((sig = sigtimedwait(&sigs, NULL, &day)) == SIGHUP || sig < 0) {
    if (sig == SIGHUP)
      reload(o, v, srv);
    warn_expiring(o, v);
  }
  rt_health_drain(health);
  drain_delay(o, sigs);
  rt_info("signal %d: stopping (calls in flight get %d s)", sig, DRAIN_MS / 1000);
  rt_grpc_server_drain(srv, DRAIN_MS);
  return 0;
}

int rt_cmd_serve(int argc, char **argv) {
  serve_opts o = {.cfg = {.listen = DEFAULT_LISTEN}, .ttl_ms = 5 * 60 * 1000, .keep_days = 90};
  /* The defaults from the strings the help shows: one spelling of each. */
  rt_err derr;
  rt_rate_parse("--rate-peer", DEFAULT_RATE_PEER, &o.rate_peer, &derr);
  rt_rate_parse("--rate-ek", DEFAULT_RATE_EK, &o.rate_ek, &derr);
  rt_rate_parse("--rate-finish", DEFAULT_RATE_FINISH, &o.rate_finish, &derr);
  rt_serve_args args;
  rt_err cerr = {0};
  if (rt_serve_config_args(serve_options, argc, argv, &args, &cerr) != RT_OK) {
    fprintf(stderr, "rattest-verifier serve: %s\n", cerr.msg);
    rt_serve_args_free(&args);
    return 2;
  }
  int status = parse_serve_opts(args.argc, args.argv, &o);
  if (status >= 0) {
    rt_serve_args_free(&args);
    return status;
  }
  sigset_t sigs;
  block_stop_signals(&sigs);
  rt_verifier v = {.session_ttl = (int64_t)(o.ttl_ms / 1000)};
  init_config_lock(&v);
  rt_metrics_http *metrics_http = NULL;
  rt_health *health = NULL;
  rt_err err = {0};
  status = 1;
  if (load_trust(&o, &v, &err) != RT_OK || open_registry(&o, &v, &err) != RT_OK ||
      rt_serve_crl_start(&o.crl, &v, &o.crl_writer, &err) != RT_OK ||
      start_metrics(&o, &v, &metrics_http, &err) != RT_OK ||
      rt_health_new(v.store, &health, &err) != RT_OK) {
    rt_error("%s", err.msg);
  } else {
    log_configuration(&o, &v);
    /* The service's methods, then the health service's (issue 16). */
    rt_rpc_method methods[RT_VERIFIER_N_METHODS + 1], health_watch;
    o.cfg.n_methods = rt_verifier_methods(&v, methods);
    rt_health_methods(health, &methods[o.cfg.n_methods++], &health_watch);
    o.cfg.methods = methods;
    o.cfg.watches = &health_watch;
    o.cfg.n_watches = 1;
    status = serve_until_signal(&o, &v, sigs, health);
  }
  rt_health_free(health); /* before the store it probes */
  rt_serve_crl_stop(o.crl_writer);
  rt_metrics_http_stop(metrics_http);
  rt_metrics_free(v.metrics);
  rt_rate_limiter_free(v.rate_peer);
  rt_rate_limiter_free(v.rate_ek);
  rt_rate_limiter_free(v.rate_finish);
  rt_replay_guard_free(v.guard);
  rt_store_close(v.store);
  rt_token_key_free(v.token_key);
  free_decisions(&v);
  pthread_rwlock_destroy(&v.config_lock);
  rt_serve_args_free(&args);
  return status;
}
