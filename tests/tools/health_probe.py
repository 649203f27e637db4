#!/usr/bin/python3
"""A health checker made from the upstream health.proto (Debian grpc-proto)
by grpc_tools.protoc, as a load balancer's would be: nothing of rattest's.

Usage:
  health_probe.py HOST:PORT CA_FILE [SERVICE]
      Check: prints the status (SERVING, NOT_SERVING) or the gRPC code of
      the refusal (NOT_FOUND); exit 0 when SERVING, else 1.
  health_probe.py HOST:PORT CA_FILE SERVICE --watch STATUS... [--timeout S]
      Watch: prints each status as it arrives, and what a Check made then
      answers ("NOT_SERVING NOT_SERVING", flushed, one a line), until the
      listed statuses have come in that order (exit 0), the stream ends
      (prints END and its code) or S seconds (default 30) pass (exit 1).

Also a module: stubs(dir) generates and imports the stubs.
"""
import os
import sys
import tempfile

HEALTH_PROTO_DIR = "/usr/share/grpc-proto/grpc/health/v1"


def stubs(work):
    """(health_pb2, health_pb2_grpc) generated into work. The proto is
    compiled from its own directory: its package path (grpc/health/v1)
    would shadow the grpc module itself."""
    from grpc_tools import protoc
    if protoc.main(["protoc", "-I" + HEALTH_PROTO_DIR, "--python_out=" + work,
                    "--grpc_python_out=" + work,
                    os.path.join(HEALTH_PROTO_DIR, "health.proto")]) != 0:
        raise RuntimeError("grpc_tools.protoc failed on health.proto")
    sys.path.insert(0, work)
    import health_pb2
    import health_pb2_grpc
    return health_pb2, health_pb2_grpc


def status_name(pb2, status):
    return pb2.HealthCheckResponse.ServingStatus.Name(status)


def check(grpc, pb2, stub, req):
    """Check's status, or the code of its refusal."""
    try:
        return status_name(pb2, stub.Check(req, timeout=10).status)
    except grpc.RpcError as e:
        return e.code().name


def main(argv):
    target, ca, service = argv[1], argv[2], argv[3] if len(argv) > 3 else ""
    watch = argv[argv.index("--watch") + 1:] if "--watch" in argv else None
    timeout = 30.0
    if watch is not None and "--timeout" in watch:
        timeout = float(watch[watch.index("--timeout") + 1])
        watch = watch[:watch.index("--timeout")]
    import grpc
    with tempfile.TemporaryDirectory() as work:
        pb2, pb2_grpc = stubs(work)
        with open(ca, "rb") as f:
            creds = grpc.ssl_channel_credentials(root_certificates=f.read())
        with grpc.secure_channel(target, creds) as channel:
            stub = pb2_grpc.HealthStub(channel)
            req = pb2.HealthCheckRequest(service=service)
            if watch is None:
                name = check(grpc, pb2, stub, req)
                print(name, flush=True)
                return 0 if name == "SERVING" else 1
            try:
                for reply in stub.Watch(req, timeout=timeout):
                    name = status_name(pb2, reply.status)
                    print(name, check(grpc, pb2, stub, req), flush=True)
                    if watch and watch[0] == name:
                        watch.pop(0)
                    if not watch:
                        return 0
                print("END OK", flush=True)
            except grpc.RpcError as e:
                print("END " + e.code().name, flush=True)
            return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
