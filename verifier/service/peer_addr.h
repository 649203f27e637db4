/* Which client a call comes from, as the per-peer rate limit counts them:
 * its address without the port. An IPv6 client is counted by its /64, the
 * block one machine (or one customer) commonly holds, so that stepping
 * through the addresses of a /64 does not make a new client each time. */
#ifndef RT_VERIFIER_PEER_ADDR_H
#define RT_VERIFIER_PEER_ADDR_H

#include <stddef.h>
#include <stdint.h>

/* Longest key rt_peer_key writes. */
#define RT_PEER_KEY_MAX 64

/* The key of gRPC's peer string, a URI ("ipv4:10.0.0.1:5000",
 * "ipv6:%5B2001:db8::1%5D:5000", "unix:/run/x"; percent-escapes decoded,
 * brackets also taken as they are): a tag byte and the IPv4
 * address or the IPv6 /64 (an IPv4-mapped IPv6 address counts as its IPv4
 * address); anything else, the string up to RT_PEER_KEY_MAX - 1 bytes.
 * Returns the key's length. peer NULL reads as "". */
size_t rt_peer_key(const char *peer, uint8_t out[RT_PEER_KEY_MAX]);

#endif
