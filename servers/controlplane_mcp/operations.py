"""Control plane operations read from its OpenAPI 3.1 document, and the MCP tools that call them.

A team's own control plane may add endpoints the curated tools do not know. `operations_from_openapi`
turns every documented operation into an `Operation`: a tool name, and one JSON schema holding its
path and query parameters plus `body`. `operation_tools` publishes them as MCP tools that behave
like those of `common.mcp_tools.build_tools` (strict schemas checked by `ToolGate`, structured
output, `SreError`s as tool errors); running one is left to the caller's `call`, which turns
`build_request(operation, arguments)` into an HTTP call, and gates the writes (any method but GET
and HEAD) behind an approval.

Schemas are inlined: a `$ref` is replaced by what it points to, and a schema that contains itself
is expanded `MAX_SELF_NESTING` levels deep, then described in words. An operation whose inputs
cannot be expressed as tool arguments (a required header or cookie, a body that is not JSON, an
object in the query) is left out with a logged warning.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import re
from collections.abc import Awaitable, Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import quote, unquote

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, best_match
from mcp.server.mcpserver.tools.base import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, FuncMetadata
from mcp_types import ToolAnnotations
from pydantic import Field, model_validator

from common.errors import InputError
from common.mcp_tools import ToolResult, structured_tool
from common.settings import decode_json_text

__all__ = [
    "DEFAULT_PREFIX",
    "Operation",
    "OperationCall",
    "OperationResult",
    "Request",
    "build_request",
    "operation_tools",
    "operations_from_openapi",
]

logger = logging.getLogger(__name__)

DEFAULT_PREFIX = "controlplane_op_"
#: MCP clients reject longer tool names.
MAX_TOOL_NAME = 64
#: How many times a schema is expanded inside itself (a tree of nodes: this many levels of children).
MAX_SELF_NESTING = 2
#: How many `$ref`s deep any schema is expanded, recursive or not.
MAX_REF_DEPTH = 12
#: Characters of an answer shown in the text rendering; the structured content has all of it.
MAX_RENDERED_CHARS = 2000

_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_READ_METHODS = frozenset({"GET", "HEAD"})
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"})
_BODY = "body"
_TEMPLATE = re.compile(r"\{([^{}]+)\}")

# JSON Schema 2020-12 keywords whose values are schemas, lists of schemas or maps of names to
# schemas. Everything else (enum, const, default, examples, ...) is data and is copied as it is.
_SCHEMA_KEYWORDS = frozenset(
    {
        "items",
        "additionalItems",
        "additionalProperties",
        "not",
        "if",
        "then",
        "else",
        "contains",
        "propertyNames",
        "unevaluatedItems",
        "unevaluatedProperties",
        "contentSchema",
    }
)
_SCHEMA_LIST_KEYWORDS = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
_SCHEMA_MAP_KEYWORDS = frozenset({"properties", "patternProperties", "dependentSchemas", "$defs", "definitions"})


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


class _Unsupported(Exception):
    """An operation cannot be offered as a tool; the message says why."""


def operations_from_openapi(
    document: Mapping[str, Any], *, exclude: Collection[str] = (), prefix: str = DEFAULT_PREFIX
) -> list[Operation]:
    """Every operation of an OpenAPI 3.1 document that has an operationId not in `exclude`.

    The order is the document's (paths, then methods in a fixed order). Operations that cannot be
    offered as tools are left out with a warning in the log.
    """
    version = str(document.get("openapi", ""))
    if not version.startswith("3.1"):
        logger.warning("The OpenAPI document is version %r, not 3.1; its schemas may not read as intended.", version)
    operations: list[Operation] = []
    names: set[str] = set()
    for path, method, raw, path_item in _raw_operations(document):
        operation_id = raw.get("operationId")
        if not isinstance(operation_id, str) or not operation_id:
            logger.warning("Skipping %s %s: it has no operationId to name a tool after.", method.upper(), path)
            continue
        if operation_id in exclude:
            continue
        try:
            name = _tool_name(prefix, operation_id, names)
            operation = _operation(document, path, method, raw, path_item, operation_id, name)
        except _Unsupported as exc:
            logger.warning("Skipping operation %s (%s %s): %s", operation_id, method.upper(), path, exc)
            continue
        names.add(name)
        operations.append(operation)
    return operations


def build_request(operation: Operation, arguments: Mapping[str, Any]) -> Request:
    """The request for a call of `operation` with `arguments` (already checked against its schema)."""
    known = {*operation.path_params, *operation.query_params, *((_BODY,) if operation.has_body else ())}
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

    path = _TEMPLATE.sub(fill, operation.path)
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
    body = arguments.get(_BODY) if operation.has_body else None
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


def _raw_operations(document: Mapping[str, Any]) -> Iterator[tuple[str, str, Mapping[str, Any], Mapping[str, Any]]]:
    paths = document.get("paths") or {}
    for path, item in paths.items():
        try:
            path_item = _follow(document, item)
        except _Unsupported as exc:
            logger.warning("Skipping the path %s: %s", path, exc)
            continue
        for method in _METHODS:
            raw = path_item.get(method)
            if isinstance(raw, Mapping):
                yield str(path), method, raw, path_item


def _operation(
    document: Mapping[str, Any],
    path: str,
    method: str,
    raw: Mapping[str, Any],
    path_item: Mapping[str, Any],
    operation_id: str,
    name: str,
) -> Operation:
    properties: dict[str, Any] = {}
    required: list[str] = []
    path_params: list[str] = []
    query_params: list[str] = []
    joined: list[str] = []
    for parameter in _parameters(document, path_item, raw):
        param_name, location = parameter["name"], parameter["in"]
        if location in ("header", "cookie"):
            if parameter.get("required"):
                raise _Unsupported(f"it needs the {location} {param_name!r}, which a tool cannot send")
            logger.info("Operation %s: leaving out the optional %s %r.", operation_id, location, param_name)
            continue
        if location not in ("path", "query"):
            raise _Unsupported(f"the parameter {param_name!r} is in {location!r}")
        if param_name in properties or param_name == _BODY:
            raise _Unsupported(f"two inputs are named {param_name!r}")
        schema = _parameter_schema(document, parameter)
        if location == "path":
            if parameter.get("style", "simple") != "simple" or _declared_type(schema) in ("object", "array"):
                raise _Unsupported(f"the path parameter {param_name!r} is not a plain value")
            path_params.append(param_name)
            required.append(param_name)
        else:
            if parameter.get("style", "form") != "form" or _declared_type(schema) == "object":
                raise _Unsupported(f"the query parameter {param_name!r} is not a plain value or a list")
            if _declared_type(schema.get("items")) in ("object", "array"):
                raise _Unsupported(f"the query parameter {param_name!r} is a list of objects or lists")
            query_params.append(param_name)
            if parameter.get("explode") is False:
                joined.append(param_name)
            if parameter.get("required"):
                required.append(param_name)
        properties[param_name] = schema
    in_template = _TEMPLATE.findall(path)
    if sorted(in_template) != sorted(path_params):
        raise _Unsupported(f"its path parameters {sorted(path_params)} do not match the template {path}")
    has_body = "requestBody" in raw
    if has_body:
        body = _follow(document, raw["requestBody"])
        properties[_BODY] = _body_schema(document, body)
        if body.get("required"):
            required.append(_BODY)
    input_schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        input_schema["required"] = required
    try:
        Draft202012Validator.check_schema(input_schema)
    except SchemaError as exc:
        raise _Unsupported(f"its schema is not valid JSON Schema 2020-12 ({exc.message})") from None
    return Operation(
        operation_id=operation_id,
        tool_name=name,
        method=method.upper(),
        path=path,
        summary=_text(raw.get("summary")),
        description=_text(raw.get("description")),
        input_schema=input_schema,
        path_params=tuple(path_params),
        query_params=tuple(query_params),
        joined_query_params=tuple(joined),
        has_body=has_body,
        deprecated=raw.get("deprecated") is True,
    )


def _parameters(
    document: Mapping[str, Any], path_item: Mapping[str, Any], raw: Mapping[str, Any]
) -> list[Mapping[str, Any]]:
    """The path item's parameters, overridden by the operation's own with the same name and place."""
    merged: dict[tuple[str, str], Mapping[str, Any]] = {}
    for parameter in [*(path_item.get("parameters") or ()), *(raw.get("parameters") or ())]:
        resolved = _follow(document, parameter)
        name, location = resolved.get("name"), resolved.get("in")
        if not isinstance(name, str) or not isinstance(location, str):
            raise _Unsupported("a parameter has no name or location")
        merged[(name, location)] = resolved
    return list(merged.values())


def _parameter_schema(document: Mapping[str, Any], parameter: Mapping[str, Any]) -> dict[str, Any]:
    if "schema" not in parameter:
        raise _Unsupported(f"the parameter {parameter['name']!r} has no schema (only `content`)")
    schema = _schema(document, parameter["schema"])
    if not isinstance(schema, dict):
        schema = {} if schema is True else {"not": {}}
    description = _text(parameter.get("description"))
    if description:
        schema["description"] = description
    if parameter.get("deprecated") is True:
        schema["deprecated"] = True
    return schema


def _body_schema(document: Mapping[str, Any], body: Mapping[str, Any]) -> dict[str, Any]:
    content = body.get("content") or {}
    media = next((key for key in content if _is_json(key)), None)
    if media is None:
        raise _Unsupported(f"its request body is not JSON ({', '.join(content) or 'no content type'})")
    raw_schema = _follow(document, content[media]).get("schema", {})
    schema = _schema(document, raw_schema)
    if not isinstance(schema, dict):
        schema = {} if schema is True else {"not": {}}
    schema.setdefault("description", _text(body.get("description")) or "The JSON request body.")
    return schema


def _is_json(media_type: str) -> bool:
    essence = media_type.split(";", 1)[0].strip().lower()
    return essence == "application/json" or (essence.startswith("application/") and essence.endswith("+json"))


def _schema(document: Mapping[str, Any], schema: Any, refs: tuple[str, ...] = ()) -> Any:
    """`schema` with its `$ref`s inlined and the document's extensions (`x-...`) left out."""
    if not isinstance(schema, Mapping):
        return schema
    ref = schema.get("$ref")
    if isinstance(ref, str):
        target = _resolve(document, ref)
        if refs.count(ref) >= MAX_SELF_NESTING or len(refs) >= MAX_REF_DEPTH:
            return _placeholder(ref, target)
        # 3.1 allows keywords beside a $ref; they narrow what it points to.
        merged = {**target, **{key: value for key, value in schema.items() if key != "$ref"}}
        return _schema(document, merged, (*refs, ref))
    inlined: dict[str, Any] = {}
    for key, value in schema.items():
        if key.startswith("x-"):
            continue
        if key in _SCHEMA_KEYWORDS:
            inlined[key] = _schema(document, value, refs)
        elif key in _SCHEMA_LIST_KEYWORDS and isinstance(value, list):
            inlined[key] = [_schema(document, item, refs) for item in value]
        elif key in _SCHEMA_MAP_KEYWORDS and isinstance(value, Mapping):
            inlined[key] = {name: _schema(document, item, refs) for name, item in value.items()}
        else:
            inlined[key] = copy.deepcopy(value)
    return inlined


