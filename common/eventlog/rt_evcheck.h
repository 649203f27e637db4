/* Which digests of an event log a quote proves, and whether each event's
 * data hashes to the proven digests.
 *
 * A quote proves, for each bank it covers, the PCRs it selects: for those the
 * replayed log equals the TPM's values, so every digest the log lists in that
 * bank for that PCR is one the TPM extended. Nothing else in the log is
 * proven: digests of other banks (the writer of the log chose them, even for
 * a bank the TPM has), event types, and the data beside a digest. An
 * rt_evproof names the proven (bank, PCR) pairs; only their digests count.
 *
 * For event types whose data is the hashed content (UEFI variables,
 * separators, actions, GRUB and systemd-boot strings, GPT, S-CRTM version)
 * the data is hashed again and compared with every proven digest of the
 * event: RT_EVCHECK_OK when one form of the data (below) hashes to all of
 * them, RT_EVCHECK_MISMATCH when none does. Events whose digest covers
 * something the log does not carry (a PE image, a firmware volume), and
 * events with no proven digest, are RT_EVCHECK_UNCHECKED. */
#ifndef RT_EVCHECK_H
#define RT_EVCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rt_err.h"
#include "rt_eventlog.h"

typedef enum {
  /* The digest covers something outside the log (image, firmware blob), no
   * digest of the event is proven, or the event is not extended. */
  RT_EVCHECK_UNCHECKED = 0,
  /* The data hashes to every proven digest. */
  RT_EVCHECK_OK,
  /* The data is the hashed content by type, yet a proven digest differs. */
  RT_EVCHECK_MISMATCH,
} rt_evcheck;

/* The proven digests: bank i proves the PCRs in banks[i].pcrs (bit p =
 * PCR p). Banks are known algorithms (rt_eventlog_alg_name), each once. */
typedef struct {
  size_t n;
  struct {
    TPM2_ALG_ID alg;
    uint32_t pcrs;
  } banks[RT_EVENTLOG_MAX_BANKS];
} rt_evproof;

/* Every bank the log declares, every PCR: what the log claims, for showing
 * a log without a quote (`rattest-verifier eventlog`). */
void rt_evproof_all(const rt_eventlog *log, rt_evproof *out);

/* One bank's PCRs (bit p = PCR p), or 0 when the bank is not proven. */
uint32_t rt_evproof_pcrs(const rt_evproof *proof, TPM2_ALG_ID alg);

/* PCRs proven in at least one bank. */
uint32_t rt_evproof_any(const rt_evproof *proof);

/* Whether the event is extended into a PCR (not the Spec ID event, not
 * EV_NO_ACTION, PCR index below 24), so that replay counts its digests. */
bool rt_evcheck_extended(const rt_eventlog *log, size_t i);

/* checks[i] for every event of the log (log->n_events entries), and
 * sep_digest[i]: whether event i, extended into PCR 0-7 and not labelled
 * EV_SEPARATOR, has proven digests that are all the hash of one error
 * separator value (1 or 0xFFFFFFFF): a firmware error measured under
 * another label.
 * RT_E_CRYPTO if OpenSSL cannot hash. */
rt_code rt_evcheck_all(const rt_eventlog *log, const rt_evproof *proof, rt_evcheck *checks,
                       bool *sep_digest, rt_err *err);

/* Whether the event's digest covers its own data (in some form above), as
 * opposed to something outside the log such as an image. */
bool rt_evcheck_hashes_data(const rt_eventlog *log, size_t i);

/* "unchecked", "ok", "mismatch". */
const char *rt_evcheck_name(rt_evcheck c);

#endif
