"""Control plane operations as MCP tools: what an operation is, the request a call makes, the tools.

A team's own control plane may add endpoints the curated tools do not know. An `Operation` (read
from the OpenAPI document by `servers.controlplane_mcp.openapi_document`) has a tool name and one
JSON schema holding its path and query parameters plus `body`. `operation_tools` publishes
operations as MCP tools that behave like those of `common.mcp.tools.build_tools` (strict schemas
checked by `ToolGate`, structured output, `SreError`s as tool errors); running one is left to the
caller's `call`, which turns `build_request(operation, arguments)` into an HTTP call, and gates the
writes (any method but GET and HEAD) behind an approval.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import quote

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from mcp.server.mcpserver.tools.base import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, FuncMetadata
from mcp_types import ToolAnnotations
from pydantic import Field, model_validator

from common.contracts.results import ToolResult
from common.errors import InputError
from common.mcp.tools import structured_tool
from common.settings import decode_json_text

__all__ = [
    "BODY_ARGUMENT",
    "PATH_TEMPLATE",
    "Operation",
    "OperationCall",
    "OperationResult",
    "Request",
    "build_request",
    "operation_tools",
]

#: Characters of an answer shown in the text rendering; the structured content has all of it.
MAX_RENDERED_CHARS = 2000
#: The argument that holds an operation's request body.
BODY_ARGUMENT = "body"
#: A path parameter in a path template: `/items/{id}`.
PATH_TEMPLATE = re.compile(r"\{([^{}]+)\}")
_READ_METHODS = frozenset({"GET", "HEAD"})
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"})


@dataclass(frozen=True)
class Operation:
    """One operation of the document, as a tool sees it."""

    operation_id: str
    #: The MCP tool name: the prefix and the operationId in snake case, at most 64 characters.
    tool_name: str
    method: str
    #: The path template, e.g. `/api/v1/items/{id}`, relative to the control plane's base URL.
    path: str
    summary: str
    description: str
    #: A JSON schema object: one property per path and query parameter, and `body`.
    input_schema: dict[str, Any] = field(compare=False)
    path_params: tuple[str, ...] = ()
    query_params: tuple[str, ...] = ()
    #: Query parameters whose list values are sent comma-joined (`explode: false`), not repeated.
    joined_query_params: tuple[str, ...] = ()
    has_body: bool = False
    deprecated: bool = False
    #: The scopes a token needs: one set per alternative the document allows (none: no token); None
    #: when the document does not say.
    security: tuple[frozenset[str], ...] | None = None
    #: The approval actions the API checks itself (`x-approval`; empty: the scope is enough); None
    #: when the document does not say, as for a team's own endpoints that know nothing of approvals.
    approvals: tuple[str, ...] | None = None

    @property
    def read_only(self) -> bool:
        return self.method in _READ_METHODS

    @property
    def title(self) -> str:
        return self.summary or f"{self.method} {self.path}"

    def tool_description(self) -> str:
        effect = "reads only" if self.read_only else "changes state"
        parts = [self.summary, self.description, f"Calls `{self.method} {self.path}` on the control plane ({effect})."]
        if self.deprecated:
            parts.append("Deprecated by the control plane.")
        return "\n\n".join(part for part in parts if part)


@dataclass(frozen=True)
class Request:
    """What to send for one call: the path filled in and escaped, relative to the base URL."""

    method: str
    path: str
    query: list[tuple[str, str]] = field(default_factory=list)
    #: The JSON body, or None for none.
    body: Any = None


class OperationResult(ToolResult):
    """The control plane's answer to an operation, as it sent it."""

    operation_id: str
    status: int = Field(description="The HTTP status of the answer.")
    data: Any = Field(default=None, description="The answer's JSON body (its text when it was not JSON).")

    def render_text(self) -> str:
        text = self.data if isinstance(self.data, str) else json.dumps(self.data, ensure_ascii=False, default=str)
        if len(text) > MAX_RENDERED_CHARS:
            text = (
                f"{text[:MAX_RENDERED_CHARS]}... (cut at {MAX_RENDERED_CHARS} of {len(text)} characters; "
                "the structured content has all of it)"
            )
        return f"{self.operation_id}: HTTP {self.status}\n{text}"


OperationCall = Callable[[Operation, dict[str, Any]], Awaitable[ToolResult]]


