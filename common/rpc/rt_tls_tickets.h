/* The server's TLS 1.3 session tickets: none. grpc 1.51's C API has no
 * setting for them, so they are turned off through the process's OpenSSL
 * configuration, which every SSL_CTX grpc makes afterwards takes. */
#ifndef RT_TLS_TICKETS_H
#define RT_TLS_TICKETS_H

/* Before grpc makes its server SSL_CTX (the first handshake); once per
 * process, later calls do nothing. Fails soft: tickets then stay, with a
 * warning. */
void rt_tls_no_session_tickets(void);

#endif
