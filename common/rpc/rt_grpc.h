/* A small gRPC layer over the grpc C core: unary methods only, TLS only,
 * protobuf-c messages. The server serves many clients at once from a pool of
 * threads sharing one completion queue; the client makes one call at a time
 * per invocation, each with its own deadline. */
#ifndef RT_GRPC_H
#define RT_GRPC_H

#include <grpc/status.h>
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rt_err.h"

#define RT_GRPC_DEFAULT_MAX_MESSAGE (4u * 1024u * 1024u)
#define RT_GRPC_DEFAULT_THREADS 8

/* Trailing metadata key carrying a stable, machine-readable error code. */
#define RT_GRPC_ERROR_KEY "rattest-error"

/* ---- server ---------------------------------------------------------- */

/* What a handler answers when it does not answer OK. */
typedef struct {
  grpc_status_code status;
  char message[512];
  /* Optional machine-readable code (a string literal), sent as trailing
   * metadata RT_GRPC_ERROR_KEY. */
  const char *code;
  /* Set by a handler that accounts for this refusal itself (a rate-limited
   * call, counted in the audit trail): the layer then writes no log line
   * for it, so a flood of refusals does not write the log at its rate. */
  bool quiet;
} rt_rpc_status;

typedef struct {
  /* "ipv4:127.0.0.1:53422" etc., for logs. */
  const char *peer;
} rt_rpc_call_info;

/* Handles one request. On success returns GRPC_STATUS_OK and sets *resp to a
 * message the layer packs and then releases with the method's free_response.
 * On failure fills st (status + message) and returns st->status. The request
 * is owned by the layer. Handlers run on pool threads: they must be
 * thread-safe. */
typedef grpc_status_code (*rt_rpc_handler)(void *user, const rt_rpc_call_info *info,
                                           const ProtobufCMessage *req, ProtobufCMessage **resp,
                                           rt_rpc_status *st);

typedef struct {
  /* Full method path: "/rattest.v1.Attestation/Ping". */
  const char *path;
  const ProtobufCMessageDescriptor *request_type;
  rt_rpc_handler handler;
  /* Releases what the handler put in *resp. */
  void (*free_response)(ProtobufCMessage *resp);
  void *user;
} rt_rpc_method;

typedef struct {
  /* "127.0.0.1:50051", "[::1]:0", "0.0.0.0:443"; port 0 picks a free port. */
  const char *listen;
  const char *tls_cert_file; /* PEM chain, leaf first */
  const char *tls_key_file;  /* PEM private key */
  size_t max_message_size;   /* 0: RT_GRPC_DEFAULT_MAX_MESSAGE */
  int threads;               /* 0: RT_GRPC_DEFAULT_THREADS */
  const rt_rpc_method *methods;
  size_t n_methods;
} rt_grpc_server_config;

typedef struct rt_grpc_server rt_grpc_server;

/* Binds, starts the worker threads and returns at once. */
rt_code rt_grpc_server_start(const rt_grpc_server_config *cfg, rt_grpc_server **out, rt_err *err);
/* The port actually bound (useful with port 0). */
int rt_grpc_server_port(const rt_grpc_server *srv);
/* Stops accepting, cancels calls still running, joins the threads and frees
 * everything. */
void rt_grpc_server_stop(rt_grpc_server *srv);

/* ---- client ---------------------------------------------------------- */

typedef struct rt_grpc_client rt_grpc_client;

typedef struct {
  grpc_status_code status;
  char message[512];
  char code[64]; /* RT_GRPC_ERROR_KEY from the trailers, "" if none */
} rt_rpc_result;

/* target: "host:port". ca_file: PEM roots the server certificate must chain
 * to (the system roots are never used). max_message_size: largest response
 * accepted, 0 for the default. */
rt_code rt_grpc_client_new(const char *target, const char *ca_file, size_t max_message_size,
                           rt_grpc_client **out, rt_err *err);
void rt_grpc_client_free(rt_grpc_client *client);

/* Sends bytes as the request of `method` and waits at most timeout_ms for
 * the answer. On GRPC_STATUS_OK, *resp holds the response bytes (malloc'ed).
 * Exposed separately so tests can send bytes that are not a valid message. */
grpc_status_code rt_grpc_call_raw(rt_grpc_client *client, const char *method, const uint8_t *req,
                                  size_t req_len, int timeout_ms, uint8_t **resp, size_t *resp_len,
                                  rt_rpc_result *res);

/* Packs req, calls, unpacks the response with resp_type. On success *resp
 * must be released with protobuf_c_message_free_unpacked. A response that
 * does not parse is reported as GRPC_STATUS_INTERNAL. */
grpc_status_code rt_grpc_call(rt_grpc_client *client, const char *method,
                              const ProtobufCMessage *req,
                              const ProtobufCMessageDescriptor *resp_type, int timeout_ms,
                              ProtobufCMessage **resp, rt_rpc_result *res);

/* grpc_init() plus routing grpc core's log lines into rt_log (debug level).
 * Pair each call with grpc_shutdown(). */
void rt_grpc_init(void);

/* "OK", "UNAVAILABLE", ... */
const char *rt_grpc_status_name(grpc_status_code status);

#endif
