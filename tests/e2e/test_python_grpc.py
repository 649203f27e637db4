#!/usr/bin/python3
"""A client nobody here wrote (python3-grpcio, stubs generated from
proto/rattest.proto by grpc_python_plugin) talks to rattest-verifier:
proof that our wire format is standard gRPC. Then a health checker made
from the upstream health.proto (tests/tools/health_probe.py) checks the
standard health service: Check and Watch SERVING for "" and the service,
NOT_FOUND / SERVICE_UNKNOWN for another name, a Watch request over 1 KiB
refused, at most 64 watches at once, and at SIGTERM a watch told
NOT_SERVING; during --drain-delay Check says NOT_SERVING and calls are
still served; a second SIGTERM ends the delay, the drain ends the watch
UNAVAILABLE.

Usage: test_python_grpc.py SOURCE_DIR BUILD_DIR PKI_DIR
"""
import os
import signal
import subprocess
import sys
import tempfile
import time

src, build, pki = sys.argv[1:4]
sys.path.insert(0, os.path.join(src, "tests", "tools"))
import health_probe  # noqa: E402

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

    hpb, hgrpc = health_probe.stubs(work)
    H = hpb.HealthCheckResponse

    def health_checks(channel):
        stub = hgrpc.HealthStub(channel)
        for name in ("", "rattest.v1.Attestation"):
            got = stub.Check(hpb.HealthCheckRequest(service=name), timeout=10).status
            check(got == H.SERVING, "Check %r: %s" % (name, got))
            watch = stub.Watch(hpb.HealthCheckRequest(service=name), timeout=10)
            got = next(watch).status
            check(got == H.SERVING, "Watch %r: %s" % (name, got))
            watch.cancel()
        try:
            stub.Check(hpb.HealthCheckRequest(service="rattest.v1.Nope"), timeout=10)
            check(False, "Check of an unknown service answered")
        except grpc.RpcError as e:
            check(e.code() == grpc.StatusCode.NOT_FOUND, "unknown Check: %s" % e.code())
        watch = stub.Watch(hpb.HealthCheckRequest(service="rattest.v1.Nope"), timeout=10)
        got = next(watch).status
        check(got == H.SERVICE_UNKNOWN, "unknown Watch: %s" % got)
        watch.cancel()
        try:
            next(stub.Watch(hpb.HealthCheckRequest(service="x" * 1100), timeout=10))
            check(False, "a 1100-byte Watch request was accepted")
        except grpc.RpcError as e:
            check(e.code() == grpc.StatusCode.INVALID_ARGUMENT, "long Watch: %s" % e.code())
        # 64 watches open (each has its first message), the 65th refused.
        watches = [stub.Watch(hpb.HealthCheckRequest(), timeout=20) for _ in range(64)]
        check(all(next(w).status == H.SERVING for w in watches), "64 watches")
        try:
            next(stub.Watch(hpb.HealthCheckRequest(), timeout=10))
            check(False, "a 65th watch was accepted")
        except grpc.RpcError as e:
            check(e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, "65th watch: %s" % e.code())
        for w in watches:
            w.cancel()

    # SIGTERM with a watch open: NOT_SERVING at once, then the watch ends
    # (UNAVAILABLE) and the verifier stops (a clean 0 checked below). The
    # cancelled watches above free their places as their cancels arrive.
    def health_drain(creds, port):
        with grpc.secure_channel("localhost:" + port, creds) as channel:
            stub = hgrpc.HealthStub(channel)
            for _ in range(100):
                watch = stub.Watch(hpb.HealthCheckRequest(), timeout=20)
                try:
                    first = next(watch).status
                    break
                except grpc.RpcError as e:
                    first = e.code()
                    time.sleep(0.05)
            check(first == H.SERVING, "drain watch first: %s" % first)
            verifier.send_signal(signal.SIGTERM)
            seen = [next(watch).status]
            # --drain-delay: still serving, Check says NOT_SERVING, until
            # a second SIGTERM ends the wait.
            got = stub.Check(hpb.HealthCheckRequest(), timeout=10).status
            check(got == H.NOT_SERVING, "Check in the drain delay: %s" % got)
            reply = rattest_pb2_grpc.AttestationStub(channel).Ping(
                rattest_pb2.PingRequest(message="delay"), timeout=10)
            check(reply.message == "delay", "Ping in the drain delay: %r" % reply.message)
            verifier.send_signal(signal.SIGTERM)
            try:
                for reply in watch:
                    seen.append(reply.status)
                end = grpc.StatusCode.OK
            except grpc.RpcError as e:
                end = e.code()
            check(seen == [H.NOT_SERVING] and end == grpc.StatusCode.UNAVAILABLE,
                  "drain watch: %s then %s" % (seen, end))

    port_file = os.path.join(work, "port")
    verifier = subprocess.Popen(
        [os.path.join(build, "bin", "rattest-verifier"), "serve",
         "--listen", "127.0.0.1:0",
         "--tls-cert", os.path.join(pki, "server-chain.pem"),
         "--tls-key", os.path.join(pki, "server.key"),
         "--ek-ca", os.path.join(pki, "tls-ca.pem"),
         "--issuer-cert", os.path.join(pki, "issuer-chain.pem"),
         "--issuer-key", os.path.join(pki, "issuer.key"),
         "--drain-delay", "5m",
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

            health_checks(channel)
        health_drain(creds, port)
    finally:
        verifier.terminate()
        rc = verifier.wait(timeout=10)
        check(rc == 0, "verifier exit status %d" % rc)

print("test_python_grpc: %d passed, %d failed" % (passed, failed))
sys.exit(1 if failed or not passed else 0)
