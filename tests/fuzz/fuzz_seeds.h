/* The seed generator's pieces (fuzz_seeds.c): writing seeds, and the
 * inputs they are made of. The parts returned point at memory kept until
 * the generator exits (keep). */
#ifndef RT_FUZZ_SEEDS_H
#define RT_FUZZ_SEEDS_H

#include <openssl/evp.h>
#include <protobuf-c/protobuf-c.h>

#include "fuzz.h"

/* DIR/target/name = the mode byte (when mode >= 0), then the data. */
void put(const char *target, const char *name, int mode, const void *data, size_t len);
/* The same with a tests/data file, fields joined by fuzz_join, a packed
 * message. */
void put_data(const char *target, const char *name, int mode, const char *rel);
void put_parts(const char *target, const char *name, int mode, const fuzz_part *p, size_t n);
void put_msg(const char *target, const char *name, int mode, const ProtobufCMessage *m);

/* Registers p (malloc'd) to be freed at exit; returns it. */
void *keep(void *p);

fuzz_part data_part(const char *rel);
fuzz_part marshal_pub(const TPM2B_PUBLIC *pub);
/* A tests/data TPMS_ATTEST in the TPM2B_ATTEST Finish carries. */
fuzz_part wrapped_quote(const char *rel);

/* fuzz_seeds_text.c: policies and state files. */
void text_seeds(void);
/* fuzz_seeds_rpc.c: Begin, Finish and Confirm requests. */
void begin_seeds(void);
void finish_seeds(void);
void confirm_seeds(void);

#endif
