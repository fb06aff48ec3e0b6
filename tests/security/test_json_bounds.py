"""Row 39: free-form JSON nested 300 deep, or with a lone surrogate, NUL, `1e400`, `NaN` or a
5 000-digit integer, is refused naming the field on every surface; nothing is stored that cannot
be read back, and every list still answers 200.

Surfaces, served for real on 127.0.0.1: the control plane over SQLite and PostgreSQL (approval
arguments, timeline details, an analysis report; also a database that already holds such a
row), an A2A agent (a data part) and controlplane-mcp (a tool's free-form argument). The
router's webhooks and facade and the registry are in `tests/agents/router/test_json_bounds.py`,
on the router tests' federation. `common.json_bounds` is the one rule behind them all.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError
from pydantic import BaseModel, ValidationError
from sqlalchemy import JSON, column, insert, table
from sqlalchemy.exc import StatementError
from support.asgi_server import ServedApp
from support.backends import free_port
from support.controlplane_harness import Clock as ControlPlaneClock
from support.controlplane_harness import ControlPlane, SwitchableExecutor, new_resource, settings_for
from support.controlplane_mcp_harness import READ, WRITE
from support.issuer import TestIssuer
from support.mcp_http import INITIALIZE
from support.mcp_session import controlplane_session
from support.postgres import PostgresProcess
from support.stand_in_agent import EchoAgent, stand_in_settings

from common.agents import AGENTS_INVOKE, AgentCardSpec, SkillSpec, a2a_app, default_task_store_url
from common.auth.resource import resource_verifier
from common.contracts.results import ToolResult
from common.http import create_http_client
from common.json_bounds import (
    MAX_DEPTH,
    MAX_INTEGER_DIGITS,
    MAX_SIZE,
    MAX_STRING_CHARS,
    FreeForm,
    JsonBoundsError,
    check_json,
    loads,
)
from common.jsonrpc_bounds import A2A_DATA_PART_DEPTH, MCP_ARGUMENTS_DEPTH
from common.mcp.serving import mcp_auth, mcp_http_app
from common.mcp.tools import ToolGate, ToolSpec, build_tools, tool_scopes
from common.metrics import ServerMetrics
from common.settings import AuthConfig, ServeSettings
from controlplane.app import create_app
from controlplane.store import ControlPlaneStore
from controlplane.tables import timeline_entries

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

DEEP = 300


def nested(levels: int, leaf: Any = 1) -> Any:
    """`levels` levels of objects `{"a": {"a": ... leaf}}` (a leaf that is a container adds its own)."""
    value = leaf
    for _ in range(levels):
        value = {"a": value}
    return value


def too_deep_at(prefix: str, max_depth: int = MAX_DEPTH) -> str:
    """The field refused in `nested(DEEP)` sent at `prefix` of a body: the first object past `max_depth` levels."""
    levels = max_depth + 1 - (prefix.count(".") + 2)  # the body is level 1, `prefix` one more per segment
    return ".".join([prefix, *["a"] * levels])


#: Raw JSON bodies: a value Python's json would read but no store can hold or give back.
LONE_SURROGATE = '"a\\ud800b"'
NUL = '"a\\u0000b"'
HUGE_FLOAT = "1e400"
NOT_A_NUMBER = "NaN"
LONG_INTEGER = "9" * 5000


def field_errors(response: httpx.Response) -> list[str]:
    return [error["field"] for error in response.json().get("errors", [])]


# --- the rule itself ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "field", "words"),
    [
        ('{"x": {"y": ' + LONE_SURROGATE + "}}", "x.y", "lone surrogate"),
        ('{"x": [1, ' + NUL + "]}", "x.1", "NUL"),
        ('{"x": ' + HUGE_FLOAT + "}", "x", "1e400"),
        ('{"x": -' + HUGE_FLOAT + "}", "x", "range"),
        ('{"x": ' + LONG_INTEGER + "}", "x", "digits"),
        ('{"x": {"\\ud800": 1}}', "x.\\ud800", "key"),
        (json.dumps({"x": nested(DEEP)}), too_deep_at("x"), "levels"),
    ],
)
def test_the_rule_names_the_first_offending_field(raw: str, field: str, words: str) -> None:
    with pytest.raises(JsonBoundsError) as refused:
        loads(raw)

    assert refused.value.path == field
    assert words in str(refused.value)
    assert not refused.value.not_json


def test_nan_is_not_json_and_a_value_beyond_the_parser_is_refused_whole() -> None:
    with pytest.raises(JsonBoundsError) as nan:
        loads('{"x": NaN}')
    assert (nan.value.path, nan.value.not_json) == ("x", True)
    with pytest.raises(JsonBoundsError) as deep:
        loads("[" * 100_000 + "]" * 100_000)
    assert deep.value.path == ""


def test_values_within_the_rule_read_back_unchanged() -> None:
    value = {"x": nested(MAX_DEPTH - 2, [10**MAX_INTEGER_DIGITS - 1, -1.5e308, "ü ☃ 😀", None, True])}
    assert loads(json.dumps(value)) == value
    check_json(value)


def test_a_free_form_field_is_refused_by_its_model_from_any_path() -> None:
    class Body(BaseModel):
        details: FreeForm

    too_long = {"t": "x" * (MAX_STRING_CHARS + 1)}
    too_large = {"t": ["x" * MAX_STRING_CHARS] * (MAX_SIZE // MAX_STRING_CHARS + 1)}
    for bad in (nested(DEEP), {"n": float("inf")}, {"n": 10**30}, {"t": "\x00"}, too_long, too_large):
        with pytest.raises(ValidationError) as refused:
            Body(details=bad)
        assert refused.value.errors()[0]["loc"] == ("details",)
    assert Body(details={"ok": [1, 2.5, "text"]}).details == {"ok": [1, 2.5, "text"]}


# --- the control plane ----------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def controlplane(
    request: pytest.FixtureRequest, issuer: TestIssuer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ControlPlane]:
    if request.param == "sqlite":
        database = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('controlplane') / 'controlplane.db'}"
    else:
        postgres: PostgresProcess = request.getfixturevalue("postgres")
        database = postgres.fresh_database()
    port = free_port()
    settings = settings_for(
        issuer, port, tmp_path_factory.mktemp("controlplane-data"), CONTROLPLANE_DATABASE_URL=database
    )
    verifier = resource_verifier(settings.serve, settings.serve.base_url, create_http_client(timeout=10.0))
    clock, executor = ControlPlaneClock(), SwitchableExecutor()
    app = create_app(settings, verifier=verifier, executor=executor, clock=clock)
    with ServedApp(app, port=port), httpx.Client(timeout=20.0, trust_env=False) as http:
        yield ControlPlane(settings.serve.base_url, issuer, clock, executor, http, database)


@pytest.fixture
def incident(controlplane: ControlPlane) -> str:
    """A fresh incident on a fresh resource, its timeline empty."""
    resource = new_resource(controlplane)
    created = controlplane.ok("POST", "/incidents", 201, json={"title": "t", "resource_ids": [resource["id"]]})
    return created["id"]  # type: ignore[no-any-return]


def operation_approval(body: Any) -> dict[str, Any]:
    """An approval request for a further operation, whose `arguments.body` is free-form JSON."""
    return {"action": "operation:create_resource", "target": "/api/v1/resources", "arguments": {"body": body}}


def post_raw(cp: ControlPlane, path: str, raw: str) -> httpx.Response:
    headers = {**cp.headers(), "Content-Type": "application/json"}
    return cp.http.post(f"{cp.url}/api/v1{path}", content=raw.encode("utf-8", "surrogatepass"), headers=headers)


def lists_answer(cp: ControlPlane) -> None:
    for path in ("/approvals", "/incidents", "/analyses", "/audit-logs"):
        response = cp.call("GET", path, params={"limit": 500})
        assert response.status_code == 200, (path, response.text)


def test_deep_approval_arguments_are_422_naming_the_field_and_lists_still_answer(controlplane: ControlPlane) -> None:
    cp = controlplane
    before = cp.audit_count()

    response = cp.call("POST", "/approvals", json=operation_approval(nested(DEEP)))

    assert response.status_code == 422, response.text
    assert field_errors(response) == [too_deep_at("arguments.body")]
    assert "levels deep" in response.json()["errors"][0]["message"]
    assert cp.audit_count() == before
    lists_answer(cp)


def test_deep_timeline_details_and_reports_are_422_and_lists_still_answer(
    controlplane: ControlPlane, incident: str
) -> None:
    cp = controlplane

    details = cp.call("POST", f"/incidents/{incident}/timeline", json={"text": "t", "details": nested(DEEP)})
    report = cp.call("POST", "/analyses", json={"kind": "diagnostic", "title": "t", "report": nested(DEEP)})

    assert details.status_code == 422, details.text
    assert field_errors(details) == [too_deep_at("details")]
    assert report.status_code == 422, report.text
    assert field_errors(report) == [too_deep_at("report")]
    timeline = cp.ok("GET", f"/incidents/{incident}")["timeline"]
    assert [entry["text"] for entry in timeline] == []
    lists_answer(cp)


@pytest.mark.parametrize(
    ("value", "status"),
    [(LONE_SURROGATE, 422), (NUL, 422), (HUGE_FLOAT, 422), (LONG_INTEGER, 422), (NOT_A_NUMBER, 400)],
)
def test_unstorable_values_in_free_form_fields_are_refused_naming_the_field(
    controlplane: ControlPlane, incident: str, value: str, status: int
) -> None:
    cp = controlplane
    approval = '{"action": "operation:x", "target": "/api/v1/x", "arguments": {"body": {"n": VALUE}}}'
    timeline = '{"text": "t", "details": {"n": [VALUE]}}'
    analysis = '{"kind": "diagnostic", "title": "t", "report": {"n": VALUE}}'

    for path, raw, field in (
        ("/approvals", approval, "arguments.body.n"),
        (f"/incidents/{incident}/timeline", timeline, "details.n.0"),
        ("/analyses", analysis, "report.n"),
    ):
        response = post_raw(cp, path, raw.replace("VALUE", value))
        assert response.status_code == status, (path, response.text)
        assert field_errors(response) == [field], response.text
    lists_answer(cp)


def test_values_at_the_limit_are_stored_and_read_back_unchanged(controlplane: ControlPlane) -> None:
    cp = controlplane
    body = nested(MAX_DEPTH - 4, {"n": [10**MAX_INTEGER_DIGITS - 1, 1.5e308, "ü 😀"]})

    created = cp.ok("POST", "/approvals", 201, json=operation_approval(body))

    assert cp.ok("GET", f"/approvals/{created['id']}")["arguments"] == {"body": body}
    listed = cp.all_items("/approvals")
    assert [item["arguments"] for item in listed if item["id"] == created["id"]] == [{"body": body}]


async def test_the_store_never_writes_a_value_it_could_not_read_back(controlplane: ControlPlane, incident: str) -> None:
    """The last line behind the edge: a write of such a value from any path fails, and nothing is stored."""
    store = ControlPlaneStore(controlplane.database)
    entry = {"incident_id": incident, "at": datetime.now(UTC), "actor": "x", "kind": "note", "text": "never"}
    try:
        for details in (nested(DEEP), {"n": float("inf")}, {"t": "\x00"}):
            with pytest.raises(StatementError) as refused:
                async with store.write() as connection:
                    await connection.execute(
                        insert(timeline_entries).values(id=f"tl_{uuid.uuid4().hex[:12]}", details=details, **entry)
                    )
            assert isinstance(refused.value.orig, JsonBoundsError)
    finally:
        await store.close()
    assert controlplane.ok("GET", f"/incidents/{incident}")["timeline"] == []


APPROVAL_COLUMNS = (
    "id",
    "action",
    "target",
    "arguments_hash",
    "requester",
    "reason",
    "status",
    "created_at",
    "expires_at",
)
TIMELINE_COLUMNS = ("id", "incident_id", "at", "actor", "kind", "text")


async def test_rows_stored_before_the_rule_do_not_break_the_lists(controlplane: ControlPlane, incident: str) -> None:
    """A database written without the rule: lists and reads answer 200, showing the value as unreadable."""
    cp = controlplane
    approval_id, now = f"apr_{secrets.token_hex(8)}", datetime.now(UTC)
    # The tables as an older version wrote them: plain JSON columns, no rule on what goes in.
    old_approvals = table("approvals", *(column(name) for name in APPROVAL_COLUMNS), column("arguments", JSON))
    old_timeline = table("timeline_entries", *(column(name) for name in TIMELINE_COLUMNS), column("details", JSON))
    store = ControlPlaneStore(cp.database)
    try:
        async with store.write() as connection:
            await connection.execute(
                insert(old_approvals).values(
                    id=approval_id,
                    action="operation:x",
                    target="/api/v1/x",
                    arguments={"body": nested(255)},
                    arguments_hash="h",
                    requester="old",
                    reason="",
                    status="pending",
                    created_at=now,
                    expires_at=now + timedelta(hours=1),
                )
            )
            await connection.execute(
                insert(old_timeline).values(
                    id=f"tl_{secrets.token_hex(8)}",
                    incident_id=incident,
                    at=now,
                    actor="old",
                    kind="note",
                    text="old note",
                    details=nested(255),
                )
            )
    finally:
        await store.close()

    lists_answer(cp)
    shown = cp.ok("GET", f"/approvals/{approval_id}")
    assert shown["status"] == "pending"
    assert "unreadable" in shown["arguments"]
    (entry,) = cp.ok("GET", f"/incidents/{incident}")["timeline"]
    assert (entry["text"], list(entry["details"])) == ("old note", ["unreadable"])
    # The row can still be decided on: it is not stuck.
    decided = cp.call("POST", f"/approvals/{approval_id}/reject", json={"reason": "unreadable"}, client_id="human")
    assert decided.status_code == 200, decided.text


@pytest.fixture(scope="module")
def issuer() -> Iterator[TestIssuer]:
    with TestIssuer() as running:
        yield running


# --- an A2A agent ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def agent_url(issuer: TestIssuer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    data_dir = tmp_path_factory.mktemp("echo")
    serve = ServeSettings(
        port=port, registry_url=issuer.issuer, auth=AuthConfig(issuer=issuer.issuer, jwks_url=issuer.jwks_url)
    )
    spec = AgentCardSpec(
        name="echo",
        description="Echoes.",
        skills=(SkillSpec(id="echo", name="Echo", description="Echoes.", tags=("echo",), examples=("hi",)),),
    )
    app = a2a_app(
        agent=EchoAgent(name="echo", settings=stand_in_settings(data_dir)),
        card=spec,
        serve=serve,
        verifier=resource_verifier(serve, serve.base_url, create_http_client(timeout=10.0)),
        task_store_url=default_task_store_url(data_dir, "echo"),
    )
    with ServedApp(app, port=port):
        yield serve.base_url


def send_raw(issuer: TestIssuer, url: str, part: str) -> dict[str, Any]:
    token = issuer.mint(url, [AGENTS_INVOKE], claims={"client_id": "caller", "sub": "caller"})
    raw = (
        '{"jsonrpc": "2.0", "id": "r-1", "method": "SendMessage", "params": {"message": {"role": "ROLE_USER", '
        f'"messageId": "{uuid.uuid4().hex}", "parts": [{part}]}}}}}}'
    )
    headers = {"Authorization": f"Bearer {token}", "A2A-Version": "1.0", "Content-Type": "application/json"}
    response = httpx.post(url, content=raw.encode("utf-8", "surrogatepass"), headers=headers, timeout=20)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("part", "field"),
    [
        (
            '{"data": ' + json.dumps(nested(DEEP)) + "}",
            too_deep_at("params.message.parts.0.data", MAX_DEPTH + A2A_DATA_PART_DEPTH),
        ),
        ('{"data": {"n": ' + HUGE_FLOAT + "}}", "params.message.parts.0.data.n"),
        ('{"data": {"n": ' + LONG_INTEGER + "}}", "params.message.parts.0.data.n"),
        ('{"text": ' + LONE_SURROGATE + "}", "params.message.parts.0.text"),
        ('{"text": ' + NUL + "}", "params.message.parts.0.text"),
    ],
)
def test_a2a_message_out_of_bounds_is_invalid_params_naming_the_field(
    issuer: TestIssuer, agent_url: str, part: str, field: str
) -> None:
    answer = send_raw(issuer, agent_url, part)

    assert answer["id"] == "r-1"
    assert answer["error"]["code"] == -32602, answer
    assert field in answer["error"]["message"]
    fine = send_raw(issuer, agent_url, '{"data": ' + json.dumps(nested(MAX_DEPTH)) + "}")
    assert fine["result"]["task"]["status"]["state"] == "TASK_STATE_COMPLETED", fine


# --- controlplane-mcp ---------------------------------------------------------------------------


@pytest.fixture
async def mcp(controlplane: ControlPlane, issuer: TestIssuer) -> AsyncIterator[Client]:
    """A session on controlplane-mcp in this process, over the module's control plane."""
    own = issuer.mint(controlplane.url, [READ, WRITE], claims={"client_id": "controlplane-mcp"})
    async with controlplane_session(CONTROLPLANE_URL=controlplane.url, CONTROLPLANE_MCP_BEARER_TOKEN=own) as session:
        yield session


