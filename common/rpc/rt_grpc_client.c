#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_grpc.h"
#include "rt_tls_files.h"

#define DEFAULT_TIMEOUT_MS 30000

struct rt_grpc_client {
  char *target;
  char *ca_pem;
  int max_msg;
  grpc_channel *channel;
};

/* A new channel to the client's target, trusting only its CA. Its
 * subchannels are its own (not grpc's process-wide pool), so a new channel
 * never inherits the reconnect backoff of one that failed before. */
static grpc_channel *channel_open(const rt_grpc_client *c) {
  /* Only the pinned roots are trusted: passing them here keeps grpc from
   * falling back to the system store. */
  grpc_channel_credentials *creds = grpc_ssl_credentials_create(c->ca_pem, NULL, NULL, NULL);
  grpc_arg args[2];
  args[0].type = GRPC_ARG_INTEGER;
  args[0].key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
  args[0].value.integer = c->max_msg;
  args[1].type = GRPC_ARG_INTEGER;
  args[1].key = GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL;
  args[1].value.integer = 1;
  grpc_channel_args chargs = {.num_args = 2, .args = args};
  grpc_channel *ch = grpc_channel_create(c->target, creds, &chargs);
  grpc_channel_credentials_release(creds);
  return ch;
}

static void client_release(rt_grpc_client *c) {
  free(c->target);
  free(c->ca_pem);
  free(c);
}

rt_code rt_grpc_client_new(const char *target, const char *ca_file, size_t max_message_size,
                           rt_grpc_client **out, rt_err *err) {
  *out = NULL;
  if (target == NULL || target[0] == '\0')
    return rt_err_set(err, RT_E_INVALID, "no verifier address given (HOST:PORT)");
  if (ca_file == NULL || ca_file[0] == '\0')
    return rt_err_set(err, RT_E_INVALID,
                      "no CA file given: the verifier's certificate must be pinned");
  size_t max_msg = max_message_size ? max_message_size : RT_GRPC_DEFAULT_MAX_MESSAGE;
  if (max_msg > (size_t)INT32_MAX)
    return rt_err_set(err, RT_E_INVALID, "max message size too large");
  rt_grpc_client *c = calloc(1, sizeof *c);
  if (c == NULL)
    return rt_err_set(err, RT_E_NOMEM, "out of memory");
  rt_code code = rt_tls_ca_load(ca_file, &c->ca_pem, err);
  if (code != RT_OK) {
    client_release(c);
    return code;
  }
  c->max_msg = (int)max_msg;
  c->target = strdup(target);
  if (c->target == NULL) {
    client_release(c);
    return rt_err_set(err, RT_E_NOMEM, "out of memory");
  }
  rt_grpc_init();
  c->channel = channel_open(c);
  if (c->channel == NULL) {
    client_release(c);
    grpc_shutdown();
    return rt_err_set(err, RT_E_NET, "cannot create a channel to %s", target);
  }
  *out = c;
  return RT_OK;
}

rt_code rt_grpc_client_reconnect(rt_grpc_client *client, rt_err *err) {
  grpc_channel *fresh = channel_open(client);
  if (fresh == NULL)
    return rt_err_set(err, RT_E_NET, "cannot create a channel to %s", client->target);
  /* No call is running on the old channel: calls are made one at a time
   * and each is finished and released before rt_grpc_call_raw returns. */
  grpc_channel_destroy(client->channel);
  client->channel = fresh;
  return RT_OK;
}

const char *rt_grpc_client_target(const rt_grpc_client *client) {
  return client->target;
}

void rt_grpc_client_free(rt_grpc_client *client) {
  if (client == NULL)
    return;
  grpc_channel_destroy(client->channel);
  client->channel = NULL;
  client_release(client);
  /* Last: every grpc object of ours is gone (grpc_shutdown's contract). */
  grpc_shutdown();
}

static void result_set(rt_rpc_result *res, grpc_status_code status, const char *msg) {
  res->status = status;
  /* Every failure reported through here happened on this side (an answer
   * that arrived but cannot be used included). */
  res->reach = RT_RPC_LOCAL;
  snprintf(res->message, sizeof res->message, "%s", msg);
}

/* One unary call: its grpc objects and what its batch receives. */
typedef struct {
  grpc_completion_queue *cq;
  grpc_call *call;
  grpc_byte_buffer *request, *response;
  grpc_metadata_array initial_md, trailing_md;
  grpc_status_code status;
  grpc_slice details;
  const char *error_string;
} unary;

