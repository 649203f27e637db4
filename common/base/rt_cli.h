/* What the command-line front ends share: the subcommand table that both
 * dispatch and the help listing read, so the two cannot disagree; and small
 * parsers, so that every binary rejects malformed numbers the same way
 * instead of letting atoi() turn "abc" into 0. */
#ifndef RT_CLI_H
#define RT_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "rt_err.h"

/* Decimal or 0x-hex unsigned integer in [min, max]. */
rt_code rt_cli_parse_u64(const char *opt, const char *s, uint64_t min, uint64_t max, uint64_t *out,
                         rt_err *err);

/* Byte size: "4194304", "512KiB", "4MiB", "1GiB" (also K/M/G). */
rt_code rt_cli_parse_size(const char *opt, const char *s, size_t *out, rt_err *err);

/* Duration in milliseconds: "500ms", "30s", "5m", "2h"; a bare number is
 * seconds. */
rt_code rt_cli_parse_duration_ms(const char *opt, const char *s, uint64_t *out, rt_err *err);

/* An address "HOST:PORT": HOST a name or IPv4 address ([A-Za-z0-9._-]),
 * or an IPv6 address in brackets ("[::1]:50051"); PORT decimal, in
 * [min_port, 65535] (min_port 0 lets a listener pick a free port). Required
 * in full: gRPC would take a missing port as 443 and a larger one modulo
 * 65536. Errors name opt. *port (may be NULL) gets the port. */
rt_code rt_cli_parse_hostport(const char *opt, const char *s, unsigned min_port, uint16_t *port,
                              rt_err *err);

/* One subcommand of a program. */
typedef struct {
  const char *name;
  /* Runs the command: argv[0] is its name, the rest its arguments. Returns
   * the exit status. */
  int (*run)(int argc, char **argv);
  /* Prints the command's help for `help NAME`, ending with its exit
   * statuses; NULL: the program's. */
  void (*usage)(FILE *f);
  /* Its line in the program's command list; a '\n' continues under the
   * summary column. */
  const char *summary;
} rt_cli_command;

/* A program with subcommands. Besides its commands it has `help [COMMAND]`
 * and `version`, and the global options -v/--verbose (more log output),
 * -h/--help and -V/--version before the command. */
typedef struct {
  const char *name;  /* "rattest-bootstrap": messages, usage, version */
  const char *about; /* paragraph between the usage line and the commands */
  const rt_cli_command *commands;
  size_t n_commands;
  const char *epilogue; /* paragraph after the global options, or NULL */
} rt_cli_program;

/* The command called name, NULL when the program has none (help and version
 * are not in the table). */
const rt_cli_command *rt_cli_find(const rt_cli_program *p, const char *name);

/* The program's help: usage line, about, the command list made from the
 * table, the global options, the epilogue. */
void rt_cli_usage(const rt_cli_program *p, FILE *f);

/* rt_cli_globals returns this when a command follows at argv[optind]. */
#define RT_CLI_RUN_COMMAND (-1)

/* Parses the global options up to the command (getopt's "+": the command's
 * options are the command's). Returns RT_CLI_RUN_COMMAND, or the exit status
 * when there is nothing to run: 0 after -h or -V, 2 after a bad option or
 * without a command (usage on stderr). Apart from rt_cli_dispatch so that a
 * program can act on the log level -v set before its command runs. */
int rt_cli_globals(const rt_cli_program *p, int argc, char **argv);

/* Runs the command argv[0] (argc >= 1): one of the table's, `help
 * [COMMAND]` or `version`. An unknown command, run or asked for by `help`,
 * is reported with the usage on stderr, status 2. */
int rt_cli_dispatch(const rt_cli_program *p, int argc, char **argv);

#endif
