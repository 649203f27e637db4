/* The bootstrap state file, STATE_DIR/state.json: which identities this
 * machine enrolled, and for each the TPM handle, key file and certificates
 * that belong together. Schema in docs/state.md.
 *
 * The file points at private keys, so it is trusted only when it is a
 * regular file owned by the current user with no group or other access
 * (0600), and it is only ever replaced atomically, mode 0600. Loading
 * validates everything: a state that loaded is a state whose every field
 * has the documented form. */
#ifndef RT_STATE_H
#define RT_STATE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "rt_err.h"

#define RT_STATE_FILE "state.json"
#define RT_STATE_VERSION 1
/* Larger files are refused rather than parsed. */
#define RT_STATE_MAX_FILE (1024 * 1024)

#define RT_STATE_NAME_MAX 64
#define RT_STATE_PATH_MAX 4096
/* "2025-01-31T23:59:59Z" and the NUL. */
#define RT_STATE_TIME_LEN 21

/* One enrolled identity. All strings are NUL-terminated. */
typedef struct {
  char name[RT_STATE_NAME_MAX + 1]; /* [A-Za-z0-9._-]{1,64}, not "." or ".." */
  uint32_t handle;                  /* persistent, owner range 0x81000000-0x817fffff */
  char key_file[RT_STATE_PATH_MAX]; /* absolute paths, stored as given */
  char cert_file[RT_STATE_PATH_MAX];
  char chain_file[RT_STATE_PATH_MAX];
  char ak_cert_file[RT_STATE_PATH_MAX];
  char algorithm[16];                  /* "ecc-p256" or "rsa-2048" */
  char ek_sha256[65];                  /* 64 lowercase hex digits */
  char verifier[256];                  /* "host:port" */
  char not_after[RT_STATE_TIME_LEN];   /* RFC 3339, UTC: "YYYY-MM-DDTHH:MM:SSZ" */
  char enrolled_at[RT_STATE_TIME_LEN]; /* same form */
} rt_identity;

typedef struct rt_state rt_state;

/* Loads dir/state.json. A missing file is an empty state (saving creates
 * it). Refused with RT_E_INVALID: a symlink or non-regular file, a file
 * owned by another user or accessible by group or others, malformed JSON,
 * duplicate keys, another version, unknown fields, wrong types or bad
 * values; the message names the field ("identities.web.handle: ..."). */
rt_code rt_state_load(const char *dir, rt_state **out, rt_err *err);
void rt_state_free(rt_state *st);

/* The file this state loads from and saves to. */
const char *rt_state_path(const rt_state *st);

size_t rt_state_count(const rt_state *st);

/* RT_E_NOT_FOUND when there is no identity of that name. */
rt_code rt_state_get(const rt_state *st, const char *name, rt_identity *out, rt_err *err);

/* Adds the identity, or replaces the one of the same name. RT_E_INVALID
 * (naming the field) when it does not pass rt_state_check_identity. Only
 * memory changes until rt_state_save. */
rt_code rt_state_put(rt_state *st, const rt_identity *id, rt_err *err);

/* RT_E_NOT_FOUND when there is no identity of that name. */
rt_code rt_state_remove(rt_state *st, const char *name, rt_err *err);

/* Writes the state (sorted keys, indented) with rt_file_write_atomic, mode
 * 0600. On failure the file on disk is unchanged. */
rt_code rt_state_save(const rt_state *st, rt_err *err);

/* Calls fn for every identity in name order; fn returns nonzero to stop. */
typedef int (*rt_state_visit_fn)(const rt_identity *id, void *ctx);
rt_code rt_state_foreach(const rt_state *st, rt_state_visit_fn fn, void *ctx, rt_err *err);

/* The checks load and put apply, for command lines to use early. */
rt_code rt_state_check_name(const char *name, rt_err *err);
rt_code rt_state_check_identity(const rt_identity *id, rt_err *err);

/* RFC 3339 UTC timestamps in the one form the file uses. */
rt_code rt_state_time_format(time_t t, char out[RT_STATE_TIME_LEN], rt_err *err);
rt_code rt_state_time_parse(const char *s, time_t *out, rt_err *err);

#endif
