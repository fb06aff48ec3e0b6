"""What runs: resources (services, deployments, databases, ...) and named groups of them.

A resource is unique by `namespace/name`. Lists find it by its own labels (`label=key=value`)
or by an entry of its pods' label selector (`selector=key=value`: the workloads that select pods
labelled `app=checkout`, among others). Its dependencies name other resources as `name` (same
namespace) or `namespace/name`, resolved when asked (`GET /resources/{id}/dependencies`), so a
resource may name one that is registered later.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, RowMapping, Table, delete, exists, func, insert, select, update
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
from controlplane.tables import new_id, resource_groups, resource_labels, resource_selectors, resources

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
    conditions += [_holds(resource_labels, pair) for pair in query.label]
    conditions += [_holds(resource_selectors, pair) for pair in query.selector]
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
            await _set_pairs(connection, resource_labels, row["id"], body.labels)
            await _set_pairs(connection, resource_selectors, row["id"], body.selector)
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
    # null means "unset" only where the field may be unset; lists and label maps become empty.
    for field in ("dependencies", "labels", "selector"):
        if field in changes and changes[field] is None:
            changes[field] = [] if field == "dependencies" else {}
    async with call.store.write() as connection:
        await fetch(connection, resources, resource_id, "resource")
        await connection.execute(
            update(resources).where(resources.c.id == resource_id).values(**changes, updated_at=call.store.now())
        )
        if "labels" in changes:
            await _set_pairs(connection, resource_labels, resource_id, changes["labels"])
        if "selector" in changes:
            await _set_pairs(connection, resource_selectors, resource_id, changes["selector"])
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


def _holds(pairs: Table, pair: str) -> ColumnElement[bool]:
    """The resource has `key=value` among its rows of `pairs` (its labels, or its selector)."""
    key, _, value = pair.partition("=")
    held = (pairs.c.resource_id == resources.c.id) & (pairs.c.key == key) & (pairs.c.value == value)
    return exists().where(held)


async def _set_pairs(connection: AsyncConnection, pairs: Table, resource_id: str, values: dict[str, str]) -> None:
    """The rows of `pairs` (labels or selector) kept for lookups: exactly `values`."""
    await connection.execute(delete(pairs).where(pairs.c.resource_id == resource_id))
    if values:
        rows = [{"resource_id": resource_id, "key": key, "value": value} for key, value in values.items()]
        await connection.execute(insert(pairs), rows)


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
