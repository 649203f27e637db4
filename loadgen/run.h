/* The load: one thread per emulated machine, each enrolling again and
 * again, in a closed loop (the next enrollment as soon as the last one
 * ends) or an open loop (enrollment i due at start + i / rate, taken by the
 * next free thread; latency counted from when it was due, so a verifier
 * falling behind shows in the latency instead of slowing the load). */
#ifndef LG_RUN_H
#define LG_RUN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "enroll.h"
#include "mfr_ca.h"
#include "report.h"

typedef struct {
  unsigned concurrency;
  double rate;          /* enrollments per second; 0: closed loop */
  uint64_t duration_ms; /* 0: until count */
  uint64_t count;       /* 0: until duration */
  unsigned mix_rsa, mix_ecc;
  lg_ek_kind ecc_kind;
  pid_t verifier_pid; /* 0: not sampled */
  FILE *serials;      /* NULL, or where each accepted serial goes, one a line */
  int ek_names;       /* machines named after their EKs (lg_machine_use_ek_name) */
  int ping;           /* each iteration lg_ping, not an enrollment: no machines made */
  const lg_mfr_ca *ca;
  lg_target target;
} lg_run_cfg;

/* Makes the machines, runs the load, fills r (release with
 * lg_results_free). RT_OK when the load ran, whatever the verifier said;
 * an error when the machines could not be made. */
rt_code lg_run(const lg_run_cfg *cfg, lg_results *r, rt_err *err);

#endif
