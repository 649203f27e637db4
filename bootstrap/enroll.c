/* `rattest-bootstrap enroll`: opens the state and the TPM, runs the steps
 * of enroll_steps.h in order and releases what they held. */
#include "enroll.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "enroll_steps.h"
#include "net.h"
#include "rt_tss2key.h"

/* The identity is valid when its certificate has not expired, the TPM
 * still holds the key at its handle, and the secrets delivered with it were
 * received (no marker left: rt_enroll_pending_path). */
static int still_valid(rt_enrollment *e, const rt_identity *id) {
  rt_err err;
  time_t not_after = 0;
  char pending[RT_STATE_PATH_MAX + 32];
  rt_enroll_pending_path(e->o, pending, sizeof pending);
  if (access(pending, F_OK) == 0) {
    printf("identity \"%s\": the secrets delivered with it were not all received: enrolling "
           "again\n",
           id->name);
    return 0;
  }
  if (rt_state_time_parse(id->not_after, &not_after, &err) != RT_OK || not_after <= time(NULL))
    return 0;
  rt_tss2key k;
  rt_handle_owner owner;
  if (rt_tss2key_read(id->key_file, &k, &err) != RT_OK ||
      rt_handle_owner_of(e->tpm, id->handle, &k.pub, &owner, &err) != RT_OK)
    return 0;
  return owner == RT_HANDLE_OURS;
}

/* The state, and in *previous the identity of this name it records. */
static int open_state(rt_enrollment *e, rt_identity *previous, int *have_previous) {
  const rt_enroll_opts *o = e->o;
  rt_err err;
  /* Made now, so that a directory that cannot be made stops the run before
   * Begin; removed again by rt_enroll if the run fails. */
  if (mkdir(o->state_dir, 0700) == 0)
    e->created_state_dir = 1;
  else if (errno != EEXIST)
    return rt_enroll_fail(o->state_dir, strerror(errno));
  if (rt_state_load(o->state_dir, &e->state, &err) != RT_OK)
    return rt_enroll_fail("state", err.msg);
  *have_previous = rt_state_get(e->state, o->name, previous, &err) == RT_OK;
  /* A delivered RSA key is an identity too, but not one enroll may replace:
   * refused before anything touches the TPM. */
  rt_secret_entry clash;
  if (rt_state_secret_get(e->state, o->name, &clash, &err) == RT_OK &&
      clash.type == RT_SECRET_TYPE_RSA_KEY)
    return rt_enroll_fail(o->name, "is the name of an RSA key the verifier delivered, not of an "
                                   "enrolled identity: choose another --name");
  return 0;
}

/* What Begin sends besides the name: the EK with its certificates and the
 * chain the TPM carries, the platform certificate, a new AK; and the connection to the verifier. */
static int prepare(rt_enrollment *e) {
  rt_err err;
  if (rt_ek_open(e->tpm, e->o->ek, e->o->ek_cert_url, &e->ek, &err) != RT_OK)
    return rt_enroll_fail("EK", err.msg);
  if (rt_ek_chain_read(e->tpm, &e->chain, &err) != RT_OK)
    return rt_enroll_fail("EK chain", err.msg);
  if (rt_platform_cert_read(e->tpm, &e->platform_cert, &e->platform_cert_len, &err) != RT_OK)
    return rt_enroll_fail("platform certificate", err.msg);
  if (rt_ak_create(e->tpm, RT_ALG_NONE, &e->ak, &err) != RT_OK)
    return rt_enroll_fail("AK", err.msg);
  if (rt_net_client_new(e->o->verifier, e->o->ca_file, &e->client, &err) != RT_OK)
    return rt_enroll_fail("verifier", err.msg);
  return 0;
}

/* Pause before beginning again after REGISTRY_FAILED: the database gets a
 * moment, the verifier is not hammered. */
#define BEGIN_AGAIN_MS 1000

/* Back to where Begin starts: the challenge and the new key (made for it)
 * gone, the EK loaded for the next activation. */
