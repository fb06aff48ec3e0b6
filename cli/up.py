"""`sre up` (what `make up` runs): the platform on embedded defaults, on 127.0.0.1.

It provisions one OAuth client per component, then starts, in order and each as its own
process: Prometheus (the Debian package, data under SRE_DATA_DIR, scraping itself and the
MCP servers with its own client-credentials token), the registry with its embedded
authorization server, the reference control plane (SQLite), then prometheus-mcp, loki-mcp
(with its embedded log store) and controlplane-mcp, which register themselves. It waits for
each to be healthy, prints where everything is, and on Ctrl-C (or when a component dies) stops
them all in reverse order.
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
from typing import Any
from urllib.parse import urlsplit

import httpx

from cli.provisioning import provision
from common.errors import ConfigError
from common.settings import DEFAULT_DATA_DIR, SettingsSource
from registry.clients import ClientStore
from registry.settings import RegistrySettings

__all__ = ["up"]

#: DESIGN's ports; `SRE_UP_<NAME>_PORT` moves one (tests, a second copy).
PORTS = {
    "prometheus": 9090,
    "registry": 8700,
    "prometheus-mcp": 8701,
    "loki-mcp": 8702,
    "controlplane-mcp": 8703,
    "controlplane": 8710,
}
#: The MCP servers, each with its own OAuth client, registering itself; Prometheus scrapes them.
MCP_SERVERS = ("prometheus-mcp", "loki-mcp", "controlplane-mcp")
_READY_TIMEOUT = 30.0
#: Longer than any bundled scenario's history (at most 6 h), so all of it can be remote-written.
OUT_OF_ORDER_WINDOW = "12h"


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
    ports = {name: int(source.get(f"SRE_UP_{_key(name)}_PORT") or port) for name, port in PORTS.items()}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    mcp_urls = {name: f"{urls[name]}/mcp" for name in MCP_SERVERS}
    data_dir = Path(source.get("SRE_DATA_DIR") or DEFAULT_DATA_DIR).resolve()
    logs = data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    registry_settings = RegistrySettings.from_source(source.with_overrides({"SRE_DATA_DIR": str(data_dir)}))
    secrets = provision(data_dir, ClientStore(registry_settings.clients_path))
    sre = [sys.executable, "-m", "cli.main"]
    common_env = {"SRE_DATA_DIR": str(data_dir), "SRE_HOST": "127.0.0.1", "REGISTRY_URL": urls["registry"]}

    def served(name: str, **env: str) -> _Child:
        command = [*sre, "serve", name]
        env = {**common_env, "SRE_PORT": str(ports[name]), **env}
        if name in MCP_SERVERS:
            env |= {"SRE_CLIENT_ID": name, "SRE_CLIENT_SECRET": secrets[name]}
        return _Child(name, command, f"{urls[name]}/healthz", logs / f"{name}.log", env)

    children = []
    prometheus_url = source.get("PROMETHEUS_URL")
    if not prometheus_url:
        prometheus_url = urls["prometheus"]
        children.append(_prometheus(data_dir, ports["prometheus"], urls["registry"], mcp_urls, logs))
    children += [
        # The control plane is not registered like the MCP servers: the registry issues tokens for it
        # because it is listed as a resource.
        served("registry", REGISTRY_RESOURCES=json.dumps([urls["controlplane"]])),
        served("controlplane"),
        served("prometheus-mcp", PROMETHEUS_URL=prometheus_url),
        served("loki-mcp"),
        served("controlplane-mcp", CONTROLPLANE_URL=urls["controlplane"]),
    ]
    started: list[_Child] = []
    try:
        for child in children:
            print(f"sre up: starting {child.name} ...", file=sys.stderr, flush=True)
            child.start()
            started.append(child)
        _banner(prometheus_url, urls, mcp_urls, logs)
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
    config: dict[str, Any] = {
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
    # `sre scenario load` remote-writes hours of history, older than what Prometheus already holds.
    config["storage"] = {"tsdb": {"out_of_order_time_window": OUT_OF_ORDER_WINDOW}}
    # JSON is valid YAML.
    (workdir / "prometheus.yml").write_text(json.dumps(config, indent=2))
    return _Child(
        "prometheus",
        [
            binary,
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--web.enable-remote-write-receiver",
        ],
        f"http://127.0.0.1:{port}/-/ready",
        logs / "prometheus.log",
    )


def _key(name: str) -> str:
    return name.upper().replace("-", "_")


def _banner(prometheus_url: str, urls: Mapping[str, str], mcp_urls: Mapping[str, str], logs: Path) -> None:
    prometheus_mcp = mcp_urls["prometheus-mcp"]
    print(
        f"""
SRE Federation is up (Ctrl-C stops it). Logs: {logs}
  Prometheus         {prometheus_url}
  registry           {urls["registry"]}   (agents, servers, OAuth2 token endpoint /oauth/token)
  control plane      {urls["controlplane"]}/api/v1   (OpenAPI at /openapi.json)
  prometheus-mcp     {prometheus_mcp}
  loki-mcp           {mcp_urls["loki-mcp"]}   (embedded log store; Loki push API at {urls["loki-mcp"]}/loki/api/v1/push)
  controlplane-mcp   {mcp_urls["controlplane-mcp"]}   (write tools need an approval: sre controlplane approvals)
Try it:
  TOKEN=$(.venv/bin/sre auth token --audience {prometheus_mcp})
  npx @modelcontextprotocol/inspector --cli {prometheus_mcp} --transport http \\
      --header "Authorization: Bearer $TOKEN" --method tools/list
  or add `sre stdio prometheus-mcp` to Claude Desktop (see README).
""",
        file=sys.stderr,
        flush=True,
    )
