/* Verifier policy: which PCRs a machine must quote, which values they may
 * hold, which key algorithms are acceptable, and what the issued
 * certificates look like. Read from a JSON file (--policy, format in
 * docs/policy.md) or the built-in permissive development policy.
 *
 * Parsing is strict: an unknown key, a wrong type or a value out of range is
 * RT_E_INVALID with a message naming the JSON path, e.g.
 * "expected.sha256.7[1]: not 64 hex digits", because a typo in a security
 * policy must stop the verifier, not silently loosen the policy.
 *
 * A loaded policy is read-only: any number of threads may query it. */
#ifndef RT_VERIFIER_POLICY_H
#define RT_VERIFIER_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <tss2/tss2_tpm2_types.h>

#include "policy_events.h"
#include "policy_secrets.h"
#include "rt_err.h"
#include "rt_templates.h" /* rt_key_alg, rt_key_alg_name, rt_key_alg_of */

typedef struct rt_policy rt_policy;

/* Banks a policy may name; TPM2_ALG_SHA1, _SHA256, _SHA384 identify them. */
#define RT_POLICY_MAX_BANKS 3
#define RT_POLICY_NUM_PCRS 24
/* Longest file rt_policy_load reads. */
#define RT_POLICY_MAX_FILE (1024 * 1024)

/* The built-in development policy: sha256 PCRs 0-7 demanded, any values,
 * event log required, sha1 refused, ecc-p256 and rsa-2048 for both the key
 * and the AK, 720h certificates, CN "{name}", no DNS SANs. */
rt_code rt_policy_default(rt_policy **out, rt_err *err);

/* Parses a JSON policy. Keys left out take the default policy's values. */
rt_code rt_policy_parse(const char *json, size_t len, rt_policy **out, rt_err *err);

/* Reads and parses a policy file; messages start with "policy PATH: ". */
rt_code rt_policy_load(const char *path, rt_policy **out, rt_err *err);

void rt_policy_free(rt_policy *policy);

/* True only for the policy from rt_policy_default, i.e. no policy file was
 * given: the verifier announces at start-up that it runs the permissive
 * development policy. (A file "{}" is equivalent but was chosen on purpose,
 * so it is not reported as the default.) */
bool rt_policy_is_default(const rt_policy *policy);

/* ---- What to demand ------------------------------------------------------ */

typedef struct {
  TPM2_ALG_ID bank; /* TPM2_ALG_SHA1, TPM2_ALG_SHA256 or TPM2_ALG_SHA384 */
  uint32_t mask;    /* bit i set: PCR i selected; never 0 */
} rt_policy_bank_sel;

/* Whether a policy can demand the bank: sha1, sha256, sha384 (the one rule
 * for policies, their secrets and `policy from-log --bank`). */
bool rt_policy_bank_known(TPM2_ALG_ID bank);

/* The demanded selection, banks in the order sha1, sha256, sha384, only
 * banks with at least one PCR. Returns the number of entries written. */
size_t rt_policy_selection(const rt_policy *policy, rt_policy_bank_sel out[RT_POLICY_MAX_BANKS]);

/* PCRs demanded in one bank (bit i = PCR i); 0 for a bank not demanded or
 * not known. */
uint32_t rt_policy_pcr_mask(const rt_policy *policy, TPM2_ALG_ID bank);

/* The selection as the TPM writes it in a quote (banks in the order of
 * rt_policy_selection, sizeofSelect 3), for comparing with
 * TPMS_QUOTE_INFO.pcrSelect. */
void rt_policy_tpml_selection(const rt_policy *policy, TPML_PCR_SELECTION *out);

bool rt_policy_allow_sha1(const rt_policy *policy);
bool rt_policy_require_event_log(const rt_policy *policy);
/* Issued certificates' lifetime in seconds (>= 60). */
int64_t rt_policy_cert_lifetime(const rt_policy *policy);
/* "server_auth": true adds EKU serverAuth to the key's certificate, so the
 * TPM-bound key can also be a TLS server's (default false: client only). */
bool rt_policy_server_auth(const rt_policy *policy);
/* An EK certificate past its notAfter is accepted, and noted in the audit
 * line ("ek_expiry_advisory"; default false: refused as EK_CHAIN). */
bool rt_policy_ek_expiry_advisory(const rt_policy *policy);
/* "ek_allowlist": whether an EK, by the SHA-256 of its SubjectPublicKeyInfo
 * DER, is trusted without an EK certificate. */
bool rt_policy_ek_allowlisted(const rt_policy *policy, const uint8_t ek_key_sha256[32]);
bool rt_policy_has_ek_allowlist(const rt_policy *policy);
/* The secrets to deliver after a successful enrollment, NULL when none
 * (policy_secrets.h, docs/secrets.md). */
