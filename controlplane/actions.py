"""Approved write actions: restart, rollback and scale a resource (`POST /actions/{action}`).

An action runs only with an approval that passes every rule (`controlplane.approvals`); a
refused one changes nothing but the audit log, which records the refusal. The approval is
consumed, the executor called, the resource's state changed (on success), the execution and
its audit row recorded, all in one transaction: the conditional UPDATE that consumes the
approval comes first and holds the row (PostgreSQL) or the database (SQLite) until the end, so
a concurrent use of the same approval waits and is then refused. A failed execution is still
an answer (200, `status: failed`), and the approval stays consumed: the action was attempted.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import insert, select, update
from starlette.responses import Response

from common.rest import HttpError
from controlplane.approvals import authorize, consume
from controlplane.arguments import RollbackArguments, ScaleArguments, validate_arguments
from controlplane.calls import Call, Handler, fetch, model_response
from controlplane.executor import ExecutionResult, Executor, Target
from controlplane.models import ActionRequest, AutomationExecution
from controlplane.store import Actor
from controlplane.tables import automation_executions, deployments, new_id, resources

__all__ = ["HANDLERS"]

logger = logging.getLogger(__name__)


async def restart_action(call: Call) -> Response:
    return await _act(call, "restart")


async def rollback_action(call: Call) -> Response:
    return await _act(call, "rollback")


async def scale_action(call: Call) -> Response:
    return await _act(call, "scale")


async def _act(call: Call, action: str) -> Response:
    body: ActionRequest = call.body
    store = call.store
    approval = await authorize(
        call,
        body.approval_id,
        action=action,
        target=body.target,
        arguments=body.arguments,
        on_behalf_of=body.on_behalf_of,
        doing=f"A {action} of {body.target}",
    )
    arguments = validate_arguments(action, body.arguments)  # as when the approval was requested
    async with store.read() as connection:
        resource = await fetch(connection, resources, body.target, "resource")
        parameters: dict[str, Any] = dict(body.arguments)
        if isinstance(arguments, RollbackArguments):
            parameters["to_version"] = arguments.to_version or await _previous_version(connection, body.target)
    target = Target(
        resource_id=resource["id"],
        name=resource["name"],
        namespace=resource["namespace"],
        kind=resource["kind"],
        version=resource["version"],
        replicas=resource["replicas"],
    )
    actor = Actor(call.actor.client_id, body.on_behalf_of)
    started = store.now()
    async with store.write() as connection:
        await consume(connection, approval["id"], started)
        result = await _execute(call.services.executor, action, target, parameters)
        finished = store.now()
        execution = {
            "id": new_id("exe"),
            "action": action,
            "resource_id": target.resource_id,
            "incident_id": None,
            "parameters": parameters,
            "approval_id": approval["id"],
            "executor": call.services.executor.name,
            "status": "succeeded" if result.ok else "failed",
            "detail": result.detail,
            "actor": actor.client_id,
            "on_behalf_of": actor.on_behalf_of,
            "started_at": started,
            "finished_at": finished,
        }
        if result.ok:
            await _apply(call, connection, action, target, parameters, execution)
        await connection.execute(insert(automation_executions).values(**execution))
        await store.audit(
            connection,
            actor,
            action,
            action,
            resource_id=target.resource_id,
            summary=f"{action} of {target.namespace}/{target.name}: {execution['status']} ({result.detail})",
            details={
                "approval_id": approval["id"],
                "execution_id": execution["id"],
                "status": execution["status"],
                "parameters": parameters,
            },
        )
    return model_response(AutomationExecution.model_validate(execution))


async def _previous_version(connection: Any, resource_id: str) -> str:
    latest = (
        select(deployments.c.previous_version)
        .where(deployments.c.resource_id == resource_id, deployments.c.status == "succeeded")
        .order_by(deployments.c.started_at.desc(), deployments.c.id.desc())
        .limit(1)
    )
    previous: str | None = (await connection.execute(latest)).scalar()
    if not previous:
        raise HttpError(
            409,
            "conflict",
            f"Resource {resource_id} has no succeeded deployment with a previous version to roll back to; "
            "give `to_version`.",
        )
    return previous


async def _execute(executor: Executor, action: str, target: Target, parameters: dict[str, Any]) -> ExecutionResult:
    try:
        if action == "restart":
            return await executor.restart(target)
        if action == "rollback":
            return await executor.rollback(target, parameters["to_version"])
        return await executor.scale(target, ScaleArguments.model_validate(parameters).replicas)
    except Exception as exc:  # the attempt is recorded as failed, whatever the executor raised
        logger.exception("The %s executor failed on %s of %s", executor.name, action, target.resource_id)
        return ExecutionResult(False, f"the {executor.name} executor failed: {type(exc).__name__}")


async def _apply(
    call: Call, connection: Any, action: str, target: Target, parameters: dict[str, Any], execution: dict[str, Any]
) -> None:
    """The state change of a successful action: replicas for a scale, version and a deployment for a rollback."""
    now = execution["finished_at"]
    changed = update(resources).where(resources.c.id == target.resource_id)
    if action == "scale":
        await connection.execute(changed.values(replicas=parameters["replicas"], updated_at=now))
    elif action == "rollback":
        await connection.execute(changed.values(version=parameters["to_version"], updated_at=now))
        deployment = {
            "id": new_id("dep"),
            "resource_id": target.resource_id,
            "version": parameters["to_version"],
            "previous_version": target.version,
            "actor": call.actor.client_id,
            "status": "succeeded",
            "trigger": "rollback",
            "started_at": execution["started_at"],
            "finished_at": now,
            "details": {"approval_id": execution["approval_id"], "execution_id": execution["id"]},
        }
        await connection.execute(insert(deployments).values(**deployment))


HANDLERS: dict[str, Handler] = {
    "restart_action": restart_action,
    "rollback_action": rollback_action,
    "scale_action": scale_action,
}
