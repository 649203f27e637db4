/* Logging to stderr with levels. Messages name objects and outcomes; callers
 * must never pass key material, secrets or nonces-in-flight to it. */
#ifndef RT_LOG_H
#define RT_LOG_H

typedef enum {
  RT_LOG_ERROR = 0,
  RT_LOG_WARN = 1,
  RT_LOG_INFO = 2,
  RT_LOG_DEBUG = 3,
} rt_log_level;

/* Default: RT_LOG_WARN; each -v on a command line raises it by one. */
void rt_log_set_level(rt_log_level level);
rt_log_level rt_log_get_level(void);
/* Program name printed in front of every line. */
void rt_log_set_prog(const char *prog);
/* Lines as JSON objects ({"time", "level", "program", "message"}), for log
 * collectors (`serve --log-format json`), instead of text. */
void rt_log_set_json(int on);

void rt_log(rt_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define rt_error(...) rt_log(RT_LOG_ERROR, __VA_ARGS__)
#define rt_warn(...) rt_log(RT_LOG_WARN, __VA_ARGS__)
#define rt_info(...) rt_log(RT_LOG_INFO, __VA_ARGS__)
#define rt_debug(...) rt_log(RT_LOG_DEBUG, __VA_ARGS__)

#endif
