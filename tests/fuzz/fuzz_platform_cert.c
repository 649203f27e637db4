/* A platform certificate as Begin receives it (either form, DER): parsed
 * with the verifier's templates, its fields read, then verified against a
 * CA set and the tests/data Google EK certificate as holder (most inputs
 * are refused for their chain: the parse and the holder match are what is
 * fuzzed). */
#include <stdlib.h>
#include <time.h>

#include "fuzz.h"
#include "platform_cert.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static rt_ca_set *ca;
  static uint8_t *ek_der;
  static size_t ek_len;
  rt_platform_cert *pc = NULL;
  rt_platform_info info;
  rt_platform_reason reason;
  rt_err err;
  if (ca == NULL) {
    TPM2B_PUBLIC ek;
    fuzz_google_ek(&ek, &ek_der, &ek_len);
    if (rt_ca_set_load(RATTEST_FUZZ_DATA "/ekcerts/google-vtpm/ca", "platform CA", &ca, &err) !=
        RT_OK)
      abort();
  }
  if (rt_platform_cert_parse(data, size, &pc, &info, &err) == RT_OK) {
    (void)rt_platform_cert_verify(ca, pc, ek_der, ek_len, time(NULL), &reason, &err);
    (void)rt_platform_cert_verify(ca, pc, data, size, time(NULL), &reason, &err);
    (void)rt_platform_reason_code(reason);
  }
  rt_platform_cert_free(pc);
  return 0;
}
