"""loki-mcp as users start it: over stdio (a subprocess) and over Streamable HTTP with tokens, where its
embedded store also answers Loki's push and query API to other clients (Promtail, Alloy, a Loki client)."""

from __future__ import annotations

import gzip
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client, StdioServerParameters
from pydantic import SecretStr
from support.issuer import TestIssuer
from support.log_dataset import LogDataset, build_log_dataset
from support.mcp_session import call, call_error, token_session
from support.served import ServedComponent

from common.settings import Upstream
from servers.loki_mcp.client import LokiClient
from servers.loki_mcp.local.store import SqliteLogStore

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[3]


def one_call_per_tool(dataset: LogDataset) -> dict[str, dict[str, Any]]:
    window = dataset.window()
    return {
        "loki_query_logs": {"query": '{service="checkout"} |= "refused"', "limit": 3, **window},
        "loki_query_metrics": {"query": 'sum(count_over_time({service="payments"}[1h]))', "step": "1h", **window},
        "loki_list_labels": {"label": "service", **window},
        "loki_find_streams": {"query": '{service="checkout"}', **window},
        "loki_log_patterns": {"query": '{service="payments", level="info"}', **window},
        "loki_error_patterns": {"query": '{service="checkout"}', **dataset.window(last_seconds=1800)},
        "loki_analyze_logs": {"text": "ERROR disk full on /dev/sda1\nERROR disk full on /dev/sdb1\nINFO ok\n"},
    }


async def check_every_tool(client: Client, dataset: LogDataset) -> None:
    listed = await client.list_tools()
    assert {tool.name for tool in listed.tools} == set(one_call_per_tool(dataset))
    results = {name: await call(client, name, **args) for name, args in one_call_per_tool(dataset).items()}
    assert results["loki_query_logs"]["returned"] == 3
    assert all(
        "refused" in line["line"] for stream in results["loki_query_logs"]["streams"] for line in stream["lines"]
    )
    assert results["loki_query_metrics"]["series"][0]["summary"]["last"] > 0
    assert results["loki_list_labels"]["values"] == ["checkout", "payments"]
    assert results["loki_find_streams"]["total"] == 2
    assert results["loki_log_patterns"]["lines_read"] == dataset.count(service="payments", level="info")
    assert "connection refused" in results["loki_error_patterns"]["patterns"][0]["template"]
    assert results["loki_analyze_logs"]["error_clusters"][0]["count"] == 2


async def fill_store(path: Path, dataset: LogDataset) -> None:
    async with SqliteLogStore(path) as store:
        await store.append(dataset.streams)


async def test_every_tool_over_stdio(tmp_path: Path) -> None:
    dataset = build_log_dataset()
    await fill_store(tmp_path / "logs.db", dataset)
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "cli.main", "stdio", "loki-mcp"],
        env={**{k: v for k, v in os.environ.items() if not k.startswith("LOKI")}, "SRE_DATA_DIR": str(tmp_path)},
        cwd=str(ROOT),
    )
    async with Client(params) as client:
        await check_every_tool(client, dataset)


@pytest.fixture(scope="module")
def issuer() -> Iterator[TestIssuer]:
    with TestIssuer() as running:
        yield running


@pytest.fixture(scope="module")
def dataset() -> LogDataset:
    return build_log_dataset()


@pytest.fixture(scope="module")
def served(
    issuer: TestIssuer, tmp_path_factory: pytest.TempPathFactory, dataset: LogDataset
) -> Iterator[ServedComponent]:
    data_dir = tmp_path_factory.mktemp("loki-data")
    anyio.run(fill_store, data_dir / "logs.db", dataset)
    env = {"SRE_DATA_DIR": str(data_dir), "SRE_AUTH_ISSUER": issuer.issuer, "SRE_AUTH_JWKS_URL": issuer.jwks_url}
    with ServedComponent("loki-mcp", env, tmp_path_factory.mktemp("served")) as component:
        yield component


async def test_every_tool_over_streamable_http_with_a_token(
    served: ServedComponent, issuer: TestIssuer, dataset: LogDataset
) -> None:
    token = issuer.mint(served.mcp_url, ["logs:read"])
    async with token_session(served.mcp_url, token) as client:
        await check_every_tool(client, dataset)


def _push_body(line: str, timestamp_ns: int) -> bytes:
    return json.dumps({"streams": [{"stream": {"service": "pushed"}, "values": [[str(timestamp_ns), line]]}]}).encode()


