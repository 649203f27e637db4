/* The bootstrap's state.json (rt_state_load: the JSON, every identity and
 * secret field, the links between them), written as a 0600 file in a
 * private directory as the bootstrap and the provider find it, then read
 * back through every accessor. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "rt_state.h"

static int visit(const rt_identity *id, void *ctx) {
  rt_identity again;
  rt_err err;
  (void)rt_state_get(ctx, id->name, &again, &err);
  return 0;
}

static int visit_secret(const rt_secret_entry *s, void *ctx) {
  rt_secret_entry again;
  rt_err err;
  (void)rt_state_secret_get(ctx, s->name, &again, &err);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char path[PATH_MAX];
  rt_state *st = NULL;
  rt_err err;
  fuzz_write_file("state.json", data, size, path);
  if (rt_state_load(fuzz_tmpdir(), &st, &err) == RT_OK) {
    (void)rt_state_count(st);
    (void)rt_state_secret_count(st);
    (void)rt_state_foreach(st, visit, st, &err);
    (void)rt_state_secret_foreach(st, visit_secret, st, &err);
  }
  rt_state_free(st);
  return 0;
}
