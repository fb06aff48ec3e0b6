"""controlplane-mcp: curated tools over a Control Plane API, write tools gated by approvals.

Read tools answer the first questions of an investigation: what is this service and what does
it depend on, and what changed (deployments, config changes, flags, scaling) in a window. Write
tools follow the control plane's write policy (`controlplane.policy`, docs/security.md): those
that change what runs or an incident's status (restart, rollback, scale, acknowledge, resolve)
never act on their own say-so: without an approved approval id they request one and return it
pending (asking the user first through MCP elicitation when the client supports it); with one,
the control plane checks that it was granted for exactly this action, target and arguments, to
this requester, and uses it up. Recording an analysis (a diagnostic report, a postmortem)
changes nothing that runs, so it needs the write scope and no approval. A tool is offered only
when this server's own client holds the scope it needs at the control plane (`own_scopes`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import quote

from mcp.server.auth.provider import TokenVerifier
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.tools.base import Tool
from pydantic import Field

from common import __version__
from common.contracts.controlplane import (
    ActionResult,
    AnalysisResult,
    Change,
    ChangesResult,
    ItemsResult,
    ResourceResult,
)
from common.errors import InputError, LimitExceeded, NotFound
from common.mcp.tool_parameters import End, Limit, Start
from common.mcp.tools import CONVENTIONS, ToolGate, ToolSpec, build_tools, enabled
from common.metrics import ServerMetrics
from common.scopes import CONTROLPLANE_READ, CONTROLPLANE_WRITE
from common.timerange import TimeArgument, TimeRange, iso
from servers.controlplane_mcp.approval_gate import ApprovalGate, requester
from servers.controlplane_mcp.client import API, ApiError, ControlPlaneClient
from servers.controlplane_mcp.settings import ControlPlaneMcpSettings

__all__ = [
    "CURATED_OPERATIONS",
    "READ_SCOPE",
    "SERVER_NAME",
    "WRITE_SCOPE",
    "ControlPlaneTools",
    "create_server",
]

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

# What `resource`, `namespace`, `approval_id` and `reason` mean is the same in every tool: the
# server's instructions say it once (`ARGUMENTS`), not each tool's schema.
Resource = Annotated[str, Field()]
Namespace = Annotated[str | None, Field()]
ApprovalId = Annotated[str | None, Field()]
Reason = Annotated[str, Field(max_length=2000)]
# A filter on the resource of an item.
OfResource = Annotated[str | None, Field()]
IncidentId = Annotated[str, Field()]
Note = Annotated[str, Field(max_length=2000, description="For the incident's timeline.")]
ARGUMENTS = (
    "`resource` is a resource's id or name (with `namespace`, e.g. 'prod', when a name is ambiguous). A write "
    "tool that takes approval_id, called without one, requests an approval (its `reason` is shown to the "
    "approver) and returns it pending; nothing runs until someone else approves it; call again with its id."
)
ChangeKind = Literal["deployment", "rollback", "config_change", "feature_flag", "scale", "restart", "infrastructure"]


class ControlPlaneTools:
    """The curated tools; each public coroutine is one MCP tool, its docstring the model's documentation."""

    def __init__(
        self,
        settings: ControlPlaneMcpSettings,
        client: ControlPlaneClient,
        client_scopes: Collection[str] | None = None,
    ) -> None:
        """`client_scopes`: those of this server's own token for the control plane (default: as configured)."""
        self.settings = settings
        self.client_scopes = frozenset(settings.token_scopes if client_scopes is None else client_scopes)
        self.limits = settings.limits
        self.client = client
        self.gate = ApprovalGate(client)

    # --- read -------------------------------------------------------------------------------------

    async def controlplane_find_resource(
        self,
        query: Annotated[str, Field(description="A resource id, an exact name, or part of a name.")],
        namespace: Namespace = None,
        kind: Annotated[str | None, Field(description="service, deployment, database, queue, ...")] = None,
        limit: Limit = None,
    ) -> ResourceResult:
        """A service, database or queue with its owner, version, dependencies and dependents. Start here."""
        notes: list[str] = []
        cap = self._cap(limit, notes)
        matches = await self._matches(query, namespace, kind, cap)
        if not matches:
            return ResourceResult(matches=[], resource=None, returned=0, total=0, truncated=False, limits_applied=notes)
        best = matches[0]
        graph = await self.client.get(f"{API}/resources/{best['id']}/dependencies")
        return ResourceResult(
            matches=matches,
            resource=graph.get("resource", best),
            dependencies=graph.get("dependencies", []),
            dependents=graph.get("dependents", []),
            unresolved=graph.get("unresolved", []),
            returned=len(matches),
            total=len(matches),
            truncated=len(matches) >= cap,
            limits_applied=notes,
        )

    async def controlplane_list_changes(
        self,
        resource: Annotated[str | None, Field(description="Resource id or name; omit for all.")] = None,
        namespace: Namespace = None,
        group: Annotated[str | None, Field(description="Resource group id, instead of a resource.")] = None,
        start: Start = "now-2h",
        end: End = "now",
        include_dependencies: Annotated[bool, Field(description="Also the resource's dependencies' changes.")] = True,
        types: Annotated[list[ChangeKind] | None, Field(description="Only these kinds of change.")] = None,
        limit: Limit = None,
    ) -> ChangesResult:
        """What changed in a window (deployments, config, flags, scaling, restarts), newest first.

        The first question of an investigation.
        """
        notes: list[str] = []
        cap = self._cap(limit, notes)
        window = self._window(start, end)
        base = [("changes_only", "true"), ("start", iso(window.start)), ("end", iso(window.end))]
        base += [("type", kind) for kind in types or ()]
        scope: list[dict[str, Any]] = []
        if group is not None:
            queries = [[*base, ("group_id", group)]]
        elif resource is not None:
            target = await self._resource(resource, namespace)
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
            returned=len(changes),
            total=len(entries),
            truncated=truncated or len(entries) > cap,
            limits_applied=notes,
        )

    async def controlplane_deployment_history(
        self,
        resource: Resource,
        namespace: Namespace = None,
        start: Start = "now-7d",
        end: End = "now",
        limit: Limit = None,
    ) -> ItemsResult:
        """A resource's deployments in a window, newest first: version, previous version, actor, status."""
        params = [*await self._resource_param(resource, namespace), *self._window_params(start, end)]
        return await self._items("deployments", f"{API}/deployments", params, limit)

    async def controlplane_list_incidents(
        self,
        status: Annotated[
            Literal["open", "acknowledged", "resolved"] | None, Field(description="Only this status.")
        ] = None,
        resource: OfResource = None,
        namespace: Namespace = None,
        start: Start = "now-7d",
        end: End = "now",
        limit: Limit = None,
    ) -> ItemsResult:
        """Incidents in a window, newest first, with their status and severity."""
        params = [*self._window_params(start, end), *await self._resource_param(resource, namespace)]
        if status:
            params.append(("status", status))
        return await self._items("incidents", f"{API}/incidents", params, limit)

    async def controlplane_get_incident(self, incident_id: IncidentId) -> ItemsResult:
        """One incident with its timeline (notes, alerts, analyses, actions)."""
        incident = await self.client.get(f"{API}/incidents/{_segment(incident_id)}")
        return ItemsResult(kind="incidents", items=[incident], returned=1, total=1, truncated=False)

    async def controlplane_list_alert_rules(
        self,
        resource: OfResource = None,
        namespace: Namespace = None,
        limit: Limit = None,
    ) -> ItemsResult:
        """Alert rules: expression, duration, severity, the resource they watch."""
        params = await self._resource_param(resource, namespace)
        return await self._items("alert_rules", f"{API}/alert-rules", params, limit)

    async def controlplane_list_automation_executions(
        self,
        resource: OfResource = None,
        namespace: Namespace = None,
        start: Start = "now-7d",
        end: End = "now",
        limit: Limit = None,
    ) -> ItemsResult:
        """Actions the platform ran (restart, rollback, scale), each with its approval and outcome."""
        params = [*self._window_params(start, end), *await self._resource_param(resource, namespace)]
        return await self._items("executions", f"{API}/automation/executions", params, limit)

    async def controlplane_get_approval(self, approval_id: str) -> ItemsResult:
        """An approval's status, who decided and when it expires."""
        approval = await self.client.get(f"{API}/approvals/{_segment(approval_id)}")
        return ItemsResult(kind="approvals", items=[approval], returned=1, total=1, truncated=False)

    # --- write (approval-gated) -------------------------------------------------------------------

    async def controlplane_restart_deployment(
        self,
        ctx: Context,
        resource: Resource,
        namespace: Namespace = None,
        approval_id: ApprovalId = None,
        reason: Reason = "",
    ) -> ActionResult:
        """Rolling restart of a deployment's pods. Needs an approval."""
        target = await self._resource(resource, namespace)
        return await self._action(ctx, "restart", target, {}, approval_id, reason)

    async def controlplane_rollback_deployment(
        self,
        ctx: Context,
        resource: Resource,
        namespace: Namespace = None,
        to_version: Annotated[str | None, Field(description="Default: the version before the last deployment.")] = None,
        approval_id: ApprovalId = None,
        reason: Reason = "",
    ) -> ActionResult:
        """Roll a deployment back to an earlier version. Needs an approval."""
        target = await self._resource(resource, namespace)
        arguments = {} if to_version is None else {"to_version": to_version}
        return await self._action(ctx, "rollback", target, arguments, approval_id, reason)

    async def controlplane_scale_deployment(
        self,
        ctx: Context,
        resource: Resource,
        replicas: Annotated[int, Field(ge=0, le=10_000)],
        namespace: Namespace = None,
        approval_id: ApprovalId = None,
        reason: Reason = "",
    ) -> ActionResult:
        """Scale a deployment. Needs an approval."""
        target = await self._resource(resource, namespace)
        return await self._action(ctx, "scale", target, {"replicas": replicas}, approval_id, reason)

    async def controlplane_acknowledge_incident(
        self,
        ctx: Context,
        incident_id: IncidentId,
        note: Note = "",
        approval_id: ApprovalId = None,
        reason: Reason = "",
    ) -> ActionResult:
        """Acknowledge an incident (someone is on it). Needs an approval."""
        return await self._incident_change(ctx, "acknowledge", incident_id, note, approval_id, reason)

    async def controlplane_resolve_incident(
        self,
        ctx: Context,
        incident_id: IncidentId,
        note: Note = "",
        approval_id: ApprovalId = None,
        reason: Reason = "",
    ) -> ActionResult:
        """Resolve an incident (it is over). Needs an approval."""
        return await self._incident_change(ctx, "resolve", incident_id, note, approval_id, reason)

    async def controlplane_record_analysis(
        self,
        kind: Annotated[Literal["diagnostic", "postmortem"], Field(description="What the analysis is.")],
        title: Annotated[str, Field(min_length=1, max_length=500, description="One line, e.g. the top cause.")],
        report: Annotated[dict[str, Any], Field(description="The structured report (a DiagnosticReport).")],
        markdown: Annotated[str, Field(max_length=200_000, description="The report for people.")] = "",
        summary: Annotated[str, Field(max_length=2000)] = "",
        incident_id: Annotated[str | None, Field(description="The incident it is about, if any.")] = None,
    ) -> AnalysisResult:
        """Record a diagnostic report or a postmortem where people and tools find it. Needs no approval."""
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

    def specs(self) -> list[ToolSpec]:
        reads = [
            ToolSpec(
                self.controlplane_find_resource, "Find a resource and its dependencies", READ_SCOPE, group="inventory"
            ),
            ToolSpec(self.controlplane_list_changes, "What changed? (recent changes)", READ_SCOPE, group="changes"),
            ToolSpec(self.controlplane_deployment_history, "Deployment history", READ_SCOPE, group="changes"),
            ToolSpec(self.controlplane_list_incidents, "List incidents", READ_SCOPE, group="incidents"),
            ToolSpec(self.controlplane_get_incident, "Get an incident", READ_SCOPE, group="incidents"),
            ToolSpec(self.controlplane_list_alert_rules, "List alert rules", READ_SCOPE, group="inventory"),
            ToolSpec(
                self.controlplane_list_automation_executions,
                "List automation executions",
                READ_SCOPE,
                group="inventory",
            ),
            ToolSpec(self.controlplane_get_approval, "Get an approval", READ_SCOPE, group="actions"),
        ]
        if self.settings.read_only:
            return self._usable(reads)
        writes: list[tuple[Callable[..., Awaitable[ActionResult]], str]] = [
            (self.controlplane_restart_deployment, "Restart a deployment (approval required)"),
            (self.controlplane_rollback_deployment, "Roll back a deployment (approval required)"),
            (self.controlplane_scale_deployment, "Scale a deployment (approval required)"),
            (self.controlplane_acknowledge_incident, "Acknowledge an incident (approval required)"),
            (self.controlplane_resolve_incident, "Resolve an incident (approval required)"),
        ]
        record = ToolSpec(
            self.controlplane_record_analysis,
            "Record an analysis",
            scope=WRITE_SCOPE,
            read_only=False,
            destructive=False,
            idempotent=False,
            group="incidents",
        )
        return self._usable(
            [
                *reads,
                record,
                *(
                    ToolSpec(
                        fn, title, WRITE_SCOPE, read_only=False, destructive=True, idempotent=False, group="actions"
                    )
                    for fn, title in writes
                ),
            ]
        )

    def _usable(self, specs: list[ToolSpec]) -> list[ToolSpec]:
        """The tools this server's own client can carry out (each needs the control plane scope a caller needs
        here) in the groups the user has not disabled."""
        return enabled([spec for spec in specs if spec.scope in self.client_scopes], self.settings.disabled_groups)

    # --- helpers ------------------------------------------------------------------------------------

    async def _action(
        self,
        ctx: Context,
        action: str,
        target: Mapping[str, Any],
        arguments: dict[str, Any],
        approval_id: str | None,
        reason: str,
    ) -> ActionResult:
        shown = ", ".join(f"{k}={v}" for k, v in arguments.items())
        description = f"{action} {target.get('namespace')}/{target.get('name')}" + (f" ({shown})" if shown else "")

        async def run(approved: str) -> ActionResult:
            body = {
                "target": target["id"],
                "arguments": arguments,
                "approval_id": approved,
                "on_behalf_of": requester(),
            }
            execution = await self.client.post(f"{API}/actions/{action}", body)
            ok = execution.get("status") == "succeeded"
            return ActionResult(
                status="executed" if ok else "failed",
                message=f"{description}: {execution.get('status')} ({execution.get('detail', '')}).",
                execution=execution,
            )

        return await self.gate.gated(ctx, action, target["id"], arguments, description, approval_id, reason, run)

    async def _incident_change(
        self,
        ctx: Context,
        verb: Literal["acknowledge", "resolve"],
        incident_id: str,
        note: str,
        approval_id: str | None,
        reason: str,
    ) -> ActionResult:
        """A status change of an incident, which the control plane allows only with an approval of it."""
        incident = await self.client.get(f"{API}/incidents/{_segment(incident_id)}")
        description = f"{verb} incident {incident['id']} ({incident.get('title', '')})"

        async def run(approved: str) -> ActionResult:
            body = {"note": note, "approval_id": approved, "on_behalf_of": requester()}
            updated = await self.client.post(f"{API}/incidents/{_segment(incident['id'])}/{verb}", body)
            return ActionResult(
                status="executed", message=f"{verb.capitalize()}d incident {incident['id']}.", incident=updated
            )

        return await self.gate.gated(ctx, f"{verb}_incident", incident["id"], {}, description, approval_id, reason, run)

    async def _matches(self, query: str, namespace: str | None, kind: str | None, cap: int) -> list[dict[str, Any]]:
        filters = [(k, v) for k, v in (("namespace", namespace), ("kind", kind)) if v]
        try:
            return [await self.client.get(f"{API}/resources/{_segment(query)}")]
        except ApiError as exc:
            if exc.status_code != 404:
                raise
        exact, _ = await self.client.page(f"{API}/resources", [*filters, ("name", query)], limit=cap)
        if exact:
            return exact
        partial, _ = await self.client.page(f"{API}/resources", [*filters, ("q", query)], limit=cap)
        return partial

    async def _resource(self, reference: str, namespace: str | None) -> dict[str, Any]:
        """The one resource `reference` (id or name) names, or InputError saying how to pick it."""
        matches = await self._matches(reference, namespace, None, 20)
        exact = [m for m in matches if reference in (m.get("id"), m.get("name"))]
        if len(exact) == 1:
            return exact[0]
        if not exact:
            similar = ", ".join(f"{m.get('namespace')}/{m.get('name')}" for m in matches[:5])
            hint = f" Similar: {similar}." if similar else " Use controlplane_find_resource to search."
            raise NotFound(f"No resource named {reference!r}" + (f" in {namespace}" if namespace else "") + f".{hint}")
        spaces = ", ".join(str(m.get("namespace")) for m in exact)
        raise InputError(f"{reference!r} exists in several namespaces ({spaces}): give `namespace` too.")

    async def _items(self, kind: str, path: str, params: list[tuple[str, str]], limit: int | None) -> ItemsResult:
        notes: list[str] = []
        cap = self._cap(limit, notes)
        items, more = await self.client.page(path, params, limit=cap)
        return ItemsResult(
            kind=kind, items=items, returned=len(items), total=len(items), truncated=more, limits_applied=notes
        )

    def _cap(self, limit: int | None, notes: list[str]) -> int:
        maximum = self.limits.max_list_items
        if limit is None:
            return maximum
        if limit > maximum:
            notes.append(f"limit lowered from {limit} to the maximum of {maximum} items")
            return maximum
        return limit

    async def _resource_param(self, resource: str | None, namespace: str | None) -> list[tuple[str, str]]:
        """`resource_id` of the resource named, for a list filter; none when no resource is named."""
        return [("resource_id", (await self._resource(resource, namespace))["id"])] if resource else []

    def _window_params(self, start: TimeArgument, end: TimeArgument) -> list[tuple[str, str]]:
        window = self._window(start, end)
        return [("start", iso(window.start)), ("end", iso(window.end))]

    def _window(self, start: TimeArgument, end: TimeArgument) -> TimeRange:
        window = TimeRange.parse(start, end)
        if window.seconds > self.limits.max_range_seconds:
            raise LimitExceeded(
                f"The window is longer than the {self.limits.max_range_seconds / 86400:g} days allowed "
                "(CONTROLPLANE_MCP_MAX_RANGE_SECONDS); shorten it."
            )
        return window


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


def _segment(value: str) -> str:
    """A path segment from a caller's value: quoted, so `../` cannot reach another endpoint."""
    return quote(value, safe="")


def create_server(
    settings: ControlPlaneMcpSettings,
    client: ControlPlaneClient,
    *,
    extra_tools: list[Tool] | None = None,
    client_scopes: Collection[str] | None = None,
    metrics: ServerMetrics | None = None,
    token_verifier: TokenVerifier | None = None,
    auth: AuthSettings | None = None,
) -> MCPServer[Any]:
    tools = [*build_tools(ControlPlaneTools(settings, client, client_scopes).specs()), *(extra_tools or [])]
    mode = "read-only: write tools are hidden" if settings.read_only else "write tools need an approval"
    return MCPServer(
        SERVER_NAME,
        title="Control plane",
        version=__version__,
        instructions=(
            f"The platform's system of record ({settings.backend.url}): resources and their dependencies, what "
            "changed and when (controlplane_list_changes is the first question of an investigation), deployments, "
            f"incidents, alert rules and automation. Mode: {mode}. {ARGUMENTS} {CONVENTIONS}"
        ),
        tools=tools,
        middleware=[ToolGate(tools, metrics)],
        token_verifier=token_verifier,
        auth=auth,
    )
