"""The `inventory` group: resources and their dependencies, alert rules, and the automation that ran."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from common.contracts.controlplane import ItemsResult, ResourceResult
from common.errors import InputError
from common.mcp.bounds import bounds
from common.mcp.tool_parameters import End, Limit, Start
from common.mcp.tools import tool
from servers.controlplane_mcp.client import API
from servers.controlplane_mcp.tools.lookup import ControlPlaneTools, Namespace, OfResource

__all__ = ["InventoryTools"]


class InventoryTools(ControlPlaneTools):
    group = "inventory"

    @tool()
    async def controlplane_find_resource(
        self,
        query: Annotated[str, Field(description="A resource id, an exact name, or part of a name.")] = "",
        namespace: Namespace = None,
        kind: Annotated[str | None, Field(description="service, deployment, database, queue, ...")] = None,
        label: Annotated[str | None, Field(description="key=value in its labels or its pods' selector.")] = None,
        limit: Limit = None,
    ) -> ResourceResult:
        """A service, database or queue: labels, pod selector, owner, version, dependencies and dependents."""
        notes: list[str] = []
        cap = self.lookup.cap(limit, notes)
        if label:
            matches = await self.lookup.labelled(label, query, namespace, kind, cap)
        elif query:
            matches = await self.lookup.matches(query, namespace, kind, cap)
        else:
            raise InputError("Give a query (a resource's id or name) or a label (key=value).")
        if not matches:
            return ResourceResult(matches=[], resource=None, **bounds(matches, 0, notes))
        best = matches[0]
        graph = await self.client.get(f"{API}/resources/{best['id']}/dependencies")
        # A full page may have more behind it.
        return ResourceResult(
            matches=matches,
            resource=graph.get("resource", best),
            dependencies=graph.get("dependencies", []),
            dependents=graph.get("dependents", []),
            unresolved=graph.get("unresolved", []),
            **bounds(matches, len(matches), notes, truncated=len(matches) >= cap),
        )

    @tool()
    async def controlplane_list_alert_rules(
        self,
        resource: OfResource = None,
        namespace: Namespace = None,
        limit: Limit = None,
    ) -> ItemsResult:
        """Alert rules: expression, duration, severity, the resource they watch."""
        params = await self.lookup.resource_param(resource, namespace)
        return await self.lookup.items("alert_rules", f"{API}/alert-rules", params, limit, [])

    @tool()
    async def controlplane_list_automation_executions(
        self,
        resource: OfResource = None,
        namespace: Namespace = None,
        start: Start = "now-7d",
        end: End = "now",
        limit: Limit = None,
    ) -> ItemsResult:
        """Actions the platform ran (restart, rollback, scale), each with its approval and outcome."""
        notes: list[str] = []
        params = [*self.lookup.window_params(start, end, notes), *await self.lookup.resource_param(resource, namespace)]
        return await self.lookup.items("executions", f"{API}/automation/executions", params, limit, notes)
