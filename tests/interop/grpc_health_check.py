#!/usr/bin/env python3
"""Interop check: a Python grpcio client against a tower-jwt-auth protected gRPC server.

Calls grpc.health.v1.Health/Check twice: without a token (must fail with
UNAUTHENTICATED) and with `authorization: Bearer <token>` (must answer SERVING).
Exits 0 only when both hold.

    pip install grpcio grpcio-health-checking
    python3 tests/interop/grpc_health_check.py 127.0.0.1:50051 <token>

The address and token may also come from GRPC_ADDR and JWT_TOKEN.
"""

import os
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

TIMEOUT_SECONDS = 5.0


def check(stub, token):
    """Returns ("ok", serving status name) or ("error", grpc.StatusCode, details)."""
    metadata = [("authorization", f"Bearer {token}")] if token else None
    try:
        response = stub.Check(
            health_pb2.HealthCheckRequest(service=""),
            metadata=metadata,
            timeout=TIMEOUT_SECONDS,
        )
    except grpc.RpcError as error:
        return ("error", error.code(), error.details() or "")
    return ("ok", health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))


def main(argv):
    addr = argv[1] if len(argv) > 1 else os.environ.get("GRPC_ADDR")
    token = argv[2] if len(argv) > 2 else os.environ.get("JWT_TOKEN")
    if not addr or not token:
        print(f"usage: {argv[0]} ADDR TOKEN  (or GRPC_ADDR and JWT_TOKEN)", file=sys.stderr)
        return 2

    failures = []
    # A loopback test server must not be reached through an HTTP proxy from the environment.
    with grpc.insecure_channel(addr, options=[("grpc.enable_http_proxy", 0)]) as channel:
        stub = health_pb2_grpc.HealthStub(channel)

        without = check(stub, None)
        print(f"without token: {without}")
        if without[0] != "error" or without[1] != grpc.StatusCode.UNAUTHENTICATED:
            failures.append(f"without token: expected UNAUTHENTICATED, got {without}")

        with_token = check(stub, token)
        print(f"with token:    {with_token}")
        if with_token != ("ok", "SERVING"):
            failures.append(f"with token: expected SERVING, got {with_token}")

        # A refusal must never echo the credentials back.
        if token in str(without) or token in str(with_token):
            failures.append("a response echoed the token")

    for failure in failures:
        print(f"FAIL {failure}", file=sys.stderr)
    if not failures:
        print("OK")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
