"""A server's own metrics in the Prometheus exposition format, served at `/metrics`.

Each server gets its own `CollectorRegistry`, so several servers in one process (tests,
benchmarks) keep separate counts.
"""

from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CONTENT_TYPE_LATEST", "HttpMetricsMiddleware", "ServerMetrics"]

# Tool calls span ~1 ms (cached metadata) to the per-call timeout (tens of seconds).
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class ServerMetrics:
    def __init__(self, component: str) -> None:
        self.component = component
        self.registry = CollectorRegistry()
        self.http_requests = Counter(
            "sre_http_requests",
            "HTTP requests served, by route and status code.",
            ["component", "route", "method", "status"],
            registry=self.registry,
        )
        self.http_duration = Histogram(
            "sre_http_request_duration_seconds",
            "Time to serve an HTTP request (until the response starts).",
            ["component", "route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.tool_calls = Counter(
            "sre_mcp_tool_calls",
            "MCP tool calls, by tool and outcome (ok, tool_error, invalid, unknown).",
            ["component", "tool", "outcome"],
            registry=self.registry,
        )
        self.tool_duration = Histogram(
            "sre_mcp_tool_duration_seconds",
            "Time to run an MCP tool call.",
            ["component", "tool"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.upstream_requests = Counter(
            "sre_upstream_requests",
            "Requests to backends, by backend, endpoint and outcome.",
            ["component", "backend", "endpoint", "outcome"],
            registry=self.registry,
        )
        self.upstream_duration = Histogram(
            "sre_upstream_request_duration_seconds",
            "Time backends took to answer.",
            ["component", "backend", "endpoint"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )

    def record_tool(self, tool: str, outcome: str, seconds: float) -> None:
        self.tool_calls.labels(self.component, tool, outcome).inc()
        self.tool_duration.labels(self.component, tool).observe(seconds)

    def record_upstream(self, backend: str, endpoint: str, outcome: str, seconds: float) -> None:
        self.upstream_requests.labels(self.component, backend, endpoint, outcome).inc()
        self.upstream_duration.labels(self.component, backend, endpoint).observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class HttpMetricsMiddleware:
    """Counts requests by their path prefix (known routes only, so label values stay bounded)."""

    def __init__(self, app: ASGIApp, metrics: ServerMetrics, routes: tuple[str, ...]) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        route = next((r for r in self.routes if path == r or path.startswith(r + "/")), "other")
        method = scope.get("method", "GET") if scope.get("method") in ("GET", "POST", "DELETE", "HEAD") else "other"
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                self.metrics.http_duration.labels(self.metrics.component, route).observe(time.perf_counter() - started)
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self.metrics.http_requests.labels(self.metrics.component, route, method, str(status)).inc()
