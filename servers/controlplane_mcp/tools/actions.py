"""The `actions` group: restart, roll back and scale a deployment, acknowledge and resolve an incident, each
through an approval someone else grants; and reading an approval."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal, TypeVar

from mcp.server.mcpserver import Context
from pydantic import Field

from common.contracts.controlplane import ActionResult, ItemsResult
from common.mcp.tools import tool
from common.scopes import CONTROLPLANE_WRITE
from servers.controlplane_mcp.approval_gate import ApprovalGate, requester
from servers.controlplane_mcp.client import API
from servers.controlplane_mcp.tools.incidents import IncidentId
from servers.controlplane_mcp.tools.lookup import ControlPlaneTools, Lookup, Namespace, Resource, segment

__all__ = ["ActionTools"]

ApprovalId = Annotated[str | None, Field()]
Reason = Annotated[str, Field(max_length=2000)]
Note = Annotated[str, Field(max_length=2000, description="For the incident's timeline.")]
F = TypeVar("F", bound=Callable[..., Any])


def gated() -> Callable[[F], F]:
    """Marks an approval-gated write tool: it changes what runs or an incident's status."""
    return tool(scope=CONTROLPLANE_WRITE, read_only=False, destructive=True, idempotent=False)


class ActionTools(ControlPlaneTools):
    group = "actions"

    def __init__(self, lookup: Lookup) -> None:
        super().__init__(lookup)
        self.gate = ApprovalGate(lookup.client)

    @tool()
    async def controlplane_get_approval(self, approval_id: str) -> ItemsResult:
        """An approval's status, who decided and when it expires."""
        return await self.lookup.one("approvals", f"{API}/approvals/{segment(approval_id)}")

    @gated()
    async def controlplane_restart_deployment(
        self,
        ctx: Context,
        resource: Resource,
        namespace: Namespace = None,
        approval_id: ApprovalId = None,
        reason: Reason = "",
    ) -> ActionResult:
        """Rolling restart of a deployment's pods."""
        target = await self.lookup.resource(resource, namespace)
        return await self._action(ctx, "restart", target, {}, approval_id, reason)

    @gated()
    async def controlplane_rollback_deployment(
        self,
        ctx: Context,
        resource: Resource,
        namespace: Namespace = None,
        to_version: Annotated[str | None, Field(description="Default: the version before the last deployment.")] = None,
        approval_id: ApprovalId = None,
        reason: Reason = "",
    ) -> ActionResult:
        """Roll a deployment back to an earlier version."""
        target = await self.lookup.resource(resource, namespace)
        arguments = {} if to_version is None else {"to_version": to_version}
        return await self._action(ctx, "rollback", target, arguments, approval_id, reason)

    @gated()
    async def controlplane_scale_deployment(
        self,
        ctx: Context,
        resource: Resource,
        replicas: Annotated[int, Field(ge=0, le=10_000)],
        namespace: Namespace = None,
        approval_id: ApprovalId = None,
        reason: Reason = "",
    ) -> ActionResult:
        """Scale a deployment."""
        target = await self.lookup.resource(resource, namespace)
        return await self._action(ctx, "scale", target, {"replicas": replicas}, approval_id, reason)

    @gated()
    async def controlplane_acknowledge_incident(
        self,
        ctx: Context,
        incident_id: IncidentId,
        note: Note = "",
        approval_id: ApprovalId = None,
        reason: Reason = "",
    ) -> ActionResult:
        """Acknowledge an incident (someone is on it)."""
        return await self._incident_change(ctx, "acknowledge", incident_id, note, approval_id, reason)

    @gated()
    async def controlplane_resolve_incident(
        self,
        ctx: Context,
        incident_id: IncidentId,
        note: Note = "",
        approval_id: ApprovalId = None,
        reason: Reason = "",
    ) -> ActionResult:
        """Resolve an incident (it is over)."""
        return await self._incident_change(ctx, "resolve", incident_id, note, approval_id, reason)

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
        incident = await self.client.get(f"{API}/incidents/{segment(incident_id)}")
        description = f"{verb} incident {incident['id']} ({incident.get('title', '')})"

        async def run(approved: str) -> ActionResult:
            body = {"note": note, "approval_id": approved, "on_behalf_of": requester()}
            updated = await self.client.post(f"{API}/incidents/{segment(incident['id'])}/{verb}", body)
            return ActionResult(
                status="executed", message=f"{verb.capitalize()}d incident {incident['id']}.", incident=updated
            )

        return await self.gate.gated(ctx, f"{verb}_incident", incident["id"], {}, description, approval_id, reason, run)
