"""The approval gate of the write tools: request an approval, or act with an approved one.

Called without an approval id, a write tool only requests an approval (asking the user first
through MCP elicitation when the client can be asked mid-call) and returns it pending. Called
with one, the tool's action runs and the control plane checks the approval as it does: granted
for exactly this action, target and arguments, to this server for this caller, unexpired and
unused. An approval the control plane refuses becomes a tool error saying which rule failed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.mcpserver import Context
from mcp.shared.exceptions import NoBackChannelError
from mcp_types import ClientCapabilities, ElicitationCapability
from pydantic import BaseModel, Field

from common.contracts.controlplane import ActionResult
from common.errors import InputError
from servers.controlplane_mcp.client import API, ApiError, ControlPlaneClient

__all__ = ["ApprovalGate", "ApprovalPrompt", "can_elicit", "requester"]


class ApprovalPrompt(BaseModel):
    """What the user is asked before an approval is requested for them."""

    reason: str = Field(default="", description="Why this action is needed (shown to the approver).")


class ApprovalGate:
    def __init__(self, client: ControlPlaneClient) -> None:
        self.client = client

    async def gated(
        self,
        ctx: Context,
        action: str,
        target_id: str,
        arguments: dict[str, Any],
        description: str,
        approval_id: str | None,
        reason: str,
        run: Callable[[str], Awaitable[ActionResult]],
    ) -> ActionResult:
        if approval_id is not None:
            try:
                return await run(approval_id)
            except ApiError as exc:
                if exc.code != "approval_invalid":
                    raise
                raise InputError(
                    f"Approval {approval_id} cannot be used to {description}: {exc.description}. Call the tool "
                    "again without approval_id to request a new approval."
                ) from None
        if can_elicit(ctx):
            try:
                answer = await ctx.elicit(
                    f"Request approval to {description}? An approver will be asked.", ApprovalPrompt
                )
            except NoBackChannelError:
                # Stateless HTTP and the 2026-07-28 protocol cannot ask mid-call: the request goes
                # ahead unasked, which is safe, since nothing runs before someone else approves.
                answer = None
            if answer is not None:
                if answer.action != "accept":
                    return ActionResult(status="cancelled", message=f"Not requested: you declined to {description}.")
                reason = answer.data.reason or reason
        request = {
            "action": action,
            "target": target_id,
            "arguments": arguments,
            "reason": reason,
            "on_behalf_of": requester(),
        }
        approval = await self.client.post(f"{API}/approvals", request)
        return ActionResult(
            status="approval_pending",
            approval=approval,
            message=(
                f"Approval {approval['id']} requested to {description}; nothing has run. It expires at "
                f"{approval.get('expires_at')}. Someone other than the requester approves it (`sre controlplane "
                f"approve {approval['id']}`, or POST /api/v1/approvals/{approval['id']}/approve with "
                "controlplane:admin); then call this tool again with the same arguments and "
                f"approval_id={approval['id']}."
            ),
        )


def requester() -> str | None:
    """The MCP caller this server acts for: its OAuth client over HTTP; None over stdio (the local user)."""
    access = get_access_token()
    return access.client_id if access is not None else None


def can_elicit(ctx: Context) -> bool:
    session = ctx.request_context.session
    return session.check_client_capability(ClientCapabilities(elicitation=ElicitationCapability()))
