/* The metrics (metrics.h) over plain HTTP for Prometheus to scrape (`serve
 * --metrics-listen HOST:PORT`, libmicrohttpd): GET /metrics, anything else
 * 404. It tells only counts and dates, no names or keys; still, bind it to
 * loopback or a monitoring network. Bounded like the gRPC side: one thread,
 * at most RT_METRICS_MAX_CONNECTIONS connections, each dropped after
 * RT_METRICS_TIMEOUT_S idle seconds. */
#ifndef RT_VERIFIER_METRICS_HTTP_H
#define RT_VERIFIER_METRICS_HTTP_H

#include "metrics.h"

#define RT_METRICS_MAX_CONNECTIONS 16
#define RT_METRICS_TIMEOUT_S 10

typedef struct rt_metrics_http rt_metrics_http;

/* Listens on listen (HOST:PORT checked by rt_cli_parse_hostport; port 0
 * picks a free one) and serves m until stopped. */
rt_code rt_metrics_http_start(const char *listen, rt_metrics *m, rt_metrics_http **out,
                              rt_err *err);
int rt_metrics_http_port(const rt_metrics_http *h);
void rt_metrics_http_stop(rt_metrics_http *h);

#endif
