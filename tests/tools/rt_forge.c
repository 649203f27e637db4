/* rt_forge: writes forged TCG event logs for the end-to-end tests, the way
 * root on a machine with a genuine TPM can (tests/tools/forge.h says what
 * each edit means and which keep the quoted replay).
 *
 *   rt_forge IN OUT [OP]... [--extend]
 *   rt_forge var GUID NAME DATA          UEFI_VARIABLE_DATA to stdout
 *   rt_forge sha256-list OWNER HASH...   EFI_SIGNATURE_LIST of EFI_CERT_SHA256
 *                                        entries to stdout (dbx content)
 *
 * OPs, applied in order. I, TO: event indexes as `rattest-verifier eventlog`
 * shows them (crypto-agile: 0 is the Spec ID event). TYPE: EV_POST_CODE,
 * EV_EFI_VARIABLE_DRIVER_CONFIG, ... or 0x hex. ALG: sha1, sha256, sha384,
 * sha512, sm3_256 or 0x hex. DATA: hex (maybe empty) or @FILE. The last
 * field of an OP is the rest of the argument, colons included.
 *   --relabel I:TYPE             the event's type
 *   --set-data I:DATA            the event's data, digests unchanged
 *   --grub-prefix I:PREFIX       a GRUB string's prefix ("grub_cmd: ",
 *                                "kernel_cmdline: ", "module_cmdline: ",
 *                                "grub_cmd ", "grub_kernel_cmdline "), text kept
 *   --add-bank ALG:SIZE[:FILL]   declare a bank; FILL zero (default), data
 *                                (hash of the data) or measured (hash of what
 *                                the existing digests cover). A SHA1-only log
 *                                becomes crypto-agile: indexes grow by one.
 *   --set-digest I:ALG:HEX       one digest
 *   --copy-digest I:ALG:FROMI:FROMALG
 *   --move I:TO                  reorder (keeping each PCR's order is yours)
 *   --append PCR:TYPE:DATA       a new last event, digests = hash of DATA in
 *                                each known bank (zeros in unknown ones)
 *   --append-digest PCR:TYPE:ALG=HEX[,ALG=HEX]...[:DATA]
 *                                a new image-type event with these digests
 *                                (other banks zero) and DATA (default none)
 *   --append-cmdline PCR:FORM:TEXT
 *                                a kernel command line, EV_IPL, FORM grub
 *                                ("kernel_cmdline: "), redhat
 *                                ("grub_kernel_cmdline ") or sdboot (UTF-16)
 *   --extend                     after writing OUT, extend every appended
 *                                event's sha1 and sha256 digests into the TPM
 *                                ($RATTEST_TCTI): root extending after boot
 *
 * Examples:
 *   rt_forge log.bin out.bin --relabel 3:EV_POST_CODE
 *   rt_forge log.bin out.bin --grub-prefix 78:'grub_cmd '
 *   rt_forge var 8be4df61-93ca-11d2-aa0d-00e098032b8c SecureBoot 01 > sb.bin
 *   rt_forge log.bin out.bin --relabel 3:EV_POST_CODE \
 *       --append 7:EV_EFI_VARIABLE_DRIVER_CONFIG:@sb.bin --extend
 *   rt_forge log.bin out.bin --append-cmdline 8:redhat:'root=/dev/sda1 ro'
 *   rt_forge log.bin out.bin --add-bank sm3_256:32:measured \
 *       --copy-digest 77:sm3_256:23:sha256
 *
 * Exit status: 0 done, 1 failure (unreadable log, an OP that does not apply
 * to this log, TPM error), 2 usage (the message names the argument). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forge.h"
#include "rt_file.h"
#include "rt_hex.h"
#include "rt_tpm.h"

#define MAX_FILE ((size_t)16 * 1024 * 1024)
#define MAX_FIELDS 4

typedef enum {
  OP_RELABEL,
  OP_SET_DATA,
  OP_GRUB_PREFIX,
  OP_ADD_BANK,
  OP_SET_DIGEST,
  OP_COPY_DIGEST,
  OP_MOVE,
  OP_APPEND,
  OP_APPEND_DIGEST,
  OP_APPEND_CMDLINE,
} op_kind;

typedef struct {
  op_kind kind;
  const char *opt, *arg; /* as given, for messages */
  char *buf;             /* arg split into fields */
  size_t i, j;           /* event indexes; i is the PCR for appends */
  uint32_t type;
  TPM2_ALG_ID alg, alg2;
  uint16_t size;
  rt_forge_fill fill;
  rt_forge_cmdline_form form;
  const char *text; /* a GRUB prefix or a command line, into buf */
  uint8_t *data;
  size_t len;
  size_t n_digests;
  rt_forge_digest digests[RT_EVENTLOG_MAX_ALGS];
} op;

