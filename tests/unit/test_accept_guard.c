/* The accept4 that grpc's listener calls (rt_accept_guard.c): over the
 * ceiling, and out of descriptors, waiting connections are accepted and
 * closed and the call answers EAGAIN, never EMFILE (which stops grpc 1.51's
 * listener for good); the listener accepts again once there is room. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "rt_accept_guard.h"
#include "rt_test.h"

typedef int (*accept4_fn)(int, struct sockaddr *, socklen_t *, int);

static struct sockaddr_in listen_addr;

static int make_listener(void) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  listen_addr =
      (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof listen_addr;
  if (fd < 0 || bind(fd, (struct sockaddr *)&listen_addr, sizeof listen_addr) != 0 ||
      listen(fd, 16) != 0 || getsockname(fd, (struct sockaddr *)&listen_addr, &len) != 0)
    return -1;
  return fd;
}

/* A connected client (the kernel completes the handshake before accept). */
static int connect_client(void) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct timeval tv = {.tv_sec = 2};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (fd < 0 || connect(fd, (struct sockaddr *)&listen_addr, sizeof listen_addr) != 0)
    return -1;
  return fd;
}

/* 1 when the server side closed the client's connection. */
static int closed_by_server(int client) {
  char b;
  ssize_t n = recv(client, &b, 1, 0);
  return n == 0 || (n < 0 && errno == ECONNRESET);
}

static int lowest_free_fd(void) {
  int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  close(fd);
  return fd;
}

/* Pending connections over the ceiling are closed, EAGAIN answered. */
static void test_ceiling(int listener) {
  int a = connect_client(), b = connect_client();
  unsigned long before = rt_accept_guard_refused();
  rt_accept_guard_set(lowest_free_fd());
  errno = 0;
  int c = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
  CHECK(c == -1 && errno == EAGAIN, "over the ceiling: accept4 gave %d, errno %d", c, errno);
  CHECK(rt_accept_guard_refused() == before + 2, "refused %lu", rt_accept_guard_refused() - before);
  CHECK(closed_by_server(a) && closed_by_server(b), "clients over the ceiling not closed");
  close(a);
  close(b);
  rt_accept_guard_set(0);
  a = connect_client();
  c = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
  CHECK(c >= 0, "without a ceiling: accept4 gave %d, errno %d", c, errno);
  close(c);
  close(a);
}

/* Out of descriptors: libc's accept4 fails EMFILE; the guard's sheds the
 * waiting connections with its spare descriptor and answers EAGAIN, twice
 * in a row (the spare is back), and accepts again once there is room. */
static void test_out_of_descriptors(int listener) {
  accept4_fn libc_accept4 = (accept4_fn)dlsym(RTLD_NEXT, "accept4");
  struct rlimit rl, tight;
  getrlimit(RLIMIT_NOFILE, &rl);
  for (int round = 0; round < 2; round++) {
    int a = connect_client(), b = connect_client();
    unsigned long before = rt_accept_guard_refused();
    tight = (struct rlimit){.rlim_cur = (rlim_t)lowest_free_fd(), .rlim_max = rl.rlim_max};
    CHECK(setrlimit(RLIMIT_NOFILE, &tight) == 0, "cannot lower the descriptor limit");
    errno = 0;
    int c = libc_accept4(listener, NULL, NULL, SOCK_CLOEXEC);
    CHECK(c == -1 && errno == EMFILE, "libc accept4 gave %d, errno %d: not out of descriptors", c,
          errno);
    errno = 0;
    c = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
    int saved = errno;
    setrlimit(RLIMIT_NOFILE, &rl);
    CHECK(c == -1 && saved == EAGAIN, "round %d: accept4 gave %d, errno %d", round, c, saved);
    CHECK(rt_accept_guard_refused() == before + 2, "round %d: refused %lu", round,
          rt_accept_guard_refused() - before);
    CHECK(closed_by_server(a) && closed_by_server(b), "round %d: waiting clients not closed",
          round);
    close(a);
    close(b);
  }
  int a = connect_client();
  int c = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
  CHECK(c >= 0, "with room again: accept4 gave %d, errno %d", c, errno);
  close(c);
  close(a);
}

int main(void) {
  int listener = make_listener();
  CHECK(listener >= 0, "cannot listen on the loopback");
  if (listener < 0)
    return rt_test_done("accept_guard");
  rt_accept_guard_set(0); /* opens the spare descriptor */
  test_ceiling(listener);
  test_out_of_descriptors(listener);
  close(listener);
  return rt_test_done("accept_guard");
}
