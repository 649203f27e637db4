/* Session and confirm tokens opened with the fixed token key. The first
 * byte picks what the rest is:
 *   0  a token as a client sends it, opened as both kinds (the framing,
 *      version, length and tag checks: nothing forged opens)
 *   1  the plaintext of a session token, sealed with the fixed key and
 *      opened: the state parser and checks behind the tag, which only a
 *      holder of the key could reach
 *   2  the same for a confirm token */
#include "confirm_token.h"
#include "fuzz.h"
#include "session_token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static uint8_t tok[RT_TOKEN_MAX_LEN + 64];
  const rt_token_key *key = fuzz_token_key();
  const uint8_t *t = data + 1;
  size_t len = size > 0 ? size - 1 : 0;
  rt_session_state *ss = NULL;
  rt_confirm_state *cs = NULL;
  rt_token_reason why = RT_TOKEN_OK;
  rt_err err;
  if (size == 0)
    return 0;
  if (data[0] % 3 != 0) {
    const char *context = data[0] % 3 == 1 ? RT_TOKEN_CONTEXT : RT_CONFIRM_CONTEXT;
    len = fuzz_seal_raw(context, data + 1, size - 1, tok, sizeof tok);
    t = tok;
    if (len == 0)
      return 0;
  }
  (void)rt_token_open(key, t, len, FUZZ_NOW, &ss, &why, &err);
  (void)rt_token_reason_code(why);
  (void)rt_confirm_open(key, t, len, FUZZ_NOW, &cs, &why, &err);
  rt_token_state_free(ss);
  rt_confirm_state_free(cs);
  return 0;
}
