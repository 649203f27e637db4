#include "report.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rt_file.h"

/* utime and stime: fields 14 and 15 of /proc/PID/stat, counted after the
 * command name's closing parenthesis (the name may hold spaces). */
static rt_code read_cpu(pid_t pid, lg_proc_sample *s, rt_err *err) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
  uint8_t *data = NULL;
  size_t len = 0;
  rt_code code = rt_file_read(path, 1u << 16, &data, &len, err);
  if (code != RT_OK)
    return code;
  const char *p = strrchr((const char *)data, ')');
  unsigned long long utime = 0, stime = 0;
  /* After ")": state (field 3) ... utime (14), stime (15). */
  int n =
      p ? sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime)
        : 0;
  free(data);
  if (n != 2)
    return rt_err_set(err, RT_E_INVALID, "%s: unexpected format", path);
  long hz = sysconf(_SC_CLK_TCK);
  s->cpu_ms = (utime + stime) * 1000u / (unsigned long long)(hz > 0 ? hz : 100);
  return RT_OK;
}

/* A "Key:   N kB" line of /proc/PID/status. */
static uint64_t status_kib(const char *status, const char *key) {
  const char *p = strstr(status, key);
  unsigned long long v = 0;
  if (p == NULL || sscanf(p + strlen(key), " %llu", &v) != 1)
    return 0;
  return v;
}

rt_code lg_proc_read(pid_t pid, lg_proc_sample *s, rt_err *err) {
  memset(s, 0, sizeof *s);
  rt_code code = read_cpu(pid, s, err);
  if (code != RT_OK)
    return code;
  char path[64];
  snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
  uint8_t *data = NULL;
  size_t len = 0;
  code = rt_file_read(path, 1u << 16, &data, &len, err);
  if (code != RT_OK)
    return code;
  s->rss_kib = status_kib((const char *)data, "\nVmRSS:");
  s->hwm_kib = status_kib((const char *)data, "\nVmHWM:");
  free(data);
  s->valid = 1;
  return RT_OK;
}

void lg_results_error(lg_results *r, const char *code, const char *message) {
  for (size_t i = 0; i < r->n_errors; i++)
    if (strcmp(r->errors[i].code, code) == 0) {
      r->errors[i].n++;
      return;
    }
  if (r->n_errors == LG_MAX_CODES) {
    r->other_errors++;
    return;
  }
  lg_error_count *e = &r->errors[r->n_errors++];
  snprintf(e->code, sizeof e->code, "%s", code);
  snprintf(e->example, sizeof e->example, "%.255s", message);
  e->n = 1;
}

void lg_results_free(lg_results *r) {
  free(r->latency_ms);
  r->latency_ms = NULL;
  r->n_latency = 0;
}

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void sort_latency(lg_results *r) {
  if (r->n_latency > 0)
    qsort(r->latency_ms, r->n_latency, sizeof *r->latency_ms, by_value);
}

/* Nearest-rank percentile of the sorted latencies; 0 without any. */
static double percentile(const lg_results *r, double p) {
  if (r->n_latency == 0)
    return 0;
  double exact = p / 100.0 * (double)r->n_latency;
  size_t rank = (size_t)exact;
  if ((double)rank < exact)
    rank++;
  return r->latency_ms[rank == 0 ? 0 : rank - 1];
}

static uint64_t errors_total(const lg_results *r) {
  return r->attempted - r->accepted;
}

/* Verifier CPU per accepted enrollment, ms; negative when unknown. */
static double cpu_per_enrollment(const lg_results *r) {
  if (!r->before.valid || !r->after.valid || r->accepted == 0)
    return -1;
  return (double)(r->after.cpu_ms - r->before.cpu_ms) / (double)r->accepted;
}

