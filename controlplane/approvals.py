"""Approvals: a write action runs only with a single-use record someone else approved.

An approval binds (action, target, arguments by their canonical hash, requester, on_behalf_of)
and expires at most 15 minutes after it was requested. Its life:

    pending --approve--> approved --used by the action--> consumed
       |  \\--reject---> rejected
       \\--decided after expiry--> expired

Rules a decision checks: the approval is pending and unexpired, and the approver is neither
its requester nor the user it was requested for (403 `self_approval`). Rules a use checks
(`check_use`), each refused with 403 `approval_invalid` saying which one failed: it exists, is
approved, unexpired and unconsumed, for this action, target and arguments, used by its
requester for the same `on_behalf_of`. `consume` marks it used with a conditional UPDATE, so of
two concurrent uses exactly one wins. A write the policy gates (`controlplane.policy`) asks
through `authorize`: without an approval it is 403 `approval_required` naming the one needed,
and every refusal leaves an `approval.refused` audit row.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import RowMapping, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.responses import Response

from common.rest import FieldError, HttpError
from controlplane.arguments import validate_arguments
from controlplane.calls import Call, Handler, fetch, getter, lister, model_response
from controlplane.models import Approval, ApprovalDecision, ApprovalRequest, ApprovalUse
from controlplane.policy import INCIDENT_APPROVALS
from controlplane.settings import APPROVAL_TTL_MAX_SECONDS
from controlplane.store import Actor, ControlPlaneStore
from controlplane.tables import approvals, incidents, new_id, resources

__all__ = ["HANDLERS", "arguments_hash", "authorize", "check_use", "consume"]


def arguments_hash(arguments: dict[str, Any]) -> str:
    canonical = json.dumps(arguments, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


async def request_approval(call: Call) -> Response:
    body: ApprovalRequest = call.body
    operation = body.action.startswith(OPERATION_PREFIX)
    if operation:
        _check_operation_request(body.target, body.arguments)
    else:
        validate_arguments(body.action, body.arguments)
    now = call.store.now()
    ttl = min(body.ttl_seconds or call.services.approval_ttl_seconds, APPROVAL_TTL_MAX_SECONDS)
    row = {
        "id": new_id("apr"),
        "action": body.action,
        "target": body.target,
        "arguments": body.arguments,
        "arguments_hash": arguments_hash(body.arguments),
        "requester": call.actor.client_id,
        "on_behalf_of": body.on_behalf_of,
        "reason": body.reason,
        "status": "pending",
        "created_at": now,
        "expires_at": now + timedelta(seconds=ttl),
    }
    incident = body.action in INCIDENT_APPROVALS.values()
    target_table, what = (incidents, "incident") if incident else (resources, "resource")
    async with call.store.write() as connection:
        if not operation:  # an operation's target is a request path, not a row
            await fetch(connection, target_table, body.target, what)
        await connection.execute(insert(approvals).values(**row))
        await _audit(call, connection, row, "approval.requested", f"requested {body.action} of {body.target}")
    return model_response(Approval.model_validate(row), 201)


async def approve_approval(call: Call) -> Response:
    return await _decide(call, approved=True)


async def reject_approval(call: Call) -> Response:
    return await _decide(call, approved=False)


async def _decide(call: Call, *, approved: bool) -> Response:
    body: ApprovalDecision = call.body
    approval_id = call.param("id")
    now = call.store.now()
    async with call.store.write() as connection:
        row = await fetch(connection, approvals, approval_id, "approval")
        if row["status"] != "pending":
            raise HttpError(409, "conflict", f"Approval {approval_id} is {row['status']}, not pending.")
        approver = call.actor.client_id
        if approver in (row["requester"], row["on_behalf_of"]):
            who = "requested it" if approver == row["requester"] else "it was requested for"
            raise HttpError(
                403, "self_approval", f"{approver} {who}: someone else must decide on approval {approval_id}."
            )
        expired = row["expires_at"] <= now
        status = "expired" if expired else "approved" if approved else "rejected"
        decision = {"status": status, "decided_by": approver, "decided_at": now, "decision_reason": body.reason}
        changed = await connection.execute(
            update(approvals).where(approvals.c.id == approval_id, approvals.c.status == "pending").values(**decision)
        )
        if changed.rowcount != 1:
            raise HttpError(409, "conflict", f"Approval {approval_id} was decided meanwhile.")
        updated = {**row, **decision}
        await _audit(call, connection, updated, f"approval.{status}", f"{status} {row['action']} of {row['target']}")
    if expired:
        # The expiry is recorded (above, committed) and answered as a conflict.
        raise HttpError(409, "expired", f"Approval {approval_id} expired at {row['expires_at'].isoformat()}.")
    return model_response(Approval.model_validate(updated))


async def consume_approval(call: Call) -> Response:
    """Use up an approval of an `operation:` action: the caller then sends the call it allows.

    The built-in actions consume their approvals themselves (`POST /actions/...`, acknowledge);
    this is for the API's further operations, which know nothing of approvals.
    """
    body: ApprovalUse = call.body
    approval_id = call.param("id")
    row = await check_use(
        call.store,
        approval_id,
        action=body.action,
        target=body.target,
        arguments=body.arguments,
        caller=call.actor.client_id,
        on_behalf_of=body.on_behalf_of,
    )
    now = call.store.now()
    async with call.store.write() as connection:
        await consume(connection, approval_id, now)
        used = {**row, "status": "consumed", "consumed_at": now}
        await _audit(call, connection, used, "approval.consumed", f"used {row['action']} of {row['target']}")
    return model_response(Approval.model_validate(used))


def _check_operation_request(target: str, arguments: dict[str, Any]) -> None:
    problems = []
    if not target.startswith("/"):
        problems.append(FieldError(field="target", message="an operation's target is its request path, e.g. /api/v1/x"))
    if set(arguments) - {"query", "body"} or not isinstance(arguments.get("query", []), list):
        problems.append(
            FieldError(
                field="arguments", message='an operation\'s arguments are {"query": [[name, value], ...], "body": ...}'
            )
        )
    if problems:
        raise HttpError(422, "invalid_request", "Invalid approval request for an operation.", errors=problems)


async def _audit(call: Call, connection: AsyncConnection, row: Any, action: str, summary: str) -> None:
    resource_id = row["target"] if row["action"] in _RESOURCE_ACTIONS else None
    details = {
        "approval_id": row["id"],
        "action": row["action"],
        "target": row["target"],
        "arguments": row["arguments"],
    }
    await call.store.audit(
        connection, call.actor, "approval", action, resource_id=resource_id, summary=summary, details=details
    )


async def authorize(
    call: Call,
    approval_id: str | None,
    *,
    action: str,
    target: str,
    arguments: dict[str, Any] | None,
    on_behalf_of: str | None,
    doing: str,
) -> RowMapping:
    """The approval the write policy demands of this call (`controlplane.policy`), checked by `check_use`.

    Without one: 403 `approval_required` naming the approval needed. A refusal is audited
    (`approval.refused`, in a transaction of its own since the call's write never happens), so
    attempts to act without a valid approval are on record. `doing` says what the call would
    do, e.g. "Resolving incident inc_1".
    """
    try:
        if approval_id is None:
            raise HttpError(
                403,
                "approval_required",
                f"{doing} needs an approved `{action}` approval of {target}: request one (POST /api/v1/approvals "
                f'with {{"action": "{action}", "target": "{target}"}}), have someone else approve it, then send its id '
                "as approval_id. Nothing was done.",
            )
        return await check_use(
            call.store,
            approval_id,
            action=action,
            target=target,
            arguments=arguments,
            caller=call.actor.client_id,
            on_behalf_of=on_behalf_of,
        )
    except HttpError as refusal:
        async with call.store.write() as connection:
            await call.store.audit(
                connection,
                Actor(call.actor.client_id, on_behalf_of),
                "approval",
                "approval.refused",
                resource_id=target if action in _RESOURCE_ACTIONS else None,
                summary=f"refused {action} of {target}: {refusal.description}"[:1000],
                details={"approval_id": approval_id, "action": action, "target": target, "error": refusal.error},
            )
        raise


async def check_use(
    store: ControlPlaneStore,
    approval_id: str,
    *,
    action: str,
    target: str,
    arguments: dict[str, Any] | None,
    caller: str,
    on_behalf_of: str | None,
) -> RowMapping:
    """The approval, if `caller` may use it for this; else 403 `approval_invalid` naming the rule broken.

    `arguments=None` leaves the arguments unchecked (acknowledging an incident has none of its own).
    """
    async with store.read() as connection:
        row = (await connection.execute(select(approvals).where(approvals.c.id == approval_id))).mappings().first()
    if row is None:
        raise _invalid(f"approval {approval_id} does not exist")
    rules: list[tuple[bool, str]] = [
        (row["status"] == "approved", f"approval {approval_id} is {row['status']}, not approved"),
        (row["expires_at"] > store.now(), f"approval {approval_id} expired at {row['expires_at'].isoformat()}"),
        (row["action"] == action, f"approval {approval_id} is for the action {row['action']}, not {action}"),
        (row["target"] == target, f"approval {approval_id} is for the target {row['target']}, not {target}"),
        (
            arguments is None or row["arguments_hash"] == arguments_hash(arguments),
            f"approval {approval_id} was granted for other arguments ({json.dumps(row['arguments'])})",
        ),
        (row["requester"] == caller, f"approval {approval_id} was requested by {row['requester']}, not {caller}"),
        (
            row["on_behalf_of"] == on_behalf_of,
            f"approval {approval_id} is on behalf of {row['on_behalf_of']!r}, not {on_behalf_of!r}",
        ),
    ]
    for holds, broken in rules:
        if not holds:
            raise _invalid(broken)
    return row


async def consume(connection: AsyncConnection, approval_id: str, now: datetime) -> None:
    """Mark the approval used, inside the caller's write; 403 if another use (or its expiry) came first."""
    used = await connection.execute(
        update(approvals)
        .where(approvals.c.id == approval_id, approvals.c.status == "approved", approvals.c.expires_at > now)
        .values(status="consumed", consumed_at=now)
    )
    if used.rowcount != 1:
        raise _invalid(f"approval {approval_id} was used (or expired) meanwhile")


_RESOURCE_ACTIONS = frozenset({"restart", "rollback", "scale"})
OPERATION_PREFIX = "operation:"


def _invalid(rule: str) -> HttpError:
    return HttpError(403, "approval_invalid", f"The approval cannot be used: {rule}. Nothing was done.")


HANDLERS: dict[str, Handler] = {
    "list_approvals": lister(approvals, Approval, order=approvals.c.created_at, filters=("status", "action", "target")),
    "request_approval": request_approval,
    "get_approval": getter(approvals, Approval, "approval"),
    "approve_approval": approve_approval,
    "reject_approval": reject_approval,
    "consume_approval": consume_approval,
}
