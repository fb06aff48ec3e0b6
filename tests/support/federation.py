"""The whole federation as `make up` starts it (`sre up`, its demo or not), on free ports, for end-to-end tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from cli.up import PORTS
from common.auth import ClientCredentials
from common.settings import Upstream
from scenarios.load import Targets
from servers.loki_mcp.client import LokiClient
from support.backends import free_port
from support.eventually import eventually

ROOT = Path(__file__).resolve().parents[2]
#: Every process `sre up` starts, as its `SRE_UP_<NAME>_PORT` names it: each gets a free port.
COMPONENTS = tuple(name.upper().replace("-", "_") for name in PORTS)
_START_TIMEOUT = 120.0


@dataclass
class RunningFederation:
    data_dir: Path
    ports: Mapping[str, int]
    env: Mapping[str, str]
    #: What `sre up` says on stderr (progress, components' start) and prints on stdout (the demo's report).
    log: Path
    stdout: Path
    process: subprocess.Popen[bytes]
    started: float

    def stop(self) -> int:
        """Ctrl-C, as a person stops it; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def url(self, component: str) -> str:
        return f"http://127.0.0.1:{self.ports[component]}"

    def mcp_url(self, component: str) -> str:
        return f"{self.url(component)}/mcp"

    @property
    def client_env(self) -> dict[str, str]:
        """The environment of an `sre` command run against this federation."""
        return {
            **self.env,
            "REGISTRY_URL": self.url("REGISTRY"),
            "CONTROLPLANE_URL": self.url("CONTROLPLANE"),
            "PROMETHEUS_URL": self.url("PROMETHEUS"),
            "ROUTER_URL": self.url("ROUTER"),
        }

    def sre(self, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "cli.main", *args],
            cwd=ROOT,
            env=self.client_env,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )
        if check:
            assert done.returncode == 0, done.stdout + done.stderr
        return done

    def credentials(self, client: str) -> ClientCredentials:
        """A client `sre up` provisioned (`cli`, `scenario`, `triage`, ...), as its own process would use it."""
        secret = (self.data_dir / "credentials" / f"{client}.secret").read_text().strip()
        return ClientCredentials(
            token_url=f"{self.url('REGISTRY')}/oauth/token", client_id=client, client_secret=secret
        )

    @asynccontextmanager
    async def targets(self) -> AsyncIterator[Targets]:
        """Where scenarios load, with the `scenario` client's tokens (as `sre scenario load` does)."""
        loki_token = self.token("scenario", self.mcp_url("LOKI_MCP"))
        loki = LokiClient(Upstream(url=self.url("LOKI_MCP"), bearer_token=loki_token), timeout=60)
        headers = {"Authorization": f"Bearer {self.token('scenario', self.url('CONTROLPLANE'))}"}
        try:
            async with (
                httpx.AsyncClient(timeout=60) as http,
                httpx.AsyncClient(timeout=60, headers=headers) as controlplane,
            ):
                yield Targets(
                    http,
                    prometheus_write_url=f"{self.url('PROMETHEUS')}/api/v1/write",
                    loki=loki,
                    controlplane_url=self.url("CONTROLPLANE"),
                    controlplane_http=controlplane,
                )
        finally:
            await loki.aclose()

    def token(self, client: str, audience: str) -> str:
        response = httpx.post(
            f"{self.url('REGISTRY')}/oauth/token",
            data={"grant_type": "client_credentials", "resource": audience},
            auth=(client, self.credentials(client).client_secret.get_secret_value()),
            timeout=10,
        )
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])


def _interruptible() -> None:
    """Ctrl-C reaches `sre up` as it does from a terminal. A shell starts background jobs with SIGINT
    ignored, and a child keeps that: run from such a job (`make test &`, a CI step run in the
    background), `sre up` would ignore `stop()` and be killed a minute later, leaving its backends."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextmanager
def running_federation(
    workdir: Path, *, demo: str | None = None, settings: Mapping[str, str] | None = None
) -> Iterator[RunningFederation]:
    """`sre up` (`--no-demo` unless `demo` names a scenario to play) until the context ends, then Ctrl-C.

    The components read their defaults, but for `settings` (environment variables, e.g. a bench's knob)."""
    ports = {name: free_port() for name in COMPONENTS}
    data_dir = workdir / "data"
    env = {
        **{
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("PROMETHEUS", "SRE_", "REGISTRY", "CONTROLPLANE", "TRIAGE", "ROUTER", "LOKI"))
        },
        "SRE_DATA_DIR": str(data_dir),
        **{f"SRE_UP_{name}_PORT": str(port) for name, port in ports.items()},
        **(settings or {}),
    }
    log, stdout = workdir / "up.log", workdir / "up.out"
    args = ["--demo", demo] if demo is not None else ["--no-demo"]
    with log.open("w+") as errors, stdout.open("w+") as output:
        up = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "up", *args],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=errors,
            preexec_fn=_interruptible,
        )
    federation = RunningFederation(data_dir, ports, env, log, stdout, up, time.monotonic())
    try:

        def said_up() -> bool:
            assert up.poll() is None, log.read_text()
            return "SRE Federation is up" in log.read_text()

        eventually(said_up, timeout=_START_TIMEOUT, interval=0.2, what=lambda: f"sre up to be up:\n{log.read_text()}")
        yield federation
    finally:
        federation.stop()
