"""An ASGI app served by uvicorn on a free 127.0.0.1 port, in a background thread, for one test."""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from support.backends import free_port
from support.eventually import eventually

_STARTUP_TIMEOUT = 10.0


class ServedApp:
    def __init__(self, app: ASGIApp, port: int | None = None, **config: Any) -> None:
        self.port = port or free_port()
        self._server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_config=None, lifespan="on", **config)
        )
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServedApp:
        self._thread.start()
        eventually(self._started, timeout=_STARTUP_TIMEOUT, interval=0.01, what=f"uvicorn to start on port {self.port}")
        return self

    def _started(self) -> bool:
        if not self._thread.is_alive():
            raise RuntimeError(f"uvicorn's thread ended before it started on port {self.port}")
        return self._server.started

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.should_exit = True
        self._thread.join(10)