@pytest.mark.parametrize(
    ("report", "field"),
    [
        (nested(100), too_deep_at("report")),
        ('{"n": 1e400}', "report.n"),
        ({"n": 10**MAX_INTEGER_DIGITS}, "report.n"),
        ({"n": "a\x00b"}, "report.n"),
        # Some clients send objects as JSON text, which the server decodes.
        ('{"n": ' + LONG_INTEGER + "}", "report"),
        ("[" * 100_000 + "]" * 100_000, "report"),
        ('{"n": NaN}', "report.n"),
    ],
)
async def test_mcp_tool_with_free_form_arguments_out_of_bounds_is_invalid_params_naming_the_argument(
    mcp: Client, controlplane: ControlPlane, report: Any, field: str
) -> None:
    title = f"bounds-{uuid.uuid4().hex[:8]}"

    with pytest.raises(MCPError) as refused:
        await mcp.call_tool("controlplane_record_analysis", {"kind": "diagnostic", "title": title, "report": report})
    listed = await mcp.call_tool("controlplane_list_incidents", {})

    assert refused.value.error.code == -32602
    assert f"The field {field} " in refused.value.error.message
    assert not listed.is_error, listed.content
    assert [analysis for analysis in controlplane.all_items("/analyses") if analysis["title"] == title] == []


