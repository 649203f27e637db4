#include "cmd_machines.h"

#include <ctype.h>
#include <getopt.h>
#include <jansson.h>
#include <openssl/err.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cert_files.h"
#include "ek_check.h"
#include "rt_hex.h"
#include "rt_name.h"
#include "store.h"

#define PROG "rattest-verifier machines"

void rt_cmd_machines_usage(FILE *f) {
  fprintf(f, "Usage: " PROG " list|show NAME|add|remove NAME --db DB [options]\n"
             "\n"
             "The machine registry (docs/operations.md): the machines that enrolled or\n"
             "an operator registered, the names bound to their EKs, their certificates.\n"
             "\n"
             "  list         every machine: EK SHA-256, names, TPM, last enrollment, status\n"
             "  show NAME    the machine NAME is bound to: also its EK certificate,\n"
             "               platform data and every certificate issued to it\n"
             "  add --name NAME (--ek-sha256 HEX | --ek-cert FILE)\n"
             "               registers a machine before it enrolls and binds NAME to its\n"
             "               EK; refused when NAME is bound to another EK\n"
             "  remove NAME  removes the binding of NAME (the machine's record stays)\n"
             "\n"
             "Options:\n"
             "  --db DB            the registry, a SQLite file or postgresql:// URL (required)\n"
             "  --name NAME        add: the name to bind\n"
             "  --ek-sha256 HEX    add: the EK by the SHA-256 of its public key (the\n"
             "                     urn:rattest:ek:sha256 value of its certificates)\n"
             "  --ek-cert FILE     add: the EK by its certificate (PEM or DER), recorded\n"
             "                     with the TPM vendor and model it names (not verified)\n"
             "  --json             JSON output\n"
             "  -h, --help         show this help\n"
             "\n"
             "Exit status: 0 done, 1 failed (the database, an unknown NAME, NAME bound to\n"
             "another EK, an unreadable certificate), 2 bad usage.\n");
}

typedef struct {
  const char *db;
  const char *name;
  const char *ek_cert;
  char ek_sha256[RT_STORE_EK_HEX + 1];
  bool json;
  const char *action;
  const char *arg; /* show's and remove's NAME */
} machines_opts;

/* Reports a usage error (what: the option or argument, or NULL): 2. */
static int usage_error(const char *what, const char *msg) {
  fprintf(stderr, PROG ": %s%s%s\n", what ? what : "", what ? ": " : "", msg);
  rt_cmd_machines_usage(stderr);
  return 2;
}

/* --ek-sha256, in the stored (lowercase) form. */
static int take_ek_hex(const char *arg, machines_opts *o) {
  rt_err err;
  size_t n = strlen(arg);
  for (size_t i = 0; i < n && i < RT_STORE_EK_HEX; i++)
    o->ek_sha256[i] = (char)tolower((unsigned char)arg[i]);
  o->ek_sha256[n < RT_STORE_EK_HEX ? n : RT_STORE_EK_HEX] = 0;
  if (n != RT_STORE_EK_HEX || rt_store_ek_check(o->ek_sha256, &err) != RT_OK)
    return usage_error("--ek-sha256", "an EK SHA-256 is 64 hex digits");
  return -1;
}

/* The action and its argument, and which options go with it. */
static int check_action(int argc, char **argv, machines_opts *o) {
  static const char *const actions[] = {"list", "show", "add", "remove"};
  bool known = false;
  if (optind < argc)
    for (size_t i = 0; i < 4; i++)
      known = known || strcmp(argv[optind], actions[i]) == 0;
  if (!known)
    return usage_error(optind < argc ? argv[optind] : NULL,
                       optind < argc ? "unknown action" : "list, show, add or remove?");
  o->action = argv[optind++];
  bool takes_name = strcmp(o->action, "show") == 0 || strcmp(o->action, "remove") == 0;
  if (takes_name && optind < argc)
    o->arg = argv[optind++];
  if (optind < argc || (takes_name && o->arg == NULL))
    return usage_error(o->action, "one NAME for show and remove, none for list and add");
  bool add = strcmp(o->action, "add") == 0, has_ek = o->ek_sha256[0] || o->ek_cert;
  if (!add && (o->name || has_ek))
    return usage_error(o->action, "--name, --ek-sha256 and --ek-cert are add's");
  if (add && (o->name == NULL || !has_ek))
    return usage_error("add", "needs --name and --ek-sha256 or --ek-cert");
  if (o->ek_sha256[0] && o->ek_cert)
    return usage_error("--ek-sha256", "excludes --ek-cert");
  rt_err err;
  const char *name = o->name ? o->name : o->arg;
  if (name != NULL && rt_name_check(name, &err) != RT_OK)
    return usage_error(o->name ? "--name" : "NAME", err.msg);
  return o->db == NULL ? usage_error("--db", "required") : -1;
}

