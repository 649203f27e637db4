#include "metrics_http.h"

#include <microhttpd.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "rt_cli.h"
#include "rt_log.h"

struct rt_metrics_http {
  struct MHD_Daemon *daemon;
  rt_metrics *metrics;
  int port;
};

static enum MHD_Result answer_text(struct MHD_Connection *c, unsigned status, char *text,
                                   size_t len, enum MHD_ResponseMemoryMode mode) {
  struct MHD_Response *r = MHD_create_response_from_buffer(len, text, mode);
  if (r == NULL)
    return MHD_NO;
  MHD_add_response_header(r, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
  enum MHD_Result ok = MHD_queue_response(c, status, r);
  MHD_destroy_response(r);
  return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **state) {
  (void)version;
  (void)upload_data;
  (void)upload_size;
  (void)state;
  rt_metrics_http *h = cls;
  static char not_found[] = "not found: the metrics are at /metrics\n";
  if (strcmp(method, "GET") != 0 || strcmp(url, "/metrics") != 0)
    return answer_text(c, MHD_HTTP_NOT_FOUND, not_found, sizeof not_found - 1,
                       MHD_RESPMEM_PERSISTENT);
  char *text = NULL;
  size_t len = 0;
  rt_err err;
  if (rt_metrics_render(h->metrics, &text, &len, &err) != RT_OK)
    return MHD_NO; /* closes the connection: the scrape fails visibly */
  return answer_text(c, MHD_HTTP_OK, text, len, MHD_RESPMEM_MUST_FREE);
}

/* The address to bind: HOST resolved numerically or by name, PORT. */
static rt_code bind_address(const char *listen, struct sockaddr_storage *sa, rt_err *err) {
  uint16_t port = 0;
  if (rt_cli_parse_hostport("--metrics-listen", listen, 0, &port, err) != RT_OK)
    return RT_E_INVALID;
  char host[256];
  const char *colon = strrchr(listen, ':');
  size_t n = (size_t)(colon - listen);
  if (listen[0] == '[') /* [v6]:port */
    memcpy(host, listen + 1, n -= 2);
  else
    memcpy(host, listen, n);
  host[n] = '\0';
  char service[8];
  snprintf(service, sizeof service, "%u", (unsigned)port);
  struct addrinfo hints = {.ai_family = AF_UNSPEC,
                           .ai_socktype = SOCK_STREAM,
                           .ai_flags = AI_PASSIVE},
                  *res = NULL;
  int rc = getaddrinfo(host, service, &hints, &res);
  if (rc != 0)
    return rt_err_set(err, RT_E_INVALID, "--metrics-listen %s: %s", listen, gai_strerror(rc));
  memcpy(sa, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  return RT_OK;
}

rt_code rt_metrics_http_start(const char *listen, rt_metrics *m, rt_metrics_http **out,
                              rt_err *err) {
  struct sockaddr_storage sa;
  if (strlen(listen) >= 256)
    return rt_err_set(err, RT_E_INVALID, "--metrics-listen: longer than 255 bytes");
  if (bind_address(listen, &sa, err) != RT_OK)
    return RT_E_INVALID;
  rt_metrics_http *h = calloc(1, sizeof *h);
  if (h == NULL)
    return rt_err_set(err, RT_E_NOMEM, "out of memory for the metrics server");
  h->metrics = m;
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
                   (sa.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0);
  h->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR, &sa,
                               MHD_OPTION_CONNECTION_LIMIT, (unsigned)RT_METRICS_MAX_CONNECTIONS,
                               MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)RT_METRICS_TIMEOUT_S,
                               MHD_OPTION_END);
  if (h->daemon == NULL) {
    free(h);
    return rt_err_set(err, RT_E_IO, "--metrics-listen %s: cannot listen (address in use?)", listen);
  }
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
  h->port = info != NULL ? info->port : 0;
  *out = h;
  return RT_OK;
}

int rt_metrics_http_port(const rt_metrics_http *h) {
  return h->port;
}

void rt_metrics_http_stop(rt_metrics_http *h) {
  if (h == NULL)
    return;
  MHD_stop_daemon(h->daemon);
  free(h);
}
