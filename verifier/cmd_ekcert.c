#include "cmd_ekcert.h"

#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ek_check.h"
#include "rt_hex.h"

#define PROG "rattest-verifier ek-cert"
#define MAX_INTERMEDIATES 16

void rt_cmd_ekcert_usage(FILE *f) {
  fprintf(f, "Usage: " PROG " CERT... --ek-ca PATH [--intermediates FILE]... [--expiry-advisory]\n"
             "       [--json]\n"
             "\n"
             "Checks EK certificates (PEM or DER, one per file) the way the service does:\n"
             "the chain must end at a self-signed certificate of the --ek-ca file or\n"
             "directory; intermediates may come from --intermediates (like those a client\n"
             "sends). Prints the TPM manufacturer, model and version the certificate names.\n"
             "\n"
             "Options:\n"
             "  --ek-ca PATH           manufacturer CAs: a PEM/DER file or a directory of them\n"
             "  --intermediates FILE   untrusted intermediates (PEM bundle or DER), repeatable\n"
             "  --expiry-advisory      accept an expired EK certificate (the policy's\n"
             "                         \"ek_expiry_advisory\"), still reported\n"
             "  --json                 one JSON array of results\n"
             "  -h, --help             show this help\n"
             "\n"
             "Exit status: 0 all verified, 1 one did not or could not be read, 2 bad usage.\n");
}

typedef struct {
  rt_cert_der *out;
  size_t max, n;
} cert_list;

/* Keeps a copy of each certificate while there is room. */
static int keep_cert(const uint8_t *der, size_t len, void *arg) {
  cert_list *l = arg;
  if (l->n == l->max)
    return 0;
  uint8_t *copy = malloc(len ? len : 1);
  if (copy == NULL)
    return 0;
  memcpy(copy, der, len);
  l->out[l->n++] = (rt_cert_der){copy, len};
  return 1;
}

/* Every certificate of a PEM bundle, or the file as one DER certificate. */
static rt_code read_certs(const char *path, rt_cert_der *out, size_t max, size_t *n, rt_err *err) {
  cert_list l = {out, max, *n};
  rt_code code = rt_cert_file_each(path, keep_cert, &l, err);
  if (code == RT_OK && l.n == *n)
    code = rt_err_set(err, RT_E_INVALID, "%s: too many certificates", path);
  *n = l.n;
  return code;
}

static void free_certs(rt_cert_der *c, size_t n) {
  for (size_t i = 0; i < n; i++)
    free((void *)c[i].der);
}

int rt_cmd_ekcert(int argc, char **argv) {
  enum { O_EK_CA = 1000, O_INTER, O_ADVISORY, O_JSON };
  static const struct option opts[] = {{"ek-ca", required_argument, NULL, O_EK_CA},
                                       {"intermediates", required_argument, NULL, O_INTER},
                                       {"expiry-advisory", no_argument, NULL, O_ADVISORY},
                                       {"json", no_argument, NULL, O_JSON},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  const char *ek_ca = NULL;
  const char *inter_files[MAX_INTERMEDIATES];
  size_t n_inter_files = 0;
  rt_ek_opts ek_opts = {0};
  bool json = false;
  int c;
  optind = 0; /* glibc: 0 re-initializes getopt after main's own "+" parsing */
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    switch (c) {
    case O_EK_CA:
      ek_ca = optarg;
      break;
    case O_INTER:
      if (n_inter_files == MAX_INTERMEDIATES) {
        fprintf(stderr, PROG ": at most %d --intermediates\n", MAX_INTERMEDIATES);
        return 2;
      }
      inter_files[n_inter_files++] = optarg;
      break;
    case O_ADVISORY:
      ek_opts.expiry_advisory = true;
      break;
    case O_JSON:
      json = true;
      break;
    case 'h':
      rt_cmd_ekcert_usage(stdout);
      return 0;
    default:
      rt_cmd_ekcert_usage(stderr);
      return 2;
    }
  }
  if (ek_ca == NULL || optind >= argc) {
    fprintf(stderr, PROG ": %s\n", ek_ca == NULL ? "--ek-ca is required" : "no CERT given");
    rt_cmd_ekcert_usage(stderr);
    return 2;
  }
  rt_err err;
  rt_ek_roots *roots = NULL;
  if (rt_ek_roots_load(ek_ca, &roots, &err) != RT_OK) {
    fprintf(stderr, PROG ": %s\n", err.msg);
    return 1;
  }
  rt_cert_der inters[64];
  size_t n_inters = 0;
  for (size_t i = 0; i < n_inter_files; i++) {
    if (read_certs(inter_files[i], inters, 64, &n_inters, &err) != RT_OK) {
      fprintf(stderr, PROG ": intermediates %s\n", err.msg);
      free_certs(inters, n_inters);
      rt_ek_roots_free(roots);
      return 1;
    }
  }
  int status = 0;
  json_t *results = json_array();
  for (int i = optind; i < argc; i++) {
    rt_cert_der cert[1];
    size_t n = 0;
    rt_ek_info info = {0};
    uint8_t sha[32];
    char hex[65] = "";
    rt_code code = read_certs(argv[i], cert, 1, &n, &err);
    if (code == RT_OK)
      code = rt_ek_check_cert(roots, &cert[0], inters, n_inters, &ek_opts, sha, &info, &err);
    free_certs(cert, n);
    if (code == RT_OK)
      rt_hex(sha, 32, hex);
    else
      status = 1;
    if (json) {
      json_t *o = json_pack("{s:s, s:b}", "file", argv[i], "verified", code == RT_OK);
      if (code == RT_OK) {
        json_object_set_new(o, "ek_sha256", json_string(hex));
        json_object_set_new(o, "vendor", json_string(info.vendor));
        json_object_set_new(o, "manufacturer", json_string(info.manufacturer));
        json_object_set_new(o, "model", json_string(info.model));
        json_object_set_new(o, "version", json_string(info.version));
        json_object_set_new(o, "not_after", json_string(info.not_after));
        json_object_set_new(o, "expired", json_boolean(info.expired));
      } else {
        json_object_set_new(o, "error", json_string(err.msg));
      }
      json_array_append_new(results, o);
    } else if (code == RT_OK) {
      printf("%s: verified; TPM vendor \"%s\" (manufacturer \"%s\") model \"%s\" version \"%s\"; "
             "not after %s%s; ek_sha256 %s\n",
             argv[i], info.vendor, info.manufacturer, info.model, info.version, info.not_after,
             info.expired ? " (EXPIRED, accepted as advisory)" : "", hex);
    } else {
      printf("%s: refused: %s\n", argv[i], err.msg);
    }
  }
  if (json) {
    char *s = json_dumps(results, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (s != NULL)
      puts(s);
    free(s);
  }
  json_decref(results);
  free_certs(inters, n_inters);
  rt_ek_roots_free(roots);
  return status;
}
