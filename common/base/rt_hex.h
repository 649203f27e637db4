/* Lowercase hex of bytes, the form rattest writes digests and serials in
 * (JSON, audit lines, SAN URNs), and hex digests as policies give them. */
#ifndef RT_HEX_H
#define RT_HEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Writes 2 * n hex digits and a NUL to out (2 * n + 1 bytes). */
void rt_hex(const uint8_t *b, size_t n, char *out);

/* Reads exactly 2 * n hex digits (either case, nothing else) into out.
 * False for NULL, another length or a non-hex character. */
bool rt_unhex(const char *hex, uint8_t *out, size_t n);

#endif
