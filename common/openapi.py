"""OpenAPI 3.1 documents built from pydantic models and a table of operations, so neither can drift.

An API lists every (method, path) it serves as an `Operation`: its statuses with their response
models, its body and query models, the scope it needs. `openapi_document` turns the table into
the document: bodies are the models' validation schemas, responses their serialization schemas
(`components/schemas`), query parameters the fields of the query model, every error an
`ErrorBody`. The API's routes are then checked against the same table by its tests.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from common import __version__
from common.rest import ErrorBody

__all__ = ["ApiDescription", "Operation", "openapi_document"]

_REF = "#/components/schemas/{model}"
_PATH_PARAMETER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Operation:
    method: Literal["get", "post", "put", "patch", "delete"]
    path: str
    summary: str
    ok: dict[int, type[BaseModel] | None]
    errors: tuple[int, ...]
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    #: The scope a token needs beyond being valid for this API; None: any valid token.
    scope: str | None = None
    #: Served without a token.
    public: bool = False
    #: Default: the method and the path's words (`get_agents_by_name` for GET /agents/{name}).
    operation_id: str | None = None

    @property
    def id(self) -> str:
        if self.operation_id is not None:
            return self.operation_id
        words = _PATH_PARAMETER.sub(r"by_\1", self.path).strip("/").replace(".", "_").replace("-", "_").split("/")
        return "_".join([self.method, *words])


@dataclass(frozen=True)
class ApiDescription:
    """What a document says besides its operations."""

    title: str
    description: str
    #: What each error status means in this API.
    errors: Mapping[int, str]
    #: The schema of each path parameter, by name.
    path_parameters: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    ok_descriptions: Mapping[int, str] = field(default_factory=lambda: {201: "Created.", 204: "No content."})


def openapi_document(
    api: ApiDescription, operations: Sequence[Operation], base_url: str | None = None
) -> dict[str, Any]:
    inputs: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        (operation.body, "validation") for operation in operations if operation.body is not None
    ]
    outputs: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        (model, "serialization") for operation in operations for model in operation.ok.values() if model is not None
    ]
    error: tuple[type[BaseModel], JsonSchemaMode] = (ErrorBody, "serialization")
    keys = list(dict.fromkeys([*inputs, *outputs, error]))
    schemas, definitions = models_json_schema(keys, ref_template=_REF)
    refs: dict[Any, str] = {key: schema["$ref"] for key, schema in schemas.items()}
    paths: dict[str, dict[str, Any]] = {}
    for operation in operations:
        paths.setdefault(operation.path, {})[operation.method] = _operation(api, operation, refs)
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": api.title, "version": __version__, "description": api.description},
        "paths": paths,
        "components": {
            "schemas": definitions.get("$defs", {}),
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }
    if base_url:
        document["servers"] = [{"url": base_url}]
    return document


def _operation(api: ApiDescription, operation: Operation, refs: Mapping[Any, str]) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, model in operation.ok.items():
        responses[str(status)] = {"description": api.ok_descriptions.get(status, "OK.")}
        if model is not None:
            schema = {"$ref": refs[(model, "serialization")]}
            responses[str(status)]["content"] = {"application/json": {"schema": schema}}
    error_schema = {"$ref": refs[(ErrorBody, "serialization")]}
    for status in operation.errors:
        responses[str(status)] = {
            "description": api.errors[status],
            "content": {"application/json": {"schema": error_schema}},
        }
    spec: dict[str, Any] = {"operationId": operation.id, "summary": operation.summary, "responses": responses}
    spec["security"] = [] if operation.public else [{"bearerAuth": [operation.scope] if operation.scope else []}]
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": api.path_parameters[name]}
        for name in _PATH_PARAMETER.findall(operation.path)
    ]
    if operation.query is not None:
        parameters.extend(_query_parameters(operation.query))
    if parameters:
        spec["parameters"] = parameters
    if operation.body is not None:
        spec["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": refs[(operation.body, "validation")]}}},
        }
    return spec


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema()
    parameters = []
    for name, prop in schema["properties"].items():
        prop = dict(prop)
        description = prop.pop("description", "")
        # A query string cannot carry null: an optional parameter is simply left out.
        branches = [branch for branch in prop.pop("anyOf", []) if branch.get("type") != "null"]
        if branches:
            prop.update(branches[0])
        if prop.get("default") is None:
            prop.pop("default", None)
        description = description or prop.pop("description", "")
        prop.pop("description", None)
        prop.pop("title", None)
        parameters.append({"name": name, "in": "query", "required": False, "description": description, "schema": prop})
    return parameters
