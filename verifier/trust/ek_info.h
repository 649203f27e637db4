/* What an EK certificate says about its TPM: the TPM manufacturer, model and
 * firmware version from the subjectAltName directoryName of the TCG EK
 * Credential Profile (often a critical extension, with an empty subject),
 * and the certificate's validity end. */
#ifndef RT_VERIFIER_EK_INFO_H
#define RT_VERIFIER_EK_INFO_H

#include <openssl/x509.h>
#include <stdbool.h>

typedef struct {
  /* Values as written in the certificate ("id:474F4F47", "vTPM",
   * "id:00070002"); "" when absent. */
  char manufacturer[64];
  char model[64];
  char version[64];
  /* The manufacturer's TCG vendor ID as text ("GOOG", "NTC", "IFX") when
   * the value is "id:" + 8 hex digits; else "". */
  char vendor[8];
  char not_after[32]; /* "YYYY-MM-DDTHH:MM:SSZ" */
  bool expired;
} rt_ek_info;

/* The TPM vendor as the registry records it: the vendor ID as text, else
 * (an ID that is not ASCII, as swtpm's "id:00001014") the manufacturer
 * value as written; NULL when the certificate names none. */
const char *rt_ek_info_vendor(const rt_ek_info *info);

/* Fills info from cert (never fails: absent fields stay ""). */
void rt_ek_info_read(X509 *cert, rt_ek_info *info);

#endif
