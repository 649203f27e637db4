/* Small parsers shared by the command-line front ends, so that every binary
 * rejects malformed numbers the same way instead of letting atoi() turn
 * "abc" into 0. */
#ifndef RT_CLI_H
#define RT_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "rt_err.h"

/* Decimal or 0x-hex unsigned integer in [min, max]. */
rt_code rt_cli_parse_u64(const char *opt, const char *s, uint64_t min, uint64_t max, uint64_t *out,
                         rt_err *err);

/* Byte size: "4194304", "512KiB", "4MiB", "1GiB" (also K/M/G). */
rt_code rt_cli_parse_size(const char *opt, const char *s, size_t *out, rt_err *err);

/* Duration in milliseconds: "500ms", "30s", "5m", "2h"; a bare number is
 * seconds. */
rt_code rt_cli_parse_duration_ms(const char *opt, const char *s, uint64_t *out, rt_err *err);

#endif
