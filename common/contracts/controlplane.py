"""controlplane-mcp's curated tools as a contract: each tool's result model (with a short text
rendering), its name (`TOOLS`), and `ControlplaneMcp`, the typed calls an agent makes.

Items are the control plane's JSON as it sent them (see `servers.controlplane_mcp.client`), so
fields a team's own control plane adds are kept. The tools generated from the control plane's
OpenAPI document (off by default) answer with that API's own JSON; their result models stay with
the generator (`servers.controlplane_mcp.operations`), since no agent reads them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from common.contracts.calls import ToolCaller, ToolContract
from common.contracts.results import BoundedResult, ToolResult

__all__ = [
    "FIND_RESOURCE",
    "LIST_CHANGES",
    "RECORD_ANALYSIS",
    "SERVER",
    "TOOLS",
    "ActionResult",
    "AnalysisResult",
    "Change",
    "ChangesResult",
    "ControlplaneMcp",
    "ItemsResult",
    "ResourceResult",
]

SERVER = "controlplane-mcp"

Item = dict[str, Any]


def _resource(item: Item) -> str:
    version = f" {item['version']}" if item.get("version") else ""
    return (
        f"{item.get('namespace', '?')}/{item.get('name', '?')} ({item.get('kind', '?')}{version}) id={item.get('id')}"
    )


def _line(kind: str, item: Item) -> str:
    if kind == "deployments":
        previous = f" (from {item.get('previous_version')})" if item.get("previous_version") else ""
        return f"{item.get('started_at')} {item.get('version')}{previous} {item.get('status')} by {item.get('actor')}"
    if kind == "incidents":
        return f"{item.get('id')} [{item.get('status')}/{item.get('severity')}] {item.get('title')}"
    if kind == "alert_rules":
        return f"{item.get('name')} [{item.get('severity')}]: {item.get('expr')}"
    if kind == "executions":
        what = f"{item.get('action')} {item.get('resource_id')}"
        return f"{item.get('finished_at')} {what} {item.get('status')}: {item.get('detail')}"
    if kind == "resources":
        return _resource(item)
    return str({k: v for k, v in item.items() if not isinstance(v, dict | list)})


class ItemsResult(BoundedResult):
    kind: str
    items: list[Item]

    def render_text(self) -> str:
        lines = [f"{self.returned} {self.kind.replace('_', ' ')}:"] + [f"  {_line(self.kind, i)}" for i in self.items]
        return "\n".join([*lines, self._footer()]).rstrip()


class ResourceResult(BoundedResult):
    matches: list[Item] = Field(description="Resources matching the query, best first.")
    resource: Item | None = Field(description="The best match.")
    dependencies: list[Item] = Field(default_factory=list)
    dependents: list[Item] = Field(default_factory=list)
    unresolved: list[str] = Field(default_factory=list, description="Dependencies named but not registered.")

    def render_text(self) -> str:
        if self.resource is None:
            return "No resource matches."
        lines = [f"Resource {_resource(self.resource)}"]
        for field in ("labels", "selector"):
            pairs = self.resource.get(field)
            if pairs and isinstance(pairs, dict):  # another control plane may shape them otherwise
                lines.append(f"  {field}: " + ", ".join(f"{key}={value}" for key, value in pairs.items()))
        lines += [f"  depends on {_resource(d)}" for d in self.dependencies]
        lines += [f"  depends on {name} (not registered)" for name in self.unresolved]
        lines += [f"  used by {_resource(d)}" for d in self.dependents]
        if len(self.matches) > 1:
            lines.append("Other matches: " + "; ".join(_resource(m) for m in self.matches[1:]))
        return "\n".join([*lines, self._footer()]).rstrip()


class Change(ToolResult):
    at: str
    minutes_ago: float
    type: str
    action: str
    resource_id: str | None
    resource: str | None = Field(description="namespace/name of the resource, when known.")
    actor: str
    summary: str
    details: Item

    def render_text(self) -> str:
        what = f"{self.type} {self.resource or '-'} by {self.actor}"
        return f"{self.at} ({self.minutes_ago:.0f} min ago) {what}: {self.summary}"


class ChangesResult(BoundedResult):
    scope: list[str] = Field(description="The resources searched (namespace/name).")
    start: str
    end: str
    # Newest first, as the tool's description says.
    changes: list[Change]

    def render_text(self) -> str:
        head = (
            f"{self.returned} changes to {', '.join(self.scope) or 'everything'} between {self.start} and {self.end}:"
        )
        return "\n".join([head, *(f"  {c.render_text()}" for c in self.changes), self._footer()]).rstrip()


class AnalysisResult(ToolResult):
    id: str
    url: str = Field(description="Where to read it (GET, controlplane:read).")
    title: str

    def render_text(self) -> str:
        return f"Recorded analysis {self.id} ({self.title}): {self.url}"


class ActionResult(ToolResult):
    status: Literal["approval_pending", "cancelled", "executed", "failed"]
    message: str
    approval: Item | None = None
    execution: Item | None = None
    incident: Item | None = None

    def render_text(self) -> str:
        return self.message


FIND_RESOURCE = ToolContract(SERVER, "controlplane_find_resource", ResourceResult)
LIST_CHANGES = ToolContract(SERVER, "controlplane_list_changes", ChangesResult)
DEPLOYMENT_HISTORY = ToolContract(SERVER, "controlplane_deployment_history", ItemsResult)
LIST_INCIDENTS = ToolContract(SERVER, "controlplane_list_incidents", ItemsResult)
GET_INCIDENT = ToolContract(SERVER, "controlplane_get_incident", ItemsResult)
LIST_ALERT_RULES = ToolContract(SERVER, "controlplane_list_alert_rules", ItemsResult)
LIST_AUTOMATION_EXECUTIONS = ToolContract(SERVER, "controlplane_list_automation_executions", ItemsResult)
GET_APPROVAL = ToolContract(SERVER, "controlplane_get_approval", ItemsResult)
RESTART_DEPLOYMENT = ToolContract(SERVER, "controlplane_restart_deployment", ActionResult)
ROLLBACK_DEPLOYMENT = ToolContract(SERVER, "controlplane_rollback_deployment", ActionResult)
SCALE_DEPLOYMENT = ToolContract(SERVER, "controlplane_scale_deployment", ActionResult)
ACKNOWLEDGE_INCIDENT = ToolContract(SERVER, "controlplane_acknowledge_incident", ActionResult)
RESOLVE_INCIDENT = ToolContract(SERVER, "controlplane_resolve_incident", ActionResult)
RECORD_ANALYSIS = ToolContract(SERVER, "controlplane_record_analysis", AnalysisResult)
#: Every curated tool the server offers (tests/servers/test_output_schemas.py holds the server to it).
TOOLS = (
    FIND_RESOURCE,
    LIST_CHANGES,
    DEPLOYMENT_HISTORY,
    LIST_INCIDENTS,
    GET_INCIDENT,
    LIST_ALERT_RULES,
    LIST_AUTOMATION_EXECUTIONS,
    GET_APPROVAL,
    RESTART_DEPLOYMENT,
    ROLLBACK_DEPLOYMENT,
    SCALE_DEPLOYMENT,
    ACKNOWLEDGE_INCIDENT,
    RESOLVE_INCIDENT,
    RECORD_ANALYSIS,
)


class ControlplaneMcp:
    """The controlplane-mcp tools agents call, as typed calls; an argument left None is the tool's default."""

    def __init__(self, tools: ToolCaller) -> None:
        self._tools = tools

    async def find_resource(
        self,
        query: str | None = None,
        *,
        namespace: str | None = None,
        label: str | None = None,
        limit: int | None = None,
    ) -> ResourceResult:
        """The resources named like `query` (an id, a name or part of one), or carrying `label` (`key=value`)
        as a label or in their pods' selector (and named like `query`, when given); the best with its
        dependencies. Each item holds `labels` and `selector`, Kubernetes label maps (`{}` when none)."""
        return await FIND_RESOURCE.call(self._tools, query=query, namespace=namespace, label=label, limit=limit)

    async def list_changes(
        self,
        resource: str,
        *,
        namespace: str | None = None,
        start: str | None = None,
        end: str | None = None,
        include_dependencies: bool | None = None,
        limit: int | None = None,
    ) -> ChangesResult:
        """The changes to `resource` (an id or a name) in the window, newest first."""
        return await LIST_CHANGES.call(
            self._tools,
            resource=resource,
            namespace=namespace,
            start=start,
            end=end,
            include_dependencies=include_dependencies,
            limit=limit,
        )

    async def record_analysis(
        self,
        kind: Literal["diagnostic", "postmortem"],
        *,
        title: str,
        report: dict[str, Any],
        markdown: str | None = None,
        summary: str | None = None,
    ) -> AnalysisResult:
        """`report` recorded where people and tools find it (its id and URL)."""
        return await RECORD_ANALYSIS.call(
            self._tools, kind=kind, title=title, report=report, markdown=markdown, summary=summary
        )
