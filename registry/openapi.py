"""The registry's OpenAPI 3.1 document, built from the pydantic models so it cannot drift from them.

`OPERATIONS` lists every documented (method, path) with its statuses; `registry.api` serves
exactly these routes (a test compares the two). Body and response schemas are the models' JSON
schemas (`components/schemas`), query parameters are the fields of `ListQuery`/`SearchQuery`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from common import __version__
from registry.models import (
    NAME_PATTERN,
    AgentEntry,
    AgentList,
    AgentRegistration,
    ErrorBody,
    ListQuery,
    SearchQuery,
    SearchResult,
    ServerEntry,
    ServerList,
    ServerRegistration,
)

__all__ = ["OPERATIONS", "WRITE_SCOPE", "Operation", "openapi_document"]

WRITE_SCOPE = "registry:write"

_REF = "#/components/schemas/{model}"
_ERRORS = {
    400: "Malformed request: the body is not JSON, or the Content-Type is not application/json.",
    401: "No bearer token, or one that is invalid for this registry (see WWW-Authenticate).",
    403: f"The token lacks the `{WRITE_SCOPE}` scope (`insufficient_scope`).",
    404: "No entry with this name.",
    413: "The request body is larger than the configured limit.",
    422: "A field is missing, malformed or unknown; `errors` names each one.",
    429: "Too many requests from this caller; see Retry-After.",
}


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    summary: str
    ok: dict[int, type[BaseModel] | None]
    errors: tuple[int, ...]
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    scope: str | None = WRITE_SCOPE
    public: bool = False


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
            (400, 401, 403, 413, 422, 429),
            body=registration,
        ),
        Operation(
            "get",
            f"/{kind}",
            f"List registered {kind}, by name.",
            {200: listing},
            (401, 422, 429),
            query=ListQuery,
            scope=None,
        ),
        Operation("get", f"/{kind}/{{name}}", f"One {singular} by name.", {200: entry}, (401, 404, 429), scope=None),
        Operation("delete", f"/{kind}/{{name}}", f"Deregister an {singular}.", {204: None}, (401, 403, 404, 429)),
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
        scope=None,
    ),
    Operation("get", "/openapi.json", "This document.", {200: None}, (429,), scope=None, public=True),
    Operation("get", "/healthz", "Liveness; never rate-limited.", {200: None}, (), scope=None, public=True),
)

_MODELS: tuple[type[BaseModel], ...] = (
    AgentRegistration,
    ServerRegistration,
    AgentEntry,
    ServerEntry,
    AgentList,
    ServerList,
    SearchResult,
    ErrorBody,
)


def openapi_document(base_url: str | None = None) -> dict[str, Any]:
    _, definitions = models_json_schema(
        [(model, "validation") for model in _MODELS[:2]] + [(model, "serialization") for model in _MODELS[2:]],
        ref_template=_REF,
    )
    paths: dict[str, dict[str, Any]] = {}
    for operation in OPERATIONS:
        paths.setdefault(operation.path, {})[operation.method] = _operation(operation)
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "SRE Federation registry",
            "version": __version__,
            "description": (
                "Discovery of A2A agents and MCP servers. Every endpoint but /healthz and /openapi.json needs a "
                f"bearer token whose audience is this registry's URL; writes also need the `{WRITE_SCOPE}` scope."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": definitions.get("$defs", {}),
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }
    if base_url:
        document["servers"] = [{"url": base_url}]
    return document


def _operation(operation: Operation) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, model in operation.ok.items():
        description = "Registered." if status == 201 else "Deregistered." if status == 204 else "OK."
        responses[str(status)] = {"description": description}
        if model is not None:
            responses[str(status)]["content"] = {
                "application/json": {"schema": {"$ref": _REF.format(model=model.__name__)}}
            }
    for status in operation.errors:
        responses[str(status)] = {
            "description": _ERRORS[status],
            "content": {"application/json": {"schema": {"$ref": _REF.format(model="ErrorBody")}}},
        }
    spec: dict[str, Any] = {
        "operationId": _operation_id(operation),
        "summary": operation.summary,
        "responses": responses,
    }
    spec["security"] = [] if operation.public else [{"bearerAuth": [operation.scope] if operation.scope else []}]
    parameters = []
    if "{name}" in operation.path:
        parameters.append(
            {"name": "name", "in": "path", "required": True, "schema": {"type": "string", "pattern": NAME_PATTERN}}
        )
    if operation.query is not None:
        parameters.extend(_query_parameters(operation.query))
    if parameters:
        spec["parameters"] = parameters
    if operation.body is not None:
        spec["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": _REF.format(model=operation.body.__name__)}}},
        }
    return spec


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema()
    parameters = []
    for name, prop in schema["properties"].items():
        prop = dict(prop)
        # A query string cannot carry null: an optional parameter is simply left out.
        branches = [branch for branch in prop.pop("anyOf", []) if branch.get("type") != "null"]
        if branches:
            prop.update(branches[0])
        if prop.get("default") is None:
            prop.pop("default", None)
        description = prop.pop("description", "")
        prop.pop("title", None)
        parameters.append({"name": name, "in": "query", "required": False, "description": description, "schema": prop})
    return parameters


def _operation_id(operation: Operation) -> str:
    words = operation.path.strip("/").replace("{name}", "by_name").replace(".", "_").split("/")
    return "_".join([operation.method, *words])
