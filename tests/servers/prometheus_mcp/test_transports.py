"""Real MCP client sessions on prometheus-mcp over stdio (a subprocess) and Streamable HTTP (with a token)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from support.backends import PrometheusProcess
from support.issuer import TestIssuer
from support.mcp_session import call, token_session
from support.metrics_dataset import Dataset
from support.served import ServedComponent

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

TOOLS = {
    "prometheus_query",
    "prometheus_query_range",
    "prometheus_list_labels",
    "prometheus_find_series",
    "prometheus_get_metric_metadata",
    "prometheus_list_alerts",
    "prometheus_list_rules",
    "prometheus_list_targets",
    "prometheus_find_anomalous_series",
}


def one_call_per_tool(dataset: Dataset) -> dict[str, dict[str, Any]]:
    window = {"start": str(dataset.start), "end": str(dataset.end)}
    return {
        "prometheus_query": {"query": "queue_depth", "time": str(dataset.end)},
        "prometheus_query_range": {"query": "queue_depth", "step": "1m", **window},
        "prometheus_list_labels": {"label": "service", "metric": "node_cpu_utilisation", **window},
        "prometheus_find_series": {"metric": "queue_depth", **window},
        "prometheus_get_metric_metadata": {"metric": "prometheus_build_info"},
        "prometheus_list_alerts": {},
        "prometheus_list_rules": {},
        "prometheus_list_targets": {},
        "prometheus_find_anomalous_series": {"metric": "node_cpu_utilisation", "recent": "30m", **window},
    }


async def check_every_tool(client: Client, dataset: Dataset) -> None:
    listed = await client.list_tools()
    assert {tool.name for tool in listed.tools} == TOOLS
    for tool in listed.tools:
        assert tool.annotations is not None
        assert tool.annotations.read_only_hint is True
        assert tool.annotations.destructive_hint is False
        assert tool.output_schema is not None
        assert tool.input_schema.get("additionalProperties") is False
    results = {name: await call(client, name, **args) for name, args in one_call_per_tool(dataset).items()}
    assert results["prometheus_query"]["samples"][0]["value"] == 180.0
    assert len(results["prometheus_query_range"]["series"][0]["points"]) == 181
    assert results["prometheus_list_labels"]["values"] == ["cart", "checkout", "payments", "search"]
    assert results["prometheus_find_series"]["series"] == [{"__name__": "queue_depth", "queue": "orders"}]
    assert results["prometheus_list_rules"]["total"] == 2
    assert results["prometheus_find_anomalous_series"]["series"][0]["labels"]["service"] == "checkout"
    for result in results.values():
        assert {"returned", "total", "truncated", "limits_applied"} <= result.keys()


async def test_every_tool_over_stdio(prometheus: PrometheusProcess, metrics_dataset: Dataset) -> None:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "cli.main", "stdio", "prometheus-mcp"],
        env={**os.environ, "PROMETHEUS_URL": prometheus.url},
        cwd=str(Path(__file__).resolve().parents[3]),
    )
    async with Client(params) as client:
        await check_every_tool(client, metrics_dataset)


@pytest.fixture(scope="module")
def issuer() -> Iterator[TestIssuer]:
    with TestIssuer() as running:
        yield running


@pytest.fixture(scope="module")
def served(
    prometheus: PrometheusProcess, issuer: TestIssuer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServedComponent]:
    env = {"PROMETHEUS_URL": prometheus.url, "SRE_AUTH_ISSUER": issuer.issuer, "SRE_AUTH_JWKS_URL": issuer.jwks_url}
    with ServedComponent("prometheus-mcp", env, tmp_path_factory.mktemp("served")) as component:
        yield component


async def test_every_tool_over_streamable_http_with_a_token(
    served: ServedComponent, issuer: TestIssuer, metrics_dataset: Dataset
) -> None:
    token = issuer.mint(served.mcp_url, ["metrics:read"])
    async with token_session(served.mcp_url, token) as client:
        await check_every_tool(client, metrics_dataset)


async def test_metrics_count_the_tool_calls_served(served: ServedComponent, issuer: TestIssuer) -> None:
    token = issuer.mint(served.mcp_url, ["metrics:read"])
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx2.AsyncClient(headers=headers) as http,
        Client(streamable_http_client(served.mcp_url, http_client=http)) as client,
    ):
        await call(client, "prometheus_query", query="vector(1)")
        anonymous = await http.get(f"{served.url}/metrics", headers={"Authorization": ""})
        exposition = (await http.get(f"{served.url}/metrics")).text
    assert anonymous.status_code == 401
    assert 'sre_mcp_tool_calls_total{component="prometheus-mcp",outcome="ok",tool="prometheus_query"}' in exposition
    assert 'sre_upstream_requests_total{backend="default",component="prometheus-mcp",endpoint="/api/v1/query"' in (
        exposition
    )
    assert "sre_http_request_duration_seconds_bucket" in exposition


async def test_healthz_needs_no_token(served: ServedComponent) -> None:
    async with httpx2.AsyncClient() as http:
        response = await http.get(f"{served.url}/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "server": "prometheus-mcp"}
