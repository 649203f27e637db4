/* libtss2-tcti-faults: a TCTI for fault injection. It passes every command
 * to another TCTI (loaded by tctildr) and counts them; the k-th command
 * (1-based) meets the fault:
 *
 *   none       no fault: only counts (and logs) the commands
 *   fail       command k never reaches the TPM; its answer is a response
 *              header with TPM_RC_FAILURE (the TPM's own "I am broken")
 *   ioerr      command k never reaches the TPM; transmit fails with
 *              TSS2_TCTI_RC_IO_ERROR (the link broke, later ones pass)
 *   lose       command k runs in the TPM but its response is lost: receive
 *              fails with TSS2_TCTI_RC_IO_ERROR
 *   disappear  command k and every later one fail with TSS2_TCTI_RC_IO_ERROR
 *              (the TPM is gone)
 *   kill       the process sends itself SIGKILL before command k is sent
 *   stop       the process sends itself SIGSTOP before command k is sent,
 *              then goes on once continued (the test acts meanwhile)
 *
 * Configuration (the part after the colon in "PATH/libtss2-tcti-faults.so:"):
 *   mode=MODE,k=K[,log=FILE],next=TCTI
 * next= comes last and takes the rest of the string (it has commas of its
 * own: swtpm:host=127.0.0.1,port=2321). With log=, each command appends a
 * line "N 0xCC" to FILE, and the faulted one "N 0xCC MODE", written before
 * the fault so that a killed process still leaves it. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_tcti.h>
#include <tss2/tss2_tctildr.h>
#include <unistd.h>

#define FAULTS_MAGIC 0x72747466614c5473ull /* "rtfaLTs" */

typedef enum {
  MODE_NONE,
  MODE_FAIL,
  MODE_IOERR,
  MODE_LOSE,
  MODE_DISAPPEAR,
  MODE_KILL,
  MODE_STOP
} fault_mode;

static const char *const mode_names[] = {"none",      "fail", "ioerr", "lose",
                                         "disappear", "kill", "stop"};

/* What receive owes the caller for the command just transmitted. */
typedef enum { OWE_FORWARD, OWE_FAILURE, OWE_LOST } owed;

typedef struct {
  TSS2_TCTI_CONTEXT_COMMON_V2 common;
  TSS2_TCTI_CONTEXT *next;
  fault_mode mode;
  unsigned long k, n; /* the faulted command; commands seen so far */
  int log_fd;
  owed owe;
} faults_ctx;

static faults_ctx *ctx_of(TSS2_TCTI_CONTEXT *tcti) {
  faults_ctx *c = (faults_ctx *)tcti;
  return c != NULL && c->common.v1.magic == FAULTS_MAGIC ? c : NULL;
}

/* The command code sits after the tag and the size. */
static void log_command(const faults_ctx *c, size_t size, const uint8_t *cmd, int faulted) {
  if (c->log_fd < 0)
    return;
  size_t off = 6;
  TPM2_CC cc = 0;
  if (size < 10 || Tss2_MU_TPM2_CC_Unmarshal(cmd, size, &off, &cc) != TSS2_RC_SUCCESS)
    cc = 0;
  char line[64];
  int n = snprintf(line, sizeof line, "%lu 0x%x%s%s\n", c->n, (unsigned)cc, faulted ? " " : "",
                   faulted ? mode_names[c->mode] : "");
  /* One write(2) on an O_APPEND descriptor: the line survives SIGKILL. */
  if (n > 0 && write(c->log_fd, line, (size_t)n) != n)
    (void)0; /* a lost log line shows as a short count; nothing to do here */
}

