/* Why a session or confirm token was refused: one reason per way a token
 * can fail, each with the stable code of docs/protocol.md ("Error codes")
 * that the service sends in rattest-error. The gRPC status that goes with
 * each code is the service's choice (rt_deny_token, handler.h). */
#ifndef RT_VERIFIER_TOKEN_REASON_H
#define RT_VERIFIER_TOKEN_REASON_H

typedef enum {
  RT_TOKEN_OK = 0,
  RT_TOKEN_TOO_SHORT,     /* shorter than RT_TOKEN_MIN_LEN */
  RT_TOKEN_TOO_LONG,      /* longer than RT_TOKEN_MAX_LEN */
  RT_TOKEN_BAD_VERSION,   /* first byte is not RT_TOKEN_VERSION */
  RT_TOKEN_BAD_TAG,       /* authentication failed: tampered, or another key */
  RT_TOKEN_BAD_PLAINTEXT, /* authentic but not a well-formed state */
  RT_TOKEN_EXPIRED,       /* authentic, but now >= expires_unix */
  RT_TOKEN_REPLAYED,      /* this token id was already used (replay guard) */
  RT_TOKEN_GUARD_FULL,    /* the replay guard holds its cap of live ids */
  RT_TOKEN_FAILURE,       /* not the token's fault: allocation, OpenSSL */
} rt_token_reason;

/* The code for a reason: "TOKEN_INVALID" (too short, too long, bad version,
 * bad tag, bad plaintext), "TOKEN_EXPIRED", "TOKEN_REPLAYED",
 * "TOKEN_GUARD_FULL", "INTERNAL" (failure); NULL for RT_TOKEN_OK. */
const char *rt_token_reason_code(rt_token_reason reason);

/* "too-short", "bad-tag", ...: the precise reason, for logs and tests. */
const char *rt_token_reason_name(rt_token_reason reason);

/* Stores value in *reason when reason is not NULL (callers may pass NULL
 * when they do not care why). */
void rt_token_reason_set(rt_token_reason *reason, rt_token_reason value);

#endif
