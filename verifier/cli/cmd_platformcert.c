#include "cmd_platformcert.h"

#include <getopt.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ek_check.h"
#include "platform_cert.h"
#include "rt_file.h"

#define PROG "rattest-verifier platform-cert"

void rt_cmd_platformcert_usage(FILE *f) {
  fprintf(f, "Usage: " PROG " FILE --platform-ca PATH --ek-cert FILE [--json]\n"
             "\n"
             "Checks a TCG platform certificate (DER or PEM; as read from NV index\n"
             "0x01c08000) the way the service does: the issuer must be a certificate of\n"
             "--platform-ca chaining to a self-signed one there, the signature must verify,\n"
             "the certificate must be valid now, and its holder must be the EK certificate\n"
             "of --ek-cert (issuer and serial; for swtpm's X.509 form, the EK's key).\n"
             "Prints the platform manufacturer, model, version and serial it certifies.\n"
             "\n"
             "Options:\n"
             "  --platform-ca PATH   platform CAs, a PEM/DER file or directory (required)\n"
             "  --ek-cert FILE       EK certificate (PEM/DER) the holder must name (required)\n"
             "  --json               one JSON object\n"
             "  -h, --help           show this help\n"
             "\n"
             "Exit status: 0 verified, 1 refused or unreadable, 2 bad usage.\n");
}

/* The certificate bytes: a PEM file's first block, else the file as DER. */
static rt_code read_cert(const char *path, uint8_t **der, size_t *len, rt_err *err) {
  uint8_t *data = NULL;
  size_t n = 0;
  rt_code code = rt_file_read(path, 4 * RT_PLATFORM_CERT_MAX, &data, &n, err);
  if (code != RT_OK)
    return code;
  BIO *bio = BIO_new_mem_buf(data, (int)n);
  char *name = NULL, *header = NULL;
  unsigned char *pem = NULL;
  long pem_len = 0;
  if (bio != NULL && PEM_read_bio(bio, &name, &header, &pem, &pem_len) == 1 && pem_len > 0) {
    free(data);
    data = malloc((size_t)pem_len);
    if (data != NULL)
      memcpy(data, pem, (size_t)pem_len);
    n = (size_t)pem_len;
  }
  OPENSSL_free(name);
  OPENSSL_free(header);
  OPENSSL_free(pem);
  BIO_free(bio);
  ERR_clear_error();
  if (data == NULL)
    return rt_err_set(err, RT_E_NOMEM, "out of memory");
  *der = data;
  *len = n;
  return RT_OK;
}

static const char *form_name(rt_platform_form f) {
  return f == RT_PLATFORM_FORM_ATTRIBUTE ? "attribute" : f == RT_PLATFORM_FORM_X509 ? "x509" : "";
}

static json_t *info_json(const char *file, const rt_platform_info *in, rt_code code,
                         rt_platform_reason reason, const char *msg) {
  json_t *o = json_pack("{s:s, s:b}", "file", file, "verified", code == RT_OK);
  if (code != RT_OK) {
    const char *c = rt_platform_reason_code(reason);
    json_object_set_new(o, "code", json_string(c ? c : "PLATFORM_CERT_MALFORMED"));
    json_object_set_new(o, "error", json_string(msg));
  }
  if (in->form == RT_PLATFORM_FORM_NONE)
    return o;
  json_object_set_new(o, "form", json_string(form_name(in->form)));
  json_object_set_new(o, "issuer", json_string(in->issuer));
  json_object_set_new(o, "serial_number", json_string(in->serial_number));
  json_t *h =
      in->form == RT_PLATFORM_FORM_ATTRIBUTE
          ? json_pack("{s:s, s:s}", "issuer", in->holder_issuer, "serial", in->holder_serial)
          : json_pack("{s:s}", "key_sha256", in->holder_key_sha256);
  json_object_set_new(o, "holder", h);
  json_object_set_new(o, "not_before", json_string(in->not_before));
  json_object_set_new(o, "not_after", json_string(in->not_after));
  json_object_set_new(o, "signature_algorithm", json_string(in->signature_algorithm));
  json_object_set_new(o, "platform",
                      json_pack("{s:s, s:s, s:s, s:s}", "manufacturer", in->manufacturer, "model",
                                in->model, "version", in->version, "serial", in->serial));
  if (in->form == RT_PLATFORM_FORM_ATTRIBUTE) {
    json_object_set_new(o, "attributes", json_integer((json_int_t)in->n_attributes));
    if (in->has_platform_spec)
      json_object_set_new(o, "platform_spec",
                          json_pack("{s:I, s:I, s:I, s:s}", "major", (json_int_t)in->spec_major,
                                    "minor", (json_int_t)in->spec_minor, "revision",
                                    (json_int_t)in->spec_revision, "platform_class",
                                    in->platform_class));
    if (in->credential_type[0] != '\0')
      json_object_set_new(o, "credential_type", json_string(in->credential_type));
    if (in->has_platform_config)
      json_object_set_new(o, "platform_configuration",
                          json_pack("{s:s, s:I}", "oid", in->platform_config_oid, "components",
                                    (json_int_t)in->n_components));
  }
  return o;
}

