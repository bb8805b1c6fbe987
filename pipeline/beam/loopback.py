"""Local runs serve nothing to the network.

Beam's local runners start gRPC servers (job service, worker pool, control, data, state,
logging) on every interface (``[::]:0``), unauthenticated, in the process that holds the
API keys. ``serve_on_loopback()`` makes every gRPC server started afterwards in this
process bind the loopback interface instead; Beam's own clients already dial
``localhost``. Remote runners are left alone: their workers must reach the launcher.
"""

from __future__ import annotations

import grpc

_EVERY_INTERFACE = ("[::]", "0.0.0.0", "")


def loopback_address(address: str) -> str:
    """``[::]:PORT`` or ``0.0.0.0:PORT`` as ``localhost:PORT``; any other address as it is."""
    host, _, port = address.rpartition(":")
    return f"localhost:{port}" if host in _EVERY_INTERFACE else address


def serve_on_loopback() -> None:
    if getattr(grpc.server, "serves_loopback", False):
        return
    make_server = grpc.server

    def server(*args, **kwargs):
        made = make_server(*args, **kwargs)
        bind = made.add_insecure_port
        made.add_insecure_port = lambda address: bind(loopback_address(address))
        return made

    server.serves_loopback = True
    grpc.server = server
