/* Begin fed raw request bytes: protobuf-c unpacks them as the gRPC layer
 * does, then rt_enroll_begin runs on the fuzz verifier (fuzz.h): name, EK
 * and AK public areas, EK certificate chain against the Google vTPM CAs,
 * platform certificate, key algorithm, MakeCredential, the sealed session
 * token. */
#include "fuzz.h"
#include "rattest.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_call(&rattest__v1__begin_request__descriptor, rt_enroll_begin, rt_enroll_begin_free, NULL,
            data, size);
  return 0;
}
