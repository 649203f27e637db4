/* The gRPC layer against itself over real TLS on loopback: the verifier's
 * own methods plus test-only methods that block, so concurrency and
 * deadlines are proven by behaviour rather than by timing.
 *
 * Usage: test_grpc PKI_DIR OTHER_PKI_DIR (two independent certs/mkpki runs). */
#include <grpc/grpc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rattest.pb-c.h"
#include "rt_file.h"
#include "rt_grpc.h"
#include "rt_log.h"
#include "rt_methods.h"
#include "rt_test.h"
#include "service.h"

#define SLOW_METHOD "/rattest.test.Test/Slow"
#define MEET_METHOD "/rattest.test.Test/Meet"
#define MEET_PARTIES 8 /* = server threads: all must be inside at once */
#define CONCURRENT_CLIENTS 64

static char pki[1024], other_pki[1024];
static char server_cert[1100], server_key[1100], ca[1100], other_ca[1100];
static atomic_int slow_calls;

/* Sleeps 2 s: longer than the deadline the test gives it. */
static grpc_status_code slow(void *user, const rt_rpc_call_info *info, const ProtobufCMessage *req,
                             ProtobufCMessage **resp, rt_rpc_status *st) {
  (void)user;
  (void)info;
  (void)req;
  (void)resp;
  atomic_fetch_add(&slow_calls, 1);
  sleep(2);
  st->status = GRPC_STATUS_ABORTED;
  snprintf(st->message, sizeof st->message, "slow finished");
  return st->status;
}

/* Answers only once MEET_PARTIES calls are inside the handler at the same
 * time (or fails after 10 s): a server that serves one call at a time can
 * never pass. */
static pthread_mutex_t meet_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t meet_cv = PTHREAD_COND_INITIALIZER;
static int meet_inside;

static grpc_status_code meet(void *user, const rt_rpc_call_info *info, const ProtobufCMessage *req,
                             ProtobufCMessage **resp, rt_rpc_status *st) {
  (void)user;
  (void)info;
  (void)req;
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += 10;
  pthread_mutex_lock(&meet_lock);
  meet_inside++;
  pthread_cond_broadcast(&meet_cv);
  int rc = 0;
  while (meet_inside < MEET_PARTIES && rc == 0)
    rc = pthread_cond_timedwait(&meet_cv, &meet_lock, &until);
  int ok = meet_inside >= MEET_PARTIES;
  pthread_mutex_unlock(&meet_lock);
  if (!ok) {
    st->status = GRPC_STATUS_DEADLINE_EXCEEDED;
    snprintf(st->message, sizeof st->message, "only %d calls met", meet_inside);
    return st->status;
  }
  Rattest__V1__PingResponse *r = malloc(sizeof *r);
  rattest__v1__ping_response__init(r);
  r->message = (char *)"met";
  *resp = &r->base;
  return GRPC_STATUS_OK;
}

static void free_plain(ProtobufCMessage *m) {
  free(m);
}

static rt_grpc_server *start_server(const char *listen, size_t max_msg,
                                    const rt_grpc_limits *limits, rt_err *err) {
  static rt_rpc_method methods[16];
  size_t n_base = rt_verifier_methods(NULL, methods);
  methods[n_base] =
      (rt_rpc_method){SLOW_METHOD, &rattest__v1__ping_request__descriptor, slow, NULL, NULL};
  methods[n_base + 1] =
      (rt_rpc_method){MEET_METHOD, &rattest__v1__ping_request__descriptor, meet, free_plain, NULL};
  rt_grpc_server_config cfg = {
      .listen = listen,
      .tls_cert_file = server_cert,
      .tls_key_file = server_key,
      .max_message_size = max_msg,
      .threads = MEET_PARTIES,
      .methods = methods,
      .n_methods = n_base + 2,
      .limits = limits ? *limits : (rt_grpc_limits){0},
  };
  rt_grpc_server *srv = NULL;
  if (rt_grpc_server_start(&cfg, &srv, err) != RT_OK)
    return NULL;
  return srv;
}

