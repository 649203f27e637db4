/* `rattest-verifier eventlog`: parse a TCG event log file, list its events
 * and the PCR values its replay gives, as text or JSON. */
#ifndef RT_VERIFIER_CMD_EVENTLOG_H
#define RT_VERIFIER_CMD_EVENTLOG_H

#include <stdio.h>

/* argv[0] is the command name ("eventlog"). Returns the exit status: 0 on
 * success, 1 when the log cannot be read or is malformed, 2 on bad usage. */
int rt_cmd_eventlog(int argc, char **argv);

/* The command's --help text, for `rattest-verifier help eventlog`. */
void rt_cmd_eventlog_usage(FILE *f);

#endif
