"""Operations read from an OpenAPI document, and the MCP tools that call them."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError
from support.mcp_session import call, call_error

from common.contracts.results import ToolResult
from common.errors import BackendRejected, InputError
from common.mcp.tools import ToolGate
from registry.openapi import openapi_document
from servers.controlplane_mcp.openapi_document import operations_from_openapi
from servers.controlplane_mcp.operations import (
    MAX_RENDERED_CHARS,
    Operation,
    OperationResult,
    Request,
    build_request,
    operation_tools,
)

ITEM_PATH = "/api/v1/items/{id}"

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "A team's control plane", "version": "1"},
    "paths": {
        "/api/v1/items": {
            "get": {
                "operationId": "listItems",
                "summary": "List items.",
                "parameters": [
                    {
                        "name": "label",
                        "in": "query",
                        "description": "Only items with all these labels.",
                        "schema": {"type": "array", "items": {"type": "string"}},
                    },
                    {
                        "name": "ids",
                        "in": "query",
                        "explode": False,
                        "schema": {"type": "array", "items": {"type": "integer"}},
                    },
                    {"name": "archived", "in": "query", "schema": {"type": "boolean"}},
                    {"$ref": "#/components/parameters/Limit"},
                ],
            },
            "post": {
                "operationId": "createItem",
                "summary": "Create an item.",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NewItem"}}},
                },
            },
        },
        ITEM_PATH: {
            "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "get": {"operationId": "getItem", "summary": "One item.", "description": "With its labels."},
            "put": {
                "operationId": "replaceItem",
                "parameters": [{"name": "If-Match", "in": "header", "schema": {"type": "string"}}],
                "requestBody": {
                    "content": {"application/merge-patch+json": {"schema": {"$ref": "#/components/schemas/NewItem"}}}
                },
            },
            "delete": {
                "operationId": "deleteItem",
                "parameters": [{"name": "X-Approval", "in": "header", "required": True, "schema": {"type": "string"}}],
            },
        },
        "/api/v1/trees/{tree-id}": {
            "patch": {
                "operationId": "update-TreeNodes",
                "parameters": [{"name": "tree-id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Node"}}}},
            }
        },
        "/api/v1/uploads": {
            "post": {
                "operationId": "uploadBundle",
                "requestBody": {"content": {"multipart/form-data": {"schema": {"type": "object"}}}},
            }
        },
        "/api/v1/sessions": {
            "get": {
                "operationId": "listSessions",
                "parameters": [{"name": "sid", "in": "cookie", "required": True, "schema": {"type": "string"}}],
            }
        },
        "/api/v1/ping": {"get": {"summary": "No operationId."}},
    },
    "components": {
        "parameters": {
            "Limit": {
                "name": "limit",
                "in": "query",
                "description": "Most items to return.",
                "schema": {"type": "integer", "minimum": 1, "maximum": 500},
            }
        },
        "schemas": {
            "NewItem": {
                "type": "object",
                "x-vendor-table": "items",
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "labels": {"$ref": "#/components/schemas/Labels"},
                    "x-owner": {"type": "string", "description": "A property whose name looks like an extension."},
                },
                "required": ["name"],
                "additionalProperties": False,
                "examples": [{"name": "a", "labels": {"$ref": "not a reference, an example"}}],
            },
            "Labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "Node": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}},
                },
            },
        },
    },
}


def by_id(operations: list[Operation]) -> dict[str, Operation]:
    return {operation.operation_id: operation for operation in operations}


def refs_in(schema: Any) -> list[str]:
    """The `$ref`s left in a schema, example data aside."""
    if isinstance(schema, dict):
        own = [schema["$ref"]] if "$ref" in schema else []
        return own + [ref for key, value in schema.items() if key != "examples" for ref in refs_in(value)]
    if isinstance(schema, list):
        return [ref for item in schema for ref in refs_in(item)]
    return []


# --- the registry's real document ----------------------------------------------------------------


def test_registry_document_gives_one_tool_per_operation_in_document_order() -> None:
    operations = operations_from_openapi(openapi_document())
    document_ids = [
        operation["operationId"]
        for item in openapi_document()["paths"].values()
        for method in ("get", "put", "post", "delete")
        if (operation := item.get(method))
    ]
    assert [operation.operation_id for operation in operations] == document_ids
    assert all(operation.tool_name == f"controlplane_op_{operation.operation_id}" for operation in operations)
    found = by_id(operations)
    assert found["get_agents"].read_only
    assert found["get_agents"].method == "GET"
    assert not found["post_agents"].read_only
    assert not found["delete_agents_by_name"].read_only
    assert operations == operations_from_openapi(openapi_document())


def test_registry_query_parameters_become_optional_properties_with_their_descriptions() -> None:
    listing = by_id(operations_from_openapi(openapi_document()))["get_agents"]
    schema = listing.input_schema
    assert set(schema["properties"]) == {"tenant", "limit", "cursor"}
    assert schema["properties"]["limit"] == {
        "default": 100,
        "maximum": 500,
        "minimum": 1,
        "type": "integer",
        "description": "Most entries to return.",
    }
    assert schema["additionalProperties"] is False
    assert "required" not in schema
    assert (listing.path_params, listing.query_params, listing.has_body) == ((), ("tenant", "limit", "cursor"), False)


def test_registry_path_parameter_is_required_and_body_is_the_inlined_model_schema() -> None:
    document = openapi_document()
    found = by_id(operations_from_openapi(document))
    one = found["get_agents_by_name"]
    assert one.input_schema["required"] == ["name"]
    assert one.path_params == ("name",)
    register = found["post_agents"]
    body = register.input_schema["properties"]["body"]
    registration = document["components"]["schemas"]["AgentRegistration"]
    assert register.input_schema["required"] == ["body"]
    assert set(body["properties"]) == set(registration["properties"])
    assert body["required"] == registration["required"]
    assert body["properties"]["skills"]["items"]["type"] == "object"
    assert refs_in(register.input_schema) == []


def test_exclude_leaves_out_the_named_operations() -> None:
    operations = operations_from_openapi(openapi_document(), exclude={"get_healthz", "get_openapi_json"})
    ids = {operation.operation_id for operation in operations}
    assert "get_healthz" not in ids
    assert "get_openapi_json" not in ids
    assert "get_agents" in ids


# --- a hand-written document ---------------------------------------------------------------------


def test_refs_are_inlined_and_extension_keywords_left_out() -> None:
    create = by_id(operations_from_openapi(DOCUMENT))["createItem"]
    body = create.input_schema["properties"]["body"]
    assert refs_in(DOCUMENT["components"]["schemas"]["NewItem"]) == ["#/components/schemas/Labels"]
    assert refs_in(body) == []
    assert body["properties"]["labels"] == {"type": "object", "additionalProperties": {"type": "string"}}
    assert "x-vendor-table" not in body
    # Property names and example data are not schema keywords: kept as written.
    assert "x-owner" in body["properties"]
    assert body["examples"] == [{"name": "a", "labels": {"$ref": "not a reference, an example"}}]
    assert body["description"] == "The JSON request body."
    assert create.input_schema["required"] == ["body"]


def test_parameters_come_from_the_path_item_and_component_references() -> None:
    found = by_id(operations_from_openapi(DOCUMENT))
    assert found["getItem"].input_schema == {
        "type": "object",
        "properties": {"id": {"type": "string"}},
        "required": ["id"],
        "additionalProperties": False,
    }
    listing = found["listItems"].input_schema
    assert list(listing["properties"]) == ["label", "ids", "archived", "limit"]
    assert listing["properties"]["limit"]["description"] == "Most items to return."
    assert listing["properties"]["label"]["description"] == "Only items with all these labels."


def test_recursive_schema_is_expanded_to_a_bounded_depth() -> None:
    update = by_id(operations_from_openapi(DOCUMENT))["update-TreeNodes"]
    node = update.input_schema["properties"]["body"]
    child = node["properties"]["children"]["items"]
    assert child["properties"]["name"] == {"type": "string"}
    cut = child["properties"]["children"]["items"]
    assert cut == {"type": "object", "description": "A Node, nested too deeply to be described here."}
    assert refs_in(node) == []
    assert update.input_schema["required"] == ["tree-id"]


def test_inexpressible_operations_are_skipped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="servers.controlplane_mcp.operations"):
        operations = operations_from_openapi(DOCUMENT)
    assert [operation.operation_id for operation in operations] == [
        "listItems",
        "createItem",
        "getItem",
        "replaceItem",
        "update-TreeNodes",
    ]
    warnings = "\n".join(record.getMessage() for record in caplog.records)
    assert "Skipping operation deleteItem (DELETE /api/v1/items/{id}): it needs the header 'X-Approval'" in warnings
    assert "Skipping operation uploadBundle (POST /api/v1/uploads): its request body is not JSON" in warnings
    assert "Skipping operation listSessions (GET /api/v1/sessions): it needs the cookie 'sid'" in warnings
    assert "Skipping GET /api/v1/ping: it has no operationId" in warnings


def test_an_optional_header_is_left_out_and_a_json_variant_body_is_accepted() -> None:
    replace = by_id(operations_from_openapi(DOCUMENT))["replaceItem"]
    assert set(replace.input_schema["properties"]) == {"id", "body"}
    assert replace.input_schema["required"] == ["id"]
    assert replace.has_body


def test_tool_names_are_prefixed_snake_case_and_at_most_64_characters() -> None:
    long_a = "getTheVeryLongAndDescriptiveNameOfAnOperationThatNoToolListCouldShowInFull"
    long_b = long_a + "Twice"
    document = {
        "openapi": "3.1.0",
        "paths": {
            "/a": {"get": {"operationId": long_a}},
            "/b": {"get": {"operationId": long_b}},
            "/c": {"get": {"operationId": "get.HTTPStatus"}},
            "/d": {"get": {"operationId": "get_http_status"}},
        },
    }
    names = [operation.tool_name for operation in operations_from_openapi(document, prefix="team_")]
    assert names[2] == "team_get_http_status"
    # The same name once simplified: the second is told apart by a digest of its operationId.
    assert names[3].startswith("team_get_http_status_")
    assert len(set(names)) == 4
    assert all(len(name) <= 64 for name in names)
    assert names[0].startswith("team_get_the_very_long_and_descriptive_name")
    assert all(set(name) <= set("abcdefghijklmnopqrstuvwxyz0123456789_") for name in names)
    assert by_id(operations_from_openapi(DOCUMENT))["update-TreeNodes"].tool_name == "controlplane_op_update_tree_nodes"


# --- requests ------------------------------------------------------------------------------------


def test_path_parameters_are_escaped_so_they_cannot_leave_their_segment() -> None:
    get_item = by_id(operations_from_openapi(DOCUMENT))["getItem"]
    assert build_request(get_item, {"id": "../../admin"}) == Request("GET", "/api/v1/items/..%2F..%2Fadmin")
    assert build_request(get_item, {"id": "a b/c?d#e"}).path == "/api/v1/items/a%20b%2Fc%3Fd%23e"
    assert build_request(get_item, {"id": "ünï"}).path == "/api/v1/items/%C3%BCn%C3%AF"
    for dots in ("..", ".", ""):
        with pytest.raises(InputError, match="not a valid path parameter"):
            build_request(get_item, {"id": dots})


def test_query_lists_are_repeated_or_joined_as_documented() -> None:
    listing = by_id(operations_from_openapi(DOCUMENT))["listItems"]
    request = build_request(listing, {"label": ["a", "b&c"], "ids": [1, 2], "archived": False, "limit": 5})
    assert request == Request(
        "GET",
        "/api/v1/items",
        [("label", "a"), ("label", "b&c"), ("ids", "1,2"), ("archived", "false"), ("limit", "5")],
        None,
    )
    assert build_request(listing, {}).query == []


def test_body_is_sent_as_given_with_the_path_filled_in() -> None:
    update = by_id(operations_from_openapi(DOCUMENT))["update-TreeNodes"]
    body = {"name": "root", "children": [{"name": "leaf"}]}
    assert build_request(update, {"tree-id": "t1", "body": body}) == Request(
        "PATCH", "/api/v1/trees/t1", [], {"name": "root", "children": [{"name": "leaf"}]}
    )


def test_unknown_arguments_are_an_input_error() -> None:
    get_item = by_id(operations_from_openapi(DOCUMENT))["getItem"]
    with pytest.raises(
        InputError, match=r"Unknown arguments for controlplane_op_get_item: body, verbose\. Allowed: id"
    ):
        build_request(get_item, {"id": "1", "verbose": True, "body": {}})


# --- results -------------------------------------------------------------------------------------


def test_operation_result_text_is_short_and_says_when_it_was_cut() -> None:
    small = OperationResult(operation_id="getItem", status=200, data={"id": "1"})
    assert small.render_text() == 'getItem: HTTP 200\n{"id": "1"}'
    large = OperationResult(operation_id="listItems", status=200, data=["x" * 100] * 100)
    text = large.render_text()
    assert len(text) < MAX_RENDERED_CHARS + 200
    assert "the structured content has all of it" in text


# --- through an MCP session ----------------------------------------------------------------------


class Recorder:
    """The `call` of the tools: records each call and answers with its request."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def __call__(self, operation: Operation, arguments: dict[str, Any]) -> ToolResult:
        self.calls.append((operation.operation_id, arguments))
        if arguments.get("id") == "missing":
            raise BackendRejected("The control plane has no item 'missing'.", backend="controlplane", status_code=404)
        if arguments.get("id") == "crash":
            raise RuntimeError("secret internals")
        request = build_request(operation, arguments)
        return OperationResult(
            operation_id=operation.operation_id,
            status=200,
            data={"path": request.path, "query": request.query, "body": request.body},
        )


