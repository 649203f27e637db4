/* The bootstrap state file, STATE_DIR/state.json: which identities this
 * machine enrolled, and for each the TPM handle, key file and certificates
 * that belong together. Schema in docs/state.md.
 *
 * The file points at private keys, so it is trusted only when it is a
 * regular file owned by the current user with no group or other access
 * (0600), and it is only ever replaced atomically, mode 0600. Loading
 * validates everything: a state that loaded is a state whose every field
 * has the documented form. Secrets delivered by the verifier are recorded
 * as the TPM blobs that open them, never as the secret bytes. */
#ifndef RT_STATE_H
#define RT_STATE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "rt_err.h"
#include "rt_name.h"

/* Where the bootstrap keeps the state and the provider looks for it when
 * told nothing else. */
#define RT_STATE_DIR_DEFAULT "/var/lib/rattest"
#define RT_STATE_FILE "state.json"
#define RT_STATE_VERSION 1
/* Larger files are refused rather than parsed. */
#define RT_STATE_MAX_FILE (1024 * 1024)

#define RT_STATE_NAME_MAX RT_NAME_MAX
#define RT_STATE_PATH_MAX 4096
/* "2025-01-31T23:59:59Z" and the NUL. */
#define RT_STATE_TIME_LEN 21

/* "sha256:0,7+sha1:0" (rt_pcrsel_format's form) and the NUL. */
#define RT_STATE_PCRS_MAX 192

/* One enrolled identity. All strings are NUL-terminated. */
typedef struct {
  char name[RT_STATE_NAME_MAX + 1]; /* rt_name_check */
  uint32_t handle;                  /* persistent, owner range 0x81000000-0x817fffff */
  char key_file[RT_STATE_PATH_MAX]; /* absolute paths, stored as given */
  char cert_file[RT_STATE_PATH_MAX];
  char chain_file[RT_STATE_PATH_MAX];
  char ak_cert_file[RT_STATE_PATH_MAX];
  char algorithm[16]; /* "ecc-p256" or "rsa-2048"; imported keys also "rsa-3072", "rsa-4096" */
  char ek_sha256[65]; /* 64 lowercase hex digits */
  char verifier[256]; /* "host:port" */
  char not_after[RT_STATE_TIME_LEN];   /* RFC 3339, UTC: "YYYY-MM-DDTHH:MM:SSZ" */
  char enrolled_at[RT_STATE_TIME_LEN]; /* same form */
} rt_identity;

/* What a delivered secret is (docs/state.md, "secrets"); the values are
 * those of rattest.v1.SecretKind. */
typedef enum {
  RT_SECRET_TYPE_SEALED = 1,  /* "sealed": a keyedHash data object, opened by Unseal */
  RT_SECRET_TYPE_RSA_KEY = 2, /* "rsa-key": an RSA signing key, persistent, also an identity */
} rt_secret_type;

/* One delivered secret: where its TPM blobs are, never the secret itself. */
typedef struct {
  char name[RT_STATE_NAME_MAX + 1]; /* same rules as identity names */
  rt_secret_type type;
  char pub_file[RT_STATE_PATH_MAX];  /* marshalled TPM2B_PUBLIC, absolute path */
  char priv_file[RT_STATE_PATH_MAX]; /* marshalled TPM2B_PRIVATE (this TPM's), absolute */
  char pcrs[RT_STATE_PCRS_MAX];      /* PolicyPCR selection "sha256:0,7", "" for none */
  char received_at[RT_STATE_TIME_LEN];
  uint32_t handle;                   /* rsa-key: its persistent handle; sealed: 0 */
  char cert_file[RT_STATE_PATH_MAX]; /* rsa-key: its certificate (PEM); sealed: "" */
} rt_secret_entry;

/* "sealed" / "rsa-key" and back (0 when unknown). */
const char *rt_secret_type_name(rt_secret_type type);
rt_secret_type rt_secret_type_parse(const char *name);

typedef struct rt_state rt_state;

/* Loads dir/state.json. A missing file is an empty state (saving creates
 * it). Refused with RT_E_INVALID: a symlink or non-regular file, a file
 * owned by another user or accessible by group or others, malformed JSON,
 * duplicate keys, another version, unknown fields, wrong types or bad
 * values; the message names the field ("identities.web.handle: ..."). */
