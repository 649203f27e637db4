/* Confirm fed raw request bytes (the first byte aside), unpacked by
 * protobuf-c and run by rt_enroll_confirm on the fuzz verifier (fuzz.h).
 * First byte even: the request as sent. Odd: its confirm token replaced by
 * a fresh one for the fixed delivery (sealed secret FUZZ_SECRET_NAME), so
 * the proofs are judged. */
#include "fuzz.h"
#include "rattest.pb-c.h"

static void fix(ProtobufCMessage *msg) {
  Rattest__V1__ConfirmRequest *req = (Rattest__V1__ConfirmRequest *)msg;
  size_t len;
  uint8_t *tok = fuzz_confirm_token(&len);
  fuzz_put_token(&req->confirm_token, tok, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0)
    return 0;
  fuzz_call(&rattest__v1__confirm_request__descriptor, rt_enroll_confirm, rt_enroll_confirm_free,
            data[0] & 1 ? fix : NULL, data + 1, size - 1);
  return 0;
}