static TSS2_RC faults_transmit(TSS2_TCTI_CONTEXT *tcti, size_t size, const uint8_t *cmd) {
  faults_ctx *c = ctx_of(tcti);
  if (c == NULL)
    return TSS2_TCTI_RC_BAD_CONTEXT;
  c->n++;
  c->owe = OWE_FORWARD;
  int hit = c->mode != MODE_NONE && (c->n == c->k || (c->mode == MODE_DISAPPEAR && c->n > c->k));
  log_command(c, size, cmd, hit);
  if (!hit)
    return Tss2_Tcti_Transmit(c->next, size, cmd);
  switch (c->mode) {
  case MODE_KILL:
    kill(getpid(), SIGKILL);
    return TSS2_TCTI_RC_IO_ERROR; /* not reached */
  case MODE_STOP:
    kill(getpid(), SIGSTOP);
    return Tss2_Tcti_Transmit(c->next, size, cmd);
  case MODE_FAIL:
    c->owe = OWE_FAILURE;
    return TSS2_RC_SUCCESS;
  case MODE_LOSE:
    c->owe = OWE_LOST;
    return Tss2_Tcti_Transmit(c->next, size, cmd);
  default: /* ioerr, disappear */
    return TSS2_TCTI_RC_IO_ERROR;
  }
}

/* A response of only a header: TPM_ST_NO_SESSIONS, 10 bytes, rc. */
static TSS2_RC failure_response(size_t *size, uint8_t *resp) {
  const size_t len = 10;
  if (resp == NULL) {
    *size = len;
    return TSS2_RC_SUCCESS;
  }
  if (*size < len)
    return TSS2_TCTI_RC_INSUFFICIENT_BUFFER;
  size_t off = 0;
  if (Tss2_MU_TPM2_ST_Marshal(TPM2_ST_NO_SESSIONS, resp, *size, &off) != TSS2_RC_SUCCESS ||
      Tss2_MU_UINT32_Marshal((uint32_t)len, resp, *size, &off) != TSS2_RC_SUCCESS ||
      Tss2_MU_UINT32_Marshal(TPM2_RC_FAILURE, resp, *size, &off) != TSS2_RC_SUCCESS)
    return TSS2_TCTI_RC_GENERAL_FAILURE;
  *size = off;
  return TSS2_RC_SUCCESS;
}

static TSS2_RC faults_receive(TSS2_TCTI_CONTEXT *tcti, size_t *size, uint8_t *resp,
                              int32_t timeout) {
  faults_ctx *c = ctx_of(tcti);
  if (c == NULL)
    return TSS2_TCTI_RC_BAD_CONTEXT;
  if (c->mode == MODE_DISAPPEAR && c->n >= c->k)
    return TSS2_TCTI_RC_IO_ERROR;
  if (c->owe == OWE_FAILURE) {
    TSS2_RC rc = failure_response(size, resp);
    if (rc == TSS2_RC_SUCCESS && resp != NULL)
      c->owe = OWE_FORWARD;
    return rc;
  }
  TSS2_RC rc = Tss2_Tcti_Receive(c->next, size, resp, timeout);
  /* Only the read that delivers the response loses it (a NULL buffer
   * asks for the size, a timeout asks to try again). */
  if (c->owe == OWE_LOST && rc == TSS2_RC_SUCCESS && resp != NULL) {
    c->owe = OWE_FORWARD;
    return TSS2_TCTI_RC_IO_ERROR;
  }
  return rc;
}

static void faults_finalize(TSS2_TCTI_CONTEXT *tcti) {
  faults_ctx *c = ctx_of(tcti);
  if (c == NULL)
    return;
  Tss2_TctiLdr_Finalize(&c->next);
  if (c->log_fd >= 0)
    close(c->log_fd);
  c->log_fd = -1;
}

static TSS2_RC faults_cancel(TSS2_TCTI_CONTEXT *tcti) {
  faults_ctx *c = ctx_of(tcti);
  return c == NULL ? TSS2_TCTI_RC_BAD_CONTEXT : Tss2_Tcti_Cancel(c->next);
}

static TSS2_RC faults_poll(TSS2_TCTI_CONTEXT *tcti, TSS2_TCTI_POLL_HANDLE *h, size_t *n) {
  faults_ctx *c = ctx_of(tcti);
  return c == NULL ? TSS2_TCTI_RC_BAD_CONTEXT : Tss2_Tcti_GetPollHandles(c->next, h, n);
}

static TSS2_RC faults_locality(TSS2_TCTI_CONTEXT *tcti, uint8_t locality) {
  faults_ctx *c = ctx_of(tcti);
  return c == NULL ? TSS2_TCTI_RC_BAD_CONTEXT : Tss2_Tcti_SetLocality(c->next, locality);
}