async def test_push_needs_a_token_with_logs_write(
    served: ServedComponent, issuer: TestIssuer, dataset: LogDataset
) -> None:
    push = f"{served.url}/loki/api/v1/push"
    headers = {"Content-Type": "application/json"}
    body = _push_body("refused", dataset.end_ns - 10**9)
    reader = issuer.mint(served.mcp_url, ["logs:read"])
    elsewhere = issuer.mint("http://127.0.0.1:1/mcp", ["logs:write"])
    async with httpx.AsyncClient() as http:
        anonymous = await http.post(push, content=body, headers=headers)
        read_only = await http.post(push, content=body, headers={**headers, "Authorization": f"Bearer {reader}"})
        wrong_audience = await http.post(
            push, content=body, headers={**headers, "Authorization": f"Bearer {elsewhere}"}
        )
        anonymous_query = await http.get(f"{served.url}/loki/api/v1/labels")
        stored = await http.get(
            f"{served.url}/loki/api/v1/query_range",
            params={"query": '{service="pushed"} |= "refused"', "start": str(dataset.start_ns)},
            headers={"Authorization": f"Bearer {reader}"},
        )
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    assert "resource_metadata=" in anonymous.headers["www-authenticate"]
    assert read_only.status_code == 403
    assert 'scope="logs:write"' in read_only.headers["www-authenticate"]
    assert wrong_audience.status_code == 401
    assert anonymous_query.status_code == 401
    assert stored.json()["data"]["result"] == []  # nothing refused was written


async def test_a_loki_client_pushes_and_queries_the_embedded_store_over_http(
    served: ServedComponent, issuer: TestIssuer, dataset: LogDataset
) -> None:
    token = issuer.mint(served.mcp_url, ["logs:read", "logs:write"])
    upstream = Upstream(url=f"{served.url}", bearer_token=SecretStr(token))
    client = LokiClient(upstream, timeout=10.0)
    try:
        stamp = dataset.end_ns - 5 * 10**9
        await client.push_payload(
            {"streams": [{"stream": {"service": "promtail-like"}, "values": [[str(stamp), "shipped over HTTP"]]}]}
        )
        result = await client.query_logs(
            '{service="promtail-like"}', start_ns=dataset.start_ns, end_ns=dataset.end_ns, limit=10
        )
        labels = await client.label_values("service", start_ns=dataset.start_ns, end_ns=dataset.end_ns)
    finally:
        await client.aclose()
    assert [(labels["service"], entry.line) for labels, entry in result.merged()] == [
        ("promtail-like", "shipped over HTTP")
    ]
    assert "promtail-like" in labels


async def test_a_gzip_json_push_is_accepted_like_promtail_sends_it(
    served: ServedComponent, issuer: TestIssuer, dataset: LogDataset
) -> None:
    token = issuer.mint(served.mcp_url, ["logs:write", "logs:read"])
    body = gzip.compress(_push_body("compressed line", dataset.end_ns - 2 * 10**9))
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json", "Content-Encoding": "gzip"}
    async with httpx.AsyncClient() as http:
        pushed = await http.post(f"{served.url}/loki/api/v1/push", content=body, headers=headers)
        found = await http.get(
            f"{served.url}/loki/api/v1/query_range",
            params={
                "query": '{service="pushed"} |= "compressed"',
                "start": str(dataset.start_ns),
                "end": str(dataset.end_ns),
            },
            headers={"Authorization": f"Bearer {token}"},
        )
    assert pushed.status_code == 204, pushed.text
    assert found.status_code == 200, found.text
    streams = found.json()["data"]["result"]
    assert [value[1] for stream in streams for value in stream["values"]] == ["compressed line"]


async def test_healthz_needs_no_token_and_metrics_do(served: ServedComponent) -> None:
    async with httpx.AsyncClient() as http:
        health = await http.get(f"{served.url}/healthz")
        metrics = await http.get(f"{served.url}/metrics")
    assert health.json() == {"status": "ok", "server": "loki-mcp"}
    assert metrics.status_code == 401


async def test_a_loki_mcp_with_loki_url_reads_a_remote_loki_api_with_its_credentials(
    served: ServedComponent, issuer: TestIssuer, dataset: LogDataset, tmp_path: Path
) -> None:
    """The LOKI_URL path end to end: a second loki-mcp whose backend is the first one's Loki API."""
    upstream_token = issuer.mint(served.mcp_url, ["logs:read"])
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LOKI")},
        "LOKI_URL": served.url,
        "LOKI_MCP_BEARER_TOKEN": upstream_token,
        "LOKI_MCP_TENANT": "team-a",
        "SRE_DATA_DIR": str(tmp_path),
    }
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "cli.main", "stdio", "loki-mcp"], env=env, cwd=str(ROOT)
    )
    async with Client(params) as client:
        result = await call(
            client, "loki_error_patterns", query='{service="checkout"}', **dataset.window(last_seconds=1800)
        )
        logs = await call(client, "loki_query_logs", query='{service="payments", level="error"}', **dataset.window())
    assert result["backend"] == "default"
    assert "connection refused" in result["patterns"][0]["template"]
    assert logs["returned"] == 2
    assert not (tmp_path / "logs.db").exists()  # no embedded store when LOKI_URL is set


async def test_a_wrong_upstream_token_is_a_clear_tool_error(served: ServedComponent, tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LOKI")},
        "LOKI_URL": served.url,
        "LOKI_MCP_BEARER_TOKEN": "not-a-token",
        "SRE_DATA_DIR": str(tmp_path),
    }
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "cli.main", "stdio", "loki-mcp"], env=env, cwd=str(ROOT)
    )
    async with Client(params) as client:
        message = await call_error(client, "loki_list_labels")
    assert "refused the request (HTTP 401" in message
    assert "bearer token" in message
    assert "not-a-token" not in message
