/* Minimal assertion helpers for the C tests: every CHECK counts, a failure
 * prints where and why, and rt_test_done() prints the closing
 * "N passed, M failed" line and the exit status. */
#ifndef RT_TEST_H
#define RT_TEST_H

#include <stdio.h>
#include <string.h>

static int rt_test_passed, rt_test_failed;

#define CHECK(cond, ...)                                                                           \
  do {                                                                                             \
    if (cond) {                                                                                    \
      rt_test_passed++;                                                                            \
    } else {                                                                                       \
      rt_test_failed++;                                                                            \
      fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                              \
      fprintf(stderr, __VA_ARGS__);                                                                \
      fputc('\n', stderr);                                                                         \
    }                                                                                              \
  } while (0)

#define CHECK_STR_CONTAINS(hay, needle)                                                            \
  CHECK(strstr((hay), (needle)) != NULL, "\"%s\" does not contain \"%s\"", (hay), (needle))

static inline int rt_test_done(const char *name) {
  printf("%s: %d passed, %d failed\n", name, rt_test_passed, rt_test_failed);
  return rt_test_failed == 0 && rt_test_passed > 0 ? 0 : 1;
}

#endif
