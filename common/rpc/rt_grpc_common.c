#include <grpc/grpc.h>
#include <grpc/support/log.h>
#include <pthread.h>

#include "rt_grpc.h"
#include "rt_log.h"

/* grpc core prints its own lines ("E1127 ... Handshake failed") on stderr.
 * Everything it reports reaches us as a call status too, so its lines are
 * only debug detail: send them through our logger at that level. */
static void grpc_log(gpr_log_func_args *args) {
  rt_debug("grpc: %s", args->message);
}

static void install_logger(void) {
  gpr_set_log_verbosity(GPR_LOG_SEVERITY_INFO);
  gpr_set_log_function(grpc_log);
}

void rt_grpc_init(void) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, install_logger);
  grpc_init();
}

const char *rt_grpc_status_name(grpc_status_code status) {
  static const char *const names[] = {"OK",
                                      "CANCELLED",
                                      "UNKNOWN",
                                      "INVALID_ARGUMENT",
                                      "DEADLINE_EXCEEDED",
                                      "NOT_FOUND",
                                      "ALREADY_EXISTS",
                                      "PERMISSION_DENIED",
                                      "RESOURCE_EXHAUSTED",
                                      "FAILED_PRECONDITION",
                                      "ABORTED",
                                      "OUT_OF_RANGE",
                                      "UNIMPLEMENTED",
                                      "INTERNAL",
                                      "UNAVAILABLE",
                                      "DATA_LOSS",
                                      "UNAUTHENTICATED"};
  if ((int)status >= 0 && (size_t)status < sizeof names / sizeof names[0])
    return names[status];
  return "UNKNOWN_STATUS";
}