def server_for(recorder: Recorder) -> MCPServer[Any]:
    tools = operation_tools(operations_from_openapi(DOCUMENT), recorder)
    return MCPServer("controlplane-test", tools=tools, middleware=[ToolGate(tools)])


@pytest.mark.anyio
async def test_listing_shows_the_operations_with_their_schemas_and_annotations() -> None:
    operations = by_id(operations_from_openapi(DOCUMENT))
    async with Client(server_for(Recorder())) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == {operation.tool_name for operation in operations.values()}
    get_item = tools["controlplane_op_get_item"]
    assert get_item.input_schema == operations["getItem"].input_schema
    assert get_item.title == "One item."
    assert get_item.description is not None
    assert "With its labels." in get_item.description
    assert "GET /api/v1/items/{id}" in get_item.description
    assert get_item.annotations is not None
    assert (get_item.annotations.read_only_hint, get_item.annotations.destructive_hint) == (True, False)
    assert get_item.output_schema is not None
    assert set(get_item.output_schema["required"]) == {"operation_id", "status"}
    for name in ("controlplane_op_create_item", "controlplane_op_replace_item", "controlplane_op_update_tree_nodes"):
        annotations = tools[name].annotations
        assert annotations is not None
        assert (annotations.read_only_hint, annotations.destructive_hint) == (False, True), name
    replace = tools["controlplane_op_replace_item"].annotations
    create = tools["controlplane_op_create_item"].annotations
    assert replace is not None
    assert create is not None
    assert (replace.idempotent_hint, create.idempotent_hint) == (True, False)
    assert tools["controlplane_op_replace_item"].title == "PUT /api/v1/items/{id}"


