"""A real Envoy rate-limit service on 127.0.0.1 (gRPC ``ShouldRateLimit``), for tests.

Fixed windows of ``window`` seconds; ``limits`` maps a descriptor value (``requests``,
``tokens``) to the hits one window allows. It records the hits it allowed per window and
how often a request was over the limit.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent import futures

import grpc
from apache_beam.io.components import rate_limit_pb2
from google.protobuf.duration_pb2 import Duration

Response = rate_limit_pb2.RateLimitResponse


class RateLimitServer:
    def __init__(self, limits: dict[str, int], window: float = 1.0) -> None:
        self.limits, self.window = limits, window
        self.allowed: Counter = Counter()  # (descriptor value, window number) -> hits allowed
        self.granted: list[tuple[float, str]] = []  # (time.time(), descriptor value) of each let through
        self.over_limit = 0
        self._lock = threading.Lock()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        handler = grpc.unary_unary_rpc_method_handler(
            self._should_rate_limit, request_deserializer=rate_limit_pb2.RateLimitRequest.FromString,
            response_serializer=Response.SerializeToString)
        self._server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(
            "envoy.service.ratelimit.v3.RateLimitService", {"ShouldRateLimit": handler})])
        self.port = self._server.add_insecure_port("127.0.0.1:0")

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _should_rate_limit(self, request, context) -> Response:
        now = time.time()
        number = int(now // self.window)
        reset = Duration()
        reset.FromNanoseconds(int(((number + 1) * self.window - now) * 1e9))
        with self._lock:
            for descriptor in request.descriptors:
                value = descriptor.entries[0].value
                if self.allowed[value, number] + request.hits_addend > self.limits.get(value, 1 << 62):
                    self.over_limit += 1
                    return Response(overall_code=Response.OVER_LIMIT, statuses=[
                        Response.DescriptorStatus(code=Response.OVER_LIMIT, duration_until_reset=reset)])
            for descriptor in request.descriptors:
                self.allowed[descriptor.entries[0].value, number] += request.hits_addend
                self.granted.append((now, descriptor.entries[0].value))
        return Response(overall_code=Response.OK)

    def __enter__(self) -> RateLimitServer:
        self._server.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.stop(grace=None)
