/* rattest-loadgen's command line (docs/cli.md, "rattest-loadgen"). */
#ifndef LG_OPTIONS_H
#define LG_OPTIONS_H

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "machine.h"
#include "rt_templates.h"

typedef struct {
  const char *verifier, *ca_file, *ca_dir, *event_log, *certs_dir, *serials;
  unsigned concurrency;
  double rate;
  uint64_t duration_ms, count, timeout_ms;
  unsigned mix_rsa, mix_ecc;
  lg_ek_kind ecc_kind;
  rt_key_alg key_alg;
  pid_t verifier_pid;
  int json;
  int ek_names;
  int ping;
} lg_opts;

/* lg_opts_parse returns this when there is something to run. */
#define LG_RUN (-1)

/* Parses argv into o: LG_RUN, or the exit status (0 after --help, 2 after
 * bad usage, reported on stderr). */
int lg_opts_parse(int argc, char **argv, lg_opts *o);

#endif
