"""A failing backend gives a clear tool error, and the server keeps serving."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp.types import CallToolResult
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from support.asgi_server import ServedApp
from support.backends import PrometheusProcess
from support.eventually import eventually_async
from support.mcp_session import call, call_error, prometheus_session
from support.metrics_dataset import Dataset

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


@pytest.fixture
def own_prometheus(tmp_path: Path) -> Iterator[PrometheusProcess]:
    """A Prometheus this test may stop or freeze without disturbing the others."""
    with PrometheusProcess(tmp_path, None) as backend:
        yield backend


async def test_a_stopped_backend_is_a_clear_error_and_recovery_needs_no_restart(
    own_prometheus: PrometheusProcess,
) -> None:
    async with prometheus_session(own_prometheus.url) as client:
        own_prometheus.kill()
        message = await call_error(client, "prometheus_query", query="vector(1)")
        own_prometheus.start()
        recovered = await call(client, "prometheus_query", query="vector(1)")
    assert f"Prometheus backend 'default' at {own_prometheus.url} could not be reached" in message
    assert "Check that it is running" in message
    assert recovered["samples"][0]["value"] == 1.0


async def test_a_hanging_backend_times_out_within_the_configured_deadline(own_prometheus: PrometheusProcess) -> None:
    async with prometheus_session(own_prometheus.url, PROMETHEUS_MCP_TIMEOUT_SECONDS="1") as client:
        own_prometheus.pause()
        try:
            message = await call_error(client, "prometheus_query", query="vector(1)")
        finally:
            own_prometheus.resume()
        # A resumed process needs a moment on a loaded machine; the same session must recover.

        async def answered() -> CallToolResult | None:
            result = await client.call_tool("prometheus_query", {"query": "vector(2)"})
            return None if result.is_error else result

        recovered = await eventually_async(answered, timeout=15, interval=0.1, what="the resumed backend to answer")
    assert "did not answer within 1s" in message
    assert "Narrow the query" in message
    assert recovered.structured_content is not None
    assert recovered.structured_content["samples"][0]["value"] == 2.0


async def test_a_bad_query_is_the_backends_own_message(prometheus: PrometheusProcess) -> None:
    async with prometheus_session(prometheus.url) as client:
        message = await call_error(client, "prometheus_query", query="sum(rate(http_requests_total[5m])")
        still_serving = await call(client, "prometheus_query", query="vector(3)")
    assert "Prometheus backend 'default' rejected the request (bad_data)" in message
    assert "parse error" in message
    assert still_serving["samples"][0]["value"] == 3.0


def broken_gateway() -> ServedApp:
    """A real HTTP server standing where Prometheus should be, failing like a broken proxy would."""

    async def api(request: Request) -> Response:
        return PlainTextResponse(
            "upstream connect error; retried with password=hunter2 and Authorization: Bearer abcdefgh12345678",
            status_code=503,
        )

    return ServedApp(Starlette(routes=[Route("/api/v1/{rest:path}", api, methods=["GET", "POST"])]))


async def test_a_5xx_backend_is_a_clear_error_with_secrets_redacted() -> None:
    with broken_gateway() as gateway:
        async with prometheus_session(gateway.url) as client:
            message = await call_error(client, "prometheus_query", query="up")
            listing = await call_error(client, "prometheus_list_targets")
    assert "Prometheus backend 'default' failed (HTTP 503" in message
    assert "Try again later" in message
    assert "hunter2" not in message
    assert "abcdefgh12345678" not in message
    assert "[REDACTED]" in message
    assert "failed (HTTP 503" in listing


async def test_an_answer_larger_than_the_cap_is_dropped_with_advice(
    prometheus: PrometheusProcess, metrics_dataset: Dataset
) -> None:
    window = {"start": str(metrics_dataset.start), "end": str(metrics_dataset.end), "step": "1m"}
    async with prometheus_session(prometheus.url, PROMETHEUS_MCP_MAX_RESPONSE_BYTES="10000") as client:
        message = await call_error(client, "prometheus_query_range", query="node_cpu_utilisation", **window)
        small = await call(client, "prometheus_query", query="vector(1)")
    assert "answered with more than 10,000 bytes" in message
    assert "the answer was dropped" in message
    assert "aggregate it" in message
    assert small["samples"][0]["value"] == 1.0
