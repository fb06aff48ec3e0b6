"""The control plane's further OpenAPI operations as tools, offered and gated as its document says.

An operation is offered only when this server's own client holds the scopes its `security`
names (an operation it could only answer with 403 is not a tool), and a caller of its tool needs
the same scope here. Reads run as they are. A write follows the control plane's write policy,
which the reference document states per operation in `x-approval` (`controlplane.policy`):
scope-only writes run as they are, as through REST; those the control plane gates with an
approval of its own are left to the curated tools that bind it (an operation of that kind
without one is not offered). A write whose document says nothing of approvals (a team's own
endpoints, which know nothing of them) takes two more arguments, `approval_id` and `reason`:
called without an approval it requests one for the action `operation:<operationId>` on the
filled-in path, bound to the exact query and body; called with an approved one, it has the
control plane use the approval up (`POST /approvals/{id}/consume`, which checks action, target,
arguments, requester and expiry atomically) and only then sends the request.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from mcp.server.mcpserver.tools.base import Tool
from pydantic import Field

from common.contracts.results import ToolResult
from common.errors import InputError
from servers.controlplane_mcp.approval_gate import requester
from servers.controlplane_mcp.client import API, ApiError, ControlPlaneClient
from servers.controlplane_mcp.openapi_document import operations_from_openapi
from servers.controlplane_mcp.operations import (
    Operation,
    OperationResult,
    Request,
    build_request,
    operation_tools,
)
from servers.controlplane_mcp.server import READ_SCOPE, WRITE_SCOPE

__all__ = ["GenericOperations", "OfferedTools", "WriteOperationResult"]

logger = logging.getLogger(__name__)

_APPROVAL_ARGUMENTS = {
    "approval_id": {
        "type": "string",
        "description": "An approved approval's id; omit it to request an approval (nothing runs until approved).",
    },
    "reason": {"type": "string", "maxLength": 2000, "description": "Why this call is needed (shown to the approver)."},
}


class WriteOperationResult(ToolResult):
    status: Literal["approval_pending", "executed"]
    operation_id: str
    message: str
    approval: dict[str, Any] | None = None
    http_status: int | None = Field(default=None, description="The HTTP status of the operation's answer.")
    data: Any = Field(default=None, description="The operation's answer.")

    def render_text(self) -> str:
        return self.message


@dataclass(frozen=True)
class OfferedTools:
    tools: list[Tool]
    #: The scope a caller needs for each tool: its operation's own.
    scopes: dict[str, str]


class GenericOperations:
    def __init__(self, client: ControlPlaneClient, *, read_only: bool) -> None:
        self.client = client
        self.read_only = read_only

    def tools(
        self, document: Mapping[str, Any], *, exclude: Collection[str], client_scopes: Collection[str]
    ) -> OfferedTools:
        """The tools for `document`'s operations but `exclude`, for a server whose own client holds `client_scopes`."""
        reads, direct, gated = [], [], []
        scopes: dict[str, str] = {}
        for operation in operations_from_openapi(document, exclude=exclude):
            needed = _needed(operation, client_scopes)
            if needed is None:
                logger.info(
                    "Not offering %s: the control plane wants %s, which this server's own client does not hold.",
                    operation.tool_name,
                    " or ".join(" ".join(sorted(alternative)) for alternative in operation.security or ()),
                )
                continue
            if len(needed) > 1:
                logger.warning("Not offering %s: it needs several scopes at once (%s).", operation.tool_name, needed)
                continue
            if operation.read_only:
                reads.append(operation)
            elif self.read_only:
                continue
            elif operation.approvals is None:
                gated.append(_gated(operation))
            elif not operation.approvals:
                direct.append(operation)
            else:
                logger.warning(
                    "Not offering %s: the control plane wants an approval (%s) that no tool of this server binds.",
                    operation.tool_name,
                    ", ".join(operation.approvals),
                )
                continue
            scopes[operation.tool_name] = next(iter(needed), READ_SCOPE if operation.read_only else WRITE_SCOPE)
        tools = [
            *operation_tools(reads, self._read),
            *operation_tools(direct, self._write, output=WriteOperationResult),
            *operation_tools(gated, self._gated_write, output=WriteOperationResult),
        ]
        return OfferedTools(tools=tools, scopes=scopes)

    async def _read(self, operation: Operation, arguments: dict[str, Any]) -> ToolResult:
        request = build_request(operation, arguments)
        data = await self._send(request)
        return OperationResult(operation_id=operation.operation_id, status=200, data=data)

    async def _write(self, operation: Operation, arguments: dict[str, Any]) -> ToolResult:
        request = build_request(operation, arguments)
        return _executed(operation, request, await self._send(request), "done")

    async def _gated_write(self, operation: Operation, arguments: dict[str, Any]) -> ToolResult:
        approval_id = arguments.pop("approval_id", None)
        reason = arguments.pop("reason", "")
        request = build_request(operation, arguments)
        bound = {
            "action": f"operation:{operation.operation_id}",
            "target": request.path,
            "arguments": {"query": [list(pair) for pair in request.query], "body": request.body},
            "on_behalf_of": requester(),
        }
        if approval_id is None:
            approval = await self.client.post(f"{API}/approvals", {**bound, "reason": reason})
            return WriteOperationResult(
                status="approval_pending",
                operation_id=operation.operation_id,
                approval=approval,
                message=(
                    f"Approval {approval['id']} requested for {request.method} {request.path}; nothing has run. "
                    "Someone other than the requester approves it; then call this tool again with the same "
                    f"arguments and approval_id={approval['id']}."
                ),
            )
        try:
            await self.client.post(f"{API}/approvals/{approval_id}/consume", bound)
        except ApiError as exc:
            if exc.code != "approval_invalid":
                raise
            raise InputError(
                f"Approval {approval_id} cannot be used for {request.method} {request.path}: {exc.description}. "
                "Call the tool again without approval_id to request a new approval."
            ) from None
        return _executed(operation, request, await self._send(request), f"done (approval {approval_id} used)")

    async def _send(self, request: Request) -> Any:
        return await self.client.call(
            request.method,
            request.path,
            params=request.query,
            body=request.body,
            idempotent=request.method in ("GET", "HEAD", "PUT", "DELETE"),
        )


def _needed(operation: Operation, held: Collection[str]) -> frozenset[str] | None:
    """The scopes of the first of the operation's security alternatives `held` covers; None if none does.

    An operation whose document does not say, or that needs no token, needs nothing more.
    """
    if not operation.security:
        return frozenset()
    return next((alternative for alternative in operation.security if alternative <= set(held)), None)


def _gated(operation: Operation) -> Operation:
    """`operation` with the `approval_id` and `reason` arguments added to its schema."""
    schema = dict(operation.input_schema)
    schema["properties"] = {**schema.get("properties", {}), **_APPROVAL_ARGUMENTS}
    return dataclasses.replace(operation, input_schema=schema)


def _executed(operation: Operation, request: Request, data: Any, outcome: str) -> WriteOperationResult:
    return WriteOperationResult(
        status="executed",
        operation_id=operation.operation_id,
        http_status=200,
        data=data,
        message=f"{request.method} {request.path}: {outcome}.",
    )
