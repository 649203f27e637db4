#include "replay_guard.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* A hash set of live ids (open addressing, linear probing, backward-shift
 * deletion) plus a min-heap of (expires, id), so that pruning pops exactly
 * the expired ids in O(log n) each instead of sweeping the table. Ids come
 * from RAND_bytes inside authenticated tokens, so their first bytes are a
 * uniform hash that no client can steer. */

typedef struct {
  uint8_t id[RT_TOKEN_ID_LEN];
  uint8_t used;
} slot;

typedef struct {
  int64_t expires;
  uint8_t id[RT_TOKEN_ID_LEN];
} heap_entry;

struct rt_token_replay_guard {
  pthread_mutex_t mu;
  size_t cap;       /* most live ids */
  size_t max_slots; /* table size that keeps cap ids at load <= 1/2 */
  slot *slots;
  size_t n_slots; /* power of two */
  heap_entry *heap;
  size_t heap_cap;
  size_t count; /* ids in both the set and the heap */
};

static size_t home_of(const uint8_t *id, size_t n_slots) {
  uint64_t h;
  memcpy(&h, id, sizeof h);
  return (size_t)(h & (n_slots - 1));
}

/* Index of id in the table, or of the empty slot where it would go. */
static size_t set_find(const rt_token_replay_guard *g, const uint8_t *id) {
  size_t i = home_of(id, g->n_slots);
  /* Ids are not secrets to a caller who presents them, but the comparison
   * costs nothing in constant time, so timing says nothing either. */
  while (g->slots[i].used && CRYPTO_memcmp(g->slots[i].id, id, RT_TOKEN_ID_LEN) != 0)
    i = (i + 1) & (g->n_slots - 1);
  return i;
}

static void set_remove(rt_token_replay_guard *g, const uint8_t *id) {
  size_t mask = g->n_slots - 1;
  size_t i = set_find(g, id);
  if (!g->slots[i].used)
    return;
  g->slots[i].used = 0;
  /* Backward shift: move later members of the probe run into the hole when
   * their home position does not lie cyclically in (i, j]. */
  for (size_t j = (i + 1) & mask; g->slots[j].used; j = (j + 1) & mask) {
    size_t k = home_of(g->slots[j].id, g->n_slots);
    int stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
    if (stays)
      continue;
    g->slots[i] = g->slots[j];
    g->slots[j].used = 0;
    i = j;
  }
}

static rt_code set_grow(rt_token_replay_guard *g, rt_err *err) {
  size_t n = g->n_slots * 2;
  slot *ns = calloc(n, sizeof *ns);
  if (ns == NULL)
    return rt_err_set(err, RT_E_NOMEM, "replay guard: out of memory");
  slot *old = g->slots;
  size_t old_n = g->n_slots;
  g->slots = ns;
  g->n_slots = n;
  for (size_t i = 0; i < old_n; i++)
    if (old[i].used)
      g->slots[set_find(g, old[i].id)] = old[i];
  free(old);
  return RT_OK;
}

static int heap_less(const heap_entry *a, const heap_entry *b) {
  return a->expires < b->expires;
}

static void heap_swap(heap_entry *a, heap_entry *b) {
  heap_entry t = *a;
  *a = *b;
  *b = t;
}

static void heap_push(rt_token_replay_guard *g, const heap_entry *e) {
  size_t i = g->count;
  g->heap[i] = *e;
  while (i > 0 && heap_less(&g->heap[i], &g->heap[(i - 1) / 2])) {
    heap_swap(&g->heap[i], &g->heap[(i - 1) / 2]);
    i = (i - 1) / 2;
  }
}

static void heap_pop(rt_token_replay_guard *g) {
  g->heap[0] = g->heap[g->count - 1];
  size_t n = g->count - 1, i = 0;
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < n && heap_less(&g->heap[l], &g->heap[m]))
      m = l;
    if (r < n && heap_less(&g->heap[r], &g->heap[m]))
      m = r;
    if (m == i)
      break;
    heap_swap(&g->heap[i], &g->heap[m]);
    i = m;
  }
}

rt_code rt_replay_guard_new(size_t cap, rt_token_replay_guard **out, rt_err *err) {
  *out = NULL;
  if (cap == 0)
    cap = RT_REPLAY_GUARD_DEFAULT_CAP;
  if (cap > ((size_t)1 << 28))
    return rt_err_set(err, RT_E_INVALID, "replay guard: cap %zu too large", cap);
  rt_token_replay_guard *g = calloc(1, sizeof *g);
  if (g == NULL)
    return rt_err_set(err, RT_E_NOMEM, "replay guard: out of memory");
  g->cap = cap;
  g->max_slots = 4;
  while (g->max_slots < 2 * cap)
    g->max_slots *= 2;
  /* Start small and grow with the live ids, so memory follows the load and
   * cap only bounds it. */
  g->n_slots = g->max_slots < 64 ? g->max_slots : 64;
  g->heap_cap = cap < 32 ? cap : 32;
  g->slots = calloc(g->n_slots, sizeof *g->slots);
  g->heap = malloc(g->heap_cap * sizeof *g->heap);
  if (g->slots == NULL || g->heap == NULL || pthread_mutex_init(&g->mu, NULL) != 0) {
    free(g->slots);
    free(g->heap);
    free(g);
    return rt_err_set(err, RT_E_NOMEM, "replay guard: out of memory");
  }
  *out = g;
  return RT_OK;
}

