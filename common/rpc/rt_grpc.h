/* A small gRPC layer over the grpc C core: unary methods and server
 * streams of a state's successive values (watches), TLS only, protobuf-c
 * messages. The server serves many clients at once from a pool of
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
#include "rt_grpc_plain.h"

#define RT_GRPC_DEFAULT_MAX_MESSAGE (4u * 1024u * 1024u)
#define RT_GRPC_DEFAULT_THREADS 8
/* Transport limits (docs/protocol.md "Transport limits" says why these). */
#define RT_GRPC_DEFAULT_MAX_CONNECTIONS 1000
#define RT_GRPC_DEFAULT_HANDSHAKE_TIMEOUT_MS 10000
#define RT_GRPC_DEFAULT_IDLE_TIMEOUT_MS 30000
#define RT_GRPC_DEFAULT_KEEPALIVE_TIME_MS 60000
#define RT_GRPC_DEFAULT_KEEPALIVE_TIMEOUT_MS 20000
#define RT_GRPC_DEFAULT_MAX_CONNECTION_AGE_MS (10 * 60 * 1000)
/* After the maximum age, what calls still running get to finish: ours take
 * seconds at most. */
#define RT_GRPC_AGE_GRACE_MS 30000
/* Watch calls open at once, all clients together: each holds a call, its
 * request and its last message until the client goes, the connection ages
 * out or the server drains. Over it: RESOURCE_EXHAUSTED. */
#define RT_GRPC_MAX_WATCHES 64
/* Largest request of a watch, which it keeps while open; over it:
 * INVALID_ARGUMENT. */
#define RT_GRPC_MAX_WATCH_REQUEST 1024

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

/* What one client may hold of the server; 0 in a field: its default. */
typedef struct {
  int max_connections;       /* connections held at once, about */
  int handshake_timeout_ms;  /* from accept to the end of the TLS handshake */
  int idle_timeout_ms;       /* without a call, then closed */
  int keepalive_time_ms;     /* without traffic, then pinged */
  int keepalive_timeout_ms;  /* for the ping's answer, then closed */
  int max_connection_age_ms; /* then told to go (calls get 30 s to finish) */
} rt_grpc_limits;

typedef struct {
  /* "127.0.0.1:50051", "[::1]:0", "0.0.0.0:443"; port 0 picks a free port. */
  const char *listen;
  const char *tls_cert_file; /* PEM chain, leaf first */
  const char *tls_key_file;  /* PEM private key */
  size_t max_message_size;   /* 0: RT_GRPC_DEFAULT_MAX_MESSAGE */
  int threads;               /* 0: RT_GRPC_DEFAULT_THREADS */
  rt_grpc_limits limits;
  const rt_rpc_method *methods;
  size_t n_methods;
  /* Watches, server-streaming methods: the handler answers with the
   * current state's message, and is called again with the same request
   * after each rt_grpc_server_notify; a message equal to the last one sent
   * is not sent again, and a client slow to read gets only the latest. A
   * refusal from the handler ends the stream with it. The stream also ends
   * when the client cancels, and with UNAVAILABLE when the server drains.
   * Their handlers run under the server's watch lock: quick, and never
   * calling back into the server. */
  const rt_rpc_method *watches;
  size_t n_watches;
} rt_grpc_server_config;

typedef struct rt_grpc_server rt_grpc_server;

/* Binds, starts the worker threads and returns at once. */
rt_code rt_grpc_server_start(const rt_grpc_server_config *cfg, rt_grpc_server **out, rt_err *err);
/* The port actually bound (useful with port 0). */
int rt_grpc_server_port(const rt_grpc_server *srv);
/* Stops accepting, cancels calls still running, joins the threads and frees
 * everything. */
void rt_grpc_server_stop(rt_grpc_server *srv);
/* The same, letting the calls in flight finish first for up to grace_ms
 * (SIGTERM): only those still running then are cancelled. Watches are
 * ended at once (after the message of a last rt_grpc_server_notify). */
void rt_grpc_server_drain(rt_grpc_server *srv, int grace_ms);
/* The state watches report has changed: every open watch calls its handler
 * again and sends what changed. Any thread; never blocks on a client. */
