/* rattest-verifier: command-line front end. Each command lives in its own
 * cmd_*.c; this table is both the dispatch and the help's command list. */
#include <getopt.h>

#include "cmd_crl.h"
#include "cmd_ekcert.h"
#include "cmd_eventlog.h"
#include "cmd_machines.h"
#include "cmd_platformcert.h"
#include "cmd_policy.h"
#include "cmd_revoke.h"
#include "cmd_serve.h"
#include "cmd_token_key.h"
#include "rt_cli.h"
#include "rt_log.h"
#include "rt_tpm.h"

static const rt_cli_command commands[] = {
    {"serve", rt_cmd_serve, rt_cmd_serve_usage, "run the rattest.v1.Attestation gRPC service"},
    {"eventlog", rt_cmd_eventlog, rt_cmd_eventlog_usage,
     "parse a TCG event log and replay its PCRs"},
    {"ek-cert", rt_cmd_ekcert, rt_cmd_ekcert_usage,
     "check EK certificates against a manufacturer CA bundle"},
    {"policy", rt_cmd_policy, rt_cmd_policy_usage,
     "make a policy from a known-good event log, or check a log"},
    {"platform-cert", rt_cmd_platformcert, rt_cmd_platformcert_usage,
     "check a TCG platform certificate against platform CAs"},
    {"token-key", rt_cmd_token_key, rt_cmd_token_key_usage,
     "write a new session token key file (for --token-key)"},
    {"machines", rt_cmd_machines, rt_cmd_machines_usage,
     "list, show, register or unbind machines in the registry (--db)"},
    {"revoke", rt_cmd_revoke, rt_cmd_revoke_usage,
     "revoke certificates or an EK in the registry (--db)"},
    {"crl", rt_cmd_crl, rt_cmd_crl_usage,
     "print the issuing CA's CRL of the registry's revoked certificates"},
};

static const rt_cli_program program = {
    .name = "rattest-verifier",
    .about = "The rattest verifier: a gRPC service (TLS) that checks a machine's TPM\n"
             "evidence and issues x509 certificates for its TPM-resident keys.\n",
    .commands = commands,
    .n_commands = sizeof commands / sizeof commands[0],
};

int main(int argc, char **argv) {
  rt_log_set_prog(program.name);
  /* A service logs its decisions by default; -v adds debug detail. */
  rt_log_set_level(RT_LOG_INFO);
  int status = rt_cli_globals(&program, argc, argv);
  if (status != RT_CLI_RUN_COMMAND)
    return status;
  /* libtss2-mu logs every malformed structure a client sends on stderr:
   * without this, any client could fill the verifier's log. The verifier
   * reports refusals itself (audit line, rt_log). */
  rt_tpm_quiet_tss_logs();
  return rt_cli_dispatch(&program, argc - optind, argv + optind);
}
