/* The provider's TPM connection: one per provider instance, shared by the
 * threads of the process and by every process forked after it was opened.
 *
 * Why a forked child shares its parent's connection instead of opening its
 * own (what servers such as nginx do: the master loads the key, then forks
 * the workers that sign):
 * - without a resource manager the TPM takes one connection at a time:
 *   /dev/tpm0 refuses a second open while the parent holds it;
 * - the tabrmd TCTI runs over GDBus, which does not work in a child forked
 *   after the parent used it;
 * - a child reloading the key would need one more transient object per
 *   child, and a TPM without a resource manager holds only three.
 * The inherited connection already holds the loaded key, so a child signs
 * with exactly one TPM command, like its parent. What makes this safe is
 * that commands never interleave: the lock lives in shared memory
 * (process-shared, robust), so one command at a time is sent and answered,
 * whichever process or thread sends it, and no fork happens in the middle
 * of a command (see the fork handlers below). */
#include <errno.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <unistd.h>

#include "provider.h"

struct rt_prov_conn {
  pthread_mutex_t lock;
  /* A process died holding the lock, perhaps between a command and its
   * answer: the answer may still wait on the connection, so nobody can tell
   * whose answer the next read returns. Set for good. */
  int broken;
};

/* A new lock in memory that forked children share with us. */
static rt_prov_conn *conn_new(void) {
  void *p =
      mmap(NULL, sizeof(rt_prov_conn), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED)
    return NULL;
  rt_prov_conn *c = p;
  c->broken = 0;
  pthread_mutexattr_t attr;
  if (pthread_mutexattr_init(&attr) != 0) {
    munmap(p, sizeof *c);
    return NULL;
  }
  /* Robust: if the holder dies, the next locker hears of it (EOWNERDEAD)
   * instead of waiting for ever. */
  int ok = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED) == 0 &&
           pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST) == 0 &&
           pthread_mutex_init(&c->lock, &attr) == 0;
  pthread_mutexattr_destroy(&attr);
  if (!ok) {
    munmap(p, sizeof *c);
    return NULL;
  }
  return c;
}

/* Takes c's lock. When its holder died (EOWNERDEAD), the lock is made
 * usable again, and if this process has a connection behind it the
 * connection is marked broken: a command of the dead holder may still await
 * its answer on it. Without a connection of ours nothing is lost. Returns 0
 * when the lock is held. */
static int lock_conn(rt_provctx *ctx, rt_prov_conn *c) {
  int r = pthread_mutex_lock(&c->lock);
  if (r == EOWNERDEAD) {
    if (ctx->tpm != NULL)
      c->broken = 1;
    pthread_mutex_consistent(&c->lock);
    r = 0;
  }
  return r;
}

/* Every provider instance of the process, for the fork handlers. */
static pthread_mutex_t instances_lock = PTHREAD_MUTEX_INITIALIZER;
static rt_provctx *instances;
static pthread_once_t handlers_once = PTHREAD_ONCE_INIT;

/* A fork must not fall inside a command: the child would keep a copy of a
 * mid-command ESYS context, and with the swtpm TCTI (one socket per
 * command) its copy of the socket would hold swtpm on a finished command
 * while our next command waits for ever. So before fork every connection's
 * lock is taken (commands in flight finish first) and after it released.
 * glibc drops these handlers when the module is unloaded. */
static void before_fork(void) {
  pthread_mutex_lock(&instances_lock);
  for (rt_provctx *ctx = instances; ctx != NULL; ctx = ctx->next)
    lock_conn(ctx, atomic_load(&ctx->conn));
}

static void after_fork_parent(void) {
  for (rt_provctx *ctx = instances; ctx != NULL; ctx = ctx->next)
    pthread_mutex_unlock(&atomic_load(&ctx->conn)->lock);
  pthread_mutex_unlock(&instances_lock);
}

/* The locks are in shared memory: the parent's handler releases them, once
 * for both processes. Only the list's lock is the child's own copy. */
static void after_fork_child(void) {
  pthread_mutex_unlock(&instances_lock);
}

static void install_handlers(void) {
  pthread_atfork(before_fork, after_fork_parent, after_fork_child);
}

