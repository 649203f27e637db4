/* The bootstrap's network half: gRPC calls to the verifier and HTTP GETs of
 * EK certificates live in a module (rattest-bootstrap-net.so, built from
 * common/rpc's client library) that the bootstrap loads when a command
 * needs them, so that the executable links neither grpc nor libcurl: their
 * dynamic loading took about 33 ms at every exec, more than everything else
 * before the first TPM command (docs/performance.md, issue 17). The module
 * is loaded in the background while the TPM works (rt_net_preload) and
 * waited for at the first call that needs it.
 *
 * The module is found relative to the executable only (never through the
 * environment): RATTEST_NET_MODULE (CMake) from the directory of
 * /proc/self/exe, the same rule in the build tree and when installed.
 *
 * Only the main thread calls these. */
#ifndef RT_BOOTSTRAP_NET_H
#define RT_BOOTSTRAP_NET_H

#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>

#include "rt_err.h"
#include "rt_grpc.h"
#include "rt_http.h"

/* The module's interface: one object, RT_NET_API_SYMBOL, whose version must
 * be this program's. Raise the version with any change to the struct. */
#define RT_NET_API_VERSION 1u
#define RT_NET_API_SYMBOL "rt_net_module"

typedef struct {
  unsigned version;
  /* rt_grpc.h */
  rt_code (*client_new)(const char *target, const char *ca_file, size_t max_message_size,
                        rt_grpc_client **out, rt_err *err);
  void (*client_free)(rt_grpc_client *client);
  const char *(*client_target)(const rt_grpc_client *client);
  grpc_status_code (*call_retry)(rt_grpc_client *client, const char *method,
                                 const ProtobufCMessage *req,
                                 const ProtobufCMessageDescriptor *resp_type, uint64_t deadline_ms,
                                 rt_retry retry, ProtobufCMessage **resp, rt_rpc_result *res);
  void (*end_process)(int status);
  /* rt_http.h */
  rt_code (*http_get)(const char *url, const rt_http_limits *lim, uint8_t **data, size_t *len,
                      rt_err *err);
  X509 *(*http_cert_parse)(const uint8_t *data, size_t len);
  /* URL percent-encoding (libcurl's): malloc'd, NULL when out of memory. */
  char *(*url_escape)(const char *text, size_t len);
  char *(*url_unescape)(const char *text);
} rt_net_api;

/* The module's object (net_module.c), found with dlsym, never linked. */
extern const rt_net_api rt_net_module;

/* Starts loading the module on a thread of its own, for a command that will
 * need it; a failure shows at the first call. Call it once the TPM is open:
 * the loader holds its lock for the whole load, so a TCTI dlopened
 * meanwhile would wait for the module instead of the TPM working while it
 * loads. */
void rt_net_preload(void);

/* Loads the module, or waits for rt_net_preload's load, once; fails with
 * RT_E_INTERNAL naming the module's path and the loader's reason when it
 * cannot be loaded. */
rt_code rt_net_load(rt_err *err);

/* The functions of rt_grpc.h and rt_http.h of the same names, through the
 * module: rt_net_client_new and rt_net_http_get load it (rt_net_load) and
 * fail like it; the others need it loaded (by those, or rt_net_load). */
rt_code rt_net_client_new(const char *target, const char *ca_file, rt_grpc_client **out,
                          rt_err *err);
void rt_net_client_free(rt_grpc_client *client);
const char *rt_net_client_target(const rt_grpc_client *client);
grpc_status_code rt_net_call_retry(rt_grpc_client *client, const char *method,
                                   const ProtobufCMessage *req,
                                   const ProtobufCMessageDescriptor *resp_type,
                                   uint64_t deadline_ms, rt_retry retry, ProtobufCMessage **resp,
                                   rt_rpc_result *res);
rt_code rt_net_http_get(const char *url, const rt_http_limits *lim, uint8_t **data, size_t *len,
                        rt_err *err);
X509 *rt_net_http_cert_parse(const uint8_t *data, size_t len);
/* Percent-encoded text and back; free() the result; NULL when out of
 * memory. */
char *rt_net_url_escape(const char *text, size_t len);
char *rt_net_url_unescape(const char *text);

/* rt_grpc_end_process when the module was loaded (grpc can only have been
 * used then); else returns. Waits for a load still under way, so that the
 * process does not exit while the loader runs the module's constructors. */
void rt_net_end_process(int status);

#endif