rt_code rt_state_load(const char *dir, rt_state **out, rt_err *err);

/* Whether dir can hold a state: a directory that only user (or root) can
 * change, i.e. owned by user or root and not group- or other-writable;
 * whoever can change it can swap the key files the state points at.
 * RT_E_NOT_FOUND when it does not exist; RT_E_INVALID, the message
 * starting with dir, when it is unfit. */
rt_code rt_state_dir_check(const char *dir, uid_t user, rt_err *err);
void rt_state_free(rt_state *st);

/* The file this state loads from and saves to. */
const char *rt_state_path(const rt_state *st);

size_t rt_state_count(const rt_state *st);

/* RT_E_NOT_FOUND when there is no identity of that name. */
rt_code rt_state_get(const rt_state *st, const char *name, rt_identity *out, rt_err *err);

/* Adds the identity, or replaces the one of the same name. RT_E_INVALID
 * (naming the field) when it does not pass rt_state_check_identity, or
 * when the name belongs to an rsa-key secret and the identity is not that
 * key (another handle or cert_file). Only memory changes until
 * rt_state_save. */
rt_code rt_state_put(rt_state *st, const rt_identity *id, rt_err *err);

/* RT_E_NOT_FOUND when there is no identity of that name; RT_E_INVALID
 * when it is an rsa-key secret's (rt_state_secret_remove removes both). */
rt_code rt_state_remove(rt_state *st, const char *name, rt_err *err);

/* Writes the state (sorted keys, indented) with rt_file_write_atomic, mode
 * 0600. On failure the file on disk is unchanged. */
rt_code rt_state_save(const rt_state *st, rt_err *err);

/* Calls fn for every identity in name order; fn returns nonzero to stop. */
typedef int (*rt_state_visit_fn)(const rt_identity *id, void *ctx);
rt_code rt_state_foreach(const rt_state *st, rt_state_visit_fn fn, void *ctx, rt_err *err);

/* The checks load and put apply, for command lines to use early. Names
 * follow rt_name_check (rt_name.h), the rule the verifier applies too. */
rt_code rt_state_check_identity(const rt_identity *id, rt_err *err);
rt_code rt_state_check_secret(const rt_secret_entry *s, rt_err *err);

/* Secrets. An rsa-key secret is also the identity of the same name (so
 * `rattest:NAME` finds it): the two always share name, handle and
 * cert_file. Load refuses a file where they do not, rt_state_put refuses
 * to replace such an identity with another key and rt_state_remove to
 * remove it: it goes with its secret. */
size_t rt_state_secret_count(const rt_state *st);

/* RT_E_NOT_FOUND when there is no secret of that name. */
rt_code rt_state_secret_get(const rt_state *st, const char *name, rt_secret_entry *out,
                            rt_err *err);

/* Adds the secret or replaces the one of the same name. An rsa-key comes
 * with its identity `id` (same name, handle and cert_file), put in the same
 * step; a sealed secret takes id NULL and leaves identities alone. Replacing
 * an rsa-key with a sealed secret removes its identity. RT_E_INVALID naming
 * the field when a check fails; then nothing changed. Memory only until
 * rt_state_save. */
rt_code rt_state_secret_put(rt_state *st, const rt_secret_entry *s, const rt_identity *id,
                            rt_err *err);

/* Removes the secret, and an rsa-key's identity with it. RT_E_NOT_FOUND
 * when there is no secret of that name. */
rt_code rt_state_secret_remove(rt_state *st, const char *name, rt_err *err);

/* Calls fn for every secret in name order; fn returns nonzero to stop. */
typedef int (*rt_state_secret_visit_fn)(const rt_secret_entry *s, void *ctx);
rt_code rt_state_secret_foreach(const rt_state *st, rt_state_secret_visit_fn fn, void *ctx,
                                rt_err *err);

/* RFC 3339 UTC timestamps in the one form the file uses. */
rt_code rt_state_time_format(time_t t, char out[RT_STATE_TIME_LEN], rt_err *err);
rt_code rt_state_time_parse(const char *s, time_t *out, rt_err *err);

#endif
