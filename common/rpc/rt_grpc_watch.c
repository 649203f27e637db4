/* Watches: server-streaming calls that send a state's current message, then
 * each new one after rt_grpc_server_notify, until the client goes or the
 * server drains (rt_grpc.h, rt_rpc_method.watch).
 *
 * A watch has at most one batch in flight (a message, or the status) and
 * one pending change (dirty): a client that does not read holds one message
 * and one flag, never a queue. All state is under the server's watch_lock;
 * the worker threads deliver the completions. A watch is freed once the
 * call is over (its RECV_CLOSE_ON_SERVER completed) and no batch is in
 * flight. */
#include <grpc/byte_buffer.h>
#include <grpc/support/alloc.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_grpc_server_internal.h"
#include "rt_log.h"
#include "rt_text.h"

struct rpc_watch {
  enum rt_tag_kind send_tag;  /* TAG_WATCH_SEND */
  enum rt_tag_kind close_tag; /* TAG_WATCH_CLOSED */
  struct rpc_call *call;
  char *peer;
  ProtobufCMessage *req;
  struct rpc_watch *prev, *next;
  uint8_t *last; /* the last message sent */
  size_t last_len;
  grpc_byte_buffer *out; /* the message in flight */
  grpc_slice details;
  grpc_metadata trailer;
  size_t n_trailers;
  bool md_sent;  /* initial metadata went with the first batch */
  bool sending;  /* a batch is in flight */
  bool dirty;    /* the state changed since the last message */
  bool ending;   /* the server drains: the status follows */
  bool finished; /* the status was sent (or the call broke): nothing more */
  bool closed;   /* the call is over */
  int cancelled;
};

static struct rpc_watch *from_tag(void *tag) {
  enum rt_tag_kind *kind = tag;
  size_t off = *kind == TAG_WATCH_SEND ? offsetof(struct rpc_watch, send_tag)
                                       : offsetof(struct rpc_watch, close_tag);
  return (struct rpc_watch *)((char *)tag - off);
}

static void watch_free(struct rpc_watch *w) {
  if (w->call != NULL)
    rt_grpc_call_free(w->call);
  if (w->req != NULL)
    protobuf_c_message_free_unpacked(w->req, NULL);
  free(w->peer);
  free(w->last);
  if (w->out != NULL)
    grpc_byte_buffer_destroy(w->out);
  grpc_slice_unref(w->details);
  if (w->n_trailers > 0) {
    grpc_slice_unref(w->trailer.key);
    grpc_slice_unref(w->trailer.value);
  }
  free(w);
}

/* Starts ops (after the initial metadata if not sent yet) with the send
 * tag; a batch grpc refuses cancels the call, which then closes. */
static void start_send(struct rpc_watch *w, grpc_op *op) {
  grpc_op ops[2];
  memset(ops, 0, sizeof ops);
  size_t n = 0;
  if (!w->md_sent) {
    ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    w->md_sent = true;
  }
  ops[n++] = *op;
  grpc_call_error e = grpc_call_start_batch(w->call->call, ops, n, &w->send_tag, NULL);
  if (e != GRPC_CALL_OK) {
    rt_error("%s: grpc_call_start_batch failed: %d", w->call->method->path, (int)e);
    w->finished = true;
    grpc_call_cancel(w->call->call, NULL);
    return;
  }
  w->sending = true;
}

static void send_status(struct rpc_watch *w, grpc_status_code status, const rt_rpc_status *st) {
  char shown_peer[RT_TEXT_BUF], shown_msg[RT_TEXT_BUF];
  if (status != GRPC_STATUS_UNAVAILABLE && !st->quiet)
    rt_info("%s %s: %s%s%s: %s", rt_text_bound(w->peer, shown_peer), w->call->method->path,
            rt_grpc_status_name(status), st->code ? " " : "", st->code ? st->code : "",
            rt_text_bound(st->message, shown_msg));
  w->details = grpc_slice_from_copied_string(st->message);
  if (st->code != NULL) {
    w->trailer.key = grpc_slice_from_static_string(RT_GRPC_ERROR_KEY);
    w->trailer.value = grpc_slice_from_copied_string(st->code);
    w->n_trailers = 1;
  }
  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_SEND_STATUS_FROM_SERVER;
  op.data.send_status_from_server.status = status;
  op.data.send_status_from_server.status_details = &w->details;
  op.data.send_status_from_server.trailing_metadata_count = w->n_trailers;
  op.data.send_status_from_server.trailing_metadata = w->n_trailers ? &w->trailer : NULL;
  w->finished = true;
  start_send(w, &op);
}

