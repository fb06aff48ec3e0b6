"""`sre up`, what `make up` runs: every component starts, they trust each other, Ctrl-C stops them all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from backends import free_port
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_up_starts_a_working_platform_and_ctrl_c_stops_it(tmp_path: Path) -> None:
    names = ("PROMETHEUS", "REGISTRY", "PROMETHEUS_MCP", "LOKI_MCP", "CONTROLPLANE", "CONTROLPLANE_MCP")
    ports = {name: free_port() for name in names}
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PROMETHEUS", "SRE_", "REGISTRY", "CONTROLPLANE"))},
        "SRE_DATA_DIR": str(tmp_path / "data"),
        **{f"SRE_UP_{name}_PORT": str(port) for name, port in ports.items()},
    }
    log = (tmp_path / "up.log").open("w+")
    up = subprocess.Popen([sys.executable, "-m", "cli.main", "up"], cwd=ROOT, env=env, stdout=log, stderr=log)
    mcp_url = f"http://127.0.0.1:{ports['PROMETHEUS_MCP']}/mcp"
    loki_url = f"http://127.0.0.1:{ports['LOKI_MCP']}"
    controlplane_url = f"http://127.0.0.1:{ports['CONTROLPLANE']}"
    controlplane_mcp_url = f"http://127.0.0.1:{ports['CONTROLPLANE_MCP']}/mcp"
    try:
        deadline = time.monotonic() + 60
        while "SRE Federation is up" not in (tmp_path / "up.log").read_text():
            assert up.poll() is None, (tmp_path / "up.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "up.log").read_text()
            time.sleep(0.2)

        def sre(*args: str) -> str:
            registry = {"REGISTRY_URL": f"http://127.0.0.1:{ports['REGISTRY']}", "CONTROLPLANE_URL": controlplane_url}
            done = subprocess.run(
                [sys.executable, "-m", "cli.main", *args],
                cwd=ROOT,
                env={**env, **registry},
                capture_output=True,
                text=True,
                check=False,
            )
            assert done.returncode == 0, done.stderr
            return done.stdout.strip()

        def token_for(audience: str) -> str:
            return sre("auth", "token", "--audience", audience)

        token = token_for(mcp_url)
        loki_token = token_for(f"{loki_url}/mcp")
        anonymous = httpx.post(mcp_url, json={})
        assert anonymous.status_code == 401

        import anyio

        async def call(url: str, bearer: str, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
            async with (
                httpx2.AsyncClient(headers={"Authorization": f"Bearer {bearer}"}) as http,
                Client(streamable_http_client(url, http_client=http)) as client,
            ):
                result = await client.call_tool(tool, arguments)
            assert result.structured_content is not None, result.content
            return result.structured_content

        answer = anyio.run(call, mcp_url, token, "prometheus_query", {"query": "vector(42)"})
        assert float(answer["samples"][0]["value"]) == 42.0

        # The embedded log store takes a push with the same token (the cli client has logs:write).
        pushed = httpx.post(
            f"{loki_url}/loki/api/v1/push",
            json={"streams": [{"stream": {"service": "up-test"}, "values": [[str(time.time_ns()), "hello from up"]]}]},
            headers={"Authorization": f"Bearer {loki_token}"},
        )
        assert pushed.status_code == 204, pushed.text
        logs = anyio.run(call, f"{loki_url}/mcp", loki_token, "loki_query_logs", {"query": '{service="up-test"}'})
        assert [line["line"] for line in logs["lines"]] == ["hello from up"]

        # The approval loop: the cli client asks through controlplane-mcp, the approver decides.
        incident = httpx.post(
            f"{controlplane_url}/api/v1/incidents",
            json={"title": "up test"},
            headers={"Authorization": f"Bearer {token_for(controlplane_url)}"},
        ).json()
        cp_token = token_for(controlplane_mcp_url)
        ack = {"incident_id": incident["id"]}
        pending = anyio.run(call, controlplane_mcp_url, cp_token, "controlplane_acknowledge_incident", ack)
        approval_id = pending["approval"]["id"]
        assert approval_id in sre("controlplane", "approvals")
        assert "approved" in sre("controlplane", "approve", approval_id, "--reason", "test")
        done = anyio.run(
            call,
            controlplane_mcp_url,
            cp_token,
            "controlplane_acknowledge_incident",
            {**ack, "approval_id": approval_id},
        )
        assert done["incident"]["status"] == "acknowledged"

        # A scenario loads into make up's Prometheus, log store and control plane (the scenario client).
        scenario = ROOT / "scenarios" / "bundled" / "checkout-bad-deploy-errors.yaml"
        prometheus_url = f"http://127.0.0.1:{ports['PROMETHEUS']}"
        loaded = subprocess.run(
            [sys.executable, "-m", "cli.main", "scenario", "load", str(scenario), "--loki-mcp-url", loki_url],
            cwd=ROOT,
            env={
                **env,
                "REGISTRY_URL": f"http://127.0.0.1:{ports['REGISTRY']}",
                "CONTROLPLANE_URL": controlplane_url,
                "PROMETHEUS_URL": prometheus_url,
            },
            capture_output=True,
            text=True,
            check=False,
        )
        assert loaded.returncode == 0, loaded.stdout + loaded.stderr
        assert "checkout-bad-deploy-errors: loaded into prometheus, loki, controlplane" in loaded.stdout
        errors = httpx.get(
            f"{prometheus_url}/api/v1/query",
            params={"query": 'sum(rate(http_requests_total{service="checkout",code=~"5.."}[5m]))'},
        ).json()["data"]["result"]
        assert float(errors[0]["value"][1]) > 0.5
    finally:
        up.send_signal(signal.SIGINT)
        up.wait(30)
    text = (tmp_path / "up.log").read_text()
    assert up.returncode == 0, text
    assert "sre up: stopped." in text
    for port in ports.values():
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
