"""The registry's HTTP API: self-registration, lookup and search of agents and MCP servers.

Routes (documented in `registry.openapi`, which a test keeps in step with `RegistryApi.routes`):

    POST   /agents, /servers              upsert; 201 when new, 200 when updated   registry:write
                                          409 when the name is another client's
    DELETE /agents/{name}, /servers/{name}  204; 404 when unknown                  registry:write
                                          403 when the entry is another client's
    GET    /agents, /servers              list by name, paginated                  any valid token
    GET    /agents/{name}, /servers/{name}                                         any valid token
    GET    /search?skill=&q=              ranked agents (see `registry.search`)    any valid token
    GET    /openapi.json, /healthz        public

Authentication: `BearerAuthMiddleware` verifies an `Authorization: Bearer` token once per
request (audience = the registry's canonical URL) and leaves the result in the scope; each
route then requires it. No or an invalid token is 401 with `WWW-Authenticate: Bearer`; a valid
token without `registry:write` on a write is 403 `insufficient_scope` naming the scope. An
entry belongs to the client whose token created it (`registry.ownership`; `registry:admin`
lifts that), so the client id of the token is passed to the store with each write. Errors
are `ErrorBody` JSON. Bodies must be `application/json` (400 otherwise), at most
`max_body_bytes` (413, checked before parsing), and match the model exactly (422 naming each
offending field, unknown fields included).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from mcp.server.auth.provider import AccessToken
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from common.auth.bearer import ACCESS_KEY
from common.errors import InputError
from common.pagination import paginate
from common.rest import BearerGuard, FieldError, Handler, HttpError, invalid, parse_body, parse_query
from registry.models import (
    AgentList,
    AgentRegistration,
    ListQuery,
    SearchQuery,
    SearchResult,
    ServerList,
    ServerRegistration,
)
from registry.openapi import WRITE_SCOPE
from registry.ownership import ADMIN_SCOPE, ANONYMOUS, Writer
from registry.search import rank_agents
from registry.store import Kind, RegistryStore

__all__ = ["RegistryApi"]

logger = logging.getLogger(__name__)


class RegistryApi:
    """The routes over one `RegistryStore`; `auth_required=False` only when auth is disabled (loopback)."""

    def __init__(
        self, store: RegistryStore, *, max_body_bytes: int, auth_required: bool, openapi: dict[str, Any]
    ) -> None:
        self.store = store
        self.max_body_bytes = max_body_bytes
        self.auth_required = auth_required
        self.openapi = openapi
        self._guard = BearerGuard("registry", auth_required)

    def routes(self) -> list[Route]:
        return [
            Route("/agents", self.guard(self.register_agent, WRITE_SCOPE), methods=["POST"]),
            Route("/agents", self.guard(self.list_agents), methods=["GET"]),
            Route("/agents/{name}", self.guard(self.get_agent), methods=["GET"]),
            Route("/agents/{name}", self.guard(self.deregister_agent, WRITE_SCOPE), methods=["DELETE"]),
            Route("/servers", self.guard(self.register_server, WRITE_SCOPE), methods=["POST"]),
            Route("/servers", self.guard(self.list_servers), methods=["GET"]),
            Route("/servers/{name}", self.guard(self.get_server), methods=["GET"]),
            Route("/servers/{name}", self.guard(self.deregister_server, WRITE_SCOPE), methods=["DELETE"]),
            Route("/search", self.guard(self.search), methods=["GET"]),
            Route("/openapi.json", self.openapi_json, methods=["GET"]),
            Route("/healthz", self.healthz, methods=["GET"]),
        ]

    # -- handlers ------------------------------------------------------------------------------

    async def register_agent(self, request: Request) -> Response:
        registration = await parse_body(request, AgentRegistration, self.max_body_bytes)
        writer = self._writer(request)
        with _logged_refusal(writer, "register agent", registration.name):
            entry, created = await self.store.register_agent(registration, writer)
        logger.info("Agent %s %s at %s", entry.name, "registered" if created else "re-registered", entry.url)
        return _entry_response(entry, created, f"/agents/{entry.name}")

    async def register_server(self, request: Request) -> Response:
        registration = await parse_body(request, ServerRegistration, self.max_body_bytes)
        writer = self._writer(request)
        with _logged_refusal(writer, "register MCP server", registration.name):
            entry, created = await self.store.register_server(registration, writer)
        logger.info("MCP server %s %s at %s", entry.name, "registered" if created else "re-registered", entry.url)
        return _entry_response(entry, created, f"/servers/{entry.name}")

    async def list_agents(self, request: Request) -> Response:
        query = parse_query(request, ListQuery)
        return _paged(
            await self.store.list_agents(query.tenant), query, lambda page, **rest: AgentList(agents=page, **rest)
        )

    async def list_servers(self, request: Request) -> Response:
        query = parse_query(request, ListQuery)
        return _paged(
            await self.store.list_servers(query.tenant), query, lambda page, **rest: ServerList(servers=page, **rest)
        )

    async def get_agent(self, request: Request) -> Response:
        entry = await self.store.get_agent(request.path_params["name"])
        return _found(entry, "agent", request.path_params["name"])

    async def get_server(self, request: Request) -> Response:
        entry = await self.store.get_server(request.path_params["name"])
        return _found(entry, "MCP server", request.path_params["name"])

    async def deregister_agent(self, request: Request) -> Response:
        return await self._deregister("agents", request.path_params["name"], self._writer(request))

    async def deregister_server(self, request: Request) -> Response:
        return await self._deregister("servers", request.path_params["name"], self._writer(request))

    async def search(self, request: Request) -> Response:
        query = parse_query(request, SearchQuery)
        if not (query.skill or "").strip() and not (query.q or "").strip():
            raise invalid([FieldError(field="skill", message="give `skill`, `q` or both (non-blank)")])
        hits = rank_agents(await self.store.list_agents(query.tenant), query.skill, query.q)
        page = hits[: query.limit]
        result = SearchResult(results=page, returned=len(page), total=len(hits), truncated=len(hits) > len(page))
        return JSONResponse(result.model_dump(mode="json"))

    async def openapi_json(self, request: Request) -> Response:
        return JSONResponse(self.openapi)

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok", "component": "registry"})

    # -- plumbing ------------------------------------------------------------------------------

    def guard(self, handler: Handler, scope: str | None = None) -> Handler:
        return self._guard(handler, scope)

    def _writer(self, request: Request) -> Writer:
        """The client writing, from the token the guard has already checked."""
        if not self.auth_required:
            return ANONYMOUS
        access: AccessToken = request.scope[ACCESS_KEY]  # the guard lets only a verified token through
        return Writer(access.client_id, admin=ADMIN_SCOPE in access.scopes)

    async def _deregister(self, kind: Kind, name: str, writer: Writer) -> Response:
        with _logged_refusal(writer, f"deregister {kind[:-1]}", name):
            deleted = await self.store.deregister(kind, name, writer)
        if not deleted:
            raise _not_registered(kind[:-1], name)
        logger.info("Deregistered %s %s", kind[:-1], name)
        return Response(status_code=204)


@contextmanager
def _logged_refusal(writer: Writer, action: str, name: str) -> Iterator[None]:
    """Logs the store's refusal of `writer`'s `action` on `name`, which the app then answers."""
    try:
        yield
    except HttpError as refusal:
        # Logged, so an operator sees a client trying to take another's name (an impostor, or a misconfiguration).
        logger.warning("Client %s may not %s %s: %s", writer.client_id, action, name, refusal.description)
        raise


def _paged(entries: list[Any], query: ListQuery, build: Callable[..., BaseModel]) -> Response:
    try:
        page = paginate(entries, limit=query.limit, cursor=query.cursor)
    except InputError as exc:
        raise invalid([FieldError(field="cursor", message=str(exc))]) from None
    listing = build(
        page.items, returned=len(page.items), total=page.total, truncated=page.truncated, next_cursor=page.next_cursor
    )
    return JSONResponse(listing.model_dump(mode="json"))


def _entry_response(entry: BaseModel, created: bool, location: str) -> Response:
    return JSONResponse(
        entry.model_dump(mode="json"), status_code=201 if created else 200, headers={"Location": location}
    )


def _found(entry: BaseModel | None, what: str, name: str) -> Response:
    if entry is None:
        raise _not_registered(what, name)
    return JSONResponse(entry.model_dump(mode="json"))


def _not_registered(what: str, name: str) -> HttpError:
    return HttpError(404, "not_found", f"No {what} named {name!r} is registered.")
