"""The `incidents` group: incidents and their timelines, and recording an analysis of one."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from common.contracts.controlplane import AnalysisResult, ItemsResult
from common.mcp.tool_parameters import End, Limit, Start
from common.mcp.tools import tool
from common.scopes import CONTROLPLANE_WRITE
from servers.controlplane_mcp.client import API
from servers.controlplane_mcp.tools.lookup import ControlPlaneTools, Namespace, OfResource, segment

__all__ = ["IncidentId", "IncidentTools"]

IncidentId = Annotated[str, Field()]


class IncidentTools(ControlPlaneTools):
    group = "incidents"

    @tool()
    async def controlplane_list_incidents(
        self,
        status: Literal["open", "acknowledged", "resolved"] | None = None,
        resource: OfResource = None,
        namespace: Namespace = None,
        start: Start = "now-7d",
        end: End = "now",
        limit: Limit = None,
    ) -> ItemsResult:
        """Incidents in a window, newest first, with their status and severity."""
        notes: list[str] = []
        params = [*self.lookup.window_params(start, end, notes), *await self.lookup.resource_param(resource, namespace)]
        if status:
            params.append(("status", status))
        return await self.lookup.items("incidents", f"{API}/incidents", params, limit, notes)

    @tool()
    async def controlplane_get_incident(self, incident_id: IncidentId) -> ItemsResult:
        """One incident with its timeline (notes, alerts, analyses, actions)."""
        return await self.lookup.one("incidents", f"{API}/incidents/{segment(incident_id)}")

    @tool(scope=CONTROLPLANE_WRITE, read_only=False, idempotent=False)
    async def controlplane_record_analysis(
        self,
        kind: Literal["diagnostic", "postmortem"],
        title: Annotated[str, Field(min_length=1, max_length=500, description="One line, e.g. the top cause.")],
        report: Annotated[dict[str, Any], Field(description="The structured report (a DiagnosticReport).")],
        markdown: Annotated[str, Field(max_length=200_000, description="The report for people.")] = "",
        summary: Annotated[str, Field(max_length=2000)] = "",
        incident_id: str | None = None,
    ) -> AnalysisResult:
        """Record a diagnostic report or a postmortem where people and tools find it."""
        body = {
            "kind": kind,
            "title": title,
            "report": report,
            "markdown": markdown,
            "summary": summary,
            "incident_id": incident_id,
        }
        created = await self.client.post(f"{API}/analyses", body)
        return AnalysisResult(
            id=created["id"],
            url=f"{self.client.upstream.url.rstrip('/')}{API}/analyses/{created['id']}",
            title=created["title"],
        )