void rt_grpc_server_notify(rt_grpc_server *srv);
/* Loads a new TLS certificate chain and key (as at start) and presents them
 * from the next handshake on; on failure the current ones stay. */
rt_code rt_grpc_server_reload_tls(rt_grpc_server *srv, const char *cert_file, const char *key_file,
                                  rt_err *err);

/* ---- client ---------------------------------------------------------- */

typedef struct rt_grpc_client rt_grpc_client;

/* How far a call got, which is what decides whether trying again can help
 * and what the user must fix. */
typedef enum {
  /* The server answered: OK, or a refusal (its status and code). */
  RT_RPC_ANSWERED = 0,
  /* No connection was made (name resolution, connect refused or timed out):
   * the request was not sent. */
  RT_RPC_UNREACHABLE,
  /* A connection was made but TLS did not accept the server: its
   * certificate does not chain to the CA file or does not name the host,
   * or it does not speak TLS. The request was not sent. */
  RT_RPC_TLS,
  /* The connection broke, or the deadline passed, after the request may
   * have arrived. */
  RT_RPC_LOST,
  /* The call failed here (out of memory, an answer that does not parse). */
  RT_RPC_LOCAL,
} rt_rpc_reach;

typedef struct {
  grpc_status_code status;
  char message[512];
  char code[64]; /* RT_GRPC_ERROR_KEY from the trailers, "" if none */
  rt_rpc_reach reach;
  /* rt_grpc_call_retry: how many times it tried the call again (0 after
   * rt_grpc_call). */
  unsigned retries;
} rt_rpc_result;

/* target: "host:port". ca_file: PEM roots the server certificate must chain
 * to (the system roots are never used). max_message_size: largest response
 * accepted, 0 for the default. Each call goes over the client's channel;
 * rt_grpc_call_retry opens a new one before each retry. */
rt_code rt_grpc_client_new(const char *target, const char *ca_file, size_t max_message_size,
                           rt_grpc_client **out, rt_err *err);
void rt_grpc_client_free(rt_grpc_client *client);
/* Replaces the channel with a new one, which connects afresh on the next
 * call (the old one may be waiting out a reconnect backoff). */
rt_code rt_grpc_client_reconnect(rt_grpc_client *client, rt_err *err);
/* The target it was made for ("host:port"), for messages. */
const char *rt_grpc_client_target(const rt_grpc_client *client);

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

/* Which failures rt_grpc_call_retry tries again. */
typedef enum {
  /* Only those where the request was not sent (RT_RPC_UNREACHABLE): for a
   * request that must not arrive twice (a single-use token). */
  RT_RETRY_UNSENT,
  /* Also those where it may have arrived (RT_RPC_LOST): idempotent calls. */
  RT_RETRY_TRANSIENT,
} rt_retry;

/* rt_grpc_call, tried again with exponential backoff (250 ms doubling to
 * 5 s) while the failure is one `retry` allows and deadline_ms (of
 * rt_grpc_now_ms) leaves time; each retry on a new channel, so that it
 * connects at once instead of after the channel's own reconnect backoff.
 * Refusals and TLS failures are never retried. Each retry is logged (warn). */
grpc_status_code rt_grpc_call_retry(rt_grpc_client *client, const char *method,
                                    const ProtobufCMessage *req,
                                    const ProtobufCMessageDescriptor *resp_type,
                                    uint64_t deadline_ms, rt_retry retry, ProtobufCMessage **resp,
                                    rt_rpc_result *res);

/* grpc_init() plus routing grpc core's log lines into rt_log (debug level).
 * Pair each call with grpc_shutdown(). */
void rt_grpc_init(void);

/* Ends the process with status, without exit()'s handlers and destructors,
 * if grpc was initialized in it; else returns. grpc 1.51 keeps its threads
 * running after the last grpc_shutdown (its default EventEngine holds a
 * grpc_init reference of its own, so grpc is still initialized at exit):
 * exit() would free OpenSSL's globals (its atexit cleanup) and libgrpc's
 * static objects while those threads may still use them. Output is flushed
 * first. For programs that are done: the end of main. */
void rt_grpc_end_process(int status);

#endif
