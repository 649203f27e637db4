/* The one shape of the enrollment methods (Begin, Finish, Confirm): the
 * wrapper allocates the response, spends a token of the peer's rate limit
 * (throttle.h), runs the method's step, writes the audit
 * line of the decision (audit.h), and on refusal frees the response, so that
 * nothing built for a refused call leaves the verifier. A step only judges
 * the request and fills the response and what the audit line says. */
#ifndef RT_VERIFIER_HANDLER_H
#define RT_VERIFIER_HANDLER_H

#include "audit.h"
#include "enroll.h"
#include "enroll_platform.h"
#include "policy_secrets.h"
#include "rt_grpc.h"
#include "rt_name.h"

/* What a call tells its audit line. The wrapper sets line.method and
 * line.peer; the step sets the rest as it learns it, pointing line's
 * strings at the request (which outlives the call) or at the buffers here,
 * since the step's own objects are gone when the line is written. */
typedef struct {
  rt_audit line;
  char name[RT_NAME_MAX + 1];
  char ek_hex[65];
  char key_serial[64];
  int64_t key_not_after;            /* of the key certificate, for the registry */
  char secrets[RT_SECRET_MAX * 66]; /* names, comma-separated */
  rt_ek_info ek;                    /* Begin, EK trusted by certificate */
  const uint8_t *ek_cert;           /* its DER, in the request, for the registry */
  size_t ek_cert_len;
  rt_platform_seen platform; /* Begin */
} rt_call_audit;

/* A method's work: req is the parsed request, resp the response to fill
 * (allocated and initialised). Returns GRPC_STATUS_OK, or the refusal with
 * st filled (rt_deny). */
typedef grpc_status_code (*rt_handler_step)(rt_verifier *v, const ProtobufCMessage *req,
                                            ProtobufCMessage *resp, rt_call_audit *audit,
                                            rt_rpc_status *st);

typedef struct {
  const char *method; /* "Begin": the audit line's method */
  const ProtobufCMessageDescriptor *response;
  rt_handler_step step;
  /* Frees a response of this method and what the step put into it. */
  void (*free_response)(ProtobufCMessage *resp);
} rt_handler;

/* Runs h as an rt_rpc_handler would (verifier is the rt_verifier); on
 * success *resp is the response, which the server frees with
 * h->free_response. */
grpc_status_code rt_handle(const rt_handler *h, void *verifier, const rt_rpc_call_info *info,
                           const ProtobufCMessage *req, ProtobufCMessage **resp, rt_rpc_status *st);

#endif
