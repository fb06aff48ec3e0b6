"""controlplane-mcp: curated tools over a Control Plane API, write tools gated by approvals.

This module assembles the server from its tool groups (`servers.controlplane_mcp.tools`, whose
docstring tells the write policy). A tool is offered only when this server's own client holds
the scope it needs at the control plane (`own_scopes`).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.tools.base import Tool

from common.mcp.serving import NO_AUTH, McpAuth, tool_server
from common.mcp.tools import ToolSpec, build_tools, enabled
from common.metrics import ServerMetrics
from common.scopes import CONTROLPLANE_READ, CONTROLPLANE_WRITE
from servers.controlplane_mcp.client import ControlPlaneClient
from servers.controlplane_mcp.settings import ControlPlaneMcpSettings
from servers.controlplane_mcp.tools.actions import ActionTools
from servers.controlplane_mcp.tools.changes import ChangeTools
from servers.controlplane_mcp.tools.incidents import IncidentTools
from servers.controlplane_mcp.tools.inventory import InventoryTools
from servers.controlplane_mcp.tools.lookup import ARGUMENTS, Lookup

__all__ = ["CURATED_OPERATIONS", "READ_SCOPE", "SERVER_NAME", "WRITE_SCOPE", "create_server", "tool_specs"]

SERVER_NAME = "controlplane-mcp"
READ_SCOPE = CONTROLPLANE_READ
WRITE_SCOPE = CONTROLPLANE_WRITE
#: operationIds of the reference API not offered again as generic tools: those the curated tools
#: cover (update_incident by the status change tools: reopening is for people, through the API),
#: the approval machinery itself (an approval is never decided or used up through MCP), and the
#: service endpoints.
CURATED_OPERATIONS = frozenset(
    {
        "list_resources",
        "get_resource",
        "get_resource_dependencies",
        "list_deployments",
        "list_audit_logs",
        "list_incidents",
        "get_incident",
        "acknowledge_incident",
        "resolve_incident",
        "update_incident",
        "list_alert_rules",
        "list_automation_executions",
        "get_approval",
        "create_analysis",
        "request_approval",
        "approve_approval",
        "reject_approval",
        "consume_approval",
        "restart_action",
        "rollback_action",
        "scale_action",
        "get_openapi",
        "healthz",
        "get_metrics",
    }
)


def tool_specs(
    settings: ControlPlaneMcpSettings, client: ControlPlaneClient, client_scopes: Collection[str] | None = None
) -> list[ToolSpec]:
    """The curated tools this server's own client can carry out (`client_scopes`: its token's scopes at the
    control plane, default as configured) in the groups the user has not disabled; no writes when read-only."""
    held = frozenset(settings.token_scopes if client_scopes is None else client_scopes)
    lookup = Lookup(client, settings.limits)
    groups = (InventoryTools(lookup), ChangeTools(lookup), IncidentTools(lookup), ActionTools(lookup))
    specs = [spec for group in groups for spec in group.specs()]
    if settings.read_only:
        specs = [spec for spec in specs if spec.read_only]
    return enabled([spec for spec in specs if spec.scope in held], settings.disabled_groups)


def create_server(
    settings: ControlPlaneMcpSettings,
    client: ControlPlaneClient,
    *,
    extra_tools: list[Tool] | None = None,
    client_scopes: Collection[str] | None = None,
    metrics: ServerMetrics | None = None,
    auth: McpAuth = NO_AUTH,
) -> MCPServer[Any]:
    mode = "read-only: write tools are hidden" if settings.read_only else "write tools need an approval"
    return tool_server(
        SERVER_NAME,
        title="Control plane",
        instructions=(
            f"The platform's system of record ({settings.backend.url}): resources and their dependencies, what "
            "changed and when (controlplane_list_changes is the first question of an investigation), deployments, "
            f"incidents, alert rules and automation. Mode: {mode}. {ARGUMENTS}"
        ),
        tools=[*build_tools(tool_specs(settings, client, client_scopes)), *(extra_tools or [])],
        metrics=metrics,
        auth=auth,
    )
