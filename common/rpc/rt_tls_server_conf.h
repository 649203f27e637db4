/* The server's TLS settings grpc 1.51's C API has no knob for: no TLS 1.3
 * session tickets, and AES-128-GCM with SHA-256 as the first TLS 1.3
 * cipher suite. They are set through the process's OpenSSL configuration,
 * which every SSL_CTX grpc makes afterwards takes. */
#ifndef RT_TLS_SERVER_CONF_H
#define RT_TLS_SERVER_CONF_H

/* Before grpc makes its server SSL_CTX (the first handshake); once per
 * process, later calls do nothing. Fails soft: OpenSSL's defaults then
 * stay, with a warning. */
void rt_tls_server_conf(void);

#endif