# --- MCP over HTTP --------------------------------------------------------------------------------


class Kept(ToolResult):
    kept: int

    def render_text(self) -> str:
        return f"kept {self.kept} keys"


async def keep_details(details: dict[str, Any]) -> Kept:
    """Keeps free-form details (a stand-in for a write tool's free-form argument)."""
    return Kept(kept=len(details))


@pytest.fixture(scope="module")
def mcp_url(issuer: TestIssuer) -> Iterator[str]:
    """An MCP server over Streamable HTTP, served as every server here is (`mcp_http_app`), with one tool."""
    port = free_port()
    serve = ServeSettings(port=port, auth=AuthConfig(issuer=issuer.issuer, jwks_url=issuer.jwks_url))
    specs = [ToolSpec(keep_details, "Keep details", scope="things:write")]
    tools = build_tools(specs)
    auth = mcp_auth(serve, ["things:read"])
    server: MCPServer[Any] = MCPServer(
        "kept", tools=tools, middleware=[ToolGate(tools)], token_verifier=auth.verifier, auth=auth.settings
    )
    app = mcp_http_app(server, serve, ServerMetrics("kept"), auth, tool_scopes=tool_scopes(specs))
    with ServedApp(app, port=port):
        yield f"http://127.0.0.1:{port}/mcp"


