/* rattest-bootstrap-net.so: the bootstrap's network half (net.h), common/rpc's
 * client library behind the one object the bootstrap looks up. */
#include <curl/curl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"

/* curl's results are released with curl_free: copied into malloc'd memory
 * so that the bootstrap frees every result the same way. */
static char *curl_copy(char *text) {
  char *copy = text != NULL ? strdup(text) : NULL;
  curl_free(text);
  return copy;
}

static char *url_escape(const char *text, size_t len) {
  return len <= INT_MAX ? curl_copy(curl_easy_escape(NULL, text, (int)len)) : NULL;
}

static char *url_unescape(const char *text) {
  return curl_copy(curl_easy_unescape(NULL, text, 0, NULL));
}

/* Exported for dlsym; built with the bootstrap's net.h, so its layout is
 * the one RT_NET_API_VERSION names. */
const rt_net_api rt_net_module = {
    .version = RT_NET_API_VERSION,
    .client_new = rt_grpc_client_new,
    .client_free = rt_grpc_client_free,
    .client_target = rt_grpc_client_target,
    .call_retry = rt_grpc_call_retry,
    .end_process = rt_grpc_end_process,
    .http_get = rt_http_get,
    .http_cert_parse = rt_http_cert_parse,
    .url_escape = url_escape,
    .url_unescape = url_unescape,
};
