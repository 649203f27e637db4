/* A set of CA certificates loaded from a file or a directory: the EK CAs
 * (--ek-ca) and the platform CAs (--platform-ca) are each one. The two are
 * kept apart on purpose: a TPM manufacturer vouches for TPMs, a platform
 * manufacturer for machines, and trusting one for the other would let a
 * TPM vendor mint platform identities. */
#ifndef RT_VERIFIER_CA_SET_H
#define RT_VERIFIER_CA_SET_H

#include <openssl/x509.h>
#include <stddef.h>

#include "cert_files.h"
#include "rt_err.h"

typedef struct rt_ca_set rt_ca_set;

/* Loads CA certificates (roots and intermediates, PEM or DER) from a file
 * or from every file of a directory (rt_cert_path_each); what names the set
 * in messages ("EK CA"). Chains must end at a self-signed certificate of
 * the set: an intermediate alone anchors nothing. */
rt_code rt_ca_set_load(const char *path, const char *what, rt_ca_set **out, rt_err *err);
void rt_ca_set_free(rt_ca_set *set);
size_t rt_ca_set_count(const rt_ca_set *set);

/* Every certificate as a trust store (the self-signed ones anchor chains),
 * and as a list (to find a signer by name, or to offer as untrusted chain
 * links). Owned by the set. */
X509_STORE *rt_ca_set_store(const rt_ca_set *set);
STACK_OF(X509) * rt_ca_set_certs(const rt_ca_set *set);

#endif