static const struct {
  const char *name;
  op_kind kind;
  int fields; /* fields of the argument, the last taking the rest */
} op_names[] = {
    {"--relabel", OP_RELABEL, 2},
    {"--set-data", OP_SET_DATA, 2},
    {"--grub-prefix", OP_GRUB_PREFIX, 2},
    {"--add-bank", OP_ADD_BANK, 3},
    {"--set-digest", OP_SET_DIGEST, 3},
    {"--copy-digest", OP_COPY_DIGEST, 4},
    {"--move", OP_MOVE, 2},
    {"--append", OP_APPEND, 3},
    {"--append-digest", OP_APPEND_DIGEST, 4},
    {"--append-cmdline", OP_APPEND_CMDLINE, 3},
};

static int usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "rt_forge: ");
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\nusage: rt_forge IN OUT [OP]... [--extend] | rt_forge var GUID NAME DATA | "
                  "rt_forge sha256-list OWNER HASH... (see rt_forge --help)\n");
  return 2;
}

/* Splits s at its first max - 1 colons; returns the number of fields. */
static int split(char *s, int max, char *fields[MAX_FIELDS]) {
  int n = 0;
  fields[n++] = s;
  while (n < max && (s = strchr(s, ':')) != NULL) {
    *s++ = '\0';
    fields[n++] = s;
  }
  return n;
}

static bool parse_size(const char *s, size_t max, size_t *out) {
  char *end;
  if (*s < '0' || *s > '9')
    return false;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno != 0 || *end != '\0' || v > max)
    return false;
  *out = (size_t)v;
  return true;
}

static bool parse_hex(const char *s, uint8_t **out, size_t *len) {
  size_t n = strlen(s);
  *out = NULL;
  *len = 0;
  if (n % 2 != 0 || (*out = malloc(n / 2 + 1)) == NULL)
    return false;
  if (!rt_unhex(s, *out, n / 2)) {
    free(*out);
    *out = NULL;
    return false;
  }
  *len = n / 2;
  return true;
}

/* DATA: hex or @FILE. 1 if the file cannot be read, 2 if malformed. */
static int parse_data(op *o, const char *s) {
  rt_err err;
  if (s[0] != '@')
    return parse_hex(s, &o->data, &o->len)
               ? 0
               : usage("%s %s: data is neither hex nor @FILE", o->opt, o->arg);
  if (rt_file_read(s + 1, MAX_FILE, &o->data, &o->len, &err) != RT_OK) {
    fprintf(stderr, "rt_forge: %s %s: %s\n", o->opt, o->arg, err.msg);
    return 1;
  }
  return 0;
}

