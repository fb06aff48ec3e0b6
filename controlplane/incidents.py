"""Incidents and their timelines: opened, acknowledged, resolved (and reopened), noted on the way.

An incident's status is its state of record: every change of it (acknowledge, resolve, reopen,
by its own route or by PATCH) needs an approval of that change of this incident
(`controlplane.policy`), checked like an action's (`controlplane.approvals.authorize`, the note
aside) and consumed with the change. Each change also adds an `action` entry to the timeline.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, RowMapping, exists, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.responses import Response

from controlplane.approvals import authorize, consume
from controlplane.calls import Call, Handler, conflict, fetch, listing, model_response, require_ids
from controlplane.models import (
    Incident,
    IncidentCreate,
    IncidentStatusUpdate,
    IncidentTransition,
    TimelineEntry,
    TimelineEntryCreate,
)
from controlplane.policy import INCIDENT_APPROVALS
from controlplane.queries import IncidentQuery
from controlplane.store import Actor
from controlplane.tables import incident_resources, incidents, new_id, resources, timeline_entries, utc

__all__ = ["HANDLERS"]

#: The statuses each change may start from.
_FROM: dict[str, tuple[str, ...]] = {
    "acknowledged": ("open",),
    "resolved": ("open", "acknowledged"),
    "open": ("acknowledged", "resolved"),
}
_ACTION = {"acknowledged": "incident.acknowledged", "resolved": "incident.resolved", "open": "incident.reopened"}
_DOING = {"acknowledged": "Acknowledging", "resolved": "Resolving", "open": "Reopening"}


async def list_incidents(call: Call) -> Response:
    query: IncidentQuery = call.query
    conditions: list[ColumnElement[bool]] = []
    if query.status is not None:
        conditions.append(incidents.c.status == query.status)
    if query.resource_id is not None:
        affected = (incident_resources.c.incident_id == incidents.c.id) & (
            incident_resources.c.resource_id == query.resource_id
        )
        conditions.append(exists().where(affected))

    async def build(rows: Sequence[RowMapping]) -> list[Incident]:
        async with call.store.read() as connection:
            return await _with_timelines(connection, rows)

    return await listing(call, incidents, conditions, Incident, order=incidents.c.started_at, window=True, build=build)


async def create_incident(call: Call) -> Response:
    body: IncidentCreate = call.body
    now = call.store.now()
    row = {
        "id": new_id("inc"),
        **body.model_dump(mode="json"),
        "started_at": utc(body.started_at) if body.started_at is not None else now,
        "status": "open",
        "created_at": now,
    }
    async with call.store.write() as connection:
        await require_ids(connection, resources, "resource_ids", body.resource_ids)
        await connection.execute(insert(incidents).values(**row))
        affected = [{"incident_id": row["id"], "resource_id": rid} for rid in dict.fromkeys(body.resource_ids)]
        if affected:
            await connection.execute(insert(incident_resources), affected)
        await call.store.audit(
            connection,
            call.actor,
            "incident",
            "incident.created",
            resource_id=body.resource_ids[0] if body.resource_ids else None,
            summary=f"opened [{body.severity}] {body.title}",
            details={"incident_id": row["id"]},
        )
    return model_response(Incident.model_validate(row), 201)


async def get_incident(call: Call) -> Response:
    async with call.store.read() as connection:
        row = await fetch(connection, incidents, call.param("id"), "incident")
        (incident,) = await _with_timelines(connection, [row])
    return model_response(incident)


async def update_incident(call: Call) -> Response:
    body: IncidentStatusUpdate = call.body
    return await _change(call, body.status, body.note, body.approval_id, body.on_behalf_of)


async def acknowledge_incident(call: Call) -> Response:
    body: IncidentTransition = call.body
    return await _change(call, "acknowledged", body.note, body.approval_id, body.on_behalf_of)


async def resolve_incident(call: Call) -> Response:
    body: IncidentTransition = call.body
    return await _change(call, "resolved", body.note, body.approval_id, body.on_behalf_of)


async def add_incident_timeline_entry(call: Call) -> Response:
    body: TimelineEntryCreate = call.body
    incident_id = call.param("id")
    async with call.store.write() as connection:
        await fetch(connection, incidents, incident_id, "incident")
        entry = await _add_entry(call, connection, incident_id, body.kind, body.text, body.details)
        await call.store.audit(
            connection,
            call.actor,
            "incident",
            "incident.timeline_added",
            summary=f"{body.kind} on {incident_id}: {body.text[:200]}",
            details={"incident_id": incident_id, "timeline_entry_id": entry["id"]},
        )
    return model_response(TimelineEntry.model_validate(_entry(entry)), 201)


async def _change(call: Call, status: str, note: str, approval_id: str | None, on_behalf_of: str | None) -> Response:
    incident_id = call.param("id")
    actor = Actor(call.actor.client_id, on_behalf_of)
    async with call.store.read() as connection:
        row = await fetch(connection, incidents, incident_id, "incident")
    _check_change(incident_id, row["status"], status)
    approval = await authorize(
        call,
        approval_id,
        action=INCIDENT_APPROVALS[status],
        target=incident_id,
        arguments=None,  # the note is a timeline note: it needs no approval of its own
        on_behalf_of=on_behalf_of,
        doing=f"{_DOING[status]} incident {incident_id}",
    )
    now = call.store.now()
    async with call.store.write() as connection:
        row = await fetch(connection, incidents, incident_id, "incident")
        _check_change(incident_id, row["status"], status)  # again: it may have changed meanwhile
        await consume(connection, approval["id"], now)
        changes: dict[str, Any] = {"status": status}
        if status == "acknowledged":
            changes |= {"acknowledged_at": now, "acknowledged_by": actor.client_id}
        elif status == "resolved":
            changes |= {"resolved_at": now, "resolved_by": actor.client_id}
        else:
            changes |= {"resolved_at": None, "resolved_by": None}
        await connection.execute(update(incidents).where(incidents.c.id == incident_id).values(**changes))
        details = {"incident_id": incident_id, "approval_id": approval["id"]}
        await _add_entry(call, connection, incident_id, "action", f"{status}: {note}" if note else status, details)
        await call.store.audit(
            connection,
            actor,
            "incident",
            _ACTION[status],
            summary=f"{incident_id} {status}" + (f": {note[:200]}" if note else ""),
            details={"incident_id": incident_id, **details},
        )
        (incident,) = await _with_timelines(connection, [{**row, **changes}])
    return model_response(incident)


async def _add_entry(
    call: Call, connection: AsyncConnection, incident_id: str, kind: str, text: str, details: dict[str, Any]
) -> dict[str, Any]:
    entry = {
        "id": new_id("tl"),
        "incident_id": incident_id,
        "at": call.store.now(),
        "actor": call.actor.client_id,
        "kind": kind,
        "text": text,
        "details": details,
    }
    await connection.execute(insert(timeline_entries).values(**entry))
    return entry


async def _with_timelines(connection: AsyncConnection, rows: Sequence[Any]) -> list[Incident]:
    ids = [row["id"] for row in rows]
    timelines: dict[str, list[dict[str, Any]]] = {incident_id: [] for incident_id in ids}
    if ids:
        entries = select(timeline_entries).where(timeline_entries.c.incident_id.in_(ids))
        for entry in (
            await connection.execute(entries.order_by(timeline_entries.c.at, timeline_entries.c.id))
        ).mappings():
            timelines[entry["incident_id"]].append(_entry(entry))
    return [Incident.model_validate({**row, "timeline": timelines[row["id"]]}) for row in rows]


def _check_change(incident_id: str, current: str, status: str) -> None:
    if current not in _FROM[status]:
        raise conflict(f"Incident {incident_id} is {current}; it cannot become {status}.")


def _entry(row: Any) -> dict[str, Any]:
    return {key: value for key, value in row.items() if key != "incident_id"}


HANDLERS: dict[str, Handler] = {
    "list_incidents": list_incidents,
    "create_incident": create_incident,
    "get_incident": get_incident,
    "update_incident": update_incident,
    "acknowledge_incident": acknowledge_incident,
    "resolve_incident": resolve_incident,
    "add_incident_timeline_entry": add_incident_timeline_entry,
}
