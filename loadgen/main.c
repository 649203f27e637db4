/* rattest-loadgen: machines without a TPM enrolling against a verifier, to
 * measure it (docs/cli.md, docs/performance.md). */
#include <grpc/grpc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mfr_ca.h"
#include "options.h"
#include "rt_eventlog.h"
#include "rt_file.h"
#include "rt_grpc.h"
#include "rt_log.h"
#include "run.h"

static int fail(const char *msg) {
  fprintf(stderr, "rattest-loadgen: %s\n", msg);
  return 1;
}

/* The log every machine sends, and its replay: the PCRs their quotes cover. */
static rt_code read_log(const char *path, uint8_t **data, size_t *len, rt_eventlog_pcrs *pcrs,
                        rt_err *err) {
  rt_eventlog log;
  memset(&log, 0, sizeof log);
  rt_code code = rt_file_read(path, RT_EVENTLOG_DEFAULT_MAX_SIZE, data, len, err);
  if (code == RT_OK)
    code = rt_eventlog_parse(*data, *len, NULL, &log, err);
  if (code == RT_OK)
    code = rt_eventlog_replay(&log, pcrs, err);
  rt_eventlog_free(&log);
  if (code != RT_OK) {
    free(*data);
    *data = NULL;
    rt_err_prefix(err, "--event-log %s: ", path);
  }
  return code;
}

static int report(const lg_opts *o, lg_results *r) {
  rt_err err;
  if (o->json) {
    if (lg_report_json(r, stdout, &err) != RT_OK)
      return fail(err.msg);
  } else {
    lg_report_text(r, stdout);
  }
  return r->accepted == r->attempted && r->attempted > 0 ? 0 : 1;
}

static int run(const lg_opts *o, const lg_mfr_ca *ca) {
  rt_err err;
  uint8_t *log = NULL;
  size_t log_len = 0;
  rt_eventlog_pcrs *pcrs = calloc(1, sizeof *pcrs);
  if (pcrs == NULL)
    return fail("out of memory");
  if (read_log(o->event_log, &log, &log_len, pcrs, &err) != RT_OK) {
    free(pcrs);
    return fail(err.msg);
  }
  FILE *serials = o->serials != NULL ? fopen(o->serials, "we") : NULL;
  if (o->serials != NULL && serials == NULL) {
    free(pcrs);
    free(log);
    return fail("--serials: cannot create the file");
  }
  lg_run_cfg cfg = {.concurrency = o->concurrency,
                    .rate = o->rate,
                    .duration_ms = o->duration_ms,
                    .count = o->count,
                    .mix_rsa = o->mix_rsa,
                    .mix_ecc = o->mix_ecc,
                    .ecc_kind = o->ecc_kind,
                    .verifier_pid = o->verifier_pid,
                    .serials = serials,
                    .ek_names = o->ek_names,
                    .ping = o->ping,
                    .ca = ca,
                    .target = {.verifier = o->verifier,
                               .ca_file = o->ca_file,
                               .timeout_ms = o->timeout_ms,
                               .key_alg = o->key_alg,
                               .log = log,
                               .log_len = log_len,
                               .pcrs = pcrs,
                               .certs_dir = o->certs_dir}};
  lg_results r = {.concurrency = o->concurrency,
                  .rate = o->rate,
                  .mix_rsa = o->mix_rsa,
                  .mix_ecc = o->mix_ecc,
                  .ecc_kind = lg_ek_kind_name(o->ecc_kind),
                  .verifier_pid = o->verifier_pid,
                  .ping = o->ping};
  /* One gRPC runtime for the whole run: each enrollment's channel would
   * otherwise start and stop it again. */
  rt_grpc_init();
  int rc = lg_run(&cfg, &r, &err) == RT_OK ? report(o, &r) : fail(err.msg);
  grpc_shutdown();
  lg_results_free(&r);
  if (serials != NULL)
    fclose(serials);
  free(log);
  free(pcrs);
  return rc;
}

int main(int argc, char **argv) {
  rt_log_set_prog("rattest-loadgen");
  lg_opts o;
  int st = lg_opts_parse(argc, argv, &o);
  if (st != LG_RUN)
    return st;
  rt_err err;
  lg_mfr_ca ca;
  if (lg_mfr_ca_open(o.ca_dir, &ca, &err) != RT_OK)
    return fail(err.msg);
  int rc = 0;
  if (o.verifier == NULL)
    printf("test manufacturer CA in %s: start the verifier with --ek-ca %s/" LG_CA_CERTS "\n",
           o.ca_dir, o.ca_dir);
  else
    rc = run(&o, &ca);
  lg_mfr_ca_free(&ca);
  return rc;
}