static grpc_status_code ping(const char *target, const char *ca_file, const char *message,
                             int timeout_ms, char *echo, size_t echo_len, rt_rpc_result *res) {
  rt_err err = {0};
  rt_grpc_client *c = NULL;
  if (rt_grpc_client_new(target, ca_file, 0, &c, &err) != RT_OK) {
    fprintf(stderr, "client: %s\n", err.msg);
    res->status = GRPC_STATUS_INTERNAL;
    return res->status;
  }
  Rattest__V1__PingRequest req = RATTEST__V1__PING_REQUEST__INIT;
  req.message = (char *)message;
  ProtobufCMessage *out = NULL;
  grpc_status_code st = rt_grpc_call(
      c, RT_METHOD_PING, &req.base, &rattest__v1__ping_response__descriptor, timeout_ms, &out, res);
  if (st == GRPC_STATUS_OK && echo != NULL) {
    Rattest__V1__PingResponse *r = (Rattest__V1__PingResponse *)out;
    snprintf(echo, echo_len, "%s|%s", r->message, r->version);
  }
  if (out != NULL)
    protobuf_c_message_free_unpacked(out, NULL);
  rt_grpc_client_free(c);
  return st;
}

static grpc_status_code raw_call(const char *target, const char *method, const uint8_t *data,
                                 size_t len, int timeout_ms, rt_rpc_result *res) {
  rt_err err = {0};
  rt_grpc_client *c = NULL;
  if (rt_grpc_client_new(target, ca, 0, &c, &err) != RT_OK) {
    res->status = GRPC_STATUS_INTERNAL;
    return res->status;
  }
  uint8_t *out = NULL;
  size_t out_len = 0;
  grpc_status_code st = rt_grpc_call_raw(c, method, data, len, timeout_ms, &out, &out_len, res);
  free(out);
  rt_grpc_client_free(c);
  return st;
}

struct client_job {
  const char *target;
  int id;
  grpc_status_code status;
  char echo[128];
  char want[64];
};

static void *client_thread(void *arg) {
  struct client_job *j = arg;
  rt_rpc_result res;
  snprintf(j->want, sizeof j->want, "client-%d", j->id);
  j->status = ping(j->target, ca, j->want, 20000, j->echo, sizeof j->echo, &res);
  return NULL;
}

