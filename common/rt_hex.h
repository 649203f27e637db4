/* Lowercase hex of bytes, the form rattest writes digests and serials in
 * (JSON, audit lines, SAN URNs). */
#ifndef RT_HEX_H
#define RT_HEX_H

#include <stddef.h>
#include <stdint.h>

/* Writes 2 * n hex digits and a NUL to out (2 * n + 1 bytes). */
void rt_hex(const uint8_t *b, size_t n, char *out);

#endif
