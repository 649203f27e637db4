#include "peer_addr.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* s with its %XX escapes decoded into buf (gRPC writes peers as URIs:
 * "ipv6:%5B::1%5D:5000"); a '%' not starting an escape stays (a raw zone,
 * "fe80::1%eth0"). -1 if it does not fit. */
static int percent_decode(const char *s, char *buf, size_t cap) {
  size_t o = 0;
  for (; *s != '\0'; s++) {
    char c = *s;
    if (c == '%' && isxdigit((unsigned char)s[1]) && isxdigit((unsigned char)s[2])) {
      char hex[3] = {s[1], s[2], '\0'};
      c = (char)strtol(hex, NULL, 16);
      s += 2;
    }
    if (o + 1 >= cap)
      return -1;
    buf[o++] = c;
  }
  buf[o] = '\0';
  return 0;
}

/* The address part of "ADDR:PORT" / "[ADDR]:PORT" (ADDR may carry a
 * %zone), percent-decoded, into buf; -1 if it does not have that shape. */
static int address_of(const char *uri, char *buf, size_t cap) {
  char s[128];
  if (percent_decode(uri, s, sizeof s) != 0)
    return -1;
  const char *start = s, *end = strrchr(s, ':');
  if (s[0] == '[') {
    start = s + 1;
    end = strchr(s, ']');
  }
  if (end == NULL || end < start || (size_t)(end - start) >= cap)
    return -1;
  memcpy(buf, start, (size_t)(end - start));
  buf[end - start] = '\0';
  char *zone = strchr(buf, '%');
  if (zone != NULL)
    *zone = '\0';
  return 0;
}

size_t rt_peer_key(const char *peer, uint8_t out[RT_PEER_KEY_MAX]) {
  static const uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (peer == NULL)
    peer = "";
  char addr[64];
  uint8_t bin[16];
  if (strncmp(peer, "ipv4:", 5) == 0 && address_of(peer + 5, addr, sizeof addr) == 0 &&
      inet_pton(AF_INET, addr, bin) == 1) {
    out[0] = 4;
    memcpy(out + 1, bin, 4);
    return 5;
  }
  if (strncmp(peer, "ipv6:", 5) == 0 && address_of(peer + 5, addr, sizeof addr) == 0 &&
      inet_pton(AF_INET6, addr, bin) == 1) {
    out[0] = 4;
    if (memcmp(bin, v4_mapped, sizeof v4_mapped) == 0) {
      memcpy(out + 1, bin + 12, 4);
      return 5;
    }
    out[0] = 6;
    memcpy(out + 1, bin, 8);
    return 9;
  }
  size_t n = strnlen(peer, RT_PEER_KEY_MAX - 1);
  out[0] = 0;
  memcpy(out + 1, peer, n);
  return n + 1;
}
