#include "cmd_ekcert.h"

#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ek_check.h"
#include "rt_hex.h"
#include "rt_json.h"

#define PROG "rattest-verifier ek-cert"
#define MAX_INTERMEDIATES 16

void rt_cmd_ekcert_usage(FILE *f) {
  fprintf(f, "Usage: " PROG " CERT... --ek-ca PATH [--intermediates FILE]... [--expiry-advisory]\n"
             "       [--ek-aia-fetch [--ek-aia-cache DIR]] [--json]\n"
             "\n"
             "Checks EK certificates (PEM or DER, one per file) the way the service does:\n"
             "the chain must end at a self-signed certificate of the --ek-ca file or\n"
             "directory; intermediates may come from --intermediates (like those a client\n"
             "sends). Prints the TPM manufacturer, model and version the certificate names.\n"
             "\n"
             "Options:\n"
             "  --ek-ca PATH           manufacturer CAs, a PEM/DER file or directory (required)\n"
             "  --intermediates FILE   untrusted intermediates (PEM bundle or DER), repeatable\n"
             "  --expiry-advisory      accept an expired EK certificate (the policy's\n"
             "                         \"ek_expiry_advisory\"), still reported\n"
             "  --ek-aia-fetch         fetch a missing issuer from the certificate's AIA\n"
             "                         caIssuers URL (http only, 64 KiB, 5 s), as the\n"
             "                         service does with the same option\n"
             "  --ek-aia-cache DIR     keep fetched issuers in DIR and use them from there\n"
             "  --json                 one JSON array of results\n"
             "  -h, --help             show this help\n"
             "\n"
             "Exit status: 0 all verified, 1 one did not or could not be read, 2 bad usage.\n");
}

#define MAX_CERTS 64

/* The command line: roots, intermediates (read), options. */
typedef struct {
  const char *ek_ca;
  const char *inter_files[MAX_INTERMEDIATES];
  size_t n_inter_files;
  rt_ek_opts ek;
  rt_aia_opts aia; /* ek.aia points here with --ek-aia-fetch */
  bool json;
} ekcert_opts;

/* -1: go on; else the exit status (help printed, or bad usage reported). */
static int parse_opts(int argc, char **argv, ekcert_opts *o) {
  enum { O_EK_CA = 1000, O_INTER, O_ADVISORY, O_JSON, O_AIA_FETCH, O_AIA_CACHE };
  static const struct option opts[] = {{"ek-ca", required_argument, NULL, O_EK_CA},
                                       {"intermediates", required_argument, NULL, O_INTER},
                                       {"expiry-advisory", no_argument, NULL, O_ADVISORY},
                                       {"json", no_argument, NULL, O_JSON},
                                       {"ek-aia-fetch", no_argument, NULL, O_AIA_FETCH},
                                       {"ek-aia-cache", required_argument, NULL, O_AIA_CACHE},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  int c;
  optind = 0; /* glibc: 0 re-initializes getopt after main's own "+" parsing */
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    if (c == O_EK_CA) {
      o->ek_ca = optarg;
    } else if (c == O_INTER) {
      if (o->n_inter_files == MAX_INTERMEDIATES) {
        fprintf(stderr, PROG ": at most %d --intermediates\n", MAX_INTERMEDIATES);
        return 2;
      }
      o->inter_files[o->n_inter_files++] = optarg;
    } else if (c == O_ADVISORY) {
      o->ek.expiry_advisory = true;
    } else if (c == O_JSON) {
      o->json = true;
    } else if (c == O_AIA_FETCH) {
      o->ek.aia = &o->aia;
    } else if (c == O_AIA_CACHE) {
      o->aia.cache_dir = optarg;
    } else {
      rt_cmd_ekcert_usage(c == 'h' ? stdout : stderr);
      return c == 'h' ? 0 : 2;
    }
  }
  if (o->aia.cache_dir != NULL && o->ek.aia == NULL) {
    fprintf(stderr, PROG ": --ek-aia-cache needs --ek-aia-fetch\n");
    return 2;
  }
  if (o->ek_ca != NULL && optind < argc)
    return -1;
  fprintf(stderr, PROG ": %s\n", o->ek_ca == NULL ? "--ek-ca is required" : "no CERT given");
  rt_cmd_ekcert_usage(stderr);
  return 2;
}

/* One certificate's outcome, as both output forms report it. */
typedef struct {
  const char *file;
  rt_code code;
  rt_ek_info info;
  char sha_hex[65];
  rt_err err;
} ekcert_result;

