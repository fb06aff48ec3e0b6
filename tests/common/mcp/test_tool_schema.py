"""Compact tool schemas accept and refuse exactly what pydantic's schemas do, in far fewer characters."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from mcp.server.mcpserver.tools.base import Tool
from support.mcp_session import tool_specs

from common.mcp.tool_schema import compact_schema, output_outline
from common.mcp.tools import ToolSpec, build_tools, structured_tool

VALUES: list[Any] = [
    None,
    "",
    "now-1h",
    "x" * 3000,
    0,
    -1,
    1,
    1.5,
    20_000,
    True,
    [],
    ["deployment"],
    ["nope"],
    [1],
    {},
    {"service": "checkout"},
    {"service": 1},
    "auto",
    "summary",
    "firing",
    "diagnostic",
    '{service="checkout"}',
]


def all_specs() -> list[ToolSpec]:
    return [spec for specs in tool_specs().values() for spec in specs]


@pytest.mark.parametrize("spec", all_specs(), ids=lambda spec: spec.fn.__name__)
def test_a_compacted_input_schema_accepts_and_refuses_what_the_original_does(spec: ToolSpec) -> None:
    original = Tool.from_function(structured_tool(spec.fn)).parameters
    (published,) = build_tools([spec])
    compact = published.parameters

    assert compact["additionalProperties"] is False
    assert compact.get("required") == original.get("required")
    assert set(compact["properties"]) == set(original["properties"])
    for name, schema in original["properties"].items():
        before, after = Draft202012Validator(schema), Draft202012Validator(compact["properties"][name])
        for value in VALUES:
            assert before.is_valid(value) == after.is_valid(value), (name, value)
    assert len(json.dumps(compact)) < len(json.dumps(original))


def test_properties_named_like_keywords_stay() -> None:
    schema = {
        "type": "object",
        "title": "Args",
        "properties": {"title": {"type": "string", "title": "Title"}, "default": {"type": "integer"}},
    }
    assert compact_schema(schema) == {
        "type": "object",
        "properties": {"title": {"type": "string"}, "default": {"type": "integer"}},
    }


def test_an_optional_value_is_a_list_of_types_only_where_that_means_the_same() -> None:
    optional = {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "null"}], "default": None}
    choice = {"anyOf": [{"enum": ["a", "b"], "type": "string"}, {"type": "null"}]}
    kept = {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "number"}]}

    assert compact_schema(optional) == {"type": ["integer", "null"], "minimum": 1}
    assert compact_schema(choice) == {"enum": ["a", "b", None]}
    assert compact_schema(kept) == kept


def test_an_output_outline_names_each_field_with_its_type_and_validates_real_results() -> None:
    schema = {
        "$defs": {"Item": {"type": "object", "properties": {"id": {"type": "string"}}}},
        "type": "object",
        "properties": {
            "returned": {"type": "integer"},
            "items": {"type": "array", "items": {"$ref": "#/$defs/Item"}, "description": "Newest first."},
            "best": {"anyOf": [{"$ref": "#/$defs/Item"}, {"type": "null"}]},
            "state": {"enum": ["up", "down"], "type": "string"},
        },
        "required": ["returned", "items", "best", "state"],
    }
    outline = output_outline(compact_schema(schema), conventional={"returned"})

    assert outline == {
        "type": "object",
        "properties": {
            "items": {"type": "array", "description": "Newest first."},
            "best": {"type": ["object", "null"]},
            "state": {"type": "string", "enum": ["up", "down"]},
        },
    }
    assert Draft202012Validator(outline).is_valid({"returned": 1, "items": [{"id": "a"}], "best": None, "state": "up"})
