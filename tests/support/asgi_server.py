"""An ASGI app served by uvicorn on 127.0.0.1, in a background thread, for one test.

Every in-process server of the tests runs this way (stand-in peers and APIs, the token issuer,
the authorization server). A server that must know its URL before its app is built (an issuer
names itself) binds `loopback_socket()` first and serves on it, which also avoids the race of
picking a free port and binding it later.
"""

from __future__ import annotations

import socket
import threading
from types import TracebackType
from typing import Any, Self

import uvicorn
from starlette.types import ASGIApp

from support.backends import free_port
from support.eventually import eventually

__all__ = ["ServedApp", "loopback_socket"]

_STARTUP_TIMEOUT = 10.0


def loopback_socket() -> socket.socket:
    """A TCP socket bound to a free port of 127.0.0.1, not yet listening."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock


class ServedApp:
    """`app` on `sock` if given, else on `port` (default: a free one); `config` goes to uvicorn."""

    def __init__(
        self, app: ASGIApp, port: int | None = None, *, sock: socket.socket | None = None, **config: Any
    ) -> None:
        self._socket = sock
        self.port: int = sock.getsockname()[1] if sock is not None else port or free_port()
        config = {"log_config": None, "lifespan": "on", **config}
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, **config))
        sockets = {"sockets": [sock]} if sock is not None else {}
        self._thread = threading.Thread(target=self._server.run, kwargs=sockets, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        self._thread.start()
        try:
            eventually(self._started, timeout=_STARTUP_TIMEOUT, interval=0.01, what=f"uvicorn on port {self.port}")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(10)
        if self._socket is not None:
            self._socket.close()

    def _started(self) -> bool:
        if not self._thread.is_alive():
            raise RuntimeError(f"uvicorn's thread ended before it started on port {self.port}")
        return self._server.started

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