/* ALG=HEX[,ALG=HEX]... */
static bool parse_digests(op *o, char *s) {
  char *save = NULL;
  for (char *t = strtok_r(s, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
    char *eq = strchr(t, '=');
    rt_forge_digest *g = &o->digests[o->n_digests];
    if (eq == NULL || o->n_digests == RT_EVENTLOG_MAX_ALGS)
      return false;
    *eq = '\0';
    size_t n = strlen(eq + 1) / 2;
    if (!rt_forge_alg_parse(t, &g->alg) || n == 0 || n > RT_EVENTLOG_MAX_DIGEST ||
        strlen(eq + 1) != 2 * n || !rt_unhex(eq + 1, g->bytes, n))
      return false;
    g->len = (uint16_t)n;
    o->n_digests++;
  }
  return o->n_digests > 0;
}

static bool parse_fill(const char *s, rt_forge_fill *out) {
  static const char *const names[] = {"zero", "data", "measured"};
  for (int k = 0; k < 3; k++)
    if (strcmp(s, names[k]) == 0) {
      *out = (rt_forge_fill)k;
      return true;
    }
  return false;
}

static bool parse_form(const char *s, rt_forge_cmdline_form *out) {
  static const char *const names[] = {"grub", "redhat", "sdboot"};
  for (int k = 0; k < 3; k++)
    if (strcmp(s, names[k]) == 0) {
      *out = (rt_forge_cmdline_form)k;
      return true;
    }
  return false;
}

/* The fields of one OP into o: 0, or the exit status. */
static int parse_fields(op *o, int n, char **f) {
  size_t size = 0;
  bool ok = true;
  switch (o->kind) {
  case OP_RELABEL:
    ok = parse_size(f[0], SIZE_MAX, &o->i) && rt_forge_type_parse(f[1], &o->type);
    break;
  case OP_SET_DATA:
    return parse_size(f[0], SIZE_MAX, &o->i) ? parse_data(o, f[1])
                                             : usage("%s %s: bad event index", o->opt, o->arg);
  case OP_GRUB_PREFIX:
    ok = parse_size(f[0], SIZE_MAX, &o->i);
    o->text = f[1];
    break;
  case OP_ADD_BANK:
    ok = rt_forge_alg_parse(f[0], &o->alg) && n >= 2 &&
         parse_size(f[1], RT_EVENTLOG_MAX_DIGEST, &size) && size > 0 &&
         (n < 3 || parse_fill(f[2], &o->fill));
    o->size = (uint16_t)size;
    break;
  case OP_SET_DIGEST:
    ok = n == 3 && parse_size(f[0], SIZE_MAX, &o->i) && rt_forge_alg_parse(f[1], &o->alg) &&
         parse_hex(f[2], &o->data, &o->len) && o->len > 0;
    break;
  case OP_COPY_DIGEST:
    ok = n == 4 && parse_size(f[0], SIZE_MAX, &o->i) && rt_forge_alg_parse(f[1], &o->alg) &&
         parse_size(f[2], SIZE_MAX, &o->j) && rt_forge_alg_parse(f[3], &o->alg2);
    break;
  case OP_MOVE:
    ok = parse_size(f[0], SIZE_MAX, &o->i) && parse_size(f[1], SIZE_MAX, &o->j);
    break;
  case OP_APPEND:
    if (!(n == 3 && parse_size(f[0], UINT32_MAX, &o->i) && rt_forge_type_parse(f[1], &o->type)))
      return usage("%s %s: expected PCR:TYPE:DATA", o->opt, o->arg);
    return parse_data(o, f[2]);
  case OP_APPEND_DIGEST:
    if (!(n >= 3 && parse_size(f[0], UINT32_MAX, &o->i) && rt_forge_type_parse(f[1], &o->type) &&
          parse_digests(o, f[2])))
      return usage("%s %s: expected PCR:TYPE:ALG=HEX[,ALG=HEX]...[:DATA]", o->opt, o->arg);
    return n == 4 ? parse_data(o, f[3]) : 0;
  case OP_APPEND_CMDLINE:
    ok = n == 3 && parse_size(f[0], UINT32_MAX, &o->i) && parse_form(f[1], &o->form);
    o->text = n == 3 ? f[2] : NULL;
    break;
  }
  return ok && n >= 2 ? 0 : usage("%s %s: malformed (see rt_forge --help)", o->opt, o->arg);
}

static int parse_op(const char *opt, const char *arg, op *o) {
  char *f[MAX_FIELDS];
  memset(o, 0, sizeof *o);
  o->opt = opt;
  o->arg = arg;
  for (size_t k = 0; k < sizeof op_names / sizeof op_names[0]; k++)
    if (strcmp(op_names[k].name, opt) == 0) {
      o->kind = op_names[k].kind;
      if (arg == NULL)
        return usage("%s needs an argument", opt);
      if ((o->buf = strdup(arg)) == NULL) {
        fprintf(stderr, "rt_forge: out of memory\n");
        return 1;
      }
      return parse_fields(o, split(o->buf, op_names[k].fields, f), f);
    }
  return usage("unknown option %s", opt);
}

static rt_code apply(rt_forge *f, const op *o, rt_err *err) {
  uint32_t pcr = (uint32_t)o->i;
  switch (o->kind) {
  case OP_RELABEL:
    return rt_forge_relabel(f, o->i, o->type, err);
  case OP_SET_DATA:
    return rt_forge_set_data(f, o->i, o->data, o->len, err);
  case OP_GRUB_PREFIX:
    return rt_forge_set_grub_prefix(f, o->i, o->text, err);
  case OP_ADD_BANK:
    return rt_forge_add_bank(f, o->alg, o->size, o->fill, err);
  case OP_SET_DIGEST:
    return rt_forge_set_digest(f, o->i, o->alg, o->data, o->len, err);
  case OP_COPY_DIGEST:
    return rt_forge_copy_digest(f, o->i, o->alg, o->j, o->alg2, err);
  case OP_MOVE:
    return rt_forge_move(f, o->i, o->j, err);
  case OP_APPEND:
    return rt_forge_append(f, pcr, o->type, o->data, o->len, err);
  case OP_APPEND_DIGEST:
    return rt_forge_append_digests(f, pcr, o->type, o->data, o->len, o->digests, o->n_digests, err);
  case OP_APPEND_CMDLINE:
    return rt_forge_append_cmdline(f, pcr, o->form, o->text, err);
  }
  return rt_err_set(err, RT_E_INTERNAL, "unknown op");
}

/* Root extending the appended events after boot: sha1 and sha256 banks. */
static int extend(const rt_forge *f) {
  rt_err err;
  rt_tpm *tpm = NULL;
  size_t n = 0;
  rt_tpm_quiet_tss_logs();
  if (rt_tpm_open(NULL, &tpm, &err) != RT_OK) {
    fprintf(stderr, "rt_forge: --extend: %s\n", err.msg);
    return 1;
  }
  for (size_t i = 0; i < f->n_events; i++) {
    const rt_forge_event *ev = &f->events[i];
    if (!ev->appended || ev->type == RT_EV_NO_ACTION)
      continue;
    if (ev->pcr >= RT_EVENTLOG_NUM_PCRS) {
      fprintf(stderr, "rt_forge: --extend: event %zu: PCR %u is not a TPM PCR\n", i,
              (unsigned)ev->pcr);
      rt_tpm_close(tpm);
      return 1;
    }
    TPML_DIGEST_VALUES values;
    memset(&values, 0, sizeof values);
    for (size_t d = 0; d < ev->n_digests; d++) {
      const rt_forge_digest *g = &ev->digests[d];
      if ((g->alg != TPM2_ALG_SHA1 || g->len != 20) && (g->alg != TPM2_ALG_SHA256 || g->len != 32))
        continue;
      values.digests[values.count].hashAlg = g->alg;
      memcpy(&values.digests[values.count++].digest, g->bytes, g->len);
    }
    TSS2_RC r = Esys_PCR_Extend(tpm->esys, ESYS_TR_PCR0 + ev->pcr, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                ESYS_TR_NONE, &values);
    if (r != TSS2_RC_SUCCESS) {
      rt_tpm_rc(&err, r, "PCR_Extend");
      fprintf(stderr, "rt_forge: --extend: event %zu: %s\n", i, err.msg);
      rt_tpm_close(tpm);
      return 1;
    }
    n++;
  }
  rt_tpm_close(tpm);
  printf("extended %zu appended events\n", n);
  return 0;
}

/* Reads IN, applies the ops, writes OUT. */
static int forge_file(const char *in, const char *out, const op *ops, size_t n_ops,
                      bool do_extend) {
  rt_err err;
  rt_eventlog log;
  rt_forge f;
  uint8_t *bytes = NULL;
  size_t len = 0;
  if (rt_eventlog_read_file(in, NULL, &log, &err) != RT_OK) {
    fprintf(stderr, "rt_forge: %s\n", err.msg);
    return 1;
  }
  rt_code rc = rt_forge_from_log(&log, &f, &err);
  rt_eventlog_free(&log);
  for (size_t k = 0; k < n_ops && rc == RT_OK; k++)
    if ((rc = apply(&f, &ops[k], &err)) != RT_OK)
      rt_err_prefix(&err, "%s %s: ", ops[k].opt, ops[k].arg);
  if (rc == RT_OK)
    rc = rt_forge_serialize(&f, &bytes, &len, &err);
  if (rc == RT_OK)
    rc = rt_file_write_atomic(out, bytes, len, 0644, &err);
  free(bytes);
  int status = rc == RT_OK ? 0 : 1;
  if (rc != RT_OK)
    fprintf(stderr, "rt_forge: %s\n", err.msg);
  else if (do_extend)
    status = extend(&f);
  rt_forge_free(&f);
  return status;
}

static int write_buf(rt_code rc, rt_forge_buf *b, const rt_err *err) {
  if (rc != RT_OK) {
    fprintf(stderr, "rt_forge: %s\n", err->msg);
    return 1;
  }
  int status = fwrite(b->data, 1, b->len, stdout) == b->len && fflush(stdout) == 0 ? 0 : 1;
  rt_forge_buf_free(b);
  return status;
}

/* rt_forge var GUID NAME DATA */
static int cmd_var(int argc, char **argv) {
  uint8_t guid[16];
  rt_forge_buf b = {NULL, 0};
  rt_err err;
  op o;
  if (argc != 5)
    return usage("var: expected GUID NAME DATA");
  if (!rt_forge_guid_parse(argv[2], guid))
    return usage("var: %s is not a GUID", argv[2]);
  memset(&o, 0, sizeof o);
  o.opt = "var";
  o.arg = argv[4];
  int status = parse_data(&o, argv[4]);
  if (status != 0)
    return status;
  status = write_buf(rt_forge_uefi_var(guid, argv[3], o.data, o.len, &b, &err), &b, &err);
  free(o.data);
  return status;
}

/* rt_forge sha256-list OWNER HASH... */
static int cmd_sha256_list(int argc, char **argv) {
  uint8_t owner[16];
  rt_forge_buf b = {NULL, 0};
  rt_err err;
  if (argc < 4)
    return usage("sha256-list: expected OWNER HASH...");
  if (!rt_forge_guid_parse(argv[2], owner))
    return usage("sha256-list: %s is not a GUID", argv[2]);
  uint8_t(*hashes)[32] = calloc((size_t)argc, 32);
  if (hashes == NULL)
    return 1;
  for (int k = 3; k < argc; k++)
    if (strlen(argv[k]) != 64 || !rt_unhex(argv[k], hashes[k - 3], 32)) {
      free(hashes);
      return usage("sha256-list: %s is not 64 hex digits", argv[k]);
    }
  rt_code rc =
      rt_forge_siglist_sha256(owner, (const uint8_t(*)[32])hashes, (size_t)argc - 3, &b, &err);
  free(hashes);
  return write_buf(rc, &b, &err);
}

static int help(void) {
  printf("rt_forge IN OUT [OP]... [--extend]\nrt_forge var GUID NAME DATA\n"
         "rt_forge sha256-list OWNER HASH...\nOPs: --relabel I:TYPE, --set-data I:DATA, "
         "--grub-prefix I:PREFIX, --add-bank ALG:SIZE[:zero|data|measured], --set-digest "
         "I:ALG:HEX,\n--copy-digest I:ALG:FROMI:FROMALG, --move I:TO, --append PCR:TYPE:DATA, "
         "--append-digest PCR:TYPE:ALG=HEX[,...][:DATA],\n--append-cmdline "
         "PCR:grub|redhat|sdboot:TEXT. DATA: hex or @FILE. Details: tests/tools/rt_forge.c.\n");
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0))
    return help();
  if (argc >= 2 && strcmp(argv[1], "var") == 0)
    return cmd_var(argc, argv);
  if (argc >= 2 && strcmp(argv[1], "sha256-list") == 0)
    return cmd_sha256_list(argc, argv);
  if (argc < 3)
    return usage("expected IN and OUT");
  op *ops = calloc((size_t)argc, sizeof *ops);
  size_t n_ops = 0;
  bool do_extend = false;
  int status = ops == NULL ? 1 : 0;
  for (int k = 3; k < argc && status == 0; k++) {
    if (strcmp(argv[k], "--extend") == 0) {
      do_extend = true;
      continue;
    }
    const char *arg = k + 1 < argc ? argv[k + 1] : NULL;
    status = parse_op(argv[k], arg, &ops[n_ops++]);
    k++;
  }
  if (status == 0)
    status = forge_file(argv[1], argv[2], ops, n_ops, do_extend);
  for (size_t k = 0; k < n_ops; k++) {
    free(ops[k].buf);
    free(ops[k].data);
  }
  free(ops);
  return status;
}
