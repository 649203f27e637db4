/* gRPC method paths of rattest.v1.Attestation (proto/rattest.proto), shared
 * by the verifier that serves them and the clients that call them. */
#ifndef RT_METHODS_H
#define RT_METHODS_H

/* The service's full name, also what health checks name it by. */
#define RT_SERVICE "rattest.v1.Attestation"

#define RT_METHOD_PING "/" RT_SERVICE "/Ping"
#define RT_METHOD_BEGIN "/" RT_SERVICE "/Begin"
#define RT_METHOD_FINISH "/" RT_SERVICE "/Finish"
#define RT_METHOD_CONFIRM "/" RT_SERVICE "/Confirm"

#endif
