#define _GNU_SOURCE
#include "rt_accept_guard.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "rt_log.h"

/* At most one warning about refused connections per this many seconds: a
 * flood must not become a flood of log lines. */
#define WARN_INTERVAL_S 10

typedef int (*accept4_fn)(int, struct sockaddr *, socklen_t *, int);

static pthread_once_t resolve_once = PTHREAD_ONCE_INIT;
static accept4_fn libc_accept4;
static atomic_int ceiling;
static atomic_ulong refused;
static atomic_llong last_warn_s;
/* A descriptor kept open to be given up when there is no other, so that
 * a waiting connection can still be accepted, and closed. */
static pthread_mutex_t spare_lock = PTHREAD_MUTEX_INITIALIZER;
static int spare = -1;

static void resolve(void) {
  libc_accept4 = (accept4_fn)dlsym(RTLD_NEXT, "accept4");
}

static long long now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec;
}

static void note_refused(void) {
  unsigned long n = atomic_fetch_add(&refused, 1) + 1;
  long long now = now_s(), last = atomic_load(&last_warn_s);
  if (now - last >= WARN_INTERVAL_S && atomic_compare_exchange_strong(&last_warn_s, &last, now))
    rt_warn("connections refused: %lu so far (at --max-connections, or out of descriptors)", n);
}

/* Out of descriptors: gives up the spare one to accept the oldest waiting
 * connection and close it. 0 when that was not possible. */
static int shed_one(int listener) {
  int done = 0;
  pthread_mutex_lock(&spare_lock);
  if (spare >= 0) {
    close(spare);
    int c = libc_accept4(listener, NULL, NULL, SOCK_CLOEXEC);
    if (c >= 0) {
      close(c);
      done = 1;
    }
  }
  spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
  pthread_mutex_unlock(&spare_lock);
  return done;
}

void rt_accept_guard_set(int max_fd) {
  pthread_mutex_lock(&spare_lock);
  if (spare < 0)
    spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
  pthread_mutex_unlock(&spare_lock);
  atomic_store(&ceiling, max_fd > 0 ? max_fd : 0);
}

unsigned long rt_accept_guard_refused(void) {
  return atomic_load(&refused);
}

/* grpc's listener calls this one. It returns a connection, or fails with
 * EAGAIN, EINTR or what libc's gives for a bad listener; never with EMFILE,
 * ENFILE, ENOBUFS, ENOMEM or a connection aborted before it was accepted,
 * which would stop grpc's listener for good. Connections over the ceiling,
 * and the ones waiting while descriptors are out, are accepted and closed:
 * their clients see the connection closed at once, instead of waiting in
 * the backlog. */
int accept4(int listener, struct sockaddr *addr, socklen_t *addr_len, int flags) {
  pthread_once(&resolve_once, resolve);
  if (libc_accept4 == NULL) {
    errno = ENOSYS;
    return -1;
  }
  socklen_t room = addr_len != NULL ? *addr_len : 0;
  for (;;) {
    if (addr_len != NULL)
      *addr_len = room; /* a refused connection's address may have shrunk it */
    int c = libc_accept4(listener, addr, addr_len, flags);
    if (c >= 0) {
      int max_fd = atomic_load(&ceiling);
      if (max_fd == 0 || c < max_fd)
        return c;
      close(c);
      note_refused();
    } else if (errno == EMFILE || errno == ENFILE) {
      if (!shed_one(listener)) {
        /* grpc waits for the next connection and tries again then. */
        errno = EAGAIN;
        return -1;
      }
      note_refused();
    } else if (errno == ENOBUFS || errno == ENOMEM) {
      errno = EAGAIN; /* the connection waits for the next attempt */
      return -1;
    } else if (errno != ECONNABORTED && errno != EPROTO && errno != EPERM) {
      return -1;
    }
  }
}
