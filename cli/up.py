"""`sre up` (what `make up` runs): the platform on embedded defaults, on 127.0.0.1.

What exists so far: a Prometheus (the Debian package, data under SRE_DATA_DIR) scraping itself
and prometheus-mcp, and prometheus-mcp over Streamable HTTP. Until the registry's
authorization server exists, prometheus-mcp runs with authentication disabled, which the
server only allows on a loopback address. Ctrl-C stops everything.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import anyio
import httpx

from common.errors import ConfigError
from common.settings import DEFAULT_DATA_DIR, SettingsSource
from servers.prometheus_mcp.__main__ import serve as serve_prometheus_mcp
from servers.prometheus_mcp.settings import DEFAULT_PORT as PROMETHEUS_MCP_PORT

__all__ = ["up"]

PROMETHEUS_PORT = 9090
_READY_TIMEOUT = 30.0


def up(source: SettingsSource) -> int:
    data_dir = Path(source.get("SRE_DATA_DIR") or DEFAULT_DATA_DIR)
    prometheus_url = source.get("PROMETHEUS_URL")
    process = None
    if not prometheus_url:
        process, prometheus_url = _start_prometheus(data_dir / "prometheus")
    overrides = {"PROMETHEUS_URL": prometheus_url, "SRE_AUTH_DISABLED": "true", "SRE_HOST": "127.0.0.1"}
    merged = source.with_overrides(overrides)
    _banner(prometheus_url)
    try:
        anyio.run(serve_prometheus_mcp, "http", merged)
    except KeyboardInterrupt:
        pass
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
        print("sre up: stopped.", file=sys.stderr)
    return 0


def _start_prometheus(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("prometheus")
    if binary is None:
        raise ConfigError(
            "The prometheus binary is missing; install it (sudo apt-get install -y prometheus) or set PROMETHEUS_URL."
        )
    workdir.mkdir(parents=True, exist_ok=True)
    config = {
        "global": {"scrape_interval": "15s", "evaluation_interval": "15s"},
        "scrape_configs": [
            {"job_name": "prometheus", "static_configs": [{"targets": [f"127.0.0.1:{PROMETHEUS_PORT}"]}]},
            {"job_name": "prometheus-mcp", "static_configs": [{"targets": [f"127.0.0.1:{PROMETHEUS_MCP_PORT}"]}]},
        ],
    }
    # JSON is valid YAML.
    (workdir / "prometheus.yml").write_text(json.dumps(config, indent=2))
    log = (workdir / "prometheus.log").open("ab")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{PROMETHEUS_PORT}",
        ],
        stdout=log,
        stderr=log,
    )
    url = f"http://127.0.0.1:{PROMETHEUS_PORT}"
    deadline = time.monotonic() + _READY_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ConfigError(
                f"Prometheus exited at start-up (is port {PROMETHEUS_PORT} taken?); see {workdir / 'prometheus.log'}."
            )
        try:
            if httpx.get(f"{url}/-/ready", timeout=1.0).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    raise ConfigError(f"Prometheus did not become ready within {_READY_TIMEOUT:g}s; see {workdir / 'prometheus.log'}.")


def _banner(prometheus_url: str) -> None:
    mcp_url = f"http://127.0.0.1:{PROMETHEUS_MCP_PORT}/mcp"
    print(
        f"""
SRE Federation is up (Ctrl-C stops it).
  Prometheus       {prometheus_url}
  prometheus-mcp   {mcp_url}   (Streamable HTTP; authentication disabled on loopback
                   until the registry's authorization server lands)
Try it:
  npx @modelcontextprotocol/inspector --cli {mcp_url} --transport http --method tools/list
  or add `sre stdio prometheus-mcp` to Claude Desktop (see README).
""",
        file=sys.stderr,
        flush=True,
    )
