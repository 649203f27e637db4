/* What a load run measured, and its report: enrollments per second,
 * latency percentiles, errors by refusal code, the verifier's CPU time per
 * enrollment and its memory, from /proc/PID before, during and after;
 * retries and restarts apart from errors. */
#ifndef LG_REPORT_H
#define LG_REPORT_H

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "rt_err.h"

#define LG_MAX_CODES 32
#define LG_RSS_PERIOD_MS 500

/* A process's CPU time and memory (/proc/PID/stat, /proc/PID/status). */
typedef struct {
  int valid;
  uint64_t cpu_ms; /* utime + stime */
  uint64_t rss_kib, hwm_kib;
} lg_proc_sample;

rt_code lg_proc_read(pid_t pid, lg_proc_sample *s, rt_err *err);

typedef struct {
  char code[64];
  uint64_t n;
  char example[256]; /* the first message seen with this code */
} lg_error_count;

typedef struct {
  /* The run's shape, for the report. */
  unsigned concurrency;
  double rate;
  unsigned mix_rsa, mix_ecc;
  const char *ecc_kind;
  pid_t verifier_pid;
  int ping; /* --ping: each "enrollment" a connection with two Pings */
  /* What happened. */
  uint64_t attempted, accepted;
  /* Calls tried again and runs begun again (lg_outcome): not errors. An
   * enrollment that needed either and was accepted is recovered; its
   * latency is its recovery time. */
  uint64_t retries, restarts, recovered;
  double recovery_ms_max;
  double elapsed_s;
  double *latency_ms; /* of accepted enrollments */
  size_t n_latency;
  lg_error_count errors[LG_MAX_CODES];
  size_t n_errors;
  uint64_t other_errors; /* beyond LG_MAX_CODES distinct codes */
  lg_proc_sample before, after;
  /* The verifier's VmRSS sampled every LG_RSS_PERIOD_MS during the load
   * (before and after included): its largest, and how many samples. */
  uint64_t rss_kib_max;
  unsigned rss_samples;
  uint64_t loadgen_cpu_ms;
} lg_results;

/* Counts one failure under code. Not thread-safe: callers lock. */
void lg_results_error(lg_results *r, const char *code, const char *message);
void lg_results_free(lg_results *r);

void lg_report_text(lg_results *r, FILE *f);
/* One JSON object; RT_E_NOMEM when it cannot be built. */
rt_code lg_report_json(lg_results *r, FILE *f, rt_err *err);

#endif
