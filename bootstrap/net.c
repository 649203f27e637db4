/* Loading the network module (net.h) and calling through it. */
#include "net.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The load: started by rt_net_preload (or run by the first call), its
 * outcome read by the main thread only after joining. */
static struct {
  pthread_t thread;
  int started; /* the thread runs or ran */
  int done;    /* the outcome below is known */
  const rt_net_api *api;
  char error[PATH_MAX + 256];
} net;

/* RATTEST_NET_MODULE from the directory of this executable. */
static int module_path(char *path, size_t cap) {
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) {
    snprintf(net.error, sizeof net.error, "cannot find the network module: /proc/self/exe: %s",
             strerror(errno));
    return -1;
  }
  exe[n] = '\0';
  char *slash = strrchr(exe, '/');
  int dir = slash != NULL ? (int)(slash - exe) : 0;
  if ((size_t)snprintf(path, cap, "%.*s/%s", dir, exe, RATTEST_NET_MODULE) >= cap) {
    snprintf(net.error, sizeof net.error, "cannot find the network module: path too long");
    return -1;
  }
  return 0;
}

/* The module stays loaded until the process ends (grpc's threads run in
 * it). dlerror() is per thread: read here, where the loader failed. */
static void *load(void *unused) {
  (void)unused;
  char path[PATH_MAX];
  if (module_path(path, sizeof path) != 0)
    return NULL;
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  const rt_net_api *api = h != NULL ? dlsym(h, RT_NET_API_SYMBOL) : NULL;
  if (api == NULL)
    snprintf(net.error, sizeof net.error, "cannot load the network module %s: %s", path, dlerror());
  else if (api->version != RT_NET_API_VERSION)
    snprintf(net.error, sizeof net.error,
             "cannot load the network module %s: its interface is version %u, this program "
             "needs %u",
             path, api->version, RT_NET_API_VERSION);
  else
    net.api = api;
  return NULL;
}

void rt_net_preload(void) {
  if (!net.started && !net.done)
    net.started = pthread_create(&net.thread, NULL, load, NULL) == 0;
}

/* The module, after the load has finished; NULL when it failed. */
static const rt_net_api *finish_load(void) {
  if (!net.done) {
    if (net.started)
      pthread_join(net.thread, NULL);
    else
      load(NULL);
    net.done = 1;
  }
  return net.api;
}

rt_code rt_net_load(rt_err *err) {
  return finish_load() != NULL ? RT_OK : rt_err_set(err, RT_E_INTERNAL, "%s", net.error);
}

rt_code rt_net_client_new(const char *target, const char *ca_file, rt_grpc_client **out,
                          rt_err *err) {
  *out = NULL;
  if (rt_net_load(err) != RT_OK)
    return err->code;
  return net.api->client_new(target, ca_file, 0, out, err);
}

void rt_net_client_free(rt_grpc_client *client) {
  if (client != NULL)
    net.api->client_free(client);
}

const char *rt_net_client_target(const rt_grpc_client *client) {
  return net.api->client_target(client);
}

grpc_status_code rt_net_call_retry(rt_grpc_client *client, const char *method,
                                   const ProtobufCMessage *req,
                                   const ProtobufCMessageDescriptor *resp_type,
                                   uint64_t deadline_ms, rt_retry retry, ProtobufCMessage **resp,
                                   rt_rpc_result *res) {
  return net.api->call_retry(client, method, req, resp_type, deadline_ms, retry, resp, res);
}

rt_code rt_net_http_get(const char *url, const rt_http_limits *lim, uint8_t **data, size_t *len,
                        rt_err *err) {
  if (rt_net_load(err) != RT_OK)
    return err->code;
  return net.api->http_get(url, lim, data, len, err);
}

X509 *rt_net_http_cert_parse(const uint8_t *data, size_t len) {
  return net.api->http_cert_parse(data, len);
}

char *rt_net_url_escape(const char *text, size_t len) {
  return net.api->url_escape(text, len);
}

char *rt_net_url_unescape(const char *text) {
  return net.api->url_unescape(text);
}

void rt_net_end_process(int status) {
  if (!net.started && !net.done)
    return;
  const rt_net_api *a = finish_load();
  if (a != NULL)
    a->end_process(status);
}