const rt_policy_secrets *rt_policy_secrets_of(const rt_policy *policy);
/* The "events" rules, NULL when the policy has none (policy_events.h). */
const rt_policy_events *rt_policy_event_rules(const rt_policy *policy);
/* What a quote of the demanded selection proves of an event log: each
 * demanded bank's digests, in that bank's demanded PCRs (rt_evcheck.h). */
void rt_policy_proof(const rt_policy *policy, rt_evproof *out);

/* "platform_cert": what Begin does with the machine's TCG platform
 * certificate. UNSET (the key left out) means VERIFY when the verifier has
 * --platform-ca and IGNORE otherwise (rt_platform_mode resolves it). */
typedef enum {
  RT_POLICY_PLATFORM_UNSET = 0,
  RT_POLICY_PLATFORM_IGNORE,   /* never looked at */
  RT_POLICY_PLATFORM_VERIFY,   /* checked when sent; a machine without one passes */
  RT_POLICY_PLATFORM_REQUIRED, /* a machine without one is refused */
} rt_policy_platform_mode;
rt_policy_platform_mode rt_policy_platform_cert(const rt_policy *policy);
/* "name_binding": who may enroll with a name, when the verifier has a
 * machine registry (serve --db; without one names are not bound). */
typedef enum {
  RT_POLICY_NAMES_FIRST_COME = 0, /* the default: the first EK to finish with it */
  RT_POLICY_NAMES_REGISTERED,     /* only an EK an operator bound it to */
  RT_POLICY_NAMES_EK,             /* only the EK's own name, rt_name_from_ek (also without
                                     a registry: the rule needs no state) */
} rt_policy_name_binding;
rt_policy_name_binding rt_policy_names(const rt_policy *policy);

/* True when a subject template uses {platform_manufacturer},
 * {platform_model} or {platform_serial} (only allowed with "platform_cert":
 * "required"). */
bool rt_policy_uses_platform(const rt_policy *policy);

/* ---- Evaluation ------------------------------------------------------------ */

typedef enum {
  RT_POLICY_DENY = 0,
  RT_POLICY_ALLOW = 1,
} rt_policy_verdict;

/* Whether value may be the (replayed or quoted) value of PCR index in bank.
 * Denies a PCR outside the demanded selection, a value whose length is not
 * the bank's digest size, and a value outside the PCR's allow-list; allows
 * anything else. why (if non-NULL) receives a sentence naming the bank and
 * PCR ("PCR sha256:7 value 3f... is not one of the 2 values the policy
 * allows") for the rejection message and the decision log. */
rt_policy_verdict rt_policy_check_pcrs(const rt_policy *policy, TPM2_ALG_ID bank, uint32_t index,
                                       const uint8_t *value, size_t len, char *why,
                                       size_t why_size);

/* Whether the certified key / the AK may use alg (rt_key_alg from
 * rt_templates.h, numbered as rattest.v1.KeyAlgorithm; RT_ALG_NONE and
 * unknown values are never allowed). */
bool rt_policy_key_alg_allowed(const rt_policy *policy, rt_key_alg alg);
bool rt_policy_ak_alg_allowed(const rt_policy *policy, rt_key_alg alg);

/* ---- Certificate contents --------------------------------------------------- */

/* The policy's subject and DNS SANs with {name} and {ek} replaced. Strings
 * are malloc'd; organization and organizational_unit are NULL when the
 * policy has none. */
typedef struct {
  char *common_name;
  char *organization;
  char *organizational_unit;
  char **dns_sans;
  size_t n_dns_sans;
} rt_policy_identity;

/* name: the identity name from Begin; ek_hex: the EK digest as lowercase hex
 * (the same as in the SAN URI). Values are substituted verbatim: the caller
 * validates name first, and the issuer refuses a result that is not a valid
 * name or DNS name. */
rt_code rt_policy_render_identity(const rt_policy *policy, const char *name, const char *ek_hex,
                                  rt_policy_identity *out, rt_err *err);

/* The verified platform certificate's fields for {platform_manufacturer},
 * {platform_model} and {platform_serial}; NULL (or a NULL platform) when
 * none was verified. */
typedef struct {
  const char *manufacturer;
  const char *model;
  const char *serial;
} rt_policy_platform;

/* rt_policy_render_identity with the platform placeholders too. A template
 * naming a platform field the certificate does not have (or with no
 * platform certificate) is RT_E_INVALID naming the field. Values are
 * printable ASCII from rt_platform_info; the issuer checks the result. */
rt_code rt_policy_render_identity_platform(const rt_policy *policy, const char *name,
                                           const char *ek_hex, const rt_policy_platform *platform,
                                           rt_policy_identity *out, rt_err *err);
void rt_policy_identity_free(rt_policy_identity *id);

#endif
