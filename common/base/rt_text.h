/* Text a client chose, made fit for a log or audit line: bounded, so that a
 * request cannot make the verifier write megabytes per call, and escaped, so
 * that it cannot forge lines (newlines) or terminal control sequences. The
 * one rule for every client-supplied string the verifier writes down. */
#ifndef RT_TEXT_H
#define RT_TEXT_H

#include <stddef.h>

/* Most bytes of a client string kept in a line: room for any name, URL or
 * certificate field an honest client sends, and for a whole refusal message
 * (rt_rpc_status holds 511 bytes), so only an abusive string is cut. */
#define RT_TEXT_MAX 512
/* Room for RT_TEXT_MAX bytes escaped (4 characters each at worst), the
 * "...(N bytes)" marker and the terminating NUL. */
#define RT_TEXT_BUF (RT_TEXT_MAX * 4 + 40)

/* s (NULL reads as "") as out holds it: its first RT_TEXT_MAX bytes, each
 * byte outside printable ASCII 0x20-0x7e, and the backslash, written as
 * \xNN; when s is longer, followed by "...(N bytes)" with its full length.
 * Returns out. */
const char *rt_text_bound(const char *s, char out[RT_TEXT_BUF]);

#endif
