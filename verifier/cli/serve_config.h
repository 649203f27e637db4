/* `serve --config FILE`: every serve option from a JSON object, keyed by
 * the option's long name without "--" ({"listen": "0.0.0.0:50051",
 * "ek-aia-fetch": true, "threads": 16}). The file's options go in front of
 * the command line's, so a flag given on the command line overrides the
 * file. Unknown keys, "config" and "help" are refused, naming the key. */
#ifndef RT_VERIFIER_SERVE_CONFIG_H
#define RT_VERIFIER_SERVE_CONFIG_H

#include <getopt.h>

#include "rt_err.h"

/* What the command line becomes: argv[0], the file's options, then the
 * command line's options without --config FILE. Owns its strings (the
 * options keep pointing into them while serving). */
typedef struct {
  int argc;
  char **argv;
  char **owned; /* the strings made from the file */
  int n_owned;
} rt_serve_args;

/* Fills args from argc/argv and the --config file named there, if any;
 * RT_E_INVALID with a message naming the file and key on a bad file. */
rt_code rt_serve_config_args(const struct option *table, int argc, char **argv, rt_serve_args *args,
                             rt_err *err);
void rt_serve_args_free(rt_serve_args *args);

#endif
