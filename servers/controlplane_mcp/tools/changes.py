"""The `changes` group: what changed in a window, and a resource's deployments."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field

from common.contracts.controlplane import Change, ChangesResult, ItemsResult
from common.mcp.bounds import bounds
from common.mcp.tool_parameters import End, Limit, Start
from common.mcp.tools import tool
from common.timerange import iso
from servers.controlplane_mcp.client import API
from servers.controlplane_mcp.tools.lookup import ControlPlaneTools, Namespace, OfResource, Resource

__all__ = ["ChangeTools"]

ChangeKind = Literal["deployment", "rollback", "config_change", "feature_flag", "scale", "restart", "infrastructure"]


class ChangeTools(ControlPlaneTools):
    group = "changes"

    @tool()
    async def controlplane_list_changes(
        self,
        resource: OfResource = None,
        namespace: Namespace = None,
        group: Annotated[str | None, Field(description="Resource group id, instead of a resource.")] = None,
        start: Start = "now-2h",
        end: End = "now",
        include_dependencies: bool = True,
        types: list[ChangeKind] | None = None,
        limit: Limit = None,
    ) -> ChangesResult:
        """What changed in a window (deployments, config, flags, scaling, restarts), newest first."""
        notes: list[str] = []
        cap = self.lookup.cap(limit, notes)
        window = self.lookup.window(start, end, notes)
        base = [("changes_only", "true"), ("start", iso(window.start)), ("end", iso(window.end))]
        base += [("type", kind) for kind in types or ()]
        scope: list[dict[str, Any]] = []
        if group is not None:
            queries = [[*base, ("group_id", group)]]
        elif resource is not None:
            target = await self.lookup.resource(resource, namespace)
            scope = [target]
            if include_dependencies:
                graph = await self.client.get(f"{API}/resources/{target['id']}/dependencies")
                scope += graph.get("dependencies", [])
            queries = [[*base, ("resource_id", item["id"])] for item in scope]
        else:
            queries = [base]
        entries: list[dict[str, Any]] = []
        truncated = False
        for params in queries:
            found, more = await self.client.page(f"{API}/audit-logs", params, limit=cap)
            entries += found
            truncated = truncated or more
        entries.sort(key=lambda entry: str(entry.get("at", "")), reverse=True)
        names = {item["id"]: f"{item.get('namespace')}/{item.get('name')}" for item in scope}
        changes = [_change(entry, names, window.end) for entry in entries[:cap]]
        return ChangesResult(
            scope=list(names.values()),
            start=iso(window.start),
            end=iso(window.end),
            changes=changes,
            **bounds(changes, len(entries), notes, truncated=truncated or len(entries) > cap),
        )

    @tool()
    async def controlplane_deployment_history(
        self,
        resource: Resource,
        namespace: Namespace = None,
        start: Start = "now-7d",
        end: End = "now",
        limit: Limit = None,
    ) -> ItemsResult:
        """A resource's deployments in a window, newest first: version, previous version, actor, status."""
        notes: list[str] = []
        params = [*await self.lookup.resource_param(resource, namespace), *self.lookup.window_params(start, end, notes)]
        return await self.lookup.items("deployments", f"{API}/deployments", params, limit, notes)


def _change(entry: Mapping[str, Any], names: Mapping[str, str], end: float) -> Change:
    at = str(entry.get("at", ""))
    try:
        ago = (end - datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()) / 60
    except ValueError:
        ago = float("nan")
    resource_id = entry.get("resource_id")
    return Change(
        at=at,
        minutes_ago=round(ago, 1),
        type=str(entry.get("type", "")),
        action=str(entry.get("action", "")),
        resource_id=resource_id,
        resource=names.get(resource_id) if resource_id else None,
        actor=str(entry.get("actor", "")),
        summary=str(entry.get("summary", "")),
        details=dict(entry.get("details") or {}),
    )
