"""The control plane's further OpenAPI operations as tools: reads as they are, writes approval-gated.

A write operation's tool takes two more arguments, `approval_id` and `reason`. Called without an
approval it requests one for the action `operation:<operationId>` on the filled-in path, bound
to the exact query and body; called with an approved one, it has the control plane use the
approval up (`POST /approvals/{id}/consume`, which checks action, target, arguments, requester
and expiry atomically) and only then sends the request. So a team's own endpoints, which know
nothing of approvals, are still never written to without one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from typing import Any, Literal

from mcp.server.mcpserver.tools.base import Tool
from pydantic import Field

from common.errors import InputError
from common.mcp_tools import ToolResult
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

__all__ = ["GatedOperationResult", "GenericOperations"]

_APPROVAL_ARGUMENTS = {
    "approval_id": {
        "type": "string",
        "description": "An approved approval's id; omit it to request an approval (nothing runs until approved).",
    },
    "reason": {"type": "string", "maxLength": 2000, "description": "Why this call is needed (shown to the approver)."},
}


class GatedOperationResult(ToolResult):
    status: Literal["approval_pending", "executed"]
    operation_id: str
    message: str
    approval: dict[str, Any] | None = None
    http_status: int | None = Field(default=None, description="The HTTP status of the operation's answer.")
    data: Any = Field(default=None, description="The operation's answer.")

    def render_text(self) -> str:
        return self.message


class GenericOperations:
    def __init__(self, client: ControlPlaneClient, *, read_only: bool) -> None:
        self.client = client
        self.read_only = read_only

    def tools(self, document: Mapping[str, Any], *, exclude: Collection[str]) -> list[Tool]:
        operations = operations_from_openapi(document, exclude=exclude)
        reads = [operation for operation in operations if operation.read_only]
        writes = [] if self.read_only else [_gated(operation) for operation in operations if not operation.read_only]
        return [
            *operation_tools(reads, self._read),
            *operation_tools(writes, self._write, output=GatedOperationResult),
        ]

    async def _read(self, operation: Operation, arguments: dict[str, Any]) -> ToolResult:
        request = build_request(operation, arguments)
        data = await self._send(request)
        return OperationResult(operation_id=operation.operation_id, status=200, data=data)

    async def _write(self, operation: Operation, arguments: dict[str, Any]) -> ToolResult:
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
            return GatedOperationResult(
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
        data = await self._send(request)
        return GatedOperationResult(
            status="executed",
            operation_id=operation.operation_id,
            http_status=200,
            data=data,
            message=f"{request.method} {request.path}: done (approval {approval_id} used).",
        )

    async def _send(self, request: Request) -> Any:
        return await self.client.call(
            request.method,
            request.path,
            params=request.query,
            body=request.body,
            idempotent=request.method in ("GET", "HEAD", "PUT", "DELETE"),
        )


def _gated(operation: Operation) -> Operation:
    """`operation` with the `approval_id` and `reason` arguments added to its schema."""
    schema = dict(operation.input_schema)
    schema["properties"] = {**schema.get("properties", {}), **_APPROVAL_ARGUMENTS}
    return dataclasses.replace(operation, input_schema=schema)
