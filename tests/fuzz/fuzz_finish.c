/* Finish fed raw request bytes (the first byte aside), unpacked by
 * protobuf-c and run by rt_enroll_finish on the fuzz verifier (fuzz.h).
 * First byte even: the request as sent, so its session token is the
 * client's (refused unless sealed with the key). Odd: the session token is
 * replaced by a fresh one for the fixed session, so the rest of Finish is
 * reached: the activated secret (FUZZ_SECRET passes), the quote by the
 * gce-cos85 AK, the event log and PCR values, the new key, its
 * certification and possession. */
#include "fuzz.h"
#include "rattest.pb-c.h"

static void fix(ProtobufCMessage *msg) {
  Rattest__V1__FinishRequest *req = (Rattest__V1__FinishRequest *)msg;
  size_t len;
  uint8_t *tok = fuzz_session_token(&len);
  fuzz_put_token(&req->session_token, tok, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0)
    return 0;
  fuzz_call(&rattest__v1__finish_request__descriptor, rt_enroll_finish, rt_enroll_finish_free,
            data[0] & 1 ? fix : NULL, data + 1, size - 1);
  return 0;
}