rt_code rt_replay_guard_cap_for(int64_t ttl_s, uint64_t rate_milli_per_s, uint64_t burst,
                                size_t *cap, rt_err *err) {
  *cap = RT_REPLAY_GUARD_DEFAULT_CAP;
  if (rate_milli_per_s == 0)
    return RT_OK;
  /* Each factor is bounded by its option's range (rate 10^9, burst 10^6,
   * ttl a day), so the product fits 64 bits. */
  uint64_t per_window = burst + (rate_milli_per_s * (uint64_t)(ttl_s + 1) + 999) / 1000;
  uint64_t n = 2 * per_window;
  if (n > RT_REPLAY_GUARD_MAX_CAP)
    return rt_err_set(err, RT_E_INVALID,
                      "the replay guard would need %llu entries, 2 x (burst %llu + %llu.%03llu/s x "
                      "(session TTL %llds + 1s)), over the %zu allowed: lower --rate-finish or "
                      "--session-ttl",
                      (unsigned long long)n, (unsigned long long)burst,
                      (unsigned long long)(rate_milli_per_s / 1000),
                      (unsigned long long)(rate_milli_per_s % 1000), (long long)ttl_s,
                      RT_REPLAY_GUARD_MAX_CAP);
  *cap = (size_t)n;
  return RT_OK;
}

void rt_replay_guard_free(rt_token_replay_guard *g) {
  if (g == NULL)
    return;
  pthread_mutex_destroy(&g->mu);
  free(g->slots);
  free(g->heap);
  free(g);
}

size_t rt_replay_guard_count(rt_token_replay_guard *g) {
  pthread_mutex_lock(&g->mu);
  size_t n = g->count;
  pthread_mutex_unlock(&g->mu);
  return n;
}

static rt_code guard_insert(rt_token_replay_guard *g, const uint8_t *id, int64_t expires,
                            rt_err *err) {
  if ((g->count + 1) * 2 > g->n_slots && g->n_slots < g->max_slots) {
    rt_code code = set_grow(g, err);
    if (code != RT_OK)
      return code;
  }
  if (g->count == g->heap_cap) {
    size_t n = g->heap_cap * 2 < g->cap ? g->heap_cap * 2 : g->cap;
    heap_entry *nh = realloc(g->heap, n * sizeof *nh);
    if (nh == NULL)
      return rt_err_set(err, RT_E_NOMEM, "replay guard: out of memory");
    g->heap = nh;
    g->heap_cap = n;
  }
  slot *s = &g->slots[set_find(g, id)];
  memcpy(s->id, id, RT_TOKEN_ID_LEN);
  s->used = 1;
  heap_entry e = {.expires = expires};
  memcpy(e.id, id, RT_TOKEN_ID_LEN);
  heap_push(g, &e);
  g->count++;
  return RT_OK;
}

rt_code rt_replay_check_and_mark(rt_token_replay_guard *g, const uint8_t id[RT_TOKEN_ID_LEN],
                                 time_t expires, time_t now, rt_token_reason *reason, rt_err *err) {
  rt_token_reason_set(reason, RT_TOKEN_OK);
  pthread_mutex_lock(&g->mu);
  /* Forget ids that expired: their tokens fail rt_token_open from now on,
   * so remembering them protects nothing. */
  while (g->count > 0 && g->heap[0].expires <= (int64_t)now) {
    set_remove(g, g->heap[0].id);
    heap_pop(g);
    g->count--;
  }
  rt_code code = RT_OK;
  if ((int64_t)expires <= (int64_t)now) {
    rt_token_reason_set(reason, RT_TOKEN_EXPIRED);
    code = rt_err_set(err, RT_E_INVALID, "token expired at %lld (now %lld)", (long long)expires,
                      (long long)now);
  } else if (g->slots[set_find(g, id)].used) {
    rt_token_reason_set(reason, RT_TOKEN_REPLAYED);
    code = rt_err_set(err, RT_E_INVALID, "token already used");
  } else if (g->count >= g->cap) {
    /* Dropping a live id to make room would let its token be replayed, so
     * refuse the new session instead, until ids expire. */
    rt_token_reason_set(reason, RT_TOKEN_GUARD_FULL);
    code = rt_err_set(err, RT_E_NOMEM,
                      "replay guard full: %zu unexpired sessions finished; retry after the "
                      "oldest expires",
                      g->count);
  } else {
    code = guard_insert(g, id, (int64_t)expires, err);
    if (code != RT_OK)
      rt_token_reason_set(reason, RT_TOKEN_FAILURE);
  }
  pthread_mutex_unlock(&g->mu);
  return code;
}
