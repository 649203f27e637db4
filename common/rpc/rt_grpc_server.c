#include <fcntl.h>
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/compression.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "rt_accept_guard.h"
#include "rt_clock.h"
#include "rt_grpc.h"
#include "rt_grpc_server_internal.h"
#include "rt_log.h"
#include "rt_text.h"
#include "rt_tls_files.h"
#include "rt_tls_server_conf.h"

/* Calls requested in advance per method and per worker: enough that a burst
 * of clients is picked up without waiting for a handler to finish. */
#define REQUESTS_PER_THREAD 2
#define MAX_THREADS 256
/* Descriptors left below the soft limit for what handlers open (AIA
 * fetches, the AIA cache): connections never take them. */
#define FD_RESERVE 64

void rt_grpc_call_free(struct rpc_call *c) {
  if (c->method == NULL)
    grpc_call_details_destroy(&c->unknown);
  if (c->call != NULL)
    grpc_call_unref(c->call);
  grpc_metadata_array_destroy(&c->request_md);
  if (c->request != NULL)
    grpc_byte_buffer_destroy(c->request);
  if (c->response != NULL)
    grpc_byte_buffer_destroy(c->response);
  grpc_slice_unref(c->details);
  if (c->n_trailers > 0) {
    grpc_slice_unref(c->trailer.key);
    grpc_slice_unref(c->trailer.value);
  }
  free(c);
}

/* Asks grpc for the next call to one method; the answer arrives on the
 * shared completion queue with the rpc_call as tag. */
static int request_call(struct rt_grpc_server *srv, size_t idx) {
  if (atomic_load(&srv->stopping))
    return 0;
  struct rpc_call *c = calloc(1, sizeof *c);
  if (c == NULL) {
    rt_error("out of memory requesting a gRPC call");
    return -1;
  }
  c->kind = TAG_CALL;
  c->srv = srv;
  c->method = &srv->methods[idx];
  c->registered = srv->registered[idx];
  c->state = CALL_REQUESTED;
  c->details = grpc_empty_slice();
  grpc_metadata_array_init(&c->request_md);
  grpc_call_error e =
      grpc_server_request_registered_call(srv->server, c->registered, &c->call, &c->deadline,
                                          &c->request_md, &c->request, srv->cq, srv->cq, c);
  if (e != GRPC_CALL_OK) {
    rt_error("grpc_server_request_registered_call failed: %d", (int)e);
    rt_grpc_call_free(c);
    return -1;
  }
  return 0;
}

/* Calls to paths that are not registered only surface through a generic
 * request; without one they would hang until the client's deadline instead
 * of getting UNIMPLEMENTED. */
static int request_unknown(struct rt_grpc_server *srv) {
  if (atomic_load(&srv->stopping))
    return 0;
  struct rpc_call *c = calloc(1, sizeof *c);
  if (c == NULL) {
    rt_error("out of memory requesting a gRPC call");
    return -1;
  }
  c->kind = TAG_CALL;
  c->srv = srv;
  c->state = CALL_REQUESTED;
  c->details = grpc_empty_slice();
  grpc_call_details_init(&c->unknown);
  grpc_metadata_array_init(&c->request_md);
  grpc_call_error e = grpc_server_request_call(srv->server, &c->call, &c->unknown, &c->request_md,
                                               srv->cq, srv->cq, c);
  if (e != GRPC_CALL_OK) {
    rt_error("grpc_server_request_call failed: %d", (int)e);
    rt_grpc_call_free(c);
    return -1;
  }
  return 0;
}

static size_t method_index(struct rt_grpc_server *srv, const rt_rpc_method *m) {
  return (size_t)(m - srv->methods);
}