@pytest.mark.anyio
async def test_calling_a_tool_runs_call_with_the_validated_arguments() -> None:
    recorder = Recorder()
    async with Client(server_for(recorder)) as client:
        listed = await call(client, "controlplane_op_list_items", label=["a", "b"], limit=3)
        # Some clients send lists as JSON text; the gate and the tool both accept it.
        decoded = await call(client, "controlplane_op_list_items", label='["c"]')
        created = await call(client, "controlplane_op_create_item", body={"name": "n", "labels": {"team": "sre"}})
        text = await client.call_tool("controlplane_op_get_item", {"id": "a/b"})
    assert recorder.calls == [
        ("listItems", {"label": ["a", "b"], "limit": 3}),
        ("listItems", {"label": ["c"]}),
        ("createItem", {"body": {"name": "n", "labels": {"team": "sre"}}}),
        ("getItem", {"id": "a/b"}),
    ]
    assert listed == {
        "operation_id": "listItems",
        "status": 200,
        "data": {"path": "/api/v1/items", "query": [["label", "a"], ["label", "b"], ["limit", "3"]], "body": None},
    }
    assert decoded["data"]["query"] == [["label", "c"]]
    assert created["data"]["body"] == {"name": "n", "labels": {"team": "sre"}}
    assert text.structured_content is not None
    assert text.structured_content["data"]["path"] == "/api/v1/items/a%2Fb"
    assert text.content[0].type == "text"
    assert text.content[0].text.startswith("getItem: HTTP 200\n")


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("tool", "arguments", "problem"),
    [
        ("controlplane_op_get_item", {"id": "1", "verbose": True}, "Allowed arguments: id"),
        ("controlplane_op_get_item", {}, "'id' is a required property"),
        ("controlplane_op_list_items", {"limit": 0}, "limit: 0 is less than the minimum of 1"),
        ("controlplane_op_list_items", {"ids": ["one"]}, "ids.0: 'one' is not of type 'integer'"),
        (
            "controlplane_op_create_item",
            {"body": {"name": "n", "extra": 1}},
            "('extra' was unexpected) in body. Allowed fields: labels, name",
        ),
        ("controlplane_op_create_item", {}, "'body' is a required property"),
    ],
)
async def test_wrong_arguments_are_refused_before_call_runs(tool: str, arguments: dict[str, Any], problem: str) -> None:
    recorder = Recorder()
    async with Client(server_for(recorder)) as client:
        with pytest.raises(MCPError) as refused:
            await client.call_tool(tool, arguments)
    assert refused.value.code == -32602
    assert problem in refused.value.message
    assert recorder.calls == []


@pytest.mark.anyio
async def test_the_tools_check_their_arguments_without_the_gate_too() -> None:
    recorder = Recorder()
    tools = operation_tools(operations_from_openapi(DOCUMENT), recorder)
    async with Client(MCPServer("ungated", tools=tools)) as client:
        message = await call_error(client, "controlplane_op_get_item", id="1", verbose=True)
        wrong_type = await call_error(client, "controlplane_op_list_items", limit="many")
    assert "Additional properties are not allowed ('verbose' was unexpected)" in message
    assert "limit: 'many' is not of type 'integer'" in wrong_type
    assert recorder.calls == []


@pytest.mark.anyio
async def test_backend_errors_become_tool_errors_and_crashes_a_generic_one() -> None:
    async with Client(server_for(Recorder())) as client:
        missing = await call_error(client, "controlplane_op_get_item", id="missing")
        crash = await call_error(client, "controlplane_op_get_item", id="crash")
    assert "The control plane has no item 'missing'." in missing
    assert "trace id" in crash
    assert "secret internals" not in crash
