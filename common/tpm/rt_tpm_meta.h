/* What ESYS already knows about an object or NV index. Esys_TR_FromTPMPublic
 * reads the public area (ReadPublic, NV_ReadPublic) to make an ESYS_TR and
 * keeps it; asking the TPM again would only repeat that command. These take
 * it from the ESYS_TR's metadata, checked against the name ESYS holds, and
 * fall back to asking the TPM when the metadata does not give it. */
#ifndef RT_TPM_META_H
#define RT_TPM_META_H

#include <tss2/tss2_esys.h>

#include "rt_err.h"
#include "rt_tpm.h"

/* The public area of the object tr. */
rt_code rt_tpm_tr_public(rt_tpm *tpm, ESYS_TR tr, TPM2B_PUBLIC *pub, rt_err *err);

/* The public area of the NV index tr (size, attributes). */
rt_code rt_tpm_tr_nv_public(rt_tpm *tpm, ESYS_TR tr, TPM2B_NV_PUBLIC *pub, rt_err *err);

/* The object persistent at handle: its ESYS_TR (close with rt_tpm_tr_close)
 * and public area, with one ReadPublic. RT_E_NOT_FOUND when the handle is
 * empty. */
rt_code rt_tpm_open_persistent(rt_tpm *tpm, TPM2_HANDLE handle, ESYS_TR *tr, TPM2B_PUBLIC *pub,
                               rt_err *err);

#endif
