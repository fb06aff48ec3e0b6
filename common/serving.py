"""Serving an ASGI app with uvicorn the same way for every component (MCP servers, agents, registry, control plane).

With `SRE_REUSE_PORT` the socket is bound with SO_REUSEPORT: several processes of one component
(replicas of an agent sharing a PostgreSQL task store) listen on the same HOST:PORT and the
kernel spreads the connections among them.
"""

from __future__ import annotations

import logging
import signal
import socket
from collections.abc import Awaitable, Callable, Sequence
from types import FrameType

import uvicorn
from starlette.types import ASGIApp

from common.http_guards import MAX_HEADER_BYTES, LingeringH11Protocol
from common.settings import ServeSettings

__all__ = ["run_http"]

logger = logging.getLogger(__name__)


class _GracefulServer(uvicorn.Server):
    """A signal stops serving, and then the component's own clean-up runs.

    uvicorn re-raises SIGTERM/SIGINT once it has shut down, which kills the process before the
    code after `serve()` (deregistering from the registry, closing clients) gets to run.
    """

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True  # a second Ctrl-C does not wait for open connections
        else:
            self.should_exit = True


async def run_http(
    app: ASGIApp, serve: ServeSettings, *, on_shutdown: Sequence[Callable[[], Awaitable[None]]] = ()
) -> None:
    config = uvicorn.Config(
        app,
        host=serve.host,
        port=serve.port,
        log_config=None,
        access_log=False,
        lifespan="on",
        # h11 bounds the bytes it buffers for a request head; httptools would accept any size.
        http=LingeringH11Protocol,
        h11_max_incomplete_event_size=MAX_HEADER_BYTES * 2,
        server_header=False,
    )
    server = _GracefulServer(config)
    logger.info("Serving on %s (listening on %s:%d)", serve.base_url, serve.host, serve.port)
    try:
        await server.serve(sockets=[_shared_socket(serve)] if serve.reuse_port else None)
    finally:
        for hook in on_shutdown:
            await hook()


def _shared_socket(serve: ServeSettings) -> socket.socket:
    """HOST:PORT bound with SO_REUSEPORT, which other processes bound the same way share (the kernel balances)."""
    family = socket.AF_INET6 if ":" in serve.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((serve.host, serve.port))
    return sock
