"""Tool schemas as short as their meaning allows: a model reads every one in every conversation.

pydantic's JSON schemas carry what MCP clients never need: a `title` on every property (the
property name again, "Next Cursor"), `anyOf: [{type: X}, {type: null}]` for every optional
value and `default: null` (or `""`) for every optional argument. `compact_schema` removes those and
nothing else, so a compacted input schema accepts and refuses exactly the arguments the
original does: constraints, `required`, `additionalProperties` and descriptions stay.

`output_outline` keeps of an output schema what a model reads before calling a tool: the
result's fields, each with its type, enum and description; a nested object or list is named by
its type alone (the first result shows its shape). That is a third of the characters, and
still true of every answer: the server checks each answer against the full result model before
sending it (`MCPServer` validates structured content against the tool's return type), and
agents read results through those models, not through the published schema.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

__all__ = ["compact_schema", "output_outline"]

# Keywords whose value is a map of name to subschema: the names there are data, never keywords
# (a property may well be called `title` or `default`).
_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"})
_SCHEMA_LISTS = frozenset({"anyOf", "oneOf", "allOf", "prefixItems"})
_SCHEMAS = frozenset(
    {"items", "additionalProperties", "not", "contains", "if", "then", "else", "propertyNames", "unevaluatedItems"}
)
# Keywords that constrain every type, null included: a subschema using one cannot simply admit null.
_TYPE_BLIND = frozenset({"enum", "const", "$ref", "allOf", "anyOf", "oneOf", "not", "if"})


def compact_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` without titles and null defaults, each `anyOf` of one type and null written as a list of types."""
    compacted: dict[str, Any] = {}
    for key, value in schema.items():
        # An empty default says "nothing", and `additionalProperties: true` is what an object allows unsaid.
        if (
            key == "title"
            or (key == "default" and value in (None, ""))
            or (key == "additionalProperties" and value is True)
        ):
            continue
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            compacted[key] = {name: _sub(sub) for name, sub in value.items()}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            compacted[key] = [_sub(sub) for sub in value]
        elif key in _SCHEMAS:
            compacted[key] = _sub(value)
        else:
            compacted[key] = value
    return _merge_nullable(compacted)


def _sub(schema: Any) -> Any:
    return compact_schema(schema) if isinstance(schema, dict) else schema


def _merge_nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """`{anyOf: [{type: T, ...}, {type: null}], ...}` as `{type: [T, null], ...}` where that means the same.

    Every keyword left beside `type` then applies to values of type T only (`minimum`, `maxLength`,
    `items`, `properties`, ...), so null stays valid and nothing else changes.
    """
    options = schema.get("anyOf")
    if not isinstance(options, list) or len(options) < 2 or "type" in schema:
        return schema
    if len(options) == 2 and {"type": "null"} in options and "enum" not in schema:
        # `{enum: [a, b]}` or null is `{enum: [a, b, null]}`: the enum alone fixes the type.
        (choice,) = [option for option in options if option != {"type": "null"}]
        values = choice.get("enum") if isinstance(choice, dict) else None
        if (
            isinstance(values, list)
            and all(isinstance(value, str) for value in values)
            and set(choice) <= {"enum", "type"}
            and choice.get("type", "string") == "string"
        ):
            rest = {key: value for key, value in schema.items() if key != "anyOf"}
            return {"enum": [*values, None], **rest}
    if not all(isinstance(option, dict) and isinstance(option.get("type"), str) for option in options):
        return schema
    types = [option["type"] for option in options]
    if len(set(types)) != len(types):
        return schema
    typed = [option for option in options if set(option) != {"type"}]
    if len(typed) > 1 or any(_TYPE_BLIND & set(option) for option in typed):
        return schema
    if typed and (len(options) != 2 or "null" not in types or any(key in schema for key in typed[0] if key != "type")):
        return schema
    merged = {key: value for key, value in schema.items() if key != "anyOf"}
    if typed:
        merged.update({key: value for key, value in typed[0].items() if key != "type"})
    return {"type": types, **merged}


def output_outline(schema: dict[str, Any], *, conventional: Collection[str] = ()) -> dict[str, Any]:
    """The first level of a (pydantic) output schema: each field's type, enum and description, but for the
    `conventional` fields every result has, which the server's instructions describe once."""
    definitions = schema.get("$defs", {})
    fields = {
        name: _outline(sub, definitions)
        for name, sub in schema.get("properties", {}).items()
        if name not in conventional
    }
    return {"type": "object", "properties": fields}


def _outline(schema: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    outline: dict[str, Any] = {}
    types = _types(schema, definitions)
    if types:
        outline["type"] = types[0] if len(types) == 1 else types
    for key in ("enum", "description"):
        if key in schema:
            outline[key] = schema[key]
    return outline


_JSON_TYPES = {str: "string", bool: "boolean", int: "integer", float: "number", type(None): "null"}


def _types(schema: Any, definitions: dict[str, Any]) -> list[str]:
    """The JSON types a subschema admits; empty when it admits any."""
    if not isinstance(schema, dict):
        return []
    if "$ref" in schema:
        return _types(definitions.get(schema["$ref"].rsplit("/", 1)[-1]), definitions) or ["object"]
    if isinstance(schema.get("type"), str):
        return [schema["type"]]
    if isinstance(schema.get("type"), list):
        return list(schema["type"])
    if isinstance(schema.get("anyOf"), list):
        found = [_types(option, definitions) for option in schema["anyOf"]]
        if not all(found):
            return []
        return list(dict.fromkeys(kind for kinds in found for kind in kinds))
    if isinstance(schema.get("enum"), list):
        return list(dict.fromkeys(_JSON_TYPES.get(type(value), "object") for value in schema["enum"]))
    if "properties" in schema:
        return ["object"]
    return []
