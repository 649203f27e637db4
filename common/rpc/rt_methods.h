/* gRPC method paths of rattest.v1.Attestation (proto/rattest.proto), shared
 * by the verifier that serves them and the clients that call them. */
#ifndef RT_METHODS_H
#define RT_METHODS_H

#define RT_METHOD_PING "/rattest.v1.Attestation/Ping"
#define RT_METHOD_BEGIN "/rattest.v1.Attestation/Begin"
#define RT_METHOD_FINISH "/rattest.v1.Attestation/Finish"
#define RT_METHOD_CONFIRM "/rattest.v1.Attestation/Confirm"

#endif
