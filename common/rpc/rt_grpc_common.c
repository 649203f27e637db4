#include <grpc/grpc.h>
#include <grpc/support/log.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

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

static atomic_int grpc_used;

void rt_grpc_init(void) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, install_logger);
  atomic_store(&grpc_used, 1);
  grpc_init();
}

void rt_grpc_end_process(int status) {
  if (!atomic_load(&grpc_used))
    return;
  fflush(NULL);
#if defined(__SANITIZE_ADDRESS__)
  /* _exit skips the leak check the sanitizer runs at exit: run it here. */
  __lsan_do_leak_check();
#endif
  _exit(status);
}