ProtobufCMessage *rt_grpc_unpack_request(const struct rpc_call *c, grpc_status_code *status,
                                         rt_rpc_status *st) {
  *status = GRPC_STATUS_INVALID_ARGUMENT;
  if (c->request == NULL) {
    snprintf(st->message, sizeof st->message, "request carries no message");
    return NULL;
  }
  /* The reader would inflate it, without bound. */
  if (c->request->type != GRPC_BB_RAW || c->request->data.raw.compression != GRPC_COMPRESS_NONE) {
    *status = GRPC_STATUS_UNIMPLEMENTED;
    snprintf(st->message, sizeof st->message, "compressed requests are not accepted");
    return NULL;
  }
  if (rt_grpc_is_watch(c) && grpc_byte_buffer_length(c->request) > RT_GRPC_MAX_WATCH_REQUEST) {
    snprintf(st->message, sizeof st->message, "request over %d bytes", RT_GRPC_MAX_WATCH_REQUEST);
    return NULL;
  }
  grpc_byte_buffer_reader reader;
  if (!grpc_byte_buffer_reader_init(&reader, c->request)) {
    snprintf(st->message, sizeof st->message, "request message cannot be decompressed");
    return NULL;
  }
  grpc_slice body = grpc_byte_buffer_reader_readall(&reader);
  grpc_byte_buffer_reader_destroy(&reader);
  ProtobufCMessage *req = protobuf_c_message_unpack(
      c->method->request_type, NULL, GRPC_SLICE_LENGTH(body), GRPC_SLICE_START_PTR(body));
  grpc_slice_unref(body);
  if (req == NULL) {
    snprintf(st->message, sizeof st->message, "request is not a valid %s message",
             c->method->request_type->name);
    return NULL;
  }
  *status = GRPC_STATUS_OK;
  return req;
}

/* The handler's response as the call's message; frees resp. */
static grpc_status_code pack_response(struct rpc_call *c, ProtobufCMessage *resp,
                                      rt_rpc_status *st) {
  size_t len = protobuf_c_message_get_packed_size(resp);
  uint8_t *buf = malloc(len ? len : 1);
  if (buf != NULL)
    protobuf_c_message_pack(resp, buf);
  if (c->method->free_response != NULL)
    c->method->free_response(resp);
  if (buf == NULL) {
    snprintf(st->message, sizeof st->message, "out of memory packing the response");
    return GRPC_STATUS_RESOURCE_EXHAUSTED;
  }
  /* grpc takes the buffer and frees it once sent. */
  grpc_slice slice = grpc_slice_new(buf, len, free);
  c->response = grpc_raw_byte_buffer_create(&slice, 1);
  grpc_slice_unref(slice);
  return GRPC_STATUS_OK;
}

/* Decodes the request, runs the handler and fills the status and response
 * of the call. Never fails: every problem becomes a gRPC status. */
static void run_handler(struct rpc_call *c, grpc_status_code *status, rt_rpc_status *st,
                        const char *peer) {
  const rt_rpc_method *m = c->method;
  memset(st, 0, sizeof *st);
  *status = GRPC_STATUS_OK;
  if (m == NULL) {
    char *path = grpc_slice_to_c_string(c->unknown.method);
    *status = GRPC_STATUS_UNIMPLEMENTED;
    snprintf(st->message, sizeof st->message, "unknown method %s", path);
    gpr_free(path);
    return;
  }
  ProtobufCMessage *req = rt_grpc_unpack_request(c, status, st);
  if (req == NULL)
    return;
  rt_rpc_call_info info = {.peer = peer};
  ProtobufCMessage *resp = NULL;
  *status = m->handler(m->user, &info, req, &resp, st);
  protobuf_c_message_free_unpacked(req, NULL);
  if (*status != GRPC_STATUS_OK) {
    if (resp != NULL && m->free_response != NULL)
      m->free_response(resp);
    return;
  }
  if (resp == NULL) {
    *status = GRPC_STATUS_INTERNAL;
    snprintf(st->message, sizeof st->message, "handler returned no response");
    return;
  }
  *status = pack_response(c, resp, st);
}

