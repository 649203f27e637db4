#include "token_reason.h"

#include <stddef.h>

const char *rt_token_reason_code(rt_token_reason reason) {
  switch (reason) {
  case RT_TOKEN_OK:
    return NULL;
  case RT_TOKEN_TOO_SHORT:
  case RT_TOKEN_TOO_LONG:
  case RT_TOKEN_BAD_VERSION:
  case RT_TOKEN_BAD_TAG:
  case RT_TOKEN_BAD_PLAINTEXT:
    return "TOKEN_INVALID";
  case RT_TOKEN_EXPIRED:
    return "TOKEN_EXPIRED";
  case RT_TOKEN_REPLAYED:
    return "TOKEN_REPLAYED";
  case RT_TOKEN_GUARD_FULL:
    return "TOKEN_GUARD_FULL";
  case RT_TOKEN_FAILURE:
    return "INTERNAL";
  }
  return "INTERNAL";
}

const char *rt_token_reason_name(rt_token_reason reason) {
  switch (reason) {
  case RT_TOKEN_OK:
    return "ok";
  case RT_TOKEN_TOO_SHORT:
    return "too-short";
  case RT_TOKEN_TOO_LONG:
    return "too-long";
  case RT_TOKEN_BAD_VERSION:
    return "bad-version";
  case RT_TOKEN_BAD_TAG:
    return "bad-tag";
  case RT_TOKEN_BAD_PLAINTEXT:
    return "bad-plaintext";
  case RT_TOKEN_EXPIRED:
    return "expired";
  case RT_TOKEN_REPLAYED:
    return "replayed";
  case RT_TOKEN_GUARD_FULL:
    return "guard-full";
  case RT_TOKEN_FAILURE:
    return "failure";
  }
  return "unknown";
}

void rt_token_reason_set(rt_token_reason *reason, rt_token_reason value) {
  if (reason != NULL)
    *reason = value;
}
