"""The registry's OpenAPI 3.1 document, built from the pydantic models so it cannot drift from them.

`OPERATIONS` lists every documented (method, path) with its statuses; `registry.api` serves
exactly these routes (a test compares the two). Body and response schemas are the models' JSON
schemas (`components/schemas`), query parameters are the fields of `ListQuery`/`SearchQuery`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from common.openapi import ApiDescription, Operation
from common.openapi import openapi_document as build_document
from common.scopes import REGISTRY_WRITE
from registry.models import (
    NAME_PATTERN,
    AgentEntry,
    AgentList,
    AgentRegistration,
    ListQuery,
    SearchQuery,
    SearchResult,
    ServerEntry,
    ServerList,
    ServerRegistration,
)
from registry.ownership import ADMIN_SCOPE

__all__ = ["OPERATIONS", "WRITE_SCOPE", "Operation", "openapi_document"]

WRITE_SCOPE = REGISTRY_WRITE

_API = ApiDescription(
    title="SRE Federation registry",
    description=(
        "Discovery of A2A agents and MCP servers. Every endpoint but /healthz and /openapi.json needs a "
        f"bearer token whose audience is this registry's URL; writes also need the `{WRITE_SCOPE}` scope. An "
        "entry belongs to the client that registered it (or the client its name is reserved for): only that "
        f"client, or one with the `{ADMIN_SCOPE}` scope, may change or delete it."
    ),
    errors={
        400: "Malformed request: the body is not JSON, or the Content-Type is not application/json.",
        401: "No bearer token, or one that is invalid for this registry (see WWW-Authenticate).",
        403: (
            f"The token lacks the `{WRITE_SCOPE}` scope (`insufficient_scope`), or the entry belongs to another "
            "client (`forbidden`)."
        ),
        404: "No entry with this name.",
        409: "The name is registered by, or reserved for, another client (`conflict`).",
        413: "The request body is larger than the configured limit.",
        422: "A field is missing, malformed or unknown; `errors` names each one.",
        429: "Too many requests from this caller; see Retry-After.",
    },
    path_parameters={"name": {"type": "string", "pattern": NAME_PATTERN}},
    ok_descriptions={201: "Registered.", 204: "Deregistered."},
)


def _kind_operations(
    kind: str, registration: type[BaseModel], entry: type[BaseModel], listing: type[BaseModel]
) -> list[Operation]:
    singular = kind[:-1]
    return [
        Operation(
            "post",
            f"/{kind}",
            f"Register (or re-register) an {singular}; re-registering refreshes last_seen.",
            {200: entry, 201: entry},
            (400, 401, 403, 409, 413, 422, 429),
            body=registration,
            scope=WRITE_SCOPE,
        ),
        Operation(
            "get",
            f"/{kind}",
            f"List registered {kind}, by name.",
            {200: listing},
            (401, 422, 429),
            query=ListQuery,
        ),
        Operation("get", f"/{kind}/{{name}}", f"One {singular} by name.", {200: entry}, (401, 404, 429)),
        Operation(
            "delete",
            f"/{kind}/{{name}}",
            f"Deregister an {singular}.",
            {204: None},
            (401, 403, 404, 429),
            scope=WRITE_SCOPE,
        ),
    ]


OPERATIONS: tuple[Operation, ...] = (
    *_kind_operations("agents", AgentRegistration, AgentEntry, AgentList),
    *_kind_operations("servers", ServerRegistration, ServerEntry, ServerList),
    Operation(
        "get",
        "/search",
        "Rank agents by exact skill id, then tags, then text (see `SearchHit.score`).",
        {200: SearchResult},
        (401, 422, 429),
        query=SearchQuery,
    ),
    Operation("get", "/openapi.json", "This document.", {200: None}, (429,), public=True),
    Operation("get", "/healthz", "Liveness; never rate-limited.", {200: None}, (), public=True),
)


def openapi_document(base_url: str | None = None) -> dict[str, Any]:
    return build_document(_API, OPERATIONS, base_url)
