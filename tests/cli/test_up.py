"""`sre up`, what `make up` runs: every component starts, they trust each other, Ctrl-C stops them all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import httpx2
import pytest
from backends import free_port
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_up_starts_a_working_platform_and_ctrl_c_stops_it(tmp_path: Path) -> None:
    ports = {name: free_port() for name in ("PROMETHEUS", "REGISTRY", "PROMETHEUS_MCP")}
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PROMETHEUS", "SRE_", "REGISTRY"))},
        "SRE_DATA_DIR": str(tmp_path / "data"),
        **{f"SRE_UP_{name}_PORT": str(port) for name, port in ports.items()},
    }
    log = (tmp_path / "up.log").open("w+")
    up = subprocess.Popen([sys.executable, "-m", "cli.main", "up"], cwd=ROOT, env=env, stdout=log, stderr=log)
    mcp_url = f"http://127.0.0.1:{ports['PROMETHEUS_MCP']}/mcp"
    try:
        deadline = time.monotonic() + 60
        while "SRE Federation is up" not in (tmp_path / "up.log").read_text():
            assert up.poll() is None, (tmp_path / "up.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "up.log").read_text()
            time.sleep(0.2)

        token = subprocess.run(
            [sys.executable, "-m", "cli.main", "auth", "token", "--audience", mcp_url],
            cwd=ROOT,
            env={**env, "REGISTRY_URL": f"http://127.0.0.1:{ports['REGISTRY']}"},
            capture_output=True,
            text=True,
            check=False,
        )
        assert token.returncode == 0, token.stderr
        anonymous = httpx.post(mcp_url, json={})
        assert anonymous.status_code == 401

        import anyio

        async def call() -> float:
            headers = {"Authorization": f"Bearer {token.stdout.strip()}"}
            async with (
                httpx2.AsyncClient(headers=headers) as http,
                Client(streamable_http_client(mcp_url, http_client=http)) as client,
            ):
                result = await client.call_tool("prometheus_query", {"query": "vector(42)"})
            assert result.structured_content is not None, result.content
            return float(result.structured_content["samples"][0]["value"])

        assert anyio.run(call) == 42.0
    finally:
        up.send_signal(signal.SIGINT)
        up.wait(30)
    text = (tmp_path / "up.log").read_text()
    assert up.returncode == 0, text
    assert "sre up: stopped." in text
    for port in ports.values():
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
