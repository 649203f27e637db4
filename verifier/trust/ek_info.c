#include "ek_info.h"

#include "rt_asn1_time.h"

#include <openssl/asn1.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* TCG attribute OIDs (EK Credential Profile, "tcg-at-tpm*"). */
#define OID_TPM_MANUFACTURER "2.23.133.2.1"
#define OID_TPM_MODEL "2.23.133.2.2"
#define OID_TPM_VERSION "2.23.133.2.3"

static void copy_value(const X509_NAME_ENTRY *e, char *out, size_t len) {
  const ASN1_STRING *s = X509_NAME_ENTRY_get_data(e);
  int n = ASN1_STRING_length(s);
  const unsigned char *d = ASN1_STRING_get0_data(s);
  size_t w = 0;
  /* Printable ASCII only: the value lands in JSON and logs. */
  for (int i = 0; i < n && w + 1 < len; i++)
    out[w++] = (d[i] >= 0x20 && d[i] < 0x7f) ? (char)d[i] : '?';
  out[w] = '\0';
}

/* "id:4E544300" -> "NTC": the vendor ID is 4 ASCII bytes, NUL-padded. */
static void vendor_of(const char *manufacturer, char out[8]) {
  out[0] = '\0';
  unsigned v;
  char tail;
  if (strlen(manufacturer) != 11 || sscanf(manufacturer, "id:%8x%c", &v, &tail) != 1)
    return;
  size_t w = 0;
  for (int shift = 24; shift >= 0; shift -= 8) {
    unsigned char c = (unsigned char)(v >> shift);
    if (c == 0)
      break;
    if (c < 0x20 || c >= 0x7f) {
      out[0] = '\0';
      return;
    }
    out[w++] = (char)c;
  }
  out[w] = '\0';
}

static void read_dirname(const X509_NAME *name, rt_ek_info *info) {
  ASN1_OBJECT *oids[3] = {OBJ_txt2obj(OID_TPM_MANUFACTURER, 1), OBJ_txt2obj(OID_TPM_MODEL, 1),
                          OBJ_txt2obj(OID_TPM_VERSION, 1)};
  char *outs[3] = {info->manufacturer, info->model, info->version};
  for (int i = 0; i < X509_NAME_entry_count(name); i++) {
    const X509_NAME_ENTRY *e = X509_NAME_get_entry(name, i);
    for (int k = 0; k < 3; k++)
      if (oids[k] != NULL && OBJ_cmp(X509_NAME_ENTRY_get_object(e), oids[k]) == 0)
        copy_value(e, outs[k], sizeof info->manufacturer);
  }
  for (int k = 0; k < 3; k++)
    ASN1_OBJECT_free(oids[k]);
}

void rt_ek_info_read(X509 *cert, rt_ek_info *info) {
  memset(info, 0, sizeof *info);
  GENERAL_NAMES *sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
  for (int i = 0; i < sk_GENERAL_NAME_num(sans); i++) {
    const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
    if (g->type == GEN_DIRNAME)
      read_dirname(g->d.directoryName, info);
  }
  GENERAL_NAMES_free(sans);
  vendor_of(info->manufacturer, info->vendor);
  const ASN1_TIME *na = X509_get0_notAfter(cert);
  rt_asn1_time_text(na, info->not_after, sizeof info->not_after);
  info->expired = na != NULL && X509_cmp_current_time(na) < 0;
}

const char *rt_ek_info_vendor(const rt_ek_info *info) {
  if (info->vendor[0] != '\0')
    return info->vendor;
  return info->manufacturer[0] != '\0' ? info->manufacturer : NULL;
}
