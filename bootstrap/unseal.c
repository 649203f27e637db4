#include "unseal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rt_file.h"
#include "rt_pcrsel.h"
#include "rt_state.h"
#include "secret_store.h"
#include "secrets.h"

static int fail(const char *what, const char *msg) {
  fprintf(stderr, "rattest-bootstrap unseal: %s%s%s\n", what, what[0] ? ": " : "", msg);
  return 1;
}

static int write_out(const char *path, const uint8_t *data, size_t len) {
  rt_err err;
  if (path != NULL) {
    if (rt_file_write_atomic(path, data, len, 0600, &err) != RT_OK)
      return fail("writing the secret", err.msg);
    return 0;
  }
  if (fwrite(data, 1, len, stdout) != len || fflush(stdout) != 0)
    return fail("", "cannot write the secret to stdout");
  return 0;
}

int rt_unseal(const rt_unseal_opts *o) {
  rt_err err;
  rt_state *st = NULL;
  if (rt_state_load(o->state_dir, &st, &err) != RT_OK)
    return fail("state", err.msg);
  rt_secret_entry s;
  rt_code code = rt_state_secret_get(st, o->name, &s, &err);
  rt_state_free(st);
  if (code == RT_E_NOT_FOUND)
    return fail("", err.msg);
  if (code != RT_OK)
    return fail("state", err.msg);
  if (s.type != RT_SECRET_TYPE_SEALED) {
    fprintf(stderr,
            "rattest-bootstrap unseal: \"%s\" is an %s, not a sealed secret: it stays in the "
            "TPM and is used as the identity rattest:%s\n",
            s.name, rt_secret_type_name(s.type), s.name);
    return 1;
  }
  TPM2B_PUBLIC pub;
  TPM2B_PRIVATE priv;
  TPML_PCR_SELECTION sel = {.count = 0};
  if (rt_secret_load_blobs(&s, &pub, &priv, &err) != RT_OK)
    return fail("", err.msg);
  if (s.pcrs[0] != '\0' && rt_pcrsel_parse(s.pcrs, &sel, &err) != RT_OK)
    return fail("state", err.msg);

  rt_tpm *tpm = NULL;
  rt_ek ek;
  memset(&ek, 0, sizeof ek);
  ek.handle = ESYS_TR_NONE;
  uint8_t *data = NULL;
  size_t len = 0;
  int rc = 1;
  rt_tpm_quiet_tss_logs();
  if (rt_tpm_open(o->tcti, &tpm, &err) != RT_OK) {
    fail("TPM unreachable", err.msg);
    goto out;
  }
  if (rt_secret_open_ek(tpm, o->ek, &pub, &priv, &ek, &err) != RT_OK) {
    fail(s.name, err.msg);
    goto out;
  }
  if (rt_secret_unseal(tpm, &ek, &pub, &priv, &sel, &data, &len, &err) != RT_OK) {
    fail(s.name, err.msg);
    goto out;
  }
  rc = write_out(o->out, data, len);
out:
  rt_secret_wipe(data, len);
  if (tpm != NULL)
    rt_ek_close(tpm, &ek);
  rt_tpm_close(tpm);
  return rc;
}