static TSS2_RC faults_sticky(TSS2_TCTI_CONTEXT *tcti, TPM2_HANDLE *handle, uint8_t sticky) {
  faults_ctx *c = ctx_of(tcti);
  return c == NULL ? TSS2_TCTI_RC_BAD_CONTEXT : Tss2_Tcti_MakeSticky(c->next, handle, sticky);
}

/* mode=, k=, log= in any order, then next= with the rest. */
static TSS2_RC parse_conf(faults_ctx *c, const char *conf, const char **next) {
  c->k = 0;
  c->mode = MODE_NONE;
  c->log_fd = -1;
  *next = NULL;
  for (const char *p = conf; p != NULL && *p != '\0' && *next == NULL;) {
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (strncmp(p, "next=", 5) == 0) {
      *next = p + 5;
    } else if (strncmp(p, "mode=", 5) == 0) {
      size_t m = 0;
      while (m < sizeof mode_names / sizeof mode_names[0] &&
             !(strlen(mode_names[m]) == len - 5 && strncmp(p + 5, mode_names[m], len - 5) == 0))
        m++;
      if (m == sizeof mode_names / sizeof mode_names[0])
        return TSS2_TCTI_RC_BAD_VALUE;
      c->mode = (fault_mode)m;
    } else if (strncmp(p, "k=", 2) == 0) {
      char *stop = NULL;
      c->k = strtoul(p + 2, &stop, 10);
      if (stop != p + len || c->k == 0)
        return TSS2_TCTI_RC_BAD_VALUE;
    } else if (strncmp(p, "log=", 4) == 0) {
      char path[4096];
      if (len - 4 >= sizeof path)
        return TSS2_TCTI_RC_BAD_VALUE;
      memcpy(path, p + 4, len - 4);
      path[len - 4] = '\0';
      c->log_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
      if (c->log_fd < 0)
        return TSS2_TCTI_RC_IO_ERROR;
    } else {
      return TSS2_TCTI_RC_BAD_VALUE;
    }
    p = end ? end + 1 : NULL;
  }
  if (*next == NULL || (c->mode != MODE_NONE && c->k == 0))
    return TSS2_TCTI_RC_BAD_VALUE;
  return TSS2_RC_SUCCESS;
}

static TSS2_RC faults_init(TSS2_TCTI_CONTEXT *tcti, size_t *size, const char *conf) {
  if (tcti == NULL) {
    if (size == NULL)
      return TSS2_TCTI_RC_BAD_VALUE;
    *size = sizeof(faults_ctx);
    return TSS2_RC_SUCCESS;
  }
  faults_ctx *c = (faults_ctx *)tcti;
  memset(c, 0, sizeof *c);
  const char *next = NULL;
  TSS2_RC rc = parse_conf(c, conf, &next);
  if (rc == TSS2_RC_SUCCESS)
    rc = Tss2_TctiLdr_Initialize(next, &c->next);
  if (rc != TSS2_RC_SUCCESS) {
    if (c->log_fd >= 0)
      close(c->log_fd);
    return rc;
  }
  c->common.v1.magic = FAULTS_MAGIC;
  c->common.v1.version = 2;
  c->common.v1.transmit = faults_transmit;
  c->common.v1.receive = faults_receive;
  c->common.v1.finalize = faults_finalize;
  c->common.v1.cancel = faults_cancel;
  c->common.v1.getPollHandles = faults_poll;
  c->common.v1.setLocality = faults_locality;
  c->common.makeSticky = faults_sticky;
  return TSS2_RC_SUCCESS;
}

static const TSS2_TCTI_INFO info = {
    .version = 2,
    .name = "faults",
    .description = "rattest fault injection: fails, loses or kills at the k-th TPM command",
    .config_help = "mode=none|fail|ioerr|lose|disappear|kill|stop,k=K[,log=FILE],next=TCTI",
    .init = faults_init,
};

const TSS2_TCTI_INFO *Tss2_Tcti_Info(void);
const TSS2_TCTI_INFO *Tss2_Tcti_Info(void) {
  return &info;
}
