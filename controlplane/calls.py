"""One call to the API as its handler sees it, and the answers handlers give.

The API (`controlplane.api`) has already authenticated the caller, checked the operation's
scope and validated the body and the query against the operation's models when it hands a
handler a `Call`. Handlers raise `HttpError` for any answer but success.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import Column, ColumnElement, RowMapping, Table, select
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from common.errors import InputError
from common.rest import FieldError, HttpError, invalid
from controlplane.executor import Executor
from controlplane.models import Page
from controlplane.store import Actor, ControlPlaneStore

__all__ = [
    "Call",
    "Handler",
    "Services",
    "conflict",
    "fetch",
    "field_error",
    "getter",
    "lister",
    "listing",
    "model_response",
    "not_found",
    "require_ids",
]

ModelT = TypeVar("ModelT", bound=BaseModel)


@dataclass(frozen=True)
class Services:
    store: ControlPlaneStore
    executor: Executor
    #: How long an approval lives when its request does not say (CONTROLPLANE_APPROVAL_TTL_SECONDS).
    approval_ttl_seconds: int


@dataclass(frozen=True)
class Call:
    request: Request
    services: Services
    actor: Actor
    body: Any
    query: Any

    @property
    def store(self) -> ControlPlaneStore:
        return self.services.store

    def param(self, name: str) -> str:
        value: str = self.request.path_params[name]
        return value


Handler = Callable[[Call], Awaitable[Response]]


def model_response(model: BaseModel, status: int = 200) -> Response:
    return JSONResponse(model.model_dump(mode="json"), status_code=status)


def not_found(what: str, id: str) -> HttpError:
    return HttpError(404, "not_found", f"No {what} with id {id!r}.")


def conflict(description: str) -> HttpError:
    return HttpError(409, "conflict", description)


def field_error(field: str, message: str) -> HttpError:
    return invalid([FieldError(field=field, message=message)])


async def fetch(connection: AsyncConnection, table: Table, id: str, what: str) -> RowMapping:
    """The row of `table` with `id`, or a 404 naming `what`."""
    row = (await connection.execute(select(table).where(table.c.id == id))).mappings().first()
    if row is None:
        raise not_found(what, id)
    return row


async def require_ids(connection: AsyncConnection, table: Table, field: str, ids: str | Sequence[str]) -> None:
    """A 422 naming body field `field` (or its first bad item) unless every id in it is a row of `table`."""
    wanted = [ids] if isinstance(ids, str) else list(ids)
    found = await connection.execute(select(table.c.id).where(table.c.id.in_(set(wanted))))
    known = set(found.scalars())
    for index, id in enumerate(wanted):
        if id not in known:
            where = field if isinstance(ids, str) else f"{field}.{index}"
            raise field_error(where, f"no {table.name.removesuffix('s').replace('_', ' ')} has the id {id!r}")


async def listing(
    call: Call,
    table: Table,
    conditions: Sequence[ColumnElement[bool]],
    model: type[ModelT],
    *,
    order: Column[Any],
    newest_first: bool = True,
    window: bool = False,
    build: Callable[[Sequence[RowMapping]], Awaitable[list[ModelT]]] | None = None,
) -> Response:
    """A `Page` of `table`'s rows matching `conditions` (and `start`/`end` on `order` when `window`)."""
    query = call.query
    where = list(conditions)
    if window and query.start is not None:
        where.append(order >= query.start)
    if window and query.end is not None:
        where.append(order < query.end)
    try:
        page = await call.store.page(
            table, where, order=order, newest_first=newest_first, limit=query.limit, cursor=query.cursor
        )
    except InputError as exc:
        raise field_error("cursor", str(exc)) from None
    items = await build(page.rows) if build is not None else [model.model_validate(dict(row)) for row in page.rows]
    result = Page[model](items=items, next_cursor=page.next_cursor, truncated=page.next_cursor is not None)  # type: ignore[valid-type]
    return model_response(result)


def getter(table: Table, model: type[BaseModel], what: str) -> Handler:
    """The handler of `GET .../{id}` for rows of `table`."""

    async def get(call: Call) -> Response:
        async with call.store.read() as connection:
            row = await fetch(connection, table, call.param("id"), what)
        return model_response(model.model_validate(dict(row)))

    return get


def lister(
    table: Table,
    model: type[BaseModel],
    *,
    order: Column[Any],
    newest_first: bool = True,
    window: bool = False,
    filters: tuple[str, ...] = (),
) -> Handler:
    """The handler of a list whose `filters` are query parameters equal to the columns of the same name."""

    async def list_rows(call: Call) -> Response:
        given = {name: getattr(call.query, name) for name in filters}
        conditions = [table.c[name] == value for name, value in given.items() if value is not None]
        return await listing(call, table, conditions, model, order=order, newest_first=newest_first, window=window)

    return list_rows
