"""loki-mcp: the MCP tools over Loki backends, or over the embedded log store when none is configured.

This module assembles the server from its tool groups (`servers.loki_mcp.tools`).
"""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import MCPServer

from common.mcp.backends import Backends
from common.mcp.serving import NO_AUTH, McpAuth, tool_server
from common.mcp.tools import ToolSpec, build_tools, enabled
from common.metrics import ServerMetrics
from servers.loki_mcp.analyze import LogAnalyzer
from servers.loki_mcp.client import LokiClient
from servers.loki_mcp.settings import LokiMcpSettings
from servers.loki_mcp.tools.analysis import AnalysisTools
from servers.loki_mcp.tools.metadata import MetadataTools
from servers.loki_mcp.tools.patterns import PatternTools
from servers.loki_mcp.tools.queries import QueryTools

__all__ = ["SERVER_NAME", "create_server", "tool_specs"]

SERVER_NAME = "loki-mcp"


def tool_specs(settings: LokiMcpSettings, backends: Backends[LokiClient], analyzer: LogAnalyzer) -> list[ToolSpec]:
    """The tools of the groups the user has not disabled."""
    limits = settings.limits
    groups = (
        QueryTools(limits, backends),
        MetadataTools(limits, backends),
        PatternTools(limits, backends),
        AnalysisTools(limits, analyzer),
    )
    return enabled([spec for group in groups for spec in group.specs()], settings.disabled_groups)


def create_server(
    settings: LokiMcpSettings,
    backends: Backends[LokiClient],
    *,
    analyzer: LogAnalyzer,
    metrics: ServerMetrics | None = None,
    auth: McpAuth = NO_AUTH,
) -> MCPServer[Any]:
    listed = ", ".join(f"{name} ({client.upstream.url})" for name, client in backends.items())
    return tool_server(
        SERVER_NAME,
        title="Loki",
        instructions=(
            "Read-only access to logs through LogQL: log lines, log metrics, label discovery, log templates, "
            "templates that rose against a baseline, and analysis of a log file or text. "
            f"Backends (`backend`): {listed}; the first is the default. "
            "Start with loki_list_labels to learn the stream labels, then loki_error_patterns or loki_query_logs "
            'with a selective selector such as {service="checkout"}. Secrets in lines are redacted.'
        ),
        tools=build_tools(tool_specs(settings, backends, analyzer)),
        metrics=metrics,
        auth=auth,
    )