/* The handler's message for the current state, packed into *buf: OK, or
 * the refusal that ends the watch. */
static grpc_status_code render(struct rpc_watch *w, uint8_t **buf, size_t *len, rt_rpc_status *st) {
  const rt_rpc_method *m = w->call->method;
  rt_rpc_call_info info = {.peer = w->peer};
  ProtobufCMessage *resp = NULL;
  memset(st, 0, sizeof *st);
  grpc_status_code status = m->handler(m->user, &info, w->req, &resp, st);
  if (status == GRPC_STATUS_OK && resp == NULL) {
    snprintf(st->message, sizeof st->message, "handler returned no response");
    status = GRPC_STATUS_INTERNAL;
  }
  if (status == GRPC_STATUS_OK) {
    *len = protobuf_c_message_get_packed_size(resp);
    if ((*buf = malloc(*len ? *len : 1)) == NULL) {
      snprintf(st->message, sizeof st->message, "out of memory packing the response");
      status = GRPC_STATUS_RESOURCE_EXHAUSTED;
    } else {
      protobuf_c_message_pack(resp, *buf);
    }
  }
  if (resp != NULL && m->free_response != NULL)
    m->free_response(resp);
  return status;
}

/* Sends buf (taking it) unless it is the message sent last. */
static void send_message(struct rpc_watch *w, uint8_t *buf, size_t len) {
  if (w->last != NULL && w->last_len == len && memcmp(w->last, buf, len) == 0) {
    free(buf);
    return;
  }
  free(w->last);
  w->last = buf;
  w->last_len = len;
  grpc_slice slice = grpc_slice_from_copied_buffer((const char *)buf, len);
  w->out = grpc_raw_byte_buffer_create(&slice, 1);
  grpc_slice_unref(slice);
  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_SEND_MESSAGE;
  op.data.send_message.send_message = w->out;
  start_send(w, &op);
}

/* Starts what the watch owes its client, if nothing is in flight: the
 * current message if the state changed, then (draining) the status. */
static void send_next(struct rpc_watch *w) {
  if (w->sending || w->finished || w->closed)
    return;
  if (w->dirty) {
    w->dirty = false;
    uint8_t *buf = NULL;
    size_t len = 0;
    rt_rpc_status st;
    grpc_status_code status = render(w, &buf, &len, &st);
    if (status != GRPC_STATUS_OK) {
      send_status(w, status, &st);
      return;
    }
    send_message(w, buf, len);
    if (w->sending)
      return;
  }
  if (w->ending) {
    rt_rpc_status st = {.status = GRPC_STATUS_UNAVAILABLE};
    snprintf(st.message, sizeof st.message, "the server is shutting down");
    send_status(w, GRPC_STATUS_UNAVAILABLE, &st);
  }
}

static void unlink_watch(struct rt_grpc_server *srv, struct rpc_watch *w) {
  if (w->prev != NULL)
    w->prev->next = w->next;
  else
    srv->open_watches = w->next;
  if (w->next != NULL)
    w->next->prev = w->prev;
  srv->n_open_watches--;
}