static void print_text(const char *file, const rt_platform_info *in, rt_code code,
                       rt_platform_reason reason, const char *msg) {
  if (code == RT_OK) {
    printf("%s: verified\n", file);
  } else {
    const char *c = rt_platform_reason_code(reason);
    printf("%s: refused (%s): %s\n", file, c ? c : "PLATFORM_CERT_MALFORMED", msg);
  }
  if (in->form == RT_PLATFORM_FORM_NONE)
    return;
  printf("  form        %s\n", in->form == RT_PLATFORM_FORM_ATTRIBUTE
                                   ? "attribute certificate (TCG Platform Certificate Profile)"
                                   : "X.509 certificate of the EK key (swtpm)");
  printf("  issuer      %s\n  serial      %s\n", in->issuer, in->serial_number);
  if (in->form == RT_PLATFORM_FORM_ATTRIBUTE)
    printf("  holder      EK certificate serial %s of \"%s\"\n", in->holder_serial,
           in->holder_issuer);
  else
    printf("  holder      EK key, SPKI sha256 %s\n", in->holder_key_sha256);
  printf("  validity    %s .. %s\n  signature   %s\n", in->not_before, in->not_after,
         in->signature_algorithm);
  printf("  platform    manufacturer \"%s\" model \"%s\" version \"%s\" serial \"%s\"\n",
         in->manufacturer, in->model, in->version, in->serial);
  if (in->form != RT_PLATFORM_FORM_ATTRIBUTE)
    return;
  printf("  attributes  %zu\n", in->n_attributes);
  if (in->has_platform_spec)
    printf("  platform spec %ld.%ld rev %ld, class %s\n", in->spec_major, in->spec_minor,
           in->spec_revision, in->platform_class);
  if (in->credential_type[0] != '\0')
    printf("  credential type %s\n", in->credential_type);
  if (in->has_platform_config)
    printf("  platform configuration %s: %zu component(s)\n", in->platform_config_oid,
           in->n_components);
}

typedef struct {
  const char *ca_path, *ek_path, *file;
  bool json;
} platformcert_opts;

/* -1: go on; else the exit status (help printed, or bad usage reported). */
static int parse_opts(int argc, char **argv, platformcert_opts *o) {
  enum { O_CA = 1000, O_EK, O_JSON };
  static const struct option opts[] = {{"platform-ca", required_argument, NULL, O_CA},
                                       {"ek-cert", required_argument, NULL, O_EK},
                                       {"json", no_argument, NULL, O_JSON},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  int c;
  optind = 0; /* glibc: 0 re-initializes getopt after main's own "+" parsing */
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    if (c == O_CA) {
      o->ca_path = optarg;
    } else if (c == O_EK) {
      o->ek_path = optarg;
    } else if (c == O_JSON) {
      o->json = true;
    } else {
      rt_cmd_platformcert_usage(c == 'h' ? stdout : stderr);
      return c == 'h' ? 0 : 2;
    }
  }
  const char *missing = o->ca_path == NULL   ? "--platform-ca is required"
                        : o->ek_path == NULL ? "--ek-cert is required"
                        : optind >= argc     ? "no FILE given"
                        : argc - optind > 1  ? "exactly one FILE"
                                             : NULL;
  if (missing == NULL) {
    o->file = argv[optind];
    return -1;
  }
  fprintf(stderr, PROG ": %s\n", missing);
  rt_cmd_platformcert_usage(stderr);
  return 2;
}

static void report(const platformcert_opts *o, const rt_platform_info *info, rt_code code,
                   rt_platform_reason reason, const char *msg) {
  if (!o->json) {
    print_text(o->file, info, code, reason, msg);
    return;
  }
  json_t *j = info_json(o->file, info, code, reason, msg);
  char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  if (s != NULL)
    puts(s);
  free(s);
  json_decref(j);
}

int rt_cmd_platformcert(int argc, char **argv) {
  platformcert_opts o = {0};
  int status = parse_opts(argc, argv, &o);
  if (status >= 0)
    return status;
  rt_err err;
  rt_ca_set *ca = NULL;
  rt_cert_der ek = {0};
  size_t n_ek = 0;
  uint8_t *der = NULL;
  size_t len = 0;
  status = 1;
  if (rt_ca_set_load(o.ca_path, "platform CA", &ca, &err) != RT_OK ||
      rt_cert_file_read(o.ek_path, &ek, 1, &n_ek, &err) != RT_OK ||
      read_cert(o.file, &der, &len, &err) != RT_OK) {
    fprintf(stderr, PROG ": %s\n", err.msg);
  } else {
    rt_platform_info info;
    rt_platform_reason reason = RT_PLATFORM_OK;
    rt_code code =
        rt_platform_cert_check(ca, der, len, ek.der, ek.len, time(NULL), &info, &reason, &err);
    report(&o, &info, code, reason, err.msg);
    status = code == RT_OK ? 0 : 1;
  }
  free(der);
  rt_cert_der_free(&ek, n_ek);
  rt_ca_set_free(ca);
  return status;
}
