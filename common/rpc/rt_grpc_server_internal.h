/* The server's inside, shared by its files: rt_grpc_server.c (the server,
 * its workers, unary calls, the drain) and rt_grpc_watch.c (watches, the
 * server-streaming methods). Internal to the rpc library. */
#ifndef RT_GRPC_SERVER_INTERNAL_H
#define RT_GRPC_SERVER_INTERNAL_H

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "rt_grpc.h"

/* What a completion is about: every tag given to grpc points at one of
 * these, the first member of what it belongs to. */
enum rt_tag_kind {
  TAG_CALL,         /* struct rpc_call: requested, or its unary answer sent */
  TAG_SHUTDOWN,     /* the server's shutdown notification */
  TAG_WATCH_SEND,   /* struct rpc_watch: a message or the status sent */
  TAG_WATCH_CLOSED, /* struct rpc_watch: the call is over */
};

enum call_state { CALL_REQUESTED, CALL_FINISHING };

struct rpc_call {
  enum rt_tag_kind kind; /* TAG_CALL */
  struct rt_grpc_server *srv;
  /* NULL for a call to a method we do not serve (requested generically). */
  const rt_rpc_method *method;
  grpc_call_details unknown;
  void *registered;
  enum call_state state;
  grpc_call *call;
  gpr_timespec deadline;
  grpc_metadata_array request_md;
  grpc_byte_buffer *request;
  grpc_byte_buffer *response;
  grpc_slice details;
  grpc_metadata trailer;
  size_t n_trailers;
  int cancelled;
};

struct rpc_watch;

struct rt_grpc_server {
  grpc_server *server;
  grpc_completion_queue *cq;
  /* The unary methods, then (from n_unary on) the watches. */
  rt_rpc_method *methods;
  void **registered;
  size_t n_methods, n_unary;
  pthread_t *threads;
  int n_threads;
  int port;
  atomic_int stopping;
  enum rt_tag_kind shutdown_tag; /* TAG_SHUTDOWN */
  pthread_mutex_t lock;
  pthread_cond_t shutdown_done_cv;
  int shutdown_done;
  /* TLS credentials waiting for grpc's next handshake (fetch_tls), set at
   * start and by rt_grpc_server_reload_tls; under lock. */
  grpc_ssl_server_certificate_config *tls_next;
  /* The open watches, under watch_lock. */
  pthread_mutex_t watch_lock;
  struct rpc_watch *open_watches;
  int n_open_watches;
};

/* Whether c is a call to a watch method. */
static inline bool rt_grpc_is_watch(const struct rpc_call *c) {
  return c->method != NULL && (size_t)(c->method - c->srv->methods) >= c->srv->n_unary;
}

/* Releases a call and what it holds. */
void rt_grpc_call_free(struct rpc_call *c);

/* The call's request message, or NULL with the status saying why. */
ProtobufCMessage *rt_grpc_unpack_request(const struct rpc_call *c, grpc_status_code *status,
                                         rt_rpc_status *st);

/* Opens a watch for the call c of a watch method: GRPC_STATUS_OK and
 * the watch owns c, or the refusal (in st) the caller answers c with. */
grpc_status_code rt_grpc_watch_open(struct rpc_call *c, const char *peer, rt_rpc_status *st);
/* A completion whose tag is a watch's (TAG_WATCH_SEND, TAG_WATCH_CLOSED). */
void rt_grpc_watch_event(struct rt_grpc_server *srv, void *tag, bool success);
/* Ends every watch (the drain): each sends its pending message, then
 * UNAVAILABLE. */
void rt_grpc_watch_end_all(struct rt_grpc_server *srv);

#endif