static int parse_opts(int argc, char **argv, machines_opts *o) {
  enum { O_DB = 1000, O_NAME, O_EK_SHA256, O_EK_CERT, O_JSON };
  static const struct option opts[] = {{"db", required_argument, NULL, O_DB},
                                       {"name", required_argument, NULL, O_NAME},
                                       {"ek-sha256", required_argument, NULL, O_EK_SHA256},
                                       {"ek-cert", required_argument, NULL, O_EK_CERT},
                                       {"json", no_argument, NULL, O_JSON},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  int c, status = -1;
  optind = 0; /* glibc: 0 re-initializes getopt after main's own "+" parsing */
  while (status < 0 && (c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    if (c == O_DB)
      o->db = optarg;
    else if (c == O_NAME)
      o->name = optarg;
    else if (c == O_EK_SHA256)
      status = take_ek_hex(optarg, o);
    else if (c == O_EK_CERT)
      o->ek_cert = optarg;
    else if (c == O_JSON)
      o->json = true;
    else {
      rt_cmd_machines_usage(c == 'h' ? stdout : stderr);
      return c == 'h' ? 0 : 2;
    }
  }
  return status >= 0 ? status : check_action(argc, argv, o);
}

/* A JSON time (Unix seconds, or null) as "YYYY-MM-DDTHH:MM:SSZ" or "-". */
static const char *when(json_t *t, char buf[32]) {
  time_t v = (time_t)json_integer_value(t);
  struct tm tm;
  if (!json_is_integer(t) || gmtime_r(&v, &tm) == NULL ||
      strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
    return "-";
  return buf;
}

static const char *str_or(json_t *o, const char *key, const char *dflt) {
  const char *s = json_string_value(json_object_get(o, key));
  return s != NULL && s[0] ? s : dflt;
}

/* The names of a machine, comma-separated, or "-". */
static void names_text(json_t *m, char *out, size_t size) {
  size_t i, used = 0;
  json_t *n;
  out[0] = 0;
  json_array_foreach(json_object_get(m, "names"), i, n) {
    int w = snprintf(out + used, size - used, "%s%s", i ? "," : "", json_string_value(n));
    if (w < 0 || (size_t)w >= size - used)
      break;
    used += (size_t)w;
  }
  if (used == 0)
    snprintf(out, size, "-");
}

static void list_text(json_t *list) {
  size_t i;
  json_t *m;
  printf("%-64s  %-6s  %-12s  %-20s  %-7s  %s\n", "EK_SHA256", "VENDOR", "MODEL", "LAST_ENROLLED",
         "STATUS", "NAMES");
  json_array_foreach(list, i, m) {
    char names[512], t[32];
    names_text(m, names, sizeof names);
    printf("%-64s  %-6s  %-12s  %-20s  %-7s  %s\n", str_or(m, "ek_sha256", "-"),
           str_or(m, "tpm_vendor", "-"), str_or(m, "tpm_model", "-"),
           when(json_object_get(m, "last_enrolled"), t),
           json_is_true(json_object_get(m, "revoked")) ? "revoked" : "active", names);
  }
}

static void show_text(json_t *m) {
  char names[512], t[32];
  names_text(m, names, sizeof names);
  printf("ek_sha256:      %s\nnames:          %s\n", str_or(m, "ek_sha256", "-"), names);
  printf("tpm:            vendor %s, model %s\n", str_or(m, "tpm_vendor", "-"),
         str_or(m, "tpm_model", "-"));
  printf("ek_cert:        %s\n", json_is_string(json_object_get(m, "ek_cert")) ? "yes" : "no");
  printf("added:          %s\n", when(json_object_get(m, "added"), t));
  printf("first_enrolled: %s\n", when(json_object_get(m, "first_enrolled"), t));
  printf("last_enrolled:  %s\n", when(json_object_get(m, "last_enrolled"), t));
  json_t *r = json_object_get(m, "revocation");
  if (json_is_object(r))
    printf("revoked:        %s (%s)\n", when(json_object_get(r, "revoked_at"), t),
           str_or(r, "reason", "-"));
  size_t i;
  json_t *id;
  json_array_foreach(json_object_get(m, "identities"), i, id) {
    printf("certificate:    %s serial %s not after %s, %s", str_or(id, "name", "-"),
           str_or(id, "serial", "-"), when(json_object_get(id, "not_after"), t),
           str_or(id, "status", "-"));
    if (json_is_string(json_object_get(id, "revoked_reason")))
      printf(" (%s)", str_or(id, "revoked_reason", "-"));
    printf("\n");
  }
}

/* list and show: 0 printed, 1 failed. */
static int report(rt_store *s, const machines_opts *o) {
  rt_err err;
  json_t *out = NULL;
  bool list = strcmp(o->action, "list") == 0;
  if ((list ? rt_store_machines_list(s, &out, &err)
            : rt_store_machine_show(s, o->arg, &out, &err)) != RT_OK) {
    fprintf(stderr, PROG " %s: %s\n", o->action, err.msg);
    return 1;
  }
  if (o->json) {
    char *text = json_dumps(out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (text != NULL)
      puts(text);
    free(text);
  } else if (list) {
    list_text(out);
  } else {
    show_text(out);
  }
  json_decref(out);
  return 0;
}

/* The machine --ek-cert names: the certificate (cert[0], *n = 1; free
 * with rt_cert_der_free), its EK hash and the TPM vendor and model. */
static rt_code read_ek_cert(const char *path, rt_cert_der cert[1], size_t *n, machines_opts *o,
                            rt_ek_info *info, rt_err *err) {
  if (rt_cert_file_read(path, cert, 1, n, err) != RT_OK)
    return err->code;
  const unsigned char *p = cert[0].der;
  X509 *x = d2i_X509(NULL, &p, (long)cert[0].len);
  uint8_t sha[32];
  rt_code code = x == NULL ? rt_err_set(err, RT_E_INVALID, "%s: not a certificate", path)
                           : rt_ek_cert_key_sha256(x, sha, err);
  if (code == RT_OK) {
    rt_ek_info_read(x, info);
    rt_hex(sha, 32, o->ek_sha256);
  }
  ERR_clear_error();
  X509_free(x);
  return code;
}

/* Binds the name and records what is known of the machine; RT_E_INVALID
 * when the name is another EK's (nothing recorded then). */
static rt_code add_bind(rt_store *s, const rt_store_machine *m, const char *name, rt_err *err) {
  bool taken = false;
  char owner[RT_STORE_EK_HEX + 1] = "";
  time_t now = time(NULL);
  if (rt_store_bind_name(s, name, m->ek_sha256, now, &taken, err) != RT_OK)
    return err->code;
  if (!taken)
    return rt_store_machine_add(s, m, now, err);
  if (rt_store_name_owner(s, name, owner, err) != RT_OK)
    return err->code;
  return rt_err_set(err, RT_E_INVALID, "%s is bound to EK %s; remove it first", name, owner);
}

/* add: 0 bound, 1 failed. */
static int add(rt_store *s, machines_opts *o) {
  rt_err err;
  rt_ek_info info = {0};
  rt_cert_der cert[1] = {{0}};
  size_t n = 0;
  if (o->ek_cert != NULL && read_ek_cert(o->ek_cert, cert, &n, o, &info, &err) != RT_OK) {
    fprintf(stderr, PROG " add: --ek-cert %s\n", err.msg);
    rt_cert_der_free(cert, n);
    return 1;
  }
  rt_store_machine m = {.ek_sha256 = o->ek_sha256,
                        .ek_cert = cert[0].der,
                        .ek_cert_len = n ? cert[0].len : 0,
                        .tpm_vendor = rt_ek_info_vendor(&info),
                        .tpm_model = info.model[0] ? info.model : NULL};
  rt_code code = add_bind(s, &m, o->name, &err);
  rt_cert_der_free(cert, n);
  if (code != RT_OK) {
    fprintf(stderr, PROG " add: %s\n", err.msg);
    return 1;
  }
  printf("%s bound to EK %s\n", o->name, o->ek_sha256);
  return 0;
}

int rt_cmd_machines(int argc, char **argv) {
  machines_opts o = {0};
  int status = parse_opts(argc, argv, &o);
  if (status >= 0)
    return status;
  rt_err err;
  rt_store *s = NULL;
  if (rt_store_open(o.db, &s, &err) != RT_OK) {
    fprintf(stderr, PROG ": --db: %s\n", err.msg);
    return 1;
  }
  if (strcmp(o.action, "add") == 0) {
    status = add(s, &o);
  } else if (strcmp(o.action, "remove") == 0) {
    status = rt_store_unbind_name(s, o.arg, &err) == RT_OK ? 0 : 1;
    if (status == 0)
      printf("%s unbound\n", o.arg);
    else
      fprintf(stderr, PROG " remove: %s\n", err.msg);
  } else {
    status = report(s, &o);
  }
  rt_store_close(s);
  return status;
}
