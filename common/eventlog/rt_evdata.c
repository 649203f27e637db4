#include "rt_evdata.h"

#include <limits.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

/* Longest first where one prefix starts another ("grub_cmd: " before
 * "grub_cmd "). Upstream GRUB (2.04 and later, seen in gce-cos85) writes
 * "grub_cmd: ", "kernel_cmdline: ", "module_cmdline: "; Red Hat's GRUB 2.02
 * TPM patches (seen in rhel8) write "grub_cmd " and "grub_kernel_cmdline ". */
static const struct {
  const char *prefix;
  rt_grub_kind kind;
} grub_prefixes[] = {
    {"grub_cmd: ", RT_GRUB_CMD},
    {"kernel_cmdline: ", RT_GRUB_KERNEL_CMDLINE},
    {"module_cmdline: ", RT_GRUB_MODULE_CMDLINE},
    {"grub_cmd ", RT_GRUB_CMD},
    {"grub_kernel_cmdline ", RT_GRUB_KERNEL_CMDLINE},
};

bool rt_evdata_grub(const uint8_t *d, size_t n, rt_grub_string *out) {
  if (d == NULL)
    return false;
  for (size_t i = 0; i < sizeof grub_prefixes / sizeof grub_prefixes[0]; i++) {
    size_t plen = strlen(grub_prefixes[i].prefix);
    if (n < plen || memcmp(d, grub_prefixes[i].prefix, plen) != 0)
      continue;
    out->kind = grub_prefixes[i].kind;
    out->prefix = grub_prefixes[i].prefix;
    out->text = d + plen;
    out->len = n - plen;
    out->nul = out->len > 0 && out->text[out->len - 1] == 0;
    if (out->nul)
      out->len--;
    return true;
  }
  return false;
}

bool rt_evdata_sha256(const uint8_t *d, size_t n, uint8_t out[32]) {
  unsigned int len = 0;
  static const uint8_t empty = 0;
  return EVP_Digest(d != NULL ? d : &empty, n, out, &len, EVP_sha256(), NULL) == 1 && len == 32;
}

char *rt_evdata_x509_subject(const uint8_t *d, size_t n) {
  if (d == NULL || n == 0 || n > LONG_MAX)
    return NULL;
  const unsigned char *p = d;
  X509 *cert = d2i_X509(NULL, &p, (long)n);
  BIO *bio = NULL;
  char *out = NULL;
  if (cert == NULL)
    return NULL;
  if ((bio = BIO_new(BIO_s_mem())) != NULL &&
      X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) >= 0) {
    char *mem;
    long len = BIO_get_mem_data(bio, &mem);
    if (len >= 0 && (out = malloc((size_t)len + 1)) != NULL) {
      memcpy(out, mem, (size_t)len);
      out[len] = '\0';
    }
  }
  BIO_free(bio);
  X509_free(cert);
  return out;
}

/* systemd-boot's kernel command line (EV_IPL in PCR 8): UTF-16LE load
 * options and a NUL. Its digest covers the text and a whole 2-byte NUL,
 * though the arch log's sd-boot logged only one byte of that NUL (365 bytes:
 * 182 units and a 0x00). The text has no NUL unit of its own. */
bool rt_evdata_sdboot_units(const uint8_t *d, size_t n, size_t *units) {
  if (d == NULL || n < 3 || d[n - 1] != 0)
    return false;
  size_t text = n % 2 == 0 ? n - 2 : n - 1;
  if (d[text] != 0)
    return false;
  for (size_t i = 0; i < text; i += 2)
    if (d[i] == 0 && d[i + 1] == 0)
      return false;
  *units = text / 2;
  return *units > 0;
}
