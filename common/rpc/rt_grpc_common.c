#include <dlfcn.h>
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
#include "rt_tls_groups.h"

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

/* Debian builds abseil without NDEBUG, so every absl::Mutex lock and
 * unlock inside grpc (several per call, per connection, per completion-queue
 * handoff) runs abseil's deadlock detector: a stack trace and an update of
 * its global lock graph (GraphCycles) under a global lock, a debugging aid
 * that upstream release builds leave off. Turned off once, before grpc
 * makes its first lock: absl::SetMutexDeadlockDetectionMode(kIgnore). It
 * is C++ behind Debian's inline namespace, so looked up by its mangled name
 * (nm -D libabsl_synchronization.so); absent (another abseil, a static
 * grpc), the detector stays as it was, which only costs CPU. */
static void abseil_deadlock_detection_off(void) {
  static const char *const names[] = {
      "_ZN4absl7debian329SetMutexDeadlockDetectionModeENS0_15OnDeadlockCycleE",
      "_ZN4absl29SetMutexDeadlockDetectionModeENS_15OnDeadlockCycleE",
  };
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    /* absl::OnDeadlockCycle is an enum class of int; kIgnore is 0. */
    void (*set_mode)(int) = NULL;
    *(void **)&set_mode = dlsym(RTLD_DEFAULT, names[i]);
    if (set_mode != NULL) {
      set_mode(0);
      return;
    }
  }
}

static void prepare(void) {
  abseil_deadlock_detection_off();
  rt_tls_groups_widen();
  install_logger();
}

static atomic_int grpc_used;

void rt_grpc_init(void) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, prepare);
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
