#include "rt_log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

static _Atomic int log_level = RT_LOG_WARN;
static const char *log_prog = "rattest";

void rt_log_set_level(rt_log_level level) {
  if (level < RT_LOG_ERROR)
    level = RT_LOG_ERROR;
  if (level > RT_LOG_DEBUG)
    level = RT_LOG_DEBUG;
  atomic_store(&log_level, (int)level);
}

rt_log_level rt_log_get_level(void) {
  return (rt_log_level)atomic_load(&log_level);
}

void rt_log_set_prog(const char *prog) {
  log_prog = prog;
}

void rt_log(rt_log_level level, const char *fmt, ...) {
  static const char *const names[] = {"error", "warn", "info", "debug"};
  if ((int)level > atomic_load(&log_level))
    return;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char when[32];
  strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);

  /* One locked stream per line so that lines from server threads never
   * interleave. */
  flockfile(stderr);
  fprintf(stderr, "%s.%03ldZ %s %s: ", when, ts.tv_nsec / 1000000L, log_prog, names[level]);
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  funlockfile(stderr);
}
