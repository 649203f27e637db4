/* The machine registry: what the verifier remembers across requests,
 * restarts and replicas (machines, identity certificates, enrollment
 * decisions, consumed token ids, name bindings, revoked EKs), behind one
 * interface over two database engines:
 *
 *   --db FILE               SQLite (the embedded default), WAL mode;
 *   --db postgresql://...   PostgreSQL (also postgres://), for replicas.
 *
 * rt_store_open runs the schema migrations (store_migrate.c) before it
 * returns, so every operation sees the current schema.
 *
 * EKs are named by the lowercase hex SHA-256 of their SubjectPublicKeyInfo
 * (64 characters, the urn:rattest:ek:sha256 value); names follow
 * rt_name_check; times are Unix seconds.
 *
 * Thread safety: any thread may call any function. A store holds a pool of
 * connections (rt_store_open_pool; one for SQLite, whose writes take turns
 * anyway), each used by one call at a time: calls run in parallel up to
 * the pool's size and wait for a free connection beyond it. Separate
 * processes (or replicas) each open their own store; the database keeps
 * them consistent (a token id is consumed once across all of them). */
#ifndef RT_VERIFIER_STORE_H
#define RT_VERIFIER_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "rt_err.h"

typedef struct rt_store rt_store;

/* Hex digits of an EK's SHA-256, and the buffer holding them. */
#define RT_STORE_EK_HEX 64
/* Longest revocation reason, in bytes (printable ASCII). */
#define RT_STORE_REASON_MAX 256

/* Opens (and creates: a new SQLite file is 0600) the database db names and
 * brings its schema to the current version. A database migrated by a newer
 * rattest (a schema version this one does not know) is refused. Errors never
 * repeat db, which may carry a password. */
rt_code rt_store_open(const char *db, rt_store **out, rt_err *err);
/* The same with a pool of connections (PostgreSQL; SQLite always gets one),
 * all opened now, at most RT_STORE_POOL_MAX: a busy server's calls then
 * do not queue behind one connection. rt_store_open is a pool of one. */
#define RT_STORE_POOL_MAX 64
rt_code rt_store_open_pool(const char *db, size_t connections, rt_store **out, rt_err *err);
void rt_store_close(rt_store *s);

/* "sqlite" or "postgresql". */
const char *rt_store_backend_name(const rt_store *s);

/* The schema version the database is at (the newest migration applied). */
rt_code rt_store_schema_version(rt_store *s, int64_t *version, rt_err *err);

/* The replay guard shared by everyone using the database: records the token
 * id (1-64 bytes) as consumed until expires. *fresh is true when this call
 * consumed it, false when it was consumed before (a replay). The unique
 * insert decides, so of concurrent calls with one id exactly one gets true.
 * Ids whose expiry is at or before now are forgotten first: such tokens no
 * longer open. */
rt_code rt_store_token_consume(rt_store *s, const uint8_t *id, size_t id_len, time_t expires,
                               time_t now, bool *fresh, rt_err *err);

/* A machine as enrollment (or an operator) knows it. Every field but
 * ek_sha256 may be NULL (ek_cert_len 0): unknown. */
typedef struct {
  const char *ek_sha256;
  const uint8_t *ek_cert; /* DER */
  size_t ek_cert_len;
  const char *tpm_vendor;    /* from the EK certificate ("GOOG", "NTC") */
  const char *tpm_model;     /* from the EK certificate */
  const char *platform_json; /* platform certificate data, a JSON object */
} rt_store_machine;

/* Records an enrollment of m at now: the machine's first enrollment time is
 * kept, its last one set; the non-NULL fields replace the stored ones. */
rt_code rt_store_machine_enrolled(rt_store *s, const rt_store_machine *m, time_t now, rt_err *err);

/* Makes the machine's row if there is none (an operator registering a
 * machine before it enrolls), filling the fields given; an existing row
 * gets the non-NULL fields. */
rt_code rt_store_machine_add(rt_store *s, const rt_store_machine *m, time_t now, rt_err *err);

/* A certificate issued to name on the machine ek_sha256 (already recorded
 * by rt_store_machine_enrolled). serial: lowercase hex, 1-40 digits. */
typedef struct {
  const char *name;
  const char *ek_sha256;
  const char *serial;
  time_t not_after;
} rt_store_identity;
rt_code rt_store_identity_issued(rt_store *s, const rt_store_identity *id, time_t now, rt_err *err);

/* The code of an accepted call in the decisions table. */
#define RT_STORE_ACCEPTED "OK"

/* One decision of the service. method ("Begin", "Finish", "Confirm") and
 * code (a refusal code, or RT_STORE_ACCEPTED) are required; peer, name, ek_sha256 may be
 * NULL. Strings longer than 256 bytes are refused: the caller bounds what
 * clients send. */
typedef struct {
  time_t at;
  const char *method;
  const char *code;
  const char *peer;
  const char *name;
  const char *ek_sha256;
} rt_store_decision;
rt_code rt_store_decision_add(rt_store *s, const rt_store_decision *d, rt_err *err);

/* An accepted enrollment in one transaction: its decision d (code
 * RT_STORE_ACCEPTED, at d->at), the machine's enrollment (as
 * rt_store_machine_enrolled) and the certificate issued (as
 * rt_store_identity_issued). All three are committed or none is: the
 * verifier sends a certificate only once this returned RT_OK. */