def build_request(operation: Operation, arguments: Mapping[str, Any]) -> Request:
    """The request for a call of `operation` with `arguments` (already checked against its schema)."""
    known = {*operation.path_params, *operation.query_params, *((BODY_ARGUMENT,) if operation.has_body else ())}
    unknown = sorted(set(arguments) - known)
    if unknown:
        allowed = ", ".join(sorted(known)) or "none"
        raise InputError(f"Unknown arguments for {operation.tool_name}: {', '.join(unknown)}. Allowed: {allowed}.")

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if arguments.get(name) is None:
            raise InputError(f"{operation.tool_name} needs the path parameter {name!r}.")
        value = _scalar_text(operation, name, arguments[name])
        # A dot segment would survive quoting and move the request to another path.
        if value in ("", ".", ".."):
            raise InputError(f"{name}={value!r} is not a valid path parameter of {operation.tool_name}.")
        return quote(value, safe="")

    path = PATH_TEMPLATE.sub(fill, operation.path)
    query: list[tuple[str, str]] = []
    for name in operation.query_params:
        value = arguments.get(name)
        if value is None:
            continue
        if isinstance(value, list | tuple):
            texts = [_scalar_text(operation, name, item) for item in value]
            if name in operation.joined_query_params:
                query.append((name, ",".join(texts)))
            else:
                query += [(name, text) for text in texts]
        else:
            query.append((name, _scalar_text(operation, name, value)))
    body = arguments.get(BODY_ARGUMENT) if operation.has_body else None
    return Request(method=operation.method, path=path, query=query, body=body)


def operation_tools(
    operations: Sequence[Operation], call: OperationCall, *, output: type[ToolResult] = OperationResult
) -> list[Tool]:
    """MCP tools for `operations`; each runs `call(operation, arguments)`, which must return an `output`.

    Use them like those of `build_tools`: `MCPServer(tools=tools, middleware=[ToolGate(tools)])`.
    The arguments are checked against the operation's schema again before `call` runs, so a tool
    is safe without the gate too.
    """
    return [_tool(operation, call, output) for operation in operations]


def _tool(operation: Operation, call: OperationCall, output: type[ToolResult]) -> Tool:
    async def run(**arguments: Any) -> ToolResult:
        return await call(operation, arguments)

    run.__name__ = run.__qualname__ = operation.tool_name
    run.__annotations__ = {"arguments": Any, "return": output}
    arguments_model = type(
        f"{operation.tool_name}_arguments",
        (_OperationArguments,),
        {"__module__": __name__, "validator": Draft202012Validator(operation.input_schema)},
    )
    return Tool(
        fn=structured_tool(run),
        name=operation.tool_name,
        title=operation.title,
        description=operation.tool_description(),
        parameters=copy.deepcopy(operation.input_schema),
        fn_metadata=FuncMetadata(arg_model=arguments_model, output_model=output),
        is_async=True,
        annotations=ToolAnnotations(
            title=operation.title,
            read_only_hint=operation.read_only,
            destructive_hint=not operation.read_only,
            idempotent_hint=operation.method in _IDEMPOTENT_METHODS,
            open_world_hint=True,
        ),
    )


class _OperationArguments(ArgModelBase):
    """All arguments of a call, checked against the operation's schema.

    The names are the document's, which need not be Python identifiers, so they are kept in one dict.
    """

    validator: ClassVar[Draft202012Validator]
    arguments: dict[str, Any]

    @model_validator(mode="before")
    @classmethod
    def _check(cls, data: Any) -> dict[str, Any]:
        if not isinstance(data, Mapping):
            raise ValueError("The arguments must be an object.")
        # As ToolGate does: some clients send lists and objects as JSON text.
        decoded = {key: decode_json_text(value) for key, value in data.items()}
        error = best_match(cls.validator.iter_errors(decoded))
        if error is not None:
            where = ".".join(str(part) for part in error.absolute_path) or "arguments"
            raise ValueError(f"{where}: {error.message}")
        return {"arguments": decoded}

    def model_dump_one_level(self) -> dict[str, Any]:
        return dict(self.arguments)


# --- reading the document -------------------------------------------------------------------


def _scalar_text(operation: Operation, name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise InputError(
        f"{name} of {operation.tool_name} must be a string, number or boolean, not {type(value).__name__}."
    )
