"""prometheus-mcp: the MCP tools over one or more Prometheus-compatible backends.

This module assembles the server from its tool groups (`servers.prometheus_mcp.tools`).
"""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import MCPServer

from common.http import upstream_client
from common.mcp.backends import Backends
from common.mcp.serving import NO_AUTH, McpAuth, tool_server
from common.mcp.tools import ToolSpec, build_tools, enabled
from common.metrics import ServerMetrics
from servers.prometheus_mcp.client import PrometheusClient
from servers.prometheus_mcp.settings import PrometheusMcpSettings
from servers.prometheus_mcp.tools.alerts import AlertTools
from servers.prometheus_mcp.tools.anomalies import AnomalyTools
from servers.prometheus_mcp.tools.metadata import MetadataTools
from servers.prometheus_mcp.tools.queries import QueryTools

__all__ = ["SERVER_NAME", "create_server", "open_backends", "tool_specs"]

SERVER_NAME = "prometheus-mcp"
TOOL_GROUPS = (QueryTools, MetadataTools, AlertTools, AnomalyTools)


def open_backends(settings: PrometheusMcpSettings, metrics: ServerMetrics | None = None) -> Backends[PrometheusClient]:
    """A client per configured backend, to use in `async with` (which closes them)."""
    return Backends(
        {
            upstream.name: PrometheusClient(
                upstream,
                timeout=settings.limits.timeout_seconds,
                max_response_bytes=settings.limits.max_response_bytes,
                # Every tool call is one request to the backend: its HTTP client is most of the hop's CPU.
                http_client=upstream_client(upstream, timeout=settings.limits.timeout_seconds, lean=True),
                metrics=metrics,
            )
            for upstream in settings.backends
        }
    )


def tool_specs(settings: PrometheusMcpSettings, backends: Backends[PrometheusClient]) -> list[ToolSpec]:
    """The tools of the groups the user has not disabled."""
    specs = [spec for group in TOOL_GROUPS for spec in group(settings.limits, backends).specs()]
    return enabled(specs, settings.disabled_groups)


def create_server(
    settings: PrometheusMcpSettings,
    backends: Backends[PrometheusClient],
    *,
    metrics: ServerMetrics | None = None,
    auth: McpAuth = NO_AUTH,
) -> MCPServer[Any]:
    listed = ", ".join(f"{u.name} ({u.url})" for u in settings.backends)
    return tool_server(
        SERVER_NAME,
        title="Prometheus",
        instructions=(
            "Read-only access to Prometheus-compatible metrics: PromQL queries, series and label discovery, "
            "metadata, alerts, rules, scrape targets and an anomaly scan. "
            f"Backends (`backend`): {listed}; the first is the default. Start with prometheus_list_labels or "
            "prometheus_find_series when you do not know the metric names."
        ),
        tools=build_tools(tool_specs(settings, backends)),
        metrics=metrics,
        auth=auth,
    )
