"""Structured results of the controlplane-mcp tools, each with a short text rendering.

Items are the control plane's JSON as it sent them (see `client`), so fields a team's own
control plane adds are kept.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from common.contracts.results import BoundedResult, ToolResult

__all__ = ["ActionResult", "ChangesResult", "ItemsResult", "ResourceResult"]

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
    changes: list[Change] = Field(description="Newest first.")

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
