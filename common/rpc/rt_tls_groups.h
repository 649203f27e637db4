/* The key exchange groups of our gRPC TLS, server and client: X25519,
 * then P-256.
 *
 * grpc 1.51 (Debian 12) pins its contexts to P-256 alone
 * (SSL_CTX_set_tmp_ecdh with a P-256 key, which OpenSSL 3 turns into a
 * one-group list) and has no setting for it; an OpenSSL configuration's
 * Groups is overridden by that call. So every handshake costs the verifier
 * a P-256 key generation, a full public-key check of the client's share
 * (a scalar multiplication in OpenSSL 3.0) and the P-256 derivation: 1.6 M
 * instructions of the 3.9 M a connection costs (callgrind), where X25519
 * costs a small fraction; and a client offering X25519 first (OpenSSL's
 * default) took a HelloRetryRequest round trip. rt_tls_groups.c defines
 * SSL_CTX_ctrl in the executable, which grpc's call binds to instead of
 * libssl's (ELF symbol interposition, as rt_accept_guard.h does for
 * accept4), and turns that one request into the list "X25519:P-256". A
 * peer that only speaks P-256 (an older verifier or bootstrap) is served
 * and reached as before; every other request goes to libssl's unchanged. */
#ifndef RT_TLS_GROUPS_H
#define RT_TLS_GROUPS_H

/* From now on, a context pinned to one curve gets X25519 first
 * (rt_grpc_init calls it). */
void rt_tls_groups_widen(void);

#endif
