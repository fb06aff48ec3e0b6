"""What runs: resources (services, deployments, databases, ...) and named groups of them.

A resource is unique by `namespace/name`; its dependencies name other resources as `name` (same
namespace) or `namespace/name`, resolved when asked (`GET /resources/{id}/dependencies`), so a
resource may name one that is registered later.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, RowMapping, delete, exists, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.responses import Response

from controlplane.calls import Call, Handler, conflict, fetch, getter, lister, listing, model_response, require_ids
from controlplane.models import (
    Resource,
    ResourceCreate,
    ResourceDependencies,
    ResourceGroup,
    ResourceGroupCreate,
    ResourceUpdate,
)
from controlplane.queries import ResourceQuery
from controlplane.tables import new_id, resource_groups, resource_labels, resources

__all__ = ["HANDLERS"]


async def list_resources(call: Call) -> Response:
    query: ResourceQuery = call.query
    conditions: list[ColumnElement[bool]] = []
    if query.namespace is not None:
        conditions.append(resources.c.namespace == query.namespace)
    if query.kind is not None:
        conditions.append(resources.c.kind == query.kind)
    if query.name is not None:
        conditions.append(resources.c.name == query.name)
    if query.q:
        conditions.append(func.lower(resources.c.name).contains(query.q.lower(), autoescape=True))
    for selector in query.label:
        key, _, value = selector.partition("=")
        labelled = (
            (resource_labels.c.resource_id == resources.c.id)
            & (resource_labels.c.key == key)
            & (resource_labels.c.value == value)
        )
        conditions.append(exists().where(labelled))
    return await listing(call, resources, conditions, Resource, order=resources.c.created_at, newest_first=False)


async def create_resource(call: Call) -> Response:
    body: ResourceCreate = call.body
    now = call.store.now()
    row = {"id": new_id("res"), **body.model_dump(mode="json"), "created_at": now, "updated_at": now}
    taken = conflict(f"A resource named {body.namespace}/{body.name} exists already.")
    try:
        async with call.store.write() as connection:
            if await _named(connection, body.namespace, body.name) is not None:
                raise taken
            await connection.execute(insert(resources).values(**row))
            await _set_labels(connection, row["id"], body.labels)
            await call.store.audit(
                connection,
                call.actor,
                "resource",
                "resource.created",
                resource_id=row["id"],
                summary=f"created {body.kind} {body.namespace}/{body.name}",
            )
    except IntegrityError:  # created concurrently under the same name
        raise taken from None
    return model_response(Resource.model_validate(row), 201)


async def update_resource(call: Call) -> Response:
    body: ResourceUpdate = call.body
    resource_id = call.param("id")
    changes: dict[str, Any] = body.model_dump(mode="json", include=body.model_fields_set)
    # null means "unset" only where the field may be unset; lists and labels become empty.
    for field in ("dependencies", "labels"):
        if field in changes and changes[field] is None:
            changes[field] = [] if field == "dependencies" else {}
    async with call.store.write() as connection:
        await fetch(connection, resources, resource_id, "resource")
        await connection.execute(
            update(resources).where(resources.c.id == resource_id).values(**changes, updated_at=call.store.now())
        )
        if "labels" in changes:
            await _set_labels(connection, resource_id, changes["labels"])
        await call.store.audit(
            connection,
            call.actor,
            "resource",
            "resource.updated",
            resource_id=resource_id,
            summary=f"updated {', '.join(sorted(changes)) or 'nothing'}",
            details={"changes": changes},
        )
        row = await fetch(connection, resources, resource_id, "resource")
    return model_response(Resource.model_validate(dict(row)))


async def get_resource_dependencies(call: Call) -> Response:
    async with call.store.read() as connection:
        row = await fetch(connection, resources, call.param("id"), "resource")
        every = list((await connection.execute(select(resources).order_by(resources.c.created_at))).mappings())
    resource = Resource.model_validate(dict(row))
    by_name = {(r["namespace"], r["name"]): r for r in every}
    dependencies, unresolved = [], []
    for reference in resource.dependencies:
        found = by_name.get(_qualified(reference, resource.namespace))
        if found is None:
            unresolved.append(reference)
        else:
            dependencies.append(Resource.model_validate(dict(found)))
    me = (resource.namespace, resource.name)
    dependents = [
        Resource.model_validate(dict(other))
        for other in every
        if any(_qualified(reference, other["namespace"]) == me for reference in other["dependencies"])
    ]
    answer = ResourceDependencies(
        resource=resource, dependencies=dependencies, dependents=dependents, unresolved=unresolved
    )
    return model_response(answer)


async def create_resource_group(call: Call) -> Response:
    body: ResourceGroupCreate = call.body
    row = {"id": new_id("grp"), **body.model_dump(mode="json"), "created_at": call.store.now()}
    async with call.store.write() as connection:
        await require_ids(connection, resources, "members", body.members)
        await connection.execute(insert(resource_groups).values(**row))
        await call.store.audit(
            connection,
            call.actor,
            "resource_group",
            "resource_group.created",
            summary=f"created group {body.name} of {len(body.members)} resources",
            details={"group_id": row["id"]},
        )
    return model_response(ResourceGroup.model_validate(row), 201)


async def _named(connection: AsyncConnection, namespace: str, name: str) -> RowMapping | None:
    named = select(resources).where(resources.c.namespace == namespace, resources.c.name == name)
    return (await connection.execute(named)).mappings().first()


async def _set_labels(connection: AsyncConnection, resource_id: str, labels: dict[str, str]) -> None:
    await connection.execute(delete(resource_labels).where(resource_labels.c.resource_id == resource_id))
    if labels:
        rows = [{"resource_id": resource_id, "key": key, "value": value} for key, value in labels.items()]
        await connection.execute(insert(resource_labels), rows)


def _qualified(reference: str, namespace: str) -> tuple[str, str]:
    qualifier, _, name = reference.rpartition("/")
    return (qualifier or namespace, name)


HANDLERS: dict[str, Handler] = {
    "list_resources": list_resources,
    "create_resource": create_resource,
    "get_resource": getter(resources, Resource, "resource"),
    "update_resource": update_resource,
    "get_resource_dependencies": get_resource_dependencies,
    "list_resource_groups": lister(
        resource_groups, ResourceGroup, order=resource_groups.c.created_at, newest_first=False
    ),
    "create_resource_group": create_resource_group,
    "get_resource_group": getter(resource_groups, ResourceGroup, "resource group"),
}