def mcp_call(issuer: TestIssuer, url: str, raw_details: str, *, token: bool = True) -> httpx.Response:
    """A `tools/call` of keep_details whose `details` are `raw_details`, sent as raw JSON text on a new session."""
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    with httpx.Client(timeout=20.0, trust_env=False) as http:
        if token:
            headers["Authorization"] = f"Bearer {issuer.mint(url, ['things:read', 'things:write'])}"
            opened = http.post(url, json=INITIALIZE, headers=headers)
            assert opened.status_code == 200, opened.text
            http.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers)
        call = '{"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "keep_details", "arguments": '
        body = call + '{"details": ' + raw_details + "}}}"
        return http.post(url, content=body.encode("utf-8", "surrogatepass"), headers=headers)


@pytest.mark.parametrize(
    ("details", "code", "field"),
    [
        (json.dumps(nested(DEEP)), -32602, too_deep_at("params.arguments.details", MAX_DEPTH + MCP_ARGUMENTS_DEPTH)),
        ('{"n": ' + LONE_SURROGATE + "}", -32602, "params.arguments.details.n"),
        ('{"n": ' + LONG_INTEGER + "}", -32602, "params.arguments.details.n"),
        ('{"n": ' + NOT_A_NUMBER + "}", -32700, "params.arguments.details.n"),
        ("[" * 100_000 + "]" * 100_000, -32600, "body"),
    ],
)
def test_mcp_request_out_of_bounds_is_400_naming_the_field(
    issuer: TestIssuer, mcp_url: str, details: str, code: int, field: str
) -> None:
    response = mcp_call(issuer, mcp_url, details)

    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["code"], error["data"]["field"]) == (code, field), error
    assert field in error["message"] or field == "body"
    # At the limit: `details` is level 2 of the arguments, so it may hold MAX_DEPTH - 1 levels.
    assert mcp_call(issuer, mcp_url, json.dumps(nested(MAX_DEPTH - 1))).status_code == 200


def test_mcp_request_without_a_token_is_401_before_its_body_is_judged(issuer: TestIssuer, mcp_url: str) -> None:
    assert mcp_call(issuer, mcp_url, json.dumps(nested(DEEP)), token=False).status_code == 401