rt_code rt_store_enrollment_issued(rt_store *s, const rt_store_decision *d,
                                   const rt_store_machine *m, const rt_store_identity *id,
                                   rt_err *err);

/* Retention, so that the database does not grow without bound: deletes
 * the decisions recorded before `before` and the consumed token ids
 * expired at now (their tokens no longer open); *n_decisions and *n_tokens
 * (may be NULL) get how many. */
rt_code rt_store_prune(rt_store *s, time_t before, time_t now, size_t *n_decisions,
                       size_t *n_tokens, rt_err *err);

/* Retention on a schedule: decisions older than keep_seconds (0, the
 * default: kept forever). rt_store_prune_due prunes (rt_store_prune) when
 * retention is set and RT_STORE_PRUNE_EVERY seconds have passed since the
 * last time (or at its first call); one caller of many does it, the others
 * return at once. *n_decisions, *n_tokens: what it deleted (0 when not
 * due). */
#define RT_STORE_PRUNE_EVERY 3600
void rt_store_set_retention(rt_store *s, int64_t keep_seconds);
rt_code rt_store_prune_due(rt_store *s, time_t now, size_t *n_decisions, size_t *n_tokens,
                           rt_err *err);

/* The EK name is bound to, into ek (RT_STORE_EK_HEX + 1 bytes);
 * RT_E_NOT_FOUND when it is bound to none. */
rt_code rt_store_name_owner(rt_store *s, const char *name, char *ek, rt_err *err);

/* Binds name to ek_sha256 unless it is bound to another EK: *taken is then
 * true and nothing changes. Binding a name to the EK that holds it is a
 * no-op. The machine gets a row if it had none (not when the name is
 * taken). */
rt_code rt_store_bind_name(rt_store *s, const char *name, const char *ek_sha256, time_t now,
                           bool *taken, rt_err *err);

/* Removes name's binding (the machine and its history stay);
 * RT_E_NOT_FOUND when it had none. */
rt_code rt_store_unbind_name(rt_store *s, const char *name, rt_err *err);

/* What a revocation names. */
typedef enum {
  RT_STORE_BY_NAME,   /* the active certificates issued to the name */
  RT_STORE_BY_SERIAL, /* one certificate */
  RT_STORE_BY_EK,     /* the machine: it may not enroll again (even if
                         never seen) and its active certificates are revoked */
} rt_store_revoke_by;

/* Revokes what by/value names with reason (1-256 printable ASCII
 * characters) at now; *n_certs (may be NULL) gets the number of
 * certificates revoked. RT_E_NOT_FOUND when a name or serial matches no
 * active certificate; an EK already revoked keeps its first reason and
 * time. */
rt_code rt_store_revoke(rt_store *s, rt_store_revoke_by by, const char *value, const char *reason,
                        time_t now, size_t *n_certs, rt_err *err);

/* Lets a revoked EK enroll again (its revoked certificates stay revoked).
 * RT_E_NOT_FOUND when it was not revoked. */
rt_code rt_store_unrevoke_ek(rt_store *s, const char *ek_sha256, rt_err *err);

rt_code rt_store_is_ek_revoked(rt_store *s, const char *ek_sha256, bool *revoked, rt_err *err);

/* The revoked certificates, for the CRL (verifier/cli/crl_registry.c):
 * every one ever revoked, ordered by serial, in one statement (one
 * snapshot). Certificates are never unrevoked, so the list only grows and
 * its length names it; rt_store_revoked_count is that length alone, cheap
 * enough to poll. Free the list with rt_store_revoked_free. */
typedef struct {
  char serial[41]; /* lowercase hex */
  char *reason;    /* the revocation's --reason */
  time_t revoked_at;
  time_t not_after; /* the certificate's */
} rt_store_revoked;
rt_code rt_store_revoked_list(rt_store *s, rt_store_revoked **list, size_t *n, rt_err *err);
void rt_store_revoked_free(rt_store_revoked *list, size_t n);
rt_code rt_store_revoked_count(rt_store *s, int64_t *n, rt_err *err);

/* Every machine, ordered by EK: a JSON array of objects with ek_sha256,
 * names (array), tpm_vendor, tpm_model, first_enrolled, last_enrolled (null
 * when never), revoked (bool). */
rt_code rt_store_machines_list(rt_store *s, json_t **out, rt_err *err);

/* The machine name is bound to (or, for an unbound name, that its latest
 * certificate was issued to): the list's fields and ek_cert (base64 DER or
 * null), platform (object or null), revocation (null, or reason and
 * revoked_at), identities (every certificate of the machine: name, serial,
 * issued, not_after, status, revoked_reason, revoked_at). RT_E_NOT_FOUND
 * when the name is unknown. */
rt_code rt_store_machine_show(rt_store *s, const char *name, json_t **out, rt_err *err);

/* The forms the store takes, for callers to check input early: an EK is 64
 * lowercase hex digits, a serial 1-40, a reason 1-RT_STORE_REASON_MAX
 * printable ASCII characters. RT_E_INVALID with the rule otherwise. */
rt_code rt_store_ek_check(const char *hex, rt_err *err);
rt_code rt_store_serial_check(const char *serial, rt_err *err);
rt_code rt_store_reason_check(const char *reason, rt_err *err);

#endif