void lg_report_text(lg_results *r, FILE *f) {
  sort_latency(r);
  if (r->ping)
    fprintf(f, "load: %u machines pinging (each enrollment: a connection, two Pings), %s",
            r->concurrency, r->rate > 0 ? "open loop" : "closed loop");
  else
    fprintf(f, "load: %u machines (EK rsa:%s = %u:%u), %s", r->concurrency, r->ecc_kind, r->mix_rsa,
            r->mix_ecc, r->rate > 0 ? "open loop" : "closed loop");
  if (r->rate > 0)
    fprintf(f, " at %.1f/s", r->rate);
  fprintf(f, "\nenrollments: %llu accepted, %llu errors in %.2f s: %.1f enrollments/s\n",
          (unsigned long long)r->accepted, (unsigned long long)errors_total(r), r->elapsed_s,
          r->elapsed_s > 0 ? (double)r->accepted / r->elapsed_s : 0.0);
  fprintf(f, "latency ms: p50 %.1f  p95 %.1f  p99 %.1f  max %.1f\n", percentile(r, 50),
          percentile(r, 95), percentile(r, 99), percentile(r, 100));
  for (size_t i = 0; i < r->n_errors; i++)
    fprintf(f, "error %s: %llu (%s)\n", r->errors[i].code, (unsigned long long)r->errors[i].n,
            r->errors[i].example);
  if (r->other_errors)
    fprintf(f, "errors under further codes: %llu\n", (unsigned long long)r->other_errors);
  fprintf(f,
          "retries: %llu calls tried again, %llu runs begun again after a lost or unrecorded "
          "Finish; %llu enrollments recovered, the longest in %.1f ms\n",
          (unsigned long long)r->retries, (unsigned long long)r->restarts,
          (unsigned long long)r->recovered, r->recovery_ms_max);
  double cpu = cpu_per_enrollment(r);
  if (r->before.valid && r->after.valid)
    fprintf(f,
            "verifier (pid %ld): CPU %llu ms, %.2f ms per enrollment; RSS %.1f MiB before, "
            "%.1f MiB after, at most %.1f MiB in %u samples, peak %.1f MiB\n",
            (long)r->verifier_pid, (unsigned long long)(r->after.cpu_ms - r->before.cpu_ms),
            cpu < 0 ? 0.0 : cpu, r->before.rss_kib / 1024.0, r->after.rss_kib / 1024.0,
            r->rss_kib_max / 1024.0, r->rss_samples, r->after.hwm_kib / 1024.0);
  fprintf(f, "loadgen CPU: %llu ms\n", (unsigned long long)r->loadgen_cpu_ms);
}

static json_t *verifier_json(const lg_results *r) {
  if (!r->before.valid || !r->after.valid)
    return json_null();
  double cpu = cpu_per_enrollment(r);
  return json_pack("{s:I, s:I, s:o, s:I, s:I, s:I, s:I, s:I}", "pid", (json_int_t)r->verifier_pid,
                   "cpu_ms", (json_int_t)(r->after.cpu_ms - r->before.cpu_ms),
                   "cpu_ms_per_enrollment", cpu < 0 ? json_null() : json_real(cpu),
                   "rss_kib_before", (json_int_t)r->before.rss_kib, "rss_kib_after",
                   (json_int_t)r->after.rss_kib, "rss_kib_max_sampled", (json_int_t)r->rss_kib_max,
                   "rss_samples", (json_int_t)r->rss_samples, "rss_kib_peak",
                   (json_int_t)r->after.hwm_kib);
}

rt_code lg_report_json(lg_results *r, FILE *f, rt_err *err) {
  sort_latency(r);
  json_t *codes = json_object();
  for (size_t i = 0; codes != NULL && i < r->n_errors; i++)
    json_object_set_new(codes, r->errors[i].code, json_integer((json_int_t)r->errors[i].n));
  if (codes != NULL && r->other_errors)
    json_object_set_new(codes, "OTHER", json_integer((json_int_t)r->other_errors));
  json_t *o = json_pack(
      "{s:s, s:I, s:f, s:{s:I, s:I, s:s}, s:I, s:I, s:I, s:{s:I, s:I, s:I, s:f}, s:f, s:f, s:{s:f, "
      "s:f, s:f, s:f}, s:o, s:o, s:I}",
      "mode", r->ping ? "ping" : "enroll", "concurrency", (json_int_t)r->concurrency, "rate",
      r->rate, "ek_mix", "rsa", (json_int_t)r->mix_rsa, "ecc", (json_int_t)r->mix_ecc, "ecc_curve",
      r->ecc_kind, "attempted", (json_int_t)r->attempted, "accepted", (json_int_t)r->accepted,
      "errors", (json_int_t)errors_total(r), "recovery", "retries", (json_int_t)r->retries,
      "restarts", (json_int_t)r->restarts, "recovered", (json_int_t)r->recovered, "max_ms",
      r->recovery_ms_max, "elapsed_s", r->elapsed_s, "enrollments_per_s",
      r->elapsed_s > 0 ? (double)r->accepted / r->elapsed_s : 0.0, "latency_ms", "p50",
      percentile(r, 50), "p95", percentile(r, 95), "p99", percentile(r, 99), "max",
      percentile(r, 100), "errors_by_code", codes, "verifier", verifier_json(r), "loadgen_cpu_ms",
      (json_int_t)r->loadgen_cpu_ms);
  if (o == NULL)
    return rt_err_set(err, RT_E_NOMEM, "cannot build the JSON report");
  int rc = json_dumpf(o, f, JSON_COMPACT);
  fputc('\n', f);
  json_decref(o);
  return rc == 0 ? RT_OK : rt_err_set(err, RT_E_IO, "cannot write the JSON report");
}
