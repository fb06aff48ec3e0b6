"""A component started the way users start it (`sre serve NAME`), as a real process on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

import httpx
import pytest

from support.backends import free_port
from support.eventually import eventually

#: A component imports its whole stack at start: 2-5 s on a quiet machine, more than 30 s on two cores shared with
#: other test runs (a registry and a triage were seen to miss 30 s at a load average of 20, and a module-scoped
#: fixture then fails every test of its module). A start that fails is seen at once (the process exits).
_STARTUP_TIMEOUT = 90.0


class ServedComponent:
    def __init__(self, name: str, env: Mapping[str, str], log_dir: Path, *, port: int | None = None) -> None:
        """`port`: where to serve, when another component must know the URL first (default: a free port)."""
        self.name = name
        self.port = port or free_port()
        self.env = {**os.environ, "SRE_PORT": str(self.port), "SRE_HOST": "127.0.0.1", **env}
        self.log_path = log_dir / f"{name}.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def mcp_url(self) -> str:
        return f"{self.url}/mcp"

    def start(self) -> ServedComponent:
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "cli.main", "serve", self.name],
                env=self.env,
                stdout=log,
                stderr=log,
            )
        try:
            eventually(
                self._healthy,
                timeout=_STARTUP_TIMEOUT,
                what=lambda: f"{self.name} to answer /healthz:\n{self.log_tail()}",
                ignoring=(httpx.TransportError,),
            )
        except pytest.fail.Exception:
            self.stop()
            raise
        return self

    def _healthy(self) -> bool:
        assert self._process is not None
        if self._process.poll() is not None:
            raise RuntimeError(f"{self.name} exited at start-up:\n{self.log_tail()}")
        return httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200

    def stop(self) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        self._process.terminate()
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(5)

    @property
    def pid(self) -> int:
        if self._process is None:
            raise RuntimeError(f"{self.name} is not started")
        return self._process.pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def log_tail(self, lines: int = 60) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> ServedComponent:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