/* Logs the outcome and sends it: the response (if any) and the status. */
static void answer_call(struct rpc_call *c, const char *peer, grpc_status_code status,
                        const rt_rpc_status *st) {
  const char *path = c->method ? c->method->path : "(unknown method)";
  /* The peer and the message (which may quote the request) bounded and
   * escaped: a client must not forge log lines or flood the log. */
  char shown_peer[RT_TEXT_BUF], shown_msg[RT_TEXT_BUF];
  rt_text_bound(peer, shown_peer);
  if (status == GRPC_STATUS_OK)
    rt_debug("%s %s: OK", shown_peer, path);
  else if (!st->quiet)
    rt_info("%s %s: %s%s%s: %s", shown_peer, path, rt_grpc_status_name(status), st->code ? " " : "",
            st->code ? st->code : "", rt_text_bound(st->message, shown_msg));

  c->details = grpc_slice_from_copied_string(st->message);
  if (st->code != NULL && status != GRPC_STATUS_OK) {
    c->trailer.key = grpc_slice_from_static_string(RT_GRPC_ERROR_KEY);
    c->trailer.value = grpc_slice_from_copied_string(st->code);
    c->n_trailers = 1;
  }

  grpc_op ops[4];
  memset(ops, 0, sizeof ops);
  size_t n = 0;
  ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[n].data.send_initial_metadata.count = 0;
  n++;
  if (c->response != NULL) {
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n].data.send_message.send_message = c->response;
    n++;
  }
  ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
  ops[n].data.send_status_from_server.status = status;
  ops[n].data.send_status_from_server.status_details = &c->details;
  ops[n].data.send_status_from_server.trailing_metadata_count = c->n_trailers;
  ops[n].data.send_status_from_server.trailing_metadata = c->n_trailers ? &c->trailer : NULL;
  n++;
  ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
  ops[n].data.recv_close_on_server.cancelled = &c->cancelled;
  n++;

  c->state = CALL_FINISHING;
  grpc_call_error e = grpc_call_start_batch(c->call, ops, n, c, NULL);
  if (e != GRPC_CALL_OK) {
    rt_error("%s: grpc_call_start_batch failed: %d", path, (int)e);
    rt_grpc_call_free(c);
  }
}

static void serve_call(struct rpc_call *c) {
  char *peer = grpc_call_get_peer(c->call);
  grpc_status_code status;
  rt_rpc_status st;
  if (rt_grpc_is_watch(c)) {
    memset(&st, 0, sizeof st);
    /* On OK the watch owns c (which another thread may already free). */
    if ((status = rt_grpc_watch_open(c, peer, &st)) != GRPC_STATUS_OK)
      answer_call(c, peer, status, &st);
  } else {
    run_handler(c, &status, &st, peer);
    answer_call(c, peer, status, &st);
  }
  gpr_free(peer);
}

