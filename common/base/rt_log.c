#include "rt_log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static _Atomic int log_level = RT_LOG_WARN;
static const char *log_prog = "rattest";
static _Atomic int log_json = 0;

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

void rt_log_set_json(int on) {
  atomic_store(&log_json, on != 0);
}

/* One JSON object per line. Bytes that are not UTF-8 (messages quote
 * client text only through rt_text_bound, which escapes them, but a path
 * may hold anything) become '?', so the line always parses. */
static void write_json(const char *when, const char *level, char *msg) {
  json_t *m = json_string(msg);
  if (m == NULL) {
    for (char *p = msg; *p != '\0'; p++)
      if ((unsigned char)*p >= 0x80)
        *p = '?';
    m = json_string(msg);
  }
  json_t *o = json_pack("{s:s, s:s, s:s, s:o*}", "time", when, "level", level, "program", log_prog,
                        "message", m);
  char *line = o != NULL ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
  json_decref(o);
  if (line != NULL) {
    fputs(line, stderr);
    fputc('\n', stderr);
    free(line);
  }
}

void rt_log(rt_log_level level, const char *fmt, ...) {
  static const char *const names[] = {"error", "warn", "info", "debug"};
  if ((int)level > atomic_load(&log_level))
    return;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char when[64], second[32];
  strftime(second, sizeof second, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(when, sizeof when, "%s.%03dZ", second, (int)(ts.tv_nsec / 1000000L));
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  /* One locked stream per line so that lines from server threads never
   * interleave. */
  flockfile(stderr);
  if (atomic_load(&log_json))
    write_json(when, names[level], msg);
  else
    fprintf(stderr, "%s %s %s: %s\n", when, log_prog, names[level], msg);
  funlockfile(stderr);
}