int rt_prov_conn_init(rt_provctx *ctx) {
  rt_prov_conn *c = conn_new();
  if (c == NULL)
    return 0;
  atomic_store(&ctx->conn, c);
  pthread_once(&handlers_once, install_handlers);
  pthread_mutex_lock(&instances_lock);
  ctx->next = instances;
  instances = ctx;
  pthread_mutex_unlock(&instances_lock);
  return 1;
}

/* Connections inherited from a parent are not finalized in the child: the
 * mssim TCTI would end the parent's session, the tabrmd one would touch
 * GDBus. Their memory stays reachable here until the process ends. */
static rt_tpm *inherited[8];

void rt_prov_conn_free(rt_provctx *ctx) {
  pthread_mutex_lock(&instances_lock);
  for (rt_provctx **p = &instances; *p != NULL; p = &(*p)->next) {
    if (*p == ctx) {
      *p = ctx->next;
      break;
    }
  }
  pthread_mutex_unlock(&instances_lock);
  if (ctx->tpm != NULL) {
    if (ctx->pid == getpid()) {
      rt_tpm_close(ctx->tpm);
    } else {
      for (size_t i = 0; i < sizeof inherited / sizeof inherited[0]; i++) {
        if (inherited[i] == NULL) {
          inherited[i] = ctx->tpm;
          break;
        }
      }
    }
    ctx->tpm = NULL;
  }
  rt_prov_conn *c = atomic_load(&ctx->conn);
  if (c != NULL)
    munmap(c, sizeof *c);
  if (ctx->conn_retired != NULL)
    munmap(ctx->conn_retired, sizeof *ctx->conn_retired);
}

/* Opens this process's own connection, with the lock `held` held. It gets a
 * lock of its own, so processes still opening theirs under `held` (without
 * a resource manager a second open may block or fail while a connection is
 * open) never stop this connection's users. On success the new lock is held
 * instead. */
static rt_code open_connection(rt_provctx *ctx, rt_prov_conn *held, rt_err *err) {
  rt_prov_conn *fresh = conn_new();
  if (fresh == NULL)
    return rt_err_set(err, RT_E_NOMEM, "cannot allocate the TPM connection lock");
  rt_code rc = rt_tpm_open(ctx->tcti[0] != '\0' ? ctx->tcti : NULL, &ctx->tpm, err);
  if (rc != RT_OK || pthread_mutex_lock(&fresh->lock) != 0) {
    rt_tpm_close(ctx->tpm);
    ctx->tpm = NULL;
    munmap(fresh, sizeof *fresh);
    return rc != RT_OK ? rc : rt_err_set(err, RT_E_INTERNAL, "cannot lock the TPM connection");
  }
  ctx->pid = getpid();
  /* Threads of this process waiting on `held` see the switch once they get
   * it, and come over to the new lock. */
  atomic_store(&ctx->conn, fresh);
  ctx->conn_retired = held;
  pthread_mutex_unlock(&held->lock);
  return RT_OK;
}

rt_code rt_prov_tpm_acquire(rt_provctx *ctx, rt_tpm **tpm, rt_err *err) {
  *tpm = NULL;
  for (;;) {
    rt_prov_conn *c = atomic_load(&ctx->conn);
    if (lock_conn(ctx, c) != 0)
      return rt_err_set(err, RT_E_INTERNAL, "cannot lock the TPM connection");
    if (c != atomic_load(&ctx->conn)) {
      pthread_mutex_unlock(&c->lock);
      continue;
    }
    if (c->broken) {
      pthread_mutex_unlock(&c->lock);
      return rt_err_set(err, RT_E_TPM,
                        "the TPM connection is unusable: a process sharing it died during a "
                        "TPM command (restart the process that loaded the key)");
    }
    if (ctx->tpm == NULL) {
      rt_code rc = open_connection(ctx, c, err);
      if (rc != RT_OK) {
        pthread_mutex_unlock(&c->lock);
        return rc;
      }
    }
    *tpm = ctx->tpm;
    return RT_OK;
  }
}

void rt_prov_tpm_release(rt_provctx *ctx) {
  pthread_mutex_unlock(&atomic_load(&ctx->conn)->lock);
}