static void *worker(void *arg) {
  struct rt_grpc_server *srv = arg;
  for (;;) {
    grpc_event ev = grpc_completion_queue_next(srv->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    if (ev.type == GRPC_QUEUE_SHUTDOWN)
      break;
    if (ev.type != GRPC_OP_COMPLETE)
      continue;
    if (ev.tag == &srv->shutdown_tag) {
      pthread_mutex_lock(&srv->lock);
      srv->shutdown_done = 1;
      pthread_cond_broadcast(&srv->shutdown_done_cv);
      pthread_mutex_unlock(&srv->lock);
      continue;
    }
    enum rt_tag_kind kind = *(enum rt_tag_kind *)ev.tag;
    if (kind == TAG_WATCH_SEND || kind == TAG_WATCH_CLOSED) {
      rt_grpc_watch_event(srv, ev.tag, ev.success != 0);
      continue;
    }
    struct rpc_call *c = ev.tag;
    if (c->state == CALL_FINISHING || !ev.success) {
      /* Finished, or a pending request failed because the server stops. */
      rt_grpc_call_free(c);
      continue;
    }
    /* Replace the slot this call used before serving it, so that capacity
     * never drops while handlers run. */
    if (c->method != NULL)
      request_call(srv, method_index(srv, c->method));
    else
      request_unknown(srv);
    serve_call(c);
  }
  return NULL;
}

/* The worker threads and the message size limit cfg asks for. */
static rt_code check_config(const rt_grpc_server_config *cfg, int *threads, size_t *max_msg,
                            rt_err *err) {
  if (cfg->n_methods == 0 || cfg->listen == NULL)
    return rt_err_set(err, RT_E_INVALID, "server needs a listen address and methods");
  *threads = cfg->threads > 0 ? cfg->threads : RT_GRPC_DEFAULT_THREADS;
  if (*threads > MAX_THREADS)
    return rt_err_set(err, RT_E_INVALID, "at most %d server threads", MAX_THREADS);
  *max_msg = cfg->max_message_size ? cfg->max_message_size : RT_GRPC_DEFAULT_MAX_MESSAGE;
  if (*max_msg > (size_t)INT32_MAX)
    return rt_err_set(err, RT_E_INVALID, "max message size too large");
  return RT_OK;
}

static int or_default(int value, int dflt) {
  return value > 0 ? value : dflt;
}

/* The limits cfg asks for, defaults filled in. */
static rt_grpc_limits resolve_limits(const rt_grpc_limits *l) {
  return (rt_grpc_limits){
      .max_connections = or_default(l->max_connections, RT_GRPC_DEFAULT_MAX_CONNECTIONS),
      .handshake_timeout_ms =
          or_default(l->handshake_timeout_ms, RT_GRPC_DEFAULT_HANDSHAKE_TIMEOUT_MS),
      .idle_timeout_ms = or_default(l->idle_timeout_ms, RT_GRPC_DEFAULT_IDLE_TIMEOUT_MS),
      .keepalive_time_ms = or_default(l->keepalive_time_ms, RT_GRPC_DEFAULT_KEEPALIVE_TIME_MS),
      .keepalive_timeout_ms =
          or_default(l->keepalive_timeout_ms, RT_GRPC_DEFAULT_KEEPALIVE_TIMEOUT_MS),
      .max_connection_age_ms =
          or_default(l->max_connection_age_ms, RT_GRPC_DEFAULT_MAX_CONNECTION_AGE_MS),
  };
}

/* Caps the connections through the accept guard: max_connections
 * descriptors above those open now, and never the last FD_RESERVE below the
 * soft descriptor limit. The guard is the process's: with two servers the
 * last one started sets it. */
static void guard_connections(int max_connections) {
  int in_use = open("/dev/null", O_RDONLY | O_CLOEXEC); /* lowest free = count open */
  if (in_use >= 0)
    close(in_use);
  in_use = in_use > 0 ? in_use + 1 : 1; /* and the guard's spare */
  struct rlimit rl;
  long long soft = INT_MAX;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < INT_MAX)
    soft = (long long)rl.rlim_cur;
  long long room = soft - FD_RESERVE - in_use;
  int allowed = room < 1 ? 1 : room < max_connections ? (int)room : max_connections;
  if (allowed < max_connections)
    rt_warn("--max-connections %d: the descriptor limit (%lld) leaves room for %d", max_connections,
            soft, allowed);
  rt_info("accepting at most %d connections at once", allowed);
  rt_accept_guard_set(in_use + allowed);
}

/* The server's own state, before any grpc server: *out is set whenever
 * something was allocated, for discard_unstarted. */
static rt_code server_new(const rt_grpc_server_config *cfg, int threads,
                          struct rt_grpc_server **out, rt_err *err) {
  struct rt_grpc_server *srv = calloc(1, sizeof *srv);
  if ((*out = srv) == NULL)
    return rt_err_set(err, RT_E_NOMEM, "out of memory");
  srv->shutdown_tag = TAG_SHUTDOWN;
  pthread_mutex_init(&srv->lock, NULL);
  pthread_mutex_init(&srv->watch_lock, NULL);
  pthread_cond_init(&srv->shutdown_done_cv, NULL);
  srv->n_unary = cfg->n_methods;
  srv->n_methods = cfg->n_methods + cfg->n_watches;
  srv->methods = calloc(srv->n_methods, sizeof *srv->methods);
  srv->registered = calloc(srv->n_methods, sizeof *srv->registered);
  srv->threads = calloc((size_t)threads, sizeof *srv->threads);
  if (srv->methods == NULL || srv->registered == NULL || srv->threads == NULL)
    return rt_err_set(err, RT_E_NOMEM, "out of memory");
  memcpy(srv->methods, cfg->methods, cfg->n_methods * sizeof *srv->methods);
  if (cfg->n_watches > 0)
    memcpy(srv->methods + cfg->n_methods, cfg->watches, cfg->n_watches * sizeof *srv->methods);
  return RT_OK;
}