static int begin_again(rt_enrollment *e, uint64_t deadline) {
  rt_err err;
  if (rt_grpc_now_ms() + BEGIN_AGAIN_MS >= deadline)
    return rt_enroll_fail("Finish", "--timeout passed: not beginning again");
  fprintf(stderr, "rattest-bootstrap enroll: nothing was issued: beginning again from Begin\n");
  struct timespec pause = {BEGIN_AGAIN_MS / 1000, (BEGIN_AGAIN_MS % 1000) * 1000000L};
  nanosleep(&pause, NULL);
  rt_idkey_close(e->tpm, &e->key);
  protobuf_c_message_free_unpacked(&e->challenge->base, NULL);
  e->challenge = NULL;
  if (rt_ek_load(e->tpm, &e->ek, &err) != RT_OK)
    return rt_enroll_fail("EK", err.msg);
  return 0;
}

/* Begin and Finish, begun again while the verifier's registry could not
 * record the certificate (RT_ENROLL_BEGIN_AGAIN), within the deadline: a
 * transient database failure costs a retry, not the enrollment. */
static int begin_finish(rt_enrollment *e, uint64_t deadline) {
  for (;;) {
    if (rt_enroll_begin(e, deadline) != 0)
      return 1;
    int rc = rt_enroll_finish(e, deadline);
    if (rc != RT_ENROLL_BEGIN_AGAIN)
      return rc;
    if (begin_again(e, deadline) != 0)
      return 1;
  }
}

/* Everything from opening the TPM on; previous as recorded, or NULL. */
static int enroll_on_tpm(rt_enrollment *e, const rt_identity *previous, uint64_t deadline) {
  rt_err err;
  rt_tpm_quiet_tss_logs();
  if (rt_tpm_open(e->o->tcti, &e->tpm, &err) != RT_OK)
    return rt_enroll_fail("TPM", err.msg);
  if (rt_enroll_restore(e, previous) != 0)
    return 1;
  if (previous != NULL && !e->o->renew && still_valid(e, previous)) {
    printf("identity \"%s\" is enrolled and valid until %s: nothing to do (`renew` renews "
           "it before it expires, --renew enrolls again now)\n",
           e->o->name, previous->not_after);
    return 0;
  }
  /* Not before the TPM is open: the TCTI is dlopened too, and would wait
   * for the module. Nor for nothing to do. */
  rt_net_preload();
  if (rt_enroll_handle_usable(e, previous) != 0 || prepare(e) != 0 ||
      begin_finish(e, deadline) != 0)
    return 1;
  /* A TPM without a resource manager has three object slots: the AK goes
   * before keeping (which may need two: the SRK and the previous key, to
   * put it back), the key's transient copy before the secrets, which are
   * loaded under the EK one at a time. */
  rt_ak_close(e->tpm, &e->ak);
  int rc = rt_enroll_keep(e, previous);
  rt_idkey_close(e->tpm, &e->key);
  return rc == 0 ? rt_enroll_secrets(e, deadline) : rc;
}

static void release(rt_enrollment *e) {
  /* Whatever happened, nothing we loaded stays in the TPM. */
  rt_idkey_close(e->tpm, &e->key);
  rt_ak_close(e->tpm, &e->ak);
  if (e->tpm != NULL)
    rt_ek_close(e->tpm, &e->ek);
  rt_tpm_close(e->tpm);
  rt_net_client_free(e->client);
  if (e->challenge != NULL)
    protobuf_c_message_free_unpacked(&e->challenge->base, NULL);
  if (e->result != NULL)
    protobuf_c_message_free_unpacked(&e->result->base, NULL);
  rt_ek_chain_free(&e->chain);
  free(e->platform_cert);
  rt_state_free(e->state);
}

int rt_enroll(const rt_enroll_opts *o) {
  rt_enrollment e;
  memset(&e, 0, sizeof e);
  e.o = o;
  e.ak.handle = e.key.handle = e.ek.handle = ESYS_TR_NONE;
  uint64_t deadline = rt_grpc_now_ms() + o->timeout_ms;
  rt_identity previous;
  int have_previous = 0;
  int rc = open_state(&e, &previous, &have_previous);
  if (rc == 0)
    rc = enroll_on_tpm(&e, have_previous ? &previous : NULL, deadline);
  release(&e);
  /* A first enrollment that failed leaves no directory behind; one that
   * kept anything (rmdir fails: not empty) leaves what it kept. */
  if (rc != 0 && e.created_state_dir)
    (void)rmdir(o->state_dir);
  return rc;
}
