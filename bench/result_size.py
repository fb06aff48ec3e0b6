"""What a model reads back: the characters of typical tool results, against the backend API's own JSON.

    .venv/bin/python bench/result_size.py

Each call is made through the MCP client on a server built in-process, and the same question is
asked of the backend's HTTP API directly: what a server that passes the API's answer through
returns (the most used Prometheus and Loki MCP servers do), so the fair baseline offline. Sizes
are characters of compact JSON (`structuredContent`, and the API's answer re-dumped without
spaces, as Prometheus and Loki send it) and of the text content.

- prometheus-mcp on a synthetic Prometheus (`httpx.MockTransport`): 6 series of 15 s samples;
  `prometheus_query_range` over an hour (`detail=auto`, and `summary`) against
  `/api/v1/query_range` at the step the tool chose, and `prometheus_list_labels` (label names)
  against `/api/v1/labels`.
- loki-mcp on its embedded store holding the test suite's two-hour log dataset
  (`tests/support/log_dataset.py`): `loki_query_logs` of 100 lines of checkout against
  `/loki/api/v1/query_range` with `limit=100`, `loki_list_labels` against `/labels`, and
  `loki_log_patterns` against `/patterns`.
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import anyio
import httpx
from mcp import Client

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from support.log_dataset import build_log_dataset  # noqa: E402

from common.mcp.backends import Backends  # noqa: E402
from common.settings import SettingsSource  # noqa: E402
from common.timerange import parse_time  # noqa: E402
from servers.loki_mcp.analyze import LogAnalyzer  # noqa: E402
from servers.loki_mcp.backends import open_backends  # noqa: E402
from servers.loki_mcp.server import create_server as create_loki_server  # noqa: E402
from servers.loki_mcp.settings import LokiMcpSettings  # noqa: E402
from servers.prometheus_mcp.client import PrometheusClient  # noqa: E402
from servers.prometheus_mcp.server import create_server as create_prometheus_server  # noqa: E402
from servers.prometheus_mcp.settings import PrometheusMcpSettings  # noqa: E402

PROMETHEUS_URL = "http://prometheus.test"
LABEL_NAMES = sorted({"__name__", "job", "instance", "service", "namespace", "pod", "code", "method", "route"})


@dataclass(frozen=True)
class Size:
    call: str
    structured: int
    text: int
    api: int


def chars(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False))


def _prometheus_answer(request: httpx.Request) -> httpx.Response:
    """A small Prometheus: 6 series of `http_requests` rates, 15 s samples, and its label names."""
    instances = [
        {"job": "api", "instance": f"10.0.0.{i}:9100", "service": "checkout", "code": "200"} for i in range(1, 7)
    ]
    form = dict(parse_qsl(request.content.decode())) | dict(request.url.params)
    if request.url.path.endswith("/labels"):
        return httpx.Response(200, json={"status": "success", "data": LABEL_NAMES})
    if request.url.path.endswith("/query_range"):
        start, end, step = parse_time(form["start"]), parse_time(form["end"]), float(form["step"])
        times = [start + i * step for i in range(int((end - start) / step) + 1)]
        series = [
            {
                "metric": labels,
                "values": [[t, f"{12.5 + 0.25 * (n % 5) + 0.125 * (k % 7):g}"] for k, t in enumerate(times)],
            }
            for n, labels in enumerate(instances)
        ]
        return httpx.Response(200, json={"status": "success", "data": {"resultType": "matrix", "result": series}})
    return httpx.Response(404, text="not found")


async def prometheus_sizes() -> list[Size]:
    settings = PrometheusMcpSettings.from_source(SettingsSource({"PROMETHEUS_URL": PROMETHEUS_URL}))
    upstream = settings.backends[0]
    transport = httpx.MockTransport(_prometheus_answer)
    http = httpx.AsyncClient(base_url=upstream.url, transport=transport)
    raw = httpx.AsyncClient(base_url=PROMETHEUS_URL, transport=transport)
    backends = Backends({upstream.name: PrometheusClient(upstream, timeout=5.0, http_client=http)})
    query = "rate(http_requests_total[5m])"
    sizes = []
    async with backends, raw, Client(create_prometheus_server(settings, backends)) as session:

        async def api_range(result: dict[str, Any]) -> Any:
            params = {"query": query, "start": result["start"], "end": result["end"], "step": result["step_seconds"]}
            return (await raw.post("/api/v1/query_range", data=params)).json()

        async def api_labels(result: dict[str, Any]) -> Any:
            return (await raw.get("/api/v1/labels")).json()

        calls: list[tuple[str, str, dict[str, Any], Callable[[dict[str, Any]], Awaitable[Any]]]] = [
            ("prometheus_query_range 1 h, 6 series", "prometheus_query_range", {"query": query}, api_range),
            (
                "prometheus_query_range 1 h, detail=summary",
                "prometheus_query_range",
                {"query": query, "detail": "summary"},
                api_range,
            ),
            ("prometheus_list_labels (names)", "prometheus_list_labels", {}, api_labels),
        ]
        for label, tool, arguments, api in calls:
            sizes.append(await measure(session, label, tool, arguments, api))
    return sizes


async def loki_sizes() -> list[Size]:
    dataset = build_log_dataset()
    window = {"start": dataset.start_ns / 1e9, "end": dataset.end_ns / 1e9 + 1}
    checkout = '{service="checkout"}'
    with tempfile.TemporaryDirectory() as data_dir:
        settings = LokiMcpSettings.from_source(SettingsSource({"SRE_DATA_DIR": data_dir}))
        analyzer = LogAnalyzer((), max_bytes=settings.limits.max_upload_bytes)
        async with open_backends(settings) as backends:
            await backends.pick(None).push(dataset.streams)
            assert backends.local_api is not None
            raw = httpx.AsyncClient(transport=httpx.ASGITransport(app=backends.local_api), base_url="http://store")
            seconds = {"start": str(int(window["start"] * 1e9)), "end": str(int(window["end"] * 1e9))}

            async def api_logs(result: dict[str, Any]) -> Any:
                params = {"query": checkout, "limit": "100", "direction": "backward", **seconds}
                return (await raw.get("/query_range", params=params)).json()

            async def api_labels(result: dict[str, Any]) -> Any:
                return (await raw.get("/labels", params=seconds)).json()

            async def api_patterns(result: dict[str, Any]) -> Any:
                return (await raw.get("/patterns", params={"query": checkout, **seconds})).json()

            calls: list[tuple[str, str, dict[str, Any], Callable[[dict[str, Any]], Awaitable[Any]]]] = [
                ("loki_query_logs 100 lines", "loki_query_logs", {"query": checkout, "limit": 100, **window}, api_logs),
                ("loki_list_labels (names)", "loki_list_labels", window, api_labels),
                ("loki_log_patterns", "loki_log_patterns", {"query": checkout, **window}, api_patterns),
            ]
            async with raw, Client(create_loki_server(settings, backends, analyzer=analyzer)) as session:
                return [await measure(session, label, tool, arguments, api) for label, tool, arguments, api in calls]


async def measure(
    session: Client,
    label: str,
    tool: str,
    arguments: dict[str, Any],
    api: Callable[[dict[str, Any]], Awaitable[Any]],
) -> Size:
    result = await session.call_tool(tool, arguments)
    assert not result.is_error, result.content
    structured = result.structured_content or {}
    text = "".join(getattr(block, "text", "") for block in result.content)
    return Size(label, chars(structured), len(text), chars(await api(structured)))


async def main() -> None:
    # Only the figures: the servers' info lines would bury them.
    logging.disable(logging.INFO)
    started = time.perf_counter()
    sizes = [*await prometheus_sizes(), *await loki_sizes()]
    print(f"{'call':<45} {'structured':>10} {'text':>6} {'API JSON':>9} {'structured/API':>14} {'text/API':>8}")
    for s in sizes:
        ratios = f"{s.structured / s.api:>14.2f} {s.text / s.api:>8.2f}"
        print(f"{s.call:<45} {s.structured:>10} {s.text:>6} {s.api:>9} {ratios}")
    print(f"({time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    anyio.run(main)