/* A watch for c with its request, or NULL with the refusal in st. */
static struct rpc_watch *watch_new(struct rpc_call *c, const char *peer, grpc_status_code *status,
                                   rt_rpc_status *st) {
  ProtobufCMessage *req = rt_grpc_unpack_request(c, status, st);
  if (req == NULL)
    return NULL;
  struct rpc_watch *w = calloc(1, sizeof *w);
  char *peer_copy = strdup(peer != NULL ? peer : "");
  if (w == NULL || peer_copy == NULL) {
    free(w);
    free(peer_copy);
    protobuf_c_message_free_unpacked(req, NULL);
    *status = GRPC_STATUS_RESOURCE_EXHAUSTED;
    snprintf(st->message, sizeof st->message, "out of memory opening a watch");
    return NULL;
  }
  *w = (struct rpc_watch){.send_tag = TAG_WATCH_SEND,
                          .close_tag = TAG_WATCH_CLOSED,
                          .peer = peer_copy,
                          .req = req,
                          .details = grpc_empty_slice(),
                          .dirty = true};
  /* The request lives on unpacked: its bytes are not needed any more. */
  grpc_byte_buffer_destroy(c->request);
  c->request = NULL;
  return w;
}

grpc_status_code rt_grpc_watch_open(struct rpc_call *c, const char *peer, rt_rpc_status *st) {
  struct rt_grpc_server *srv = c->srv;
  grpc_status_code status;
  struct rpc_watch *w = watch_new(c, peer, &status, st);
  if (w == NULL)
    return status;
  pthread_mutex_lock(&srv->watch_lock);
  /* stopping is set before the drain takes the lock to end the watches:
   * a watch either sees it here or is ended there. */
  if (atomic_load(&srv->stopping) || srv->n_open_watches >= RT_GRPC_MAX_WATCHES) {
    pthread_mutex_unlock(&srv->watch_lock);
    bool stopping = atomic_load(&srv->stopping);
    watch_free(w); /* c is not its yet */
    snprintf(st->message, sizeof st->message,
             stopping ? "the server is shutting down" : "%d watches open: the limit",
             RT_GRPC_MAX_WATCHES);
    return stopping ? GRPC_STATUS_UNAVAILABLE : GRPC_STATUS_RESOURCE_EXHAUSTED;
  }
  w->call = c;
  grpc_op op;
  memset(&op, 0, sizeof op);
  op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
  op.data.recv_close_on_server.cancelled = &w->cancelled;
  if (grpc_call_start_batch(c->call, &op, 1, &w->close_tag, NULL) != GRPC_CALL_OK) {
    pthread_mutex_unlock(&srv->watch_lock);
    w->call = NULL;
    watch_free(w);
    snprintf(st->message, sizeof st->message, "cannot open the watch");
    return GRPC_STATUS_INTERNAL;
  }
  w->next = srv->open_watches;
  if (w->next != NULL)
    w->next->prev = w;
  srv->open_watches = w;
  srv->n_open_watches++;
  send_next(w);
  pthread_mutex_unlock(&srv->watch_lock);
  return GRPC_STATUS_OK;
}

void rt_grpc_watch_event(struct rt_grpc_server *srv, void *tag, bool success) {
  struct rpc_watch *w = from_tag(tag);
  pthread_mutex_lock(&srv->watch_lock);
  if (*(enum rt_tag_kind *)tag == TAG_WATCH_SEND) {
    w->sending = false;
    if (w->out != NULL) {
      grpc_byte_buffer_destroy(w->out);
      w->out = NULL;
    }
    if (!success) /* the call broke: its close follows */
      w->finished = true;
  } else {
    w->closed = true;
    unlink_watch(srv, w);
  }
  bool done = w->closed && !w->sending;
  if (!done)
    send_next(w);
  pthread_mutex_unlock(&srv->watch_lock);
  if (done)
    watch_free(w);
}

void rt_grpc_server_notify(rt_grpc_server *srv) {
  pthread_mutex_lock(&srv->watch_lock);
  for (struct rpc_watch *w = srv->open_watches; w != NULL; w = w->next) {
    w->dirty = true;
    send_next(w);
  }
  pthread_mutex_unlock(&srv->watch_lock);
}

void rt_grpc_watch_end_all(struct rt_grpc_server *srv) {
  pthread_mutex_lock(&srv->watch_lock);
  for (struct rpc_watch *w = srv->open_watches; w != NULL; w = w->next) {
    w->ending = true;
    send_next(w);
  }
  pthread_mutex_unlock(&srv->watch_lock);
}
