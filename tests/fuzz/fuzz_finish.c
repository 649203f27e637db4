/* Finish fed raw request bytes (the first byte aside), unpacked by
 * protobuf-c and run by rt_enroll_finish on the fuzz verifier (fuzz.h).
 * The first byte says what the harness does to the request first:
 *   bit 0 clear: nothing, the session token is the client's (refused
 *     unless sealed with the key: the token checks are what is fuzzed)
 *   bit 0 set: the session token is replaced by a fresh one for the fixed
 *     session, so the rest of Finish is reached: the activated secret
 *     (fuzz_secret passes), the quote, event log and PCR values, the new
 *     key, its certification and possession, issuance, secret delivery
 *   bit 1 set: the quote and the certification are signed again by the
 *     session's AK (fuzz_ak), so that mutated ones pass their signature
 *     check and their contents are judged, as a client whose TPM signs
 *     whatever it is asked to would have them. */
#include "fuzz.h"
#include "rattest.pb-c.h"

static void put_session(ProtobufCMessage *msg) {
  Rattest__V1__FinishRequest *req = (Rattest__V1__FinishRequest *)msg;
  size_t len;
  uint8_t *tok = fuzz_session_token(&len);
  fuzz_put_token(&req->session_token, tok, len);
}

static void sign_again(ProtobufCMessage *msg) {
  Rattest__V1__FinishRequest *req = (Rattest__V1__FinishRequest *)msg;
  fuzz_ak_resign(&req->quote, &req->quote_signature);
  fuzz_ak_resign(&req->certify_info, &req->certify_signature);
}

static void both(ProtobufCMessage *msg) {
  put_session(msg);
  sign_again(msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static void (*const fix[4])(ProtobufCMessage *) = {NULL, put_session, sign_again, both};
  if (size == 0)
    return 0;
  fuzz_call(&rattest__v1__finish_request__descriptor, rt_enroll_finish, rt_enroll_finish_free,
            fix[data[0] & 3], data + 1, size - 1);
  return 0;
}
