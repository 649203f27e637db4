#include "rate_limit.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Slots one key may use: a short linear window keeps lookups O(1). */
#define WINDOW 8
#define MAX_RATE ((uint64_t)1000000)

typedef struct {
  uint8_t key[16]; /* first bytes of the keyed hash */
  /* Tokens in millionths: a rate of milli_per_s thousandths a second adds
   * exactly milli_per_s millionths a millisecond, so no rounding loses
   * refill between calls however close they come. */
  uint64_t micro;
  uint64_t last_ms; /* when micro was last brought up to date */
  uint8_t used;
} bucket;

struct rt_rate_limiter {
  pthread_mutex_t mu;
  rt_rate rate;
  uint8_t salt[16];
  uint64_t evicted_partial;
  bucket slots[RT_RATE_SLOTS];
};

/* The decimal "R" or "R.ddd" as thousandths. */
static int parse_milli(const char *s, const char *end, uint64_t *out) {
  uint64_t whole = 0, frac = 0;
  int digits = 0, frac_digits = -1;
  for (const char *p = s; p < end; p++) {
    if (*p == '.' && frac_digits < 0 && digits > 0) {
      frac_digits = 0;
    } else if (*p >= '0' && *p <= '9' && whole <= MAX_RATE && frac_digits < 3) {
      if (frac_digits < 0) {
        whole = whole * 10 + (uint64_t)(*p - '0');
        digits++;
      } else {
        frac = frac * 10 + (uint64_t)(*p - '0');
        frac_digits++;
      }
    } else {
      return -1;
    }
  }
  if (digits == 0 || frac_digits == 0)
    return -1;
  for (int i = frac_digits < 0 ? 0 : frac_digits; i < 3; i++)
    frac *= 10;
  *out = whole * 1000 + frac;
  return 0;
}

rt_code rt_rate_parse(const char *opt, const char *s, rt_rate *out, rt_err *err) {
  *out = (rt_rate){0, 0};
  if (strcmp(s, "0") == 0)
    return RT_OK;
  const char *slash = strchr(s, '/');
  char *end = NULL;
  uint64_t milli = 0;
  if (slash == NULL || parse_milli(s, slash, &milli) != 0 || milli == 0 ||
      milli > MAX_RATE * 1000 || slash[1] < '1' || slash[1] > '9')
    return rt_err_set(err, RT_E_INVALID,
                      "%s: \"%s\" is not RATE/BURST (calls a second, e.g. 10/50 or 0.5/5) or 0",
                      opt, s);
  unsigned long long burst = strtoull(slash + 1, &end, 10);
  if (*end != '\0' || burst > MAX_RATE)
    return rt_err_set(err, RT_E_INVALID, "%s: burst \"%s\" is not a number from 1 to %llu", opt,
                      slash + 1, (unsigned long long)MAX_RATE);
  *out = (rt_rate){milli, (uint64_t)burst};
  return RT_OK;
}

rt_code rt_rate_limiter_new(rt_rate rate, rt_rate_limiter **out, rt_err *err) {
  *out = NULL;
  if (rate.milli_per_s == 0)
    return RT_OK;
  rt_rate_limiter *l = calloc(1, sizeof *l);
  if (l == NULL)
    return rt_err_set(err, RT_E_NOMEM, "rate limiter: out of memory");
  l->rate = rate;
  if (RAND_bytes(l->salt, sizeof l->salt) != 1 || pthread_mutex_init(&l->mu, NULL) != 0) {
    free(l);
    return rt_err_set(err, RT_E_CRYPTO, "rate limiter: no randomness for its salt");
  }
  *out = l;
  return RT_OK;
}

void rt_rate_limiter_free(rt_rate_limiter *l) {
  if (l == NULL)
    return;
  pthread_mutex_destroy(&l->mu);
  free(l);
}

#define ONE ((uint64_t)1000000) /* a token in millionths */

/* The bucket's tokens (millionths) at now_ms, without spending any. */
static uint64_t refilled(const rt_rate_limiter *l, const bucket *b, uint64_t now_ms) {
  uint64_t full = l->rate.burst * ONE;
  if (!b->used)
    return full;
  uint64_t dt = now_ms > b->last_ms ? now_ms - b->last_ms : 0;
  /* dt capped at the time a refill from empty takes: no overflow below. */
  uint64_t fill_ms = full / l->rate.milli_per_s + 1;
  if (dt > fill_ms)
    dt = fill_ms;
  uint64_t micro = b->micro + dt * l->rate.milli_per_s;
  return micro > full ? full : micro;
}

/* key's bucket, or the slot of its window to give it (the fullest). */
static bucket *find(rt_rate_limiter *l, const uint8_t h[32], uint64_t now_ms) {
  uint64_t home;
  memcpy(&home, h + 16, sizeof home);
  bucket *best = NULL;
  uint64_t best_micro = 0;
  for (size_t k = 0; k < WINDOW; k++) {
    bucket *b = &l->slots[(home + k) % RT_RATE_SLOTS];
    if (b->used && memcmp(b->key, h, 16) == 0)
      return b;
    uint64_t m = refilled(l, b, now_ms);
    if (best == NULL || m > best_micro) {
      best = b;
      best_micro = m;
    }
  }
  if (best->used && best_micro < l->rate.burst * ONE)
    l->evicted_partial++;
  memcpy(best->key, h, 16);
  best->micro = l->rate.burst * ONE;
  best->last_ms = now_ms;
  best->used = 1;
  return best;
}

bool rt_rate_take(rt_rate_limiter *l, const void *key, size_t key_len, uint64_t now_ms) {
  if (l == NULL)
    return true;
  uint8_t h[32];
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  int ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
           EVP_DigestUpdate(ctx, l->salt, sizeof l->salt) == 1 &&
           EVP_DigestUpdate(ctx, key, key_len) == 1 && EVP_DigestFinal_ex(ctx, h, NULL) == 1;
  EVP_MD_CTX_free(ctx);
  /* Without a hash there is no bucket: refuse rather than let the call
   * through unlimited. */
  if (!ok)
    return false;
  pthread_mutex_lock(&l->mu);
  bucket *b = find(l, h, now_ms);
  b->micro = refilled(l, b, now_ms);
  b->last_ms = now_ms;
  bool allowed = b->micro >= ONE;
  if (allowed)
    b->micro -= ONE;
  pthread_mutex_unlock(&l->mu);
  return allowed;
}

uint64_t rt_rate_evicted_partial(rt_rate_limiter *l) {
  if (l == NULL)
    return 0;
  pthread_mutex_lock(&l->mu);
  uint64_t n = l->evicted_partial;
  pthread_mutex_unlock(&l->mu);
  return n;
}