/* The call to method with req as its message; 0 if grpc cannot create it
 * (nothing is left to free then). */
static int unary_new(rt_grpc_client *client, const char *method, const uint8_t *req, size_t req_len,
                     int timeout_ms, unary *u) {
  memset(u, 0, sizeof *u);
  u->cq = grpc_completion_queue_create_for_pluck(NULL);
  gpr_timespec deadline =
      gpr_time_add(gpr_now(GPR_CLOCK_REALTIME), gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
  grpc_slice path = grpc_slice_from_copied_string(method);
  u->call = grpc_channel_create_call(client->channel, NULL, GRPC_PROPAGATE_DEFAULTS, u->cq, path,
                                     NULL, deadline, NULL);
  grpc_slice_unref(path);
  if (u->call == NULL) {
    grpc_completion_queue_destroy(u->cq);
    return 0;
  }
  grpc_slice body = grpc_slice_from_copied_buffer((const char *)req, req_len);
  u->request = grpc_raw_byte_buffer_create(&body, 1);
  grpc_slice_unref(body);
  grpc_metadata_array_init(&u->initial_md);
  grpc_metadata_array_init(&u->trailing_md);
  u->status = GRPC_STATUS_UNKNOWN;
  u->details = grpc_empty_slice();
  return 1;
}

static void unary_free(unary *u) {
  if (u->error_string != NULL)
    gpr_free((void *)u->error_string);
  grpc_slice_unref(u->details);
  grpc_metadata_array_destroy(&u->initial_md);
  grpc_metadata_array_destroy(&u->trailing_md);
  if (u->response != NULL)
    grpc_byte_buffer_destroy(u->response);
  grpc_byte_buffer_destroy(u->request);
  grpc_call_unref(u->call);
  grpc_completion_queue_shutdown(u->cq);
  grpc_completion_queue_destroy(u->cq);
}

/* Sends the request and waits for the whole answer; NULL once it is in,
 * else what went wrong. */
static const char *unary_run(unary *u) {
  grpc_op ops[6];
  memset(ops, 0, sizeof ops);
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[1].op = GRPC_OP_SEND_MESSAGE;
  ops[1].data.send_message.send_message = u->request;
  ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
  ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
  ops[3].data.recv_initial_metadata.recv_initial_metadata = &u->initial_md;
  ops[4].op = GRPC_OP_RECV_MESSAGE;
  ops[4].data.recv_message.recv_message = &u->response;
  ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  ops[5].data.recv_status_on_client.trailing_metadata = &u->trailing_md;
  ops[5].data.recv_status_on_client.status = &u->status;
  ops[5].data.recv_status_on_client.status_details = &u->details;
  ops[5].data.recv_status_on_client.error_string = &u->error_string;
  int tag = 0;
  if (grpc_call_start_batch(u->call, ops, 6, &tag, NULL) != GRPC_CALL_OK)
    return "cannot start the call";
  /* The call's deadline bounds this wait. */
  grpc_event ev =
      grpc_completion_queue_pluck(u->cq, &tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
  return ev.type == GRPC_OP_COMPLETE ? NULL : "call did not complete";
}

/* The status, its details, and the rattest error code among the trailers. */
static void read_status(const unary *u, rt_rpc_result *res) {
  res->status = u->status;
  char *msg = grpc_slice_to_c_string(u->details);
  snprintf(res->message, sizeof res->message, "%s", msg);
  gpr_free(msg);
  for (size_t i = 0; i < u->trailing_md.count; i++) {
    if (grpc_slice_str_cmp(u->trailing_md.metadata[i].key, RT_GRPC_ERROR_KEY) == 0) {
      char *v = grpc_slice_to_c_string(u->trailing_md.metadata[i].value);
      snprintf(res->code, sizeof res->code, "%s", v);
      gpr_free(v);
    }
  }
}

/* What grpc 1.5x puts in an UNAVAILABLE status's message when TLS, not the
 * network, stopped the connection: the certificate did not verify against
 * the CA file, did not name the host, or the peer does not speak TLS
 * (SSL_ERROR_SSL is a protocol or verification error; a handshake cut off by
 * the network is SSL_ERROR_SYSCALL or "Socket closed", and is retried). The
 * core API gives no structured cause, so its message is all there is. */
static int tls_refused(const char *msg) {
  return strstr(msg, "SSL_ERROR_SSL") != NULL || strstr(msg, "certificate verify failed") != NULL ||
         strstr(msg, "Peer name") != NULL;
}

/* How far a finished call got (rt_rpc_reach), from its status, its
 * message, and the channel's state for a deadline. */
static rt_rpc_reach classify(grpc_channel *channel, const rt_rpc_result *res) {
  if (res->status == GRPC_STATUS_OK || res->code[0] != '\0')
    return RT_RPC_ANSWERED;
  if (res->status == GRPC_STATUS_UNAVAILABLE) {
    if (tls_refused(res->message))
      return RT_RPC_TLS;
    /* The channel never had a connection ready for the call. */
    if (strstr(res->message, "failed to connect to all addresses") != NULL ||
        strstr(res->message, "DNS resolution failed") != NULL)
      return RT_RPC_UNREACHABLE;
    return RT_RPC_LOST;
  }
  if (res->status == GRPC_STATUS_DEADLINE_EXCEEDED)
    /* Still connecting when the deadline came: nothing was sent. */
    return grpc_channel_check_connectivity_state(channel, 0) == GRPC_CHANNEL_READY
               ? RT_RPC_LOST
               : RT_RPC_UNREACHABLE;
  return RT_RPC_ANSWERED;
}

/* The response message of an OK call, copied into *resp. */
static void read_response(grpc_byte_buffer *response, uint8_t **resp, size_t *resp_len,
                          rt_rpc_result *res) {
  if (response == NULL) {
    result_set(res, GRPC_STATUS_INTERNAL, "server answered OK without a message");
    return;
  }
  grpc_byte_buffer_reader reader;
  if (!grpc_byte_buffer_reader_init(&reader, response)) {
    result_set(res, GRPC_STATUS_INTERNAL, "response cannot be decompressed");
    return;
  }
  grpc_slice all = grpc_byte_buffer_reader_readall(&reader);
  grpc_byte_buffer_reader_destroy(&reader);
  size_t n = GRPC_SLICE_LENGTH(all);
  *resp = malloc(n ? n : 1);
  if (*resp == NULL) {
    result_set(res, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
  } else {
    memcpy(*resp, GRPC_SLICE_START_PTR(all), n);
    *resp_len = n;
  }
  grpc_slice_unref(all);
}

grpc_status_code rt_grpc_call_raw(rt_grpc_client *client, const char *method, const uint8_t *req,
                                  size_t req_len, int timeout_ms, uint8_t **resp, size_t *resp_len,
                                  rt_rpc_result *res) {
  memset(res, 0, sizeof *res);
  *resp = NULL;
  *resp_len = 0;
  unary u;
  if (!unary_new(client, method, req, req_len, timeout_ms > 0 ? timeout_ms : DEFAULT_TIMEOUT_MS,
                 &u)) {
    result_set(res, GRPC_STATUS_INTERNAL, "cannot create the call");
    return res->status;
  }
  const char *failure = unary_run(&u);
  if (failure != NULL) {
    result_set(res, GRPC_STATUS_INTERNAL, failure);
  } else {
    read_status(&u, res);
    res->reach = classify(client->channel, res);
    if (u.status == GRPC_STATUS_OK)
      read_response(u.response, resp, resp_len, res);
  }
  unary_free(&u);
  return res->status;
}

grpc_status_code rt_grpc_call(rt_grpc_client *client, const char *method,
                              const ProtobufCMessage *req,
                              const ProtobufCMessageDescriptor *resp_type, int timeout_ms,
                              ProtobufCMessage **resp, rt_rpc_result *res) {
  *resp = NULL;
  size_t len = protobuf_c_message_get_packed_size(req);
  uint8_t *buf = malloc(len ? len : 1);
  if (buf == NULL) {
    memset(res, 0, sizeof *res);
    result_set(res, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return res->status;
  }
  protobuf_c_message_pack(req, buf);
  uint8_t *out = NULL;
  size_t out_len = 0;
  grpc_status_code st = rt_grpc_call_raw(client, method, buf, len, timeout_ms, &out, &out_len, res);
  /* Requests can carry secrets (activated credentials): wipe the copy. */
  OPENSSL_cleanse(buf, len);
  free(buf);
  if (st != GRPC_STATUS_OK)
    return st;
  *resp = protobuf_c_message_unpack(resp_type, NULL, out_len, out);
  free(out);
  if (*resp == NULL) {
    result_set(res, GRPC_STATUS_INTERNAL, "response is not a valid message");
    res->code[0] = '\0';
  }
  return res->status;
}
