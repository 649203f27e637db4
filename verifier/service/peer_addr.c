#include "peer_addr.h"

#include <arpa/inet.h>
#include <string.h>

/* The address part of "ipv4:ADDR:PORT" / "ipv6:[ADDR]:PORT" (ADDR may
 * carry a %zone), into buf; -1 if it does not have that shape. */
static int address_of(const char *s, char *buf, size_t cap) {
  const char *end = strrchr(s, ':');
  if (s[0] == '[') {
    const char *close = strchr(s, ']');
    if (close == NULL)
      return -1;
    s++;
    end = close;
  }
  if (end == NULL || (size_t)(end - s) >= cap)
    return -1;
  memcpy(buf, s, (size_t)(end - s));
  buf[end - s] = '\0';
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