static void int_arg(grpc_arg *arg, char *key, int value) {
  arg->type = GRPC_ARG_INTEGER;
  arg->key = key;
  arg->value.integer = value;
}

/* The grpc server, its completion queue and its registered methods. */
static rt_code server_create(struct rt_grpc_server *srv, size_t max_msg, const rt_grpc_limits *lim,
                             rt_err *err) {
  grpc_arg args[10];
  int_arg(&args[0], GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, (int)max_msg);
  int_arg(&args[1], GRPC_ARG_MAX_SEND_MESSAGE_LENGTH, (int)max_msg);
  /* Without this a second verifier could bind the same port (SO_REUSEPORT)
   * and silently take half of the connections. */
  int_arg(&args[2], GRPC_ARG_ALLOW_REUSEPORT, 0);
  /* grpc never inflates a request: 1.51 inflates a message whole before
   * comparing it with the size limit, so 0.5 MiB of gzip cost 512 MiB.
   * Compressed requests then reach unpack_request as they came, within the
   * size limit, and are refused there. */
  int_arg(&args[3], GRPC_ARG_ENABLE_PER_MESSAGE_DECOMPRESSION, 0);
  /* Until the client's HTTP/2 settings arrive after TLS (grpc's default:
   * 120 s, for a socket that costs its opener nothing). */
  int_arg(&args[4], GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS, lim->handshake_timeout_ms);
  int_arg(&args[5], GRPC_ARG_MAX_CONNECTION_IDLE_MS, lim->idle_timeout_ms);
  int_arg(&args[6], GRPC_ARG_KEEPALIVE_TIME_MS, lim->keepalive_time_ms);
  int_arg(&args[7], GRPC_ARG_KEEPALIVE_TIMEOUT_MS, lim->keepalive_timeout_ms);
  /* The age bounds a connection that is never idle: a call whose request
   * never ends keeps it busy, and keepalive pings are answered by it. */
  int_arg(&args[8], GRPC_ARG_MAX_CONNECTION_AGE_MS, lim->max_connection_age_ms);
  int_arg(&args[9], GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS, RT_GRPC_AGE_GRACE_MS);
  grpc_channel_args chargs = {.num_args = sizeof args / sizeof args[0], .args = args};

  srv->server = grpc_server_create(&chargs, NULL);
  srv->cq = grpc_completion_queue_create_for_next(NULL);
  grpc_server_register_completion_queue(srv->server, srv->cq, NULL);
  for (size_t i = 0; i < srv->n_methods; i++) {
    srv->registered[i] = grpc_server_register_method(srv->server, srv->methods[i].path, NULL,
                                                     GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
    if (srv->registered[i] == NULL)
      return rt_err_set(err, RT_E_INVALID, "cannot register method %s", srv->methods[i].path);
  }
  return RT_OK;
}

/* grpc asks before every handshake (and must get a config the first
 * time): a reloaded certificate is presented from the next connection on,
 * connections already up keep theirs. */
static grpc_ssl_certificate_config_reload_status
fetch_tls(void *user, grpc_ssl_server_certificate_config **config) {
  struct rt_grpc_server *srv = user;
  pthread_mutex_lock(&srv->lock);
  *config = srv->tls_next; /* grpc takes ownership */
  srv->tls_next = NULL;
  pthread_mutex_unlock(&srv->lock);
  return *config != NULL ? GRPC_SSL_CERTIFICATE_CONFIG_RELOAD_NEW
                         : GRPC_SSL_CERTIFICATE_CONFIG_RELOAD_UNCHANGED;
}

/* Makes tls the credentials of the next handshake. */
static rt_code stage_tls(struct rt_grpc_server *srv, const rt_tls_pair *tls, rt_err *err) {
  grpc_ssl_pem_key_cert_pair pair = {.private_key = tls->key_pem, .cert_chain = tls->cert_pem};
  /* grpc 1.51 asserts that a fetched config has client root certificates,
   * although a server that never asks for client certificates never uses
   * them: give it the server's own chain. */
  grpc_ssl_server_certificate_config *config =
      grpc_ssl_server_certificate_config_create(tls->cert_pem, &pair, 1);
  if (config == NULL)
    return rt_err_set(err, RT_E_INVALID, "grpc refused the TLS certificate and key");
  pthread_mutex_lock(&srv->lock);
  grpc_ssl_server_certificate_config *old = srv->tls_next;
  srv->tls_next = config;
  pthread_mutex_unlock(&srv->lock);
  if (old != NULL)
    grpc_ssl_server_certificate_config_destroy(old);
  return RT_OK;
}

rt_code rt_grpc_server_reload_tls(rt_grpc_server *srv, const char *cert_file, const char *key_file,
                                  rt_err *err) {
  rt_tls_pair tls;
  rt_code code = rt_tls_pair_load(cert_file, key_file, &tls, err);
  if (code == RT_OK)
    code = stage_tls(srv, &tls, err);
  rt_tls_pair_free(&tls);
  return code;
}

static rt_code server_listen(struct rt_grpc_server *srv, const char *listen, const rt_tls_pair *tls,
                             rt_err *err) {
  if (stage_tls(srv, tls, err) != RT_OK)
    return RT_E_INVALID;
  grpc_ssl_server_credentials_options *opts =
      grpc_ssl_server_credentials_create_options_using_config_fetcher(
          GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE, fetch_tls, srv);
  grpc_server_credentials *creds = grpc_ssl_server_credentials_create_with_options(opts);
  srv->port = grpc_server_add_http2_port(srv->server, listen, creds);
  grpc_server_credentials_release(creds);
  if (srv->port <= 0)
    return rt_err_set(err, RT_E_NET, "cannot listen on %s (address in use or invalid)", listen);
  return RT_OK;
}

/* Frees what server_new made, and the grpc_init of rt_grpc_server_start;
 * the grpc server and its queue are gone by then. */
static void free_server(struct rt_grpc_server *srv) {
  if (srv != NULL) {
    if (srv->tls_next != NULL)
      grpc_ssl_server_certificate_config_destroy(srv->tls_next);
    free(srv->methods);
    free(srv->registered);
    free(srv->threads);
    pthread_mutex_destroy(&srv->lock);
    pthread_mutex_destroy(&srv->watch_lock);
    pthread_cond_destroy(&srv->shutdown_done_cv);
    free(srv);
  }
  grpc_shutdown();
}

/* Frees a server that never started. */
static void discard_unstarted(struct rt_grpc_server *srv) {
  if (srv != NULL && srv->server != NULL) {
    /* Never started and no listener: grpc allows destroying it directly. */
    grpc_server_destroy(srv->server);
    grpc_completion_queue_shutdown(srv->cq);
    while (grpc_completion_queue_next(srv->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
           GRPC_QUEUE_SHUTDOWN) {
    }
    grpc_completion_queue_destroy(srv->cq);
  }
  free_server(srv);
}

/* Requests the first calls of every method, then starts the workers; the
 * caller stops the server if this fails. */
static rt_code server_run(struct rt_grpc_server *srv, int threads, rt_err *err) {
  for (int k = 0; k < threads * REQUESTS_PER_THREAD; k++) {
    int failed = request_unknown(srv) != 0;
    for (size_t i = 0; i < srv->n_methods && !failed; i++)
      failed = request_call(srv, i) != 0;
    if (failed)
      return rt_err_set(err, RT_E_INTERNAL, "cannot request gRPC calls");
  }
  for (int t = 0; t < threads; t++) {
    if (pthread_create(&srv->threads[t], NULL, worker, srv) != 0)
      return rt_err_set(err, RT_E_INTERNAL, "cannot start server thread %d", t);
    srv->n_threads++;
  }
  return RT_OK;
}

rt_code rt_grpc_server_start(const rt_grpc_server_config *cfg, rt_grpc_server **out, rt_err *err) {
  *out = NULL;
  int threads = 0;
  size_t max_msg = 0;
  rt_code code = check_config(cfg, &threads, &max_msg, err);
  if (code != RT_OK)
    return code;
  rt_grpc_limits limits = resolve_limits(&cfg->limits);
  rt_tls_pair tls;
  if ((code = rt_tls_pair_load(cfg->tls_cert_file, cfg->tls_key_file, &tls, err)) != RT_OK)
    return code;
  rt_grpc_init();
  rt_tls_server_conf();
  struct rt_grpc_server *srv = NULL;
  if ((code = server_new(cfg, threads, &srv, err)) == RT_OK &&
      (code = server_create(srv, max_msg, &limits, err)) == RT_OK)
    code = server_listen(srv, cfg->listen, &tls, err);
  rt_tls_pair_free(&tls);
  if (code != RT_OK) {
    discard_unstarted(srv);
    return code;
  }
  guard_connections(limits.max_connections);
  grpc_server_start(srv->server);
  if ((code = server_run(srv, threads, err)) != RT_OK) {
    rt_grpc_server_stop(srv);
    return code;
  }
  *out = srv;
  return RT_OK;
}

int rt_grpc_server_port(const rt_grpc_server *srv) {
  return srv->port;
}

/* Waits up to grace_ms for the calls in flight to end (the shutdown
 * notification); 0 when they did not. */
static int wait_calls(struct rt_grpc_server *srv, int grace_ms) {
  if (srv->n_threads == 0 || grace_ms <= 0)
    return 0;
  struct timespec until = rt_clock_after_ms(CLOCK_REALTIME, grace_ms);
  pthread_mutex_lock(&srv->lock);
  while (!srv->shutdown_done &&
         pthread_cond_timedwait(&srv->shutdown_done_cv, &srv->lock, &until) == 0) {
  }
  int done = srv->shutdown_done;
  pthread_mutex_unlock(&srv->lock);
  return done;
}

void rt_grpc_server_stop(rt_grpc_server *srv) {
  rt_grpc_server_drain(srv, 0);
}

void rt_grpc_server_drain(rt_grpc_server *srv, int grace_ms) {
  if (srv == NULL)
    return;
  atomic_store(&srv->stopping, 1);
  /* Watches last as long as their clients: they would hold the drain for
   * the whole grace. */
  rt_grpc_watch_end_all(srv);
  grpc_server_shutdown_and_notify(srv->server, srv->cq, &srv->shutdown_tag);
  if (!wait_calls(srv, grace_ms))
    grpc_server_cancel_all_calls(srv->server);

  if (srv->n_threads > 0) {
    pthread_mutex_lock(&srv->lock);
    while (!srv->shutdown_done)
      pthread_cond_wait(&srv->shutdown_done_cv, &srv->lock);
    pthread_mutex_unlock(&srv->lock);
  } else {
    /* No worker ever ran: drain here until the notification arrives. */
    for (;;) {
      grpc_event ev = grpc_completion_queue_next(srv->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
      if (ev.type != GRPC_OP_COMPLETE)
        continue;
      if (ev.tag == &srv->shutdown_tag)
        break;
      rt_grpc_call_free(ev.tag);
    }
  }
  grpc_server_destroy(srv->server);
  grpc_completion_queue_shutdown(srv->cq);
  for (int t = 0; t < srv->n_threads; t++)
    pthread_join(srv->threads[t], NULL);
  if (srv->n_threads == 0) {
    for (;;) {
      grpc_event ev = grpc_completion_queue_next(srv->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
      if (ev.type == GRPC_QUEUE_SHUTDOWN)
        break;
      if (ev.type == GRPC_OP_COMPLETE && ev.tag != &srv->shutdown_tag)
        rt_grpc_call_free(ev.tag);
    }
  }
  grpc_completion_queue_destroy(srv->cq);
  free_server(srv);
}
