#!/usr/bin/python3
"""A client nobody here wrote (python3-grpcio, stubs generated from
proto/rattest.proto by grpc_python_plugin) talks to rattest-verifier:
proof that our wire format is standard gRPC.

Usage: test_python_grpc.py SOURCE_DIR BUILD_DIR PKI_DIR
"""
import os
import subprocess
import sys
import tempfile
import time

src, build, pki = sys.argv[1:4]
passed = failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL: " + what, file=sys.stderr)


with tempfile.TemporaryDirectory() as work:
    # Generate the Python stubs from our .proto, as any third party would.
    subprocess.run(
        ["protoc", "--proto_path=" + os.path.join(src, "proto"),
         "--python_out=" + work, "--grpc_out=" + work,
         "--plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin",
         os.path.join(src, "proto", "rattest.proto")],
        check=True)
    sys.path.insert(0, work)
    import grpc
    import rattest_pb2
    import rattest_pb2_grpc

    port_file = os.path.join(work, "port")
    verifier = subprocess.Popen(
        [os.path.join(build, "bin", "rattest-verifier"), "serve",
         "--listen", "127.0.0.1:0",
         "--tls-cert", os.path.join(pki, "server-chain.pem"),
         "--tls-key", os.path.join(pki, "server.key"),
         "--ek-ca", os.path.join(pki, "tls-ca.pem"),
         "--issuer-cert", os.path.join(pki, "issuer-chain.pem"),
         "--issuer-key", os.path.join(pki, "issuer.key"),
         "--port-file", port_file], stdout=subprocess.DEVNULL)
    try:
        for _ in range(200):
            if os.path.exists(port_file):
                break
            time.sleep(0.05)
        port = open(port_file).read().strip()
        with open(os.path.join(pki, "tls-ca.pem"), "rb") as f:
            creds = grpc.ssl_channel_credentials(root_certificates=f.read())
        with grpc.secure_channel("localhost:" + port, creds) as channel:
            stub = rattest_pb2_grpc.AttestationStub(channel)
            reply = stub.Ping(rattest_pb2.PingRequest(message="from python"), timeout=10)
            check(reply.message == "from python", "echo %r" % reply.message)
            check(reply.version.count(".") == 2, "version %r" % reply.version)
            check(abs(reply.server_time_unix - time.time()) < 300,
                  "server time %d" % reply.server_time_unix)

            # Our status codes and the rattest-error trailer reach a standard client:
            # an identity name with a path in it is refused before anything else.
            try:
                stub.Begin(rattest_pb2.BeginRequest(name="../etc"), timeout=10)
                check(False, "Begin accepted a bad identity name")
            except grpc.RpcError as e:
                check(e.code() == grpc.StatusCode.INVALID_ARGUMENT, "Begin code %s" % e.code())
                trailers = dict(e.trailing_metadata() or ())
                check(trailers.get("rattest-error") == "NAME_INVALID",
                      "trailers %r" % trailers)
            # A Finish with a forged session token is refused as such.
            try:
                stub.Finish(rattest_pb2.FinishRequest(session_token=b"\x01" + b"x" * 60),
                            timeout=10)
                check(False, "Finish accepted a forged token")
            except grpc.RpcError as e:
                trailers = dict(e.trailing_metadata() or ())
                check(e.code() == grpc.StatusCode.PERMISSION_DENIED and
                      trailers.get("rattest-error") == "TOKEN_INVALID",
                      "forged token: %s %r" % (e.code(), trailers))

            # Raw bytes that are not a PingRequest: INVALID_ARGUMENT.
            raw = channel.unary_unary("/rattest.v1.Attestation/Ping",
                                      request_serializer=None, response_deserializer=None)
            try:
                raw(b"\xff" * 10 + b"\x0f", timeout=10)
                check(False, "garbage accepted")
            except grpc.RpcError as e:
                check(e.code() == grpc.StatusCode.INVALID_ARGUMENT, "garbage code %s" % e.code())
    finally:
        verifier.terminate()
        rc = verifier.wait(timeout=10)
        check(rc == 0, "verifier exit status %d" % rc)

print("test_python_grpc: %d passed, %d failed" % (passed, failed))
sys.exit(1 if failed or not passed else 0)
