"""What changed: deployments, the audit log, and the automation executions of approved actions.

Deployments and changes made elsewhere (CI, a config push, a flag flip) are recorded with the
admin scope and carry their own `actor`; the audit log answers "what changed around this
time?" (`changes_only`) as well as "who did what through this API?".
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, func, insert, select, update
from starlette.responses import Response

from controlplane.calls import Call, Handler, fetch, getter, lister, listing, model_response, require_ids
from controlplane.models import (
    CHANGE_TYPES,
    AuditEntry,
    AuditEntryCreate,
    AutomationExecution,
    Deployment,
    DeploymentCreate,
)
from controlplane.queries import AuditQuery
from controlplane.tables import audit_log, automation_executions, deployments, new_id, resource_groups, resources, utc

__all__ = ["HANDLERS"]


async def create_deployment(call: Call) -> Response:
    body: DeploymentCreate = call.body
    row = {"id": new_id("dep"), **body.model_dump(mode="json")}
    row["started_at"] = utc(body.started_at)
    row["finished_at"] = utc(body.finished_at) if body.finished_at is not None else None
    async with call.store.write() as connection:
        await require_ids(connection, resources, "resource_id", body.resource_id)
        await connection.execute(insert(deployments).values(**row))
        if body.status == "succeeded":
            newer = select(func.count()).where(
                deployments.c.resource_id == body.resource_id,
                deployments.c.status == "succeeded",
                deployments.c.started_at > row["started_at"],
            )
            if not (await connection.execute(newer)).scalar():
                current = update(resources).where(resources.c.id == body.resource_id)
                await connection.execute(current.values(version=body.version, updated_at=call.store.now()))
        await call.store.audit(
            connection,
            call.actor,
            "deployment",
            "deployment",
            resource_id=body.resource_id,
            at=row["finished_at"] or row["started_at"],
            acted_by=body.actor,
            summary=f"deployment of {body.version} (from {body.previous_version or 'nothing'}): {body.status}",
            details={"deployment_id": row["id"], "version": body.version, "trigger": body.trigger},
        )
    return model_response(Deployment.model_validate(row), 201)


async def list_audit_logs(call: Call) -> Response:
    query: AuditQuery = call.query
    conditions: list[ColumnElement[bool]] = []
    if query.resource_id is not None:
        conditions.append(audit_log.c.resource_id == query.resource_id)
    if query.group_id is not None:
        async with call.store.read() as connection:
            group = await fetch(connection, resource_groups, query.group_id, "resource group")
        conditions.append(audit_log.c.resource_id.in_(group["members"]))
    if query.type:
        conditions.append(audit_log.c.type.in_(query.type))
    if query.changes_only:
        conditions.append(audit_log.c.type.in_(CHANGE_TYPES))
    if query.actor is not None:
        conditions.append(audit_log.c.actor == query.actor)
    return await listing(call, audit_log, conditions, AuditEntry, order=audit_log.c.at, window=True)


async def create_audit_log(call: Call) -> Response:
    body: AuditEntryCreate = call.body
    async with call.store.write() as connection:
        if body.resource_id is not None:
            await require_ids(connection, resources, "resource_id", body.resource_id)
        row = await call.store.audit(
            connection,
            call.actor,
            body.type,
            body.type,
            resource_id=body.resource_id,
            at=utc(body.at),
            acted_by=body.actor,
            summary=body.summary,
            details=body.details,
        )
    return model_response(AuditEntry.model_validate(row), 201)


HANDLERS: dict[str, Handler] = {
    "list_deployments": lister(
        deployments, Deployment, order=deployments.c.started_at, window=True, filters=("resource_id", "status")
    ),
    "create_deployment": create_deployment,
    "list_audit_logs": list_audit_logs,
    "create_audit_log": create_audit_log,
    "list_automation_executions": lister(
        automation_executions,
        AutomationExecution,
        order=automation_executions.c.started_at,
        window=True,
        filters=("resource_id", "action"),
    ),
    "get_automation_execution": getter(automation_executions, AutomationExecution, "automation execution"),
}