static void check_one(const char *file, const rt_ca_set *roots, const rt_cert_der *inters,
                      size_t n_inters, const rt_ek_opts *opts, ekcert_result *r) {
  rt_cert_der cert[1];
  size_t n = 0;
  uint8_t sha[32];
  memset(r, 0, sizeof *r);
  r->file = file;
  r->code = rt_cert_file_read(file, cert, 1, &n, &r->err);
  if (r->code == RT_OK)
    r->code = rt_ek_check_cert(roots, &cert[0], inters, n_inters, opts, sha, &r->info, &r->err);
  rt_cert_der_free(cert, n);
  if (r->code == RT_OK)
    rt_hex(sha, 32, r->sha_hex);
}

/* false: out of memory. */
static bool result_json(json_t *results, const ekcert_result *r) {
  json_t *o = json_pack("{s:s, s:b}", "file", r->file, "verified", r->code == RT_OK);
  if (o == NULL)
    return false;
  bool ok = r->code == RT_OK ? rt_jset(o, "ek_sha256", json_string(r->sha_hex)) &&
                                   rt_jset(o, "vendor", json_string(r->info.vendor)) &&
                                   rt_jset(o, "manufacturer", json_string(r->info.manufacturer)) &&
                                   rt_jset(o, "model", json_string(r->info.model)) &&
                                   rt_jset(o, "version", json_string(r->info.version)) &&
                                   rt_jset(o, "not_after", json_string(r->info.not_after)) &&
                                   rt_jset(o, "expired", json_boolean(r->info.expired))
                             : rt_jset(o, "error", json_string(r->err.msg));
  if (!ok) {
    json_decref(o);
    return false;
  }
  return rt_jpush(results, o);
}

static void result_text(const ekcert_result *r) {
  if (r->code == RT_OK)
    printf("%s: verified; TPM vendor \"%s\" (manufacturer \"%s\") model \"%s\" version \"%s\"; "
           "not after %s%s; ek_sha256 %s\n",
           r->file, r->info.vendor, r->info.manufacturer, r->info.model, r->info.version,
           r->info.not_after, r->info.expired ? " (EXPIRED, accepted as advisory)" : "",
           r->sha_hex);
  else
    printf("%s: refused: %s\n", r->file, r->err.msg);
}

/* Checks and reports every CERT argument: 0 all verified, 1 otherwise. */
static int check_all(int argc, char **argv, const ekcert_opts *o, const rt_ca_set *roots,
                     const rt_cert_der *inters, size_t n_inters) {
  int status = 0;
  json_t *results = o->json ? json_array() : NULL;
  bool json_ok = !o->json || results != NULL;
  for (int i = optind; i < argc; i++) {
    ekcert_result r;
    check_one(argv[i], roots, inters, n_inters, &o->ek, &r);
    if (r.code != RT_OK)
      status = 1;
    if (!o->json)
      result_text(&r);
    else if (json_ok)
      json_ok = result_json(results, &r);
  }
  char *s = json_ok && o->json ? json_dumps(results, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
  if (s != NULL) {
    puts(s);
  } else if (o->json) {
    fprintf(stderr, PROG ": out of memory\n");
    status = 1;
  }
  free(s);
  json_decref(results);
  return status;
}

int rt_cmd_ekcert(int argc, char **argv) {
  ekcert_opts o = {0};
  int status = parse_opts(argc, argv, &o);
  if (status >= 0)
    return status;
  rt_err err;
  rt_ca_set *roots = NULL;
  if ((o.aia.cache_dir != NULL && rt_aia_cache_check(o.aia.cache_dir, &err) != RT_OK) ||
      rt_ca_set_load(o.ek_ca, "EK CA", &roots, &err) != RT_OK) {
    fprintf(stderr, PROG ": %s\n", err.msg);
    return 1;
  }
  rt_cert_der inters[MAX_CERTS];
  size_t n_inters = 0;
  status = -1;
  for (size_t i = 0; i < o.n_inter_files && status < 0; i++) {
    if (rt_cert_file_read(o.inter_files[i], inters, MAX_CERTS, &n_inters, &err) != RT_OK) {
      fprintf(stderr, PROG ": intermediates %s\n", err.msg);
      status = 1;
    }
  }
  if (status < 0)
    status = check_all(argc, argv, &o, roots, inters, n_inters);
  rt_cert_der_free(inters, n_inters);
  rt_ca_set_free(roots);
  return status;
}
