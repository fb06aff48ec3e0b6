"""Reading a control plane's OpenAPI 3.1 document into `Operation`s, one per operationId.

Schemas are inlined: a `$ref` is replaced by what it points to, and a schema that contains itself
is expanded `MAX_SELF_NESTING` levels deep, then described in words. An operation whose inputs
cannot be expressed as tool arguments (a required header or cookie, a body that is not JSON, an
object in the query) is left out with a logged warning. Each operation keeps the scopes its
`security` names and the approvals its `x-approval` says the API checks itself, so the tools
can be offered and gated as the API's own policy says.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import re
from collections.abc import Collection, Iterator, Mapping
from typing import Any
from urllib.parse import unquote

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from servers.controlplane_mcp.operations import BODY_ARGUMENT, PATH_TEMPLATE, Operation

__all__ = ["DEFAULT_PREFIX", "operations_from_openapi"]

logger = logging.getLogger(__name__)

DEFAULT_PREFIX = "controlplane_op_"
#: MCP clients reject longer tool names.
MAX_TOOL_NAME = 64
#: How many times a schema is expanded inside itself (a tree of nodes: this many levels of children).
MAX_SELF_NESTING = 2
#: How many `$ref`s deep any schema is expanded, recursive or not.
MAX_REF_DEPTH = 12

_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

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
        if param_name in properties or param_name == BODY_ARGUMENT:
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
    in_template = PATH_TEMPLATE.findall(path)
    if sorted(in_template) != sorted(path_params):
        raise _Unsupported(f"its path parameters {sorted(path_params)} do not match the template {path}")
    has_body = "requestBody" in raw
    if has_body:
        body = _follow(document, raw["requestBody"])
        properties[BODY_ARGUMENT] = _body_schema(document, body)
        if body.get("required"):
            required.append(BODY_ARGUMENT)
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
        security=_security(raw.get("security", document.get("security"))),
        approvals=_approvals(raw.get("x-approval")),
    )


def _security(requirements: Any) -> tuple[frozenset[str], ...] | None:
    """The scopes of each alternative (OR) of a security requirement list; each names schemes (AND)."""
    if not isinstance(requirements, list):
        return None
    alternatives = []
    for requirement in requirements:
        if not isinstance(requirement, Mapping):
            raise _Unsupported("its security requirement is not an object")
        scopes = [scope for listed in requirement.values() if isinstance(listed, list) for scope in listed]
        alternatives.append(frozenset(str(scope) for scope in scopes))
    return tuple(alternatives)


def _approvals(declared: Any) -> tuple[str, ...] | None:
    """The approval actions of an `x-approval` extension (the reference control plane's), if it has one."""
    if not isinstance(declared, Mapping) or not isinstance(declared.get("required"), bool):
        return None
    actions = declared.get("actions") if declared["required"] else []
    if not isinstance(actions, list) or (declared["required"] and not actions):
        raise _Unsupported("its x-approval is required but names no approval actions")
    return tuple(str(action) for action in actions)


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