static void *meet_thread(void *arg) {
  struct client_job *j = arg;
  Rattest__V1__PingRequest req = RATTEST__V1__PING_REQUEST__INIT;
  uint8_t buf[16];
  size_t len = rattest__v1__ping_request__pack(&req, buf);
  rt_rpc_result res;
  j->status = raw_call(j->target, MEET_METHOD, buf, len, 20000, &res);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: test_grpc PKI_DIR OTHER_PKI_DIR\n");
    return 2;
  }
  snprintf(pki, sizeof pki, "%s", argv[1]);
  snprintf(other_pki, sizeof other_pki, "%s", argv[2]);
  snprintf(server_cert, sizeof server_cert, "%s/server-chain.pem", pki);
  snprintf(server_key, sizeof server_key, "%s/server.key", pki);
  snprintf(ca, sizeof ca, "%s/tls-ca.pem", pki);
  snprintf(other_ca, sizeof other_ca, "%s/tls-ca.pem", other_pki);
  rt_log_set_level(RT_LOG_ERROR);

  rt_err err = {0};
  rt_grpc_server *srv = start_server("127.0.0.1:0", 0, NULL, &err);
  CHECK(srv != NULL, "server start: %s", err.msg);
  if (srv == NULL)
    return rt_test_done("test_grpc");
  char target[64];
  snprintf(target, sizeof target, "localhost:%d", rt_grpc_server_port(srv));
  rt_rpc_result res;
  char echo[256];

  /* 1. Ping over TLS, checked by its content. */
  grpc_status_code st = ping(target, ca, "hello", 5000, echo, sizeof echo, &res);
  CHECK(st == GRPC_STATUS_OK, "ping: %s %s", rt_grpc_status_name(st), res.message);
  CHECK(strcmp(echo, "hello|" RATTEST_VERSION) == 0, "echo was \"%s\"", echo);

  /* 2. A client pinning another CA refuses the server. */
  st = ping(target, other_ca, "hello", 5000, NULL, 0, &res);
  CHECK(st == GRPC_STATUS_UNAVAILABLE, "wrong CA: %s", rt_grpc_status_name(st));
  CHECK_STR_CONTAINS(res.message, "certificate verify failed");
  CHECK(res.reach == RT_RPC_TLS, "wrong CA: reach %d", (int)res.reach);

  /* 2b. The server's own name must match: 127.0.0.2 is not in its SAN (a
   * server of its own there, so that the connection is made and TLS is
   * what refuses it). */
  rt_grpc_server *srv2 = start_server("127.0.0.2:0", 0, NULL, &err);
  CHECK(srv2 != NULL, "server on 127.0.0.2: %s", err.msg);
  if (srv2 != NULL) {
    char other_name[64];
    snprintf(other_name, sizeof other_name, "127.0.0.2:%d", rt_grpc_server_port(srv2));
    st = ping(other_name, ca, "hello", 5000, NULL, 0, &res);
    CHECK(st == GRPC_STATUS_UNAVAILABLE, "name mismatch accepted: %s", rt_grpc_status_name(st));
    CHECK_STR_CONTAINS(res.message, "Peer name 127.0.0.2");
    CHECK(res.reach == RT_RPC_TLS, "name mismatch: reach %d", (int)res.reach);
    rt_grpc_server_stop(srv2);
  }
  /* 2c. Nothing listening: not reached, nothing sent. */
  st = ping("127.0.0.1:1", ca, "hello", 5000, NULL, 0, &res);
  CHECK(st == GRPC_STATUS_UNAVAILABLE && res.reach == RT_RPC_UNREACHABLE, "port 1: %s, reach %d",
        rt_grpc_status_name(st), (int)res.reach);

  /* 3. Oversize request: 5 MiB against the default 4 MiB limit. */
  size_t big_len = 5u * 1024u * 1024u;
  char *big = malloc(big_len + 1);
  memset(big, 'x', big_len);
  big[big_len] = '\0';
  st = ping(target, ca, big, 10000, NULL, 0, &res);
  CHECK(st == GRPC_STATUS_RESOURCE_EXHAUSTED, "oversize: %s %s", rt_grpc_status_name(st),
        res.message);

  /* 4. Bytes that are not a protobuf message. */
  const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f};
  st = raw_call(target, RT_METHOD_PING, garbage, sizeof garbage, 5000, &res);
  CHECK(st == GRPC_STATUS_INVALID_ARGUMENT, "garbage: %s", rt_grpc_status_name(st));
  CHECK_STR_CONTAINS(res.message, "not a valid rattest.v1.PingRequest");
  /* A length-delimited field that claims more bytes than follow. */
  const uint8_t truncated[] = {0x0a, 0x40, 'a', 'b'};
  st = raw_call(target, RT_METHOD_PING, truncated, sizeof truncated, 5000, &res);
  CHECK(st == GRPC_STATUS_INVALID_ARGUMENT, "truncated: %s", rt_grpc_status_name(st));
  /* The empty message is a valid PingRequest with default fields. */
  st = raw_call(target, RT_METHOD_PING, (const uint8_t *)"", 0, 5000, &res);
  CHECK(st == GRPC_STATUS_OK, "empty message: %s %s", rt_grpc_status_name(st), res.message);

  /* 5. Handler errors carry the machine-readable code in the trailers. */
  char long_msg[2000];
  memset(long_msg, 'a', sizeof long_msg - 1);
  long_msg[sizeof long_msg - 1] = '\0';
  st = ping(target, ca, long_msg, 5000, NULL, 0, &res);
  CHECK(st == GRPC_STATUS_INVALID_ARGUMENT, "long ping: %s", rt_grpc_status_name(st));
  CHECK(strcmp(res.code, "PING_TOO_LONG") == 0, "code was \"%s\"", res.code);
  CHECK(res.reach == RT_RPC_ANSWERED, "refusal: reach %d", (int)res.reach);
  st = raw_call(target, RT_METHOD_BEGIN, (const uint8_t *)"", 0, 5000, &res);
  CHECK(st == GRPC_STATUS_UNIMPLEMENTED, "begin: %s", rt_grpc_status_name(st));
  CHECK(strcmp(res.code, "NOT_CONFIGURED") == 0, "code was \"%s\"", res.code);

  /* 6. A method the server does not have. */
  st = raw_call(target, "/rattest.v1.Attestation/Nope", (const uint8_t *)"", 0, 5000, &res);
  CHECK(st == GRPC_STATUS_UNIMPLEMENTED, "unknown method: %s", rt_grpc_status_name(st));

  /* 7. The client's deadline is enforced while the handler still runs. */
  st = raw_call(target, SLOW_METHOD, (const uint8_t *)"", 0, 300, &res);
  CHECK(st == GRPC_STATUS_DEADLINE_EXCEEDED, "deadline: %s", rt_grpc_status_name(st));
  CHECK(res.reach == RT_RPC_LOST, "deadline: reach %d", (int)res.reach);
  CHECK(atomic_load(&slow_calls) == 1, "slow handler ran %d times", atomic_load(&slow_calls));

  /* 8. Calls are served concurrently: MEET_PARTIES calls must be inside a
   * handler at the same moment for any of them to succeed. */
  pthread_t th[CONCURRENT_CLIENTS];
  struct client_job jobs[CONCURRENT_CLIENTS];
  for (int i = 0; i < MEET_PARTIES; i++) {
    jobs[i] = (struct client_job){.target = target, .id = i};
    pthread_create(&th[i], NULL, meet_thread, &jobs[i]);
  }
  int met = 0;
  for (int i = 0; i < MEET_PARTIES; i++) {
    pthread_join(th[i], NULL);
    met += jobs[i].status == GRPC_STATUS_OK;
  }
  CHECK(met == MEET_PARTIES, "%d of %d concurrent calls met", met, MEET_PARTIES);

  /* 9. 64 clients at once, each on its own channel, all answered with their
   * own message. */
  for (int i = 0; i < CONCURRENT_CLIENTS; i++) {
    jobs[i] = (struct client_job){.target = target, .id = i};
    pthread_create(&th[i], NULL, client_thread, &jobs[i]);
  }
  int answered = 0;
  for (int i = 0; i < CONCURRENT_CLIENTS; i++) {
    pthread_join(th[i], NULL);
    char want[160];
    snprintf(want, sizeof want, "%s|%s", jobs[i].want, RATTEST_VERSION);
    answered += jobs[i].status == GRPC_STATUS_OK && strcmp(jobs[i].echo, want) == 0;
  }
  CHECK(answered == CONCURRENT_CLIENTS, "%d of %d clients answered", answered, CONCURRENT_CLIENTS);

  /* 10. A second server cannot take the same port. */
  char same[64];
  snprintf(same, sizeof same, "127.0.0.1:%d", rt_grpc_server_port(srv));
  rt_grpc_server *dup = start_server(same, 0, NULL, &err);
  CHECK(dup == NULL, "second server bound the same port");
  if (dup != NULL)
    rt_grpc_server_stop(dup);
  else
    CHECK_STR_CONTAINS(err.msg, "cannot listen");
  rt_grpc_server_stop(srv);

  /* 11. The limit is configurable: a 64 KiB server takes 32 KiB, refuses
   * 100 KiB. */
  srv = start_server("127.0.0.1:0", 64 * 1024, NULL, &err);
  CHECK(srv != NULL, "small server: %s", err.msg);
  if (srv != NULL) {
    snprintf(target, sizeof target, "localhost:%d", rt_grpc_server_port(srv));
    big[100 * 1024] = '\0';
    st = ping(target, ca, big, 5000, NULL, 0, &res);
    CHECK(st == GRPC_STATUS_RESOURCE_EXHAUSTED, "100 KiB: %s", rt_grpc_status_name(st));
    /* Within the request limit, but the echo is refused by the ping's own
     * 1 KiB rule, proving the request got through to the handler. */
    big[32 * 1024] = '\0';
    st = ping(target, ca, big, 5000, NULL, 0, &res);
    CHECK(st == GRPC_STATUS_INVALID_ARGUMENT && strcmp(res.code, "PING_TOO_LONG") == 0,
          "32 KiB: %s %s", rt_grpc_status_name(st), res.code);
    rt_grpc_server_stop(srv);
  }
  free(big);

  /* 11b. A client whose connection the server closed as idle reconnects by
   * itself for its next call, as the bootstrap must between Begin and
   * Finish. */
  rt_grpc_limits quick = {.idle_timeout_ms = 1000};
  srv = start_server("127.0.0.1:0", 0, &quick, &err);
  CHECK(srv != NULL, "idle server: %s", err.msg);
  if (srv != NULL) {
    snprintf(target, sizeof target, "localhost:%d", rt_grpc_server_port(srv));
    rt_grpc_client *idle = NULL;
    CHECK(rt_grpc_client_new(target, ca, 0, &idle, &err) == RT_OK, "client: %s", err.msg);
    Rattest__V1__PingRequest req = RATTEST__V1__PING_REQUEST__INIT;
    req.message = "again";
    for (int i = 0; idle != NULL && i < 2; i++) {
      if (i == 1)
        usleep(1500 * 1000); /* what is tested: the idle timeout passing */
      ProtobufCMessage *out = NULL;
      st = rt_grpc_call(idle, RT_METHOD_PING, &req.base, &rattest__v1__ping_response__descriptor,
                        5000, &out, &res);
      CHECK(st == GRPC_STATUS_OK, "call %d on the idle client: %s %s", i, rt_grpc_status_name(st),
            res.message);
      if (out != NULL)
        protobuf_c_message_free_unpacked(out, NULL);
    }
    rt_grpc_client_free(idle);
    rt_grpc_server_stop(srv);
  }

  /* 12. Start-up refuses bad TLS files with their names. */
  rt_grpc_server_config bad = {.listen = "127.0.0.1:0"};
  rt_rpc_method base[RT_VERIFIER_N_METHODS];
  bad.n_methods = rt_verifier_methods(NULL, base);
  bad.methods = base;
  char other_key[1100];
  snprintf(other_key, sizeof other_key, "%s/server.key", other_pki);
  bad.tls_cert_file = server_cert;
  bad.tls_key_file = other_key;
  CHECK(rt_grpc_server_start(&bad, &srv, &err) == RT_E_INVALID, "mismatched key accepted");
  CHECK_STR_CONTAINS(err.msg, "does not match");
  /* A key others can read is refused like the issuer's; a 0600 copy of
   * the certificate then shows that a certificate is not a key. */
  bad.tls_key_file = server_cert;
  CHECK(rt_grpc_server_start(&bad, &srv, &err) == RT_E_INVALID, "0644 key accepted");
  CHECK_STR_CONTAINS(err.msg, "lets group or others read it");
  char cert_as_key[] = "/tmp/rt_grpc_cert_as_key_XXXXXX";
  int fd = mkstemp(cert_as_key); /* 0600 */
  uint8_t *pem = NULL;
  size_t pem_len = 0;
  CHECK(fd >= 0 && rt_file_read(server_cert, 1 << 20, &pem, &pem_len, &err) == RT_OK &&
            write(fd, pem, pem_len) == (ssize_t)pem_len,
        "cannot copy the certificate");
  free(pem);
  if (fd >= 0)
    close(fd);
  bad.tls_key_file = cert_as_key;
  CHECK(rt_grpc_server_start(&bad, &srv, &err) == RT_E_INVALID, "cert as key accepted");
  CHECK_STR_CONTAINS(err.msg, "no PEM private key");
  unlink(cert_as_key);
  bad.tls_key_file = "/nonexistent/key.pem";
  CHECK(rt_grpc_server_start(&bad, &srv, &err) == RT_E_IO, "missing key accepted");
  CHECK_STR_CONTAINS(err.msg, "/nonexistent/key.pem");
  bad.tls_key_file = server_key;
  bad.listen = "not an address";
  CHECK(rt_grpc_server_start(&bad, &srv, &err) == RT_E_NET, "bad address accepted");

  /* 13. A client must pin a CA, and the file must hold one. */
  rt_grpc_client *cl = NULL;
  CHECK(rt_grpc_client_new(target, NULL, 0, &cl, &err) == RT_E_INVALID, "no CA accepted");
  CHECK(rt_grpc_client_new(target, server_key, 0, &cl, &err) == RT_E_INVALID,
        "key file accepted as CA");
  CHECK_STR_CONTAINS(err.msg, "holds no PEM certificate");

  return rt_test_done("test_grpc");
}
