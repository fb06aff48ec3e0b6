"""`sre up` (what `make up` runs): the platform on embedded defaults, on 127.0.0.1.

It provisions one OAuth client per component, then starts, in order and each as its own
process: Prometheus (the Debian package, data under SRE_DATA_DIR, scraping itself and the
components with its own client-credentials token), the registry with its embedded
authorization server, then prometheus-mcp and loki-mcp (with its embedded log store), which
register themselves. It waits for each to be
healthy, prints where everything is, and on Ctrl-C (or when a component dies) stops them all
in reverse order.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from cli.provisioning import provision
from common.errors import ConfigError
from common.settings import DEFAULT_DATA_DIR, SettingsSource
from registry.clients import ClientStore
from registry.settings import RegistrySettings

__all__ = ["up"]

PROMETHEUS_PORT = 9090
REGISTRY_PORT = 8700
PROMETHEUS_MCP_PORT = 8701
LOKI_MCP_PORT = 8702
_READY_TIMEOUT = 30.0


@dataclass
class _Child:
    name: str
    command: list[str]
    ready_url: str
    log: Path
    env: Mapping[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(self.command, stdout=log, stderr=log, env={**os.environ, **self.env})
        deadline = time.monotonic() + _READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ConfigError(f"{self.name} exited at start-up (is its port taken?); see {self.log}.")
            try:
                if httpx.get(self.ready_url, timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise ConfigError(f"{self.name} was not ready within {_READY_TIMEOUT:g}s; see {self.log}.")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def up(source: SettingsSource) -> int:
    # The defaults are DESIGN's ports; tests (and a second copy) move them.
    prometheus_port = int(source.get("SRE_UP_PROMETHEUS_PORT") or PROMETHEUS_PORT)
    registry_port = int(source.get("SRE_UP_REGISTRY_PORT") or REGISTRY_PORT)
    mcp_port = int(source.get("SRE_UP_PROMETHEUS_MCP_PORT") or PROMETHEUS_MCP_PORT)
    loki_port = int(source.get("SRE_UP_LOKI_MCP_PORT") or LOKI_MCP_PORT)
    data_dir = Path(source.get("SRE_DATA_DIR") or DEFAULT_DATA_DIR).resolve()
    logs = data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    registry_settings = RegistrySettings.from_source(source.with_overrides({"SRE_DATA_DIR": str(data_dir)}))
    secrets = provision(data_dir, ClientStore(registry_settings.clients_path))
    registry_url = f"http://127.0.0.1:{registry_port}"
    mcp_url = f"http://127.0.0.1:{mcp_port}/mcp"
    loki_url = f"http://127.0.0.1:{loki_port}/mcp"
    sre = [sys.executable, "-m", "cli.main"]
    common_env = {"SRE_DATA_DIR": str(data_dir), "SRE_HOST": "127.0.0.1", "REGISTRY_URL": registry_url}
    children = []
    prometheus_url = source.get("PROMETHEUS_URL")
    if not prometheus_url:
        prometheus_url = f"http://127.0.0.1:{prometheus_port}"
        children.append(
            _prometheus(
                data_dir, prometheus_port, registry_url, {"prometheus-mcp": mcp_url, "loki-mcp": loki_url}, logs
            )
        )
    children += [
        _Child(
            "registry",
            [*sre, "serve", "registry"],
            f"{registry_url}/healthz",
            logs / "registry.log",
            {**common_env, "SRE_PORT": str(registry_port)},
        ),
        _Child(
            "prometheus-mcp",
            [*sre, "serve", "prometheus-mcp"],
            f"http://127.0.0.1:{mcp_port}/healthz",
            logs / "prometheus-mcp.log",
            {
                **common_env,
                "SRE_PORT": str(mcp_port),
                "PROMETHEUS_URL": prometheus_url,
                "SRE_CLIENT_ID": "prometheus-mcp",
                "SRE_CLIENT_SECRET": secrets["prometheus-mcp"],
            },
        ),
        _Child(
            "loki-mcp",
            [*sre, "serve", "loki-mcp"],
            f"http://127.0.0.1:{loki_port}/healthz",
            logs / "loki-mcp.log",
            {
                **common_env,
                "SRE_PORT": str(loki_port),
                "SRE_CLIENT_ID": "loki-mcp",
                "SRE_CLIENT_SECRET": secrets["loki-mcp"],
            },
        ),
    ]
    started: list[_Child] = []
    try:
        for child in children:
            print(f"sre up: starting {child.name} ...", file=sys.stderr, flush=True)
            child.start()
            started.append(child)
        _banner(prometheus_url, registry_url, mcp_url, loki_url, logs)
        _wait(started)
    except KeyboardInterrupt:
        pass
    finally:
        # Ctrl-C reaches the children too; they stop on their own, this waits for them.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for child in reversed(started or children):
            child.stop()
        print("sre up: stopped.", file=sys.stderr)
    return 0


def _wait(children: list[_Child]) -> None:
    while True:
        for child in children:
            if child.process is not None and child.process.poll() is not None:
                raise ConfigError(f"{child.name} stopped (exit code {child.process.returncode}); see {child.log}.")
        time.sleep(0.5)


def _prometheus(data_dir: Path, port: int, registry_url: str, mcp_urls: Mapping[str, str], logs: Path) -> _Child:
    binary = shutil.which("prometheus")
    if binary is None:
        raise ConfigError(
            "The prometheus binary is missing; install it (sudo apt-get install -y prometheus) or set PROMETHEUS_URL."
        )
    workdir = data_dir / "prometheus"
    workdir.mkdir(parents=True, exist_ok=True)
    secret_file = data_dir / "credentials" / "prometheus.secret"
    config = {
        "global": {"scrape_interval": "15s", "evaluation_interval": "15s"},
        "scrape_configs": [
            {"job_name": "prometheus", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]},
            *(
                # The components' /metrics need a token like any other request: Prometheus gets its own,
                # one per component since each is its own audience.
                {
                    "job_name": name,
                    "static_configs": [{"targets": [urlsplit(url).netloc]}],
                    "oauth2": {
                        "client_id": "prometheus",
                        "client_secret_file": str(secret_file),
                        "token_url": f"{registry_url}/oauth/token",
                        "scopes": ["metrics:read"],
                        "endpoint_params": {"resource": url},
                    },
                }
                for name, url in mcp_urls.items()
            ),
        ],
    }
    # JSON is valid YAML.
    (workdir / "prometheus.yml").write_text(json.dumps(config, indent=2))
    return _Child(
        "prometheus",
        [
            binary,
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        f"http://127.0.0.1:{port}/-/ready",
        logs / "prometheus.log",
    )


def _banner(prometheus_url: str, registry_url: str, mcp_url: str, loki_url: str, logs: Path) -> None:
    print(
        f"""
SRE Federation is up (Ctrl-C stops it). Logs: {logs}
  Prometheus       {prometheus_url}
  registry         {registry_url}   (agents, servers, OAuth2 token endpoint /oauth/token)
  prometheus-mcp   {mcp_url}   (Streamable HTTP, registered in the registry)
  loki-mcp         {loki_url}   (embedded log store; Loki push API at {loki_url.removesuffix("/mcp")}/loki/api/v1/push)
Try it:
  TOKEN=$(.venv/bin/sre auth token --audience {mcp_url})
  npx @modelcontextprotocol/inspector --cli {mcp_url} --transport http \\
      --header "Authorization: Bearer $TOKEN" --method tools/list
  or add `sre stdio prometheus-mcp` to Claude Desktop (see README).
""",
        file=sys.stderr,
        flush=True,
    )