def _placeholder(ref: str, target: Mapping[str, Any]) -> dict[str, Any]:
    name = unquote(ref.rsplit("/", 1)[-1])
    placeholder: dict[str, Any] = {"description": f"A {name}, nested too deeply to be described here."}
    if isinstance(target.get("type"), str):
        placeholder["type"] = target["type"]
    return placeholder


def _follow(document: Mapping[str, Any], value: Any) -> Mapping[str, Any]:
    """`value`, or what its `$ref` points to (through chains of references)."""
    seen: set[str] = set()
    while isinstance(value, Mapping) and isinstance(value.get("$ref"), str):
        ref = value["$ref"]
        if ref in seen:
            raise _Unsupported(f"the reference {ref} points to itself")
        seen.add(ref)
        value = _resolve(document, ref)
    if not isinstance(value, Mapping):
        raise _Unsupported("a reference does not point to an object")
    return value


def _resolve(document: Mapping[str, Any], ref: str) -> Mapping[str, Any]:
    if not ref.startswith("#/"):
        raise _Unsupported(f"the reference {ref} is outside the document")
    node: Any = document
    for token in ref[2:].split("/"):
        key = unquote(token).replace("~1", "/").replace("~0", "~")
        if not isinstance(node, Mapping) or key not in node:
            raise _Unsupported(f"the reference {ref} points to nothing")
        node = node[key]
    if isinstance(node, bool):
        return {} if node else {"not": {}}
    if not isinstance(node, Mapping):
        raise _Unsupported(f"the reference {ref} does not point to a schema")
    return node


def _declared_type(schema: Any) -> Any:
    return schema.get("type") if isinstance(schema, Mapping) else None


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _tool_name(prefix: str, operation_id: str, taken: Collection[str]) -> str:
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", operation_id).lower()
    name = re.sub(r"[^a-z0-9]+", "_", f"{prefix}{words}").strip("_")
    if len(name) <= MAX_TOOL_NAME and name not in taken and name != prefix.strip("_"):
        return name
    # Too long, or the same as another once simplified: a digest of the operationId tells them apart.
    digest = hashlib.sha256(operation_id.encode()).hexdigest()[:8]
    hashed = f"{name[: MAX_TOOL_NAME - len(digest) - 1].rstrip('_')}_{digest}"
    if hashed in taken:
        raise _Unsupported(f"its tool name {name} is taken by another operation")
    return hashed


def _scalar_text(operation: Operation, name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise InputError(
        f"{name} of {operation.tool_name} must be a string, number or boolean, not {type(value).__name__}."
    )
