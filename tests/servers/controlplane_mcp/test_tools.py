"""controlplane-mcp end to end: a real control plane and a real controlplane-mcp, both served, an MCP client
over Streamable HTTP with its own token, and approvals decided by someone else through the API.

The approval rules (reuse, wrong target, wrong arguments, self-approval, expiry) are checked here
through the MCP write tools, as an agent would meet them.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from mcp import Client
from mcp_types import ElicitRequestParams, ElicitResult
from support.controlplane_mcp_harness import ADMIN, READ, WRITE, Seeder, ago, serve_controlplane, serve_mcp, session
from support.issuer import TestIssuer
from support.mcp_session import call, call_error
from support.served import ServedComponent

from common.settings import SettingsSource
from servers.controlplane_mcp.client import ControlPlaneClient
from servers.controlplane_mcp.generic import GenericOperations
from servers.controlplane_mcp.server import CURATED_OPERATIONS, create_server
from servers.controlplane_mcp.settings import ControlPlaneMcpSettings

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

APPROVAL_TTL = 4


@pytest.fixture(scope="module")
def issuer() -> Iterator[TestIssuer]:
    with TestIssuer() as running:
        yield running


@pytest.fixture(scope="module")
def controlplane(issuer: TestIssuer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedComponent]:
    with serve_controlplane(issuer, tmp_path_factory, approval_ttl=APPROVAL_TTL) as component:
        yield component


@pytest.fixture(scope="module")
def seeder(controlplane: ServedComponent, issuer: TestIssuer) -> Seeder:
    seeder = Seeder(controlplane.url, issuer)
    payments = seeder.resource("payments", kind="service")
    cart_db = seeder.resource("cart-db", kind="database", version="15.4")
    checkout = seeder.resource(
        "checkout",
        version="v2.4.0",
        dependencies=["payments", "cart-db"],
        labels={"app.kubernetes.io/name": "checkout"},
        selector={"app": "checkout-pods"},
    )
    seeder.ok(
        "POST",
        "/deployments",
        {"resource_id": checkout["id"], "version": "v2.3.9", "actor": "ci-bot", "started_at": ago(180)},
    )
    seeder.ok(
        "POST",
        "/deployments",
        {
            "resource_id": checkout["id"],
            "version": "v2.4.0",
            "previous_version": "v2.3.9",
            "actor": "ci-bot",
            "started_at": ago(33),
        },
    )
    seeder.ok(
        "POST",
        "/audit-logs",
        {"type": "config_change", "resource_id": payments["id"], "actor": "bob", "at": ago(300), "summary": "pool"},
    )
    seeder.ok(
        "POST",
        "/audit-logs",
        {"type": "feature_flag", "resource_id": cart_db["id"], "actor": "carol", "at": ago(20), "summary": "cache"},
    )
    seeder.ok("POST", "/incidents", {"title": "checkout 5xx", "resource_ids": [checkout["id"]], "severity": "critical"})
    seeder.ok(
        "POST", "/alert-rules", {"name": "HighErrorRate", "expr": "rate(x[5m]) > 1", "resource_id": checkout["id"]}
    )
    return seeder


@pytest.fixture(scope="module")
def served(
    controlplane: ServedComponent, seeder: Seeder, issuer: TestIssuer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServedComponent]:
    with serve_mcp(controlplane, issuer, tmp_path_factory) as component:
        yield component


async def test_find_resource_names_dependencies_and_dependents(served: ServedComponent, issuer: TestIssuer) -> None:
    async with session(served, issuer) as client:
        checkout = await call(client, "controlplane_find_resource", query="checkout")
        db = await call(client, "controlplane_find_resource", query="cart")
        missing = await call(client, "controlplane_find_resource", query="nothing-like-this")
    assert checkout["resource"]["name"] == "checkout"
    assert sorted(d["name"] for d in checkout["dependencies"]) == ["cart-db", "payments"]
    assert db["resource"]["name"] == "cart-db"
    assert [d["name"] for d in db["dependents"]] == ["checkout"]
    assert missing["resource"] is None


async def test_find_resource_finds_a_workload_by_its_label_or_its_pods_label(
    served: ServedComponent, issuer: TestIssuer
) -> None:
    async with session(served, issuer) as client:
        by_label = await call(client, "controlplane_find_resource", label="app.kubernetes.io/name=checkout")
        by_pod_label = await call(client, "controlplane_find_resource", label="app=checkout-pods", namespace="prod")
        named_too = await call(client, "controlplane_find_resource", label="app=checkout-pods", query="pay")
        text = await client.call_tool("controlplane_find_resource", {"query": "checkout"})
        neither = await call_error(client, "controlplane_find_resource")
        not_a_pair = await call_error(client, "controlplane_find_resource", label="checkout")
    assert [m["name"] for m in by_label["matches"]] == ["checkout"]
    assert by_label["resource"]["labels"] == {"app.kubernetes.io/name": "checkout"}
    assert by_label["resource"]["selector"] == {"app": "checkout-pods"}
    assert sorted(d["name"] for d in by_label["dependencies"]) == ["cart-db", "payments"]
    assert by_pod_label["resource"]["name"] == "checkout"
    assert named_too["resource"] is None
    shown = text.content[0].text  # type: ignore[union-attr]
    assert "labels: app.kubernetes.io/name=checkout" in shown
    assert "selector: app=checkout-pods" in shown
    assert "query" in neither
    assert "label" in neither
    assert "key=value" in not_a_pair


async def test_list_changes_answers_what_changed_including_dependencies(
    served: ServedComponent, issuer: TestIssuer
) -> None:
    async with session(served, issuer) as client:
        changes = await call(client, "controlplane_list_changes", resource="checkout", start="now-2h")
        own_only = await call(
            client, "controlplane_list_changes", resource="checkout", start="now-2h", include_dependencies=False
        )
        wider = await call(client, "controlplane_list_changes", resource="checkout", start="now-6h")
    kinds = [(c["type"], c["resource"]) for c in changes["changes"]]
    # Newest first: the flag on the database 20 min ago, then the deploy 33 min ago; the config
    # change on payments 5 h ago is outside the window.
    assert kinds == [("feature_flag", "prod/cart-db"), ("deployment", "prod/checkout")]
    deploy = changes["changes"][1]
    assert 32 <= deploy["minutes_ago"] <= 36
    assert deploy["details"]["version"] == "v2.4.0"
    assert [c["type"] for c in own_only["changes"]] == ["deployment"]
    assert ("config_change", "prod/payments") in [(c["type"], c["resource"]) for c in wider["changes"]]


async def test_a_window_longer_than_allowed_keeps_its_end_and_says_so_in_every_windowed_tool(
    served: ServedComponent, issuer: TestIssuer
) -> None:
    window = {"start": "now-400d", "end": "now"}
    async with session(served, issuer) as client:
        results = {
            "controlplane_list_changes": await call(client, "controlplane_list_changes", resource="checkout", **window),
            "controlplane_deployment_history": await call(
                client, "controlplane_deployment_history", resource="checkout", **window
            ),
            "controlplane_list_incidents": await call(client, "controlplane_list_incidents", **window),
            "controlplane_list_automation_executions": await call(
                client, "controlplane_list_automation_executions", **window
            ),
        }
    unclamped = {
        tool: result["limits_applied"]
        for tool, result in results.items()
        if not any("the window was 400d, longer than the 31d allowed" in note for note in result["limits_applied"])
    }
    assert unclamped == {}
    # The recent part, where the changes are, is kept.
    assert [c["type"] for c in results["controlplane_list_changes"]["changes"]][:2] == ["feature_flag", "deployment"]


async def test_history_incidents_rules_and_executions(served: ServedComponent, issuer: TestIssuer) -> None:
    async with session(served, issuer) as client:
        history = await call(client, "controlplane_deployment_history", resource="checkout")
        incidents = await call(client, "controlplane_list_incidents", status="open", resource="checkout")
        one = await call(client, "controlplane_get_incident", incident_id=incidents["items"][0]["id"])
        rules = await call(client, "controlplane_list_alert_rules", resource="checkout")
        executions = await call(client, "controlplane_list_automation_executions")
    assert [d["version"] for d in history["items"]] == ["v2.4.0", "v2.3.9"]
    assert incidents["items"][0]["title"] == "checkout 5xx"
    assert one["items"][0]["status"] == "open"
    assert [r["name"] for r in rules["items"]] == ["HighErrorRate"]
    assert executions["kind"] == "executions"


async def test_scale_needs_an_approval_someone_else_grants_and_runs_once(
    served: ServedComponent, issuer: TestIssuer, seeder: Seeder
) -> None:
    name = f"svc-{uuid.uuid4().hex[:6]}"
    resource = seeder.resource(name)
    async with session(served, issuer) as client:
        pending = await call(client, "controlplane_scale_deployment", resource=name, replicas=5, reason="load")
        approval = pending["approval"]
        assert pending["status"] == "approval_pending"
        assert (approval["status"], approval["requester"], approval["on_behalf_of"]) == (
            "pending",
            "controlplane-mcp",
            "agent-a",
        )
        assert approval["arguments"] == {"replicas": 5}
        assert seeder.ok("GET", f"/resources/{resource['id']}")["replicas"] == 2  # nothing ran

        early = await call_error(
            client, "controlplane_scale_deployment", resource=name, replicas=5, approval_id=approval["id"]
        )
        assert "is pending, not approved" in early

        # The agent the request was made for cannot approve it, nor can the MCP server's own client.
        assert seeder.approve(approval["id"], client_id="agent-a").status_code == 403
        assert seeder.approve(approval["id"], client_id="controlplane-mcp").status_code == 403
        assert seeder.approve(approval["id"], client_id="alice").status_code == 200

        wrong_args = await call_error(
            client, "controlplane_scale_deployment", resource=name, replicas=6, approval_id=approval["id"]
        )
        other = seeder.resource(f"other-{uuid.uuid4().hex[:6]}")
        wrong_target = await call_error(
            client, "controlplane_scale_deployment", resource=other["name"], replicas=5, approval_id=approval["id"]
        )
        wrong_action = await call_error(
            client, "controlplane_restart_deployment", resource=name, approval_id=approval["id"]
        )
        done = await call(
            client, "controlplane_scale_deployment", resource=name, replicas=5, approval_id=approval["id"]
        )
        reused = await call_error(
            client, "controlplane_scale_deployment", resource=name, replicas=5, approval_id=approval["id"]
        )
    assert "granted for other arguments" in wrong_args
    assert f"not {other['id']}" in wrong_target
    assert "is for the action scale, not restart" in wrong_action
    assert done["status"] == "executed"
    assert done["execution"]["approval_id"] == approval["id"]
    assert seeder.ok("GET", f"/resources/{resource['id']}")["replicas"] == 5
    assert "is consumed" in reused
    assert "request a new approval" in reused
    audit = seeder.ok("GET", f"/audit-logs?resource_id={resource['id']}&type=scale")["items"]
    assert [(e["actor"], e["on_behalf_of"]) for e in audit] == [("controlplane-mcp", "agent-a")]


async def test_another_caller_cannot_use_an_approval_made_for_someone_else(
    served: ServedComponent, issuer: TestIssuer, seeder: Seeder
) -> None:
    name = f"svc-{uuid.uuid4().hex[:6]}"
    seeder.resource(name)
    async with session(served, issuer, client_id="agent-a") as client:
        pending = await call(client, "controlplane_restart_deployment", resource=name)
    assert seeder.approve(pending["approval"]["id"]).status_code == 200
    async with session(served, issuer, client_id="agent-b") as client:
        stolen = await call_error(
            client, "controlplane_restart_deployment", resource=name, approval_id=pending["approval"]["id"]
        )
    assert "is on behalf of 'agent-a', not 'agent-b'" in stolen


async def test_an_approval_expires(served: ServedComponent, issuer: TestIssuer, seeder: Seeder) -> None:
    name = f"svc-{uuid.uuid4().hex[:6]}"
    seeder.resource(name)
    async with session(served, issuer) as client:
        pending = await call(client, "controlplane_rollback_deployment", resource=name, to_version="v0")
        assert seeder.approve(pending["approval"]["id"]).status_code == 200
        time.sleep(APPROVAL_TTL + 0.5)
        late = await call_error(
            client,
            "controlplane_rollback_deployment",
            resource=name,
            to_version="v0",
            approval_id=pending["approval"]["id"],
        )
    assert "expired at" in late


async def test_acknowledge_an_incident_through_an_approval(
    served: ServedComponent, issuer: TestIssuer, seeder: Seeder
) -> None:
    incident = seeder.ok("POST", "/incidents", {"title": "queue backlog"})
    async with session(served, issuer) as client:
        pending = await call(client, "controlplane_acknowledge_incident", incident_id=incident["id"], note="on it")
        assert seeder.approve(pending["approval"]["id"]).status_code == 200
        done = await call(
            client,
            "controlplane_acknowledge_incident",
            incident_id=incident["id"],
            note="on it",
            approval_id=pending["approval"]["id"],
        )
    assert done["status"] == "executed"
    assert done["incident"]["status"] == "acknowledged"
    assert done["incident"]["acknowledged_by"] == "controlplane-mcp"


async def test_resolve_an_incident_through_an_approval(
    served: ServedComponent, issuer: TestIssuer, seeder: Seeder
) -> None:
    incident = seeder.ok("POST", "/incidents", {"title": "cache stampede"})
    async with session(served, issuer) as client:
        pending = await call(client, "controlplane_resolve_incident", incident_id=incident["id"], note="fixed")
        assert seeder.approve(pending["approval"]["id"]).status_code == 200
        done = await call(
            client,
            "controlplane_resolve_incident",
            incident_id=incident["id"],
            note="fixed",
            approval_id=pending["approval"]["id"],
        )
    assert pending["approval"]["action"] == "resolve_incident"
    assert (done["status"], done["incident"]["status"]) == ("executed", "resolved")


#: The reference API's admin operations (seeding); its own client in `make up` has no admin scope.
ADMIN_TOOLS = {
    "controlplane_op_create_resource",
    "controlplane_op_update_resource",
    "controlplane_op_create_resource_group",
    "controlplane_op_create_deployment",
    "controlplane_op_create_audit_log",
    "controlplane_op_create_alert_rule",
}


async def test_further_operations_follow_the_control_planes_policy_and_the_servers_own_scopes(
    served: ServedComponent, issuer: TestIssuer, seeder: Seeder
) -> None:
    title = f"disk full {uuid.uuid4().hex[:6]}"
    async with session(served, issuer) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        # Opening an incident needs only the write scope, through REST or here (controlplane.policy).
        done = await call(client, "controlplane_op_create_incident", body={"title": title, "severity": "critical"})
        listed = await call(client, "controlplane_list_incidents", limit=100)
    assert {"controlplane_op_list_analyses", "controlplane_op_create_incident"} <= names
    assert {"controlplane_op_add_incident_timeline_entry", "controlplane_op_list_resource_groups"} <= names
    # Its own client lacks controlplane:admin: the admin operations would only fail with 403.
    assert not ADMIN_TOOLS & names
    # The approval machinery itself is never a tool; status changes have their own approval-gated tools.
    assert not {n for n in names if "approve" in n or "consume" in n or n.endswith("_action")}
    assert not {"controlplane_op_update_incident", "controlplane_op_resolve_incident"} & names
    assert done["status"] == "executed"
    assert done["data"]["title"] == title
    assert [i["title"] for i in listed["items"]].count(title) == 1


async def test_a_server_whose_client_holds_admin_offers_the_admin_operations_to_admin_callers_only(
    controlplane: ServedComponent, seeder: Seeder, issuer: TestIssuer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    name = f"svc-{uuid.uuid4().hex[:6]}"
    body = {"name": name, "namespace": "prod", "kind": "service"}
    with serve_mcp(controlplane, issuer, tmp_path_factory, own_scopes=(READ, WRITE, ADMIN)) as admin:
        async with session(admin, issuer) as client:
            names = {tool.name for tool in (await client.list_tools()).tools}
        token = issuer.mint(admin.mcp_url, [READ, WRITE], claims={"client_id": "writer"})
        message = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": "controlplane_op_create_resource", "arguments": {"body": body}},
        }
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json, text/event-stream",
            "Content-Type": "application/json",
        }
        refused = httpx.post(admin.mcp_url, json=message, headers=headers, timeout=10)
        async with session(admin, issuer, scopes=(READ, WRITE, ADMIN)) as client:
            created = await call(client, "controlplane_op_create_resource", body=body)
    assert names >= ADMIN_TOOLS
    # A caller needs the operation's own scope: the server's admin client is not lent to writers.
    assert refused.status_code == 403
    assert 'scope="controlplane:admin"' in refused.headers["www-authenticate"]
    assert created["status"] == "executed"
    assert [r["name"] for r in seeder.ok("GET", f"/resources?name={name}")["items"]] == [name]


async def test_an_operation_whose_document_says_nothing_of_approvals_is_still_gated(
    controlplane: ServedComponent, issuer: TestIssuer, seeder: Seeder
) -> None:
    """A team's own endpoints know nothing of approvals: the approval is used up here, then the call sent."""
    own = issuer.mint(controlplane.url, [READ, WRITE], claims={"client_id": "controlplane-mcp"})
    settings = ControlPlaneMcpSettings.from_source(
        SettingsSource({"CONTROLPLANE_URL": controlplane.url, "CONTROLPLANE_MCP_BEARER_TOKEN": own})
    )
    client = ControlPlaneClient(settings.backend, timeout=10.0)
    title = f"team endpoint {uuid.uuid4().hex[:6]}"
    try:
        document = await client.openapi()
        for item in document["paths"].values():
            for operation in item.values():
                operation.pop("x-approval", None)
        offered = GenericOperations(client, read_only=False).tools(
            document, exclude=CURATED_OPERATIONS, client_scopes={READ, WRITE}
        )
        async with Client(create_server(settings, client, extra_tools=offered.tools)) as session:
            pending = await call(session, "controlplane_op_create_incident", body={"title": title})
            assert seeder.approve(pending["approval"]["id"]).status_code == 200
            other = await call_error(
                session,
                "controlplane_op_create_incident",
                body={"title": "x"},
                approval_id=pending["approval"]["id"],
            )
            done = await call(
                session, "controlplane_op_create_incident", body={"title": title}, approval_id=pending["approval"]["id"]
            )
    finally:
        await client.aclose()
    assert pending["status"] == "approval_pending"
    assert pending["approval"]["action"] == "operation:create_incident"
    assert "granted for other arguments" in other
    assert done["status"] == "executed"
    assert [i["title"] for i in seeder.ok("GET", "/incidents?limit=500")["items"]].count(title) == 1


async def test_recording_an_analysis_needs_no_approval(
    served: ServedComponent, issuer: TestIssuer, seeder: Seeder
) -> None:
    incident = seeder.ok("POST", "/incidents", {"title": "disk full"})
    report = {"hypotheses": [{"kind": "infrastructure"}]}
    async with session(served, issuer) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        recorded = await call(
            client,
            "controlplane_record_analysis",
            kind="diagnostic",
            title="disk: infrastructure",
            report=report,
            markdown="# disk",
            incident_id=incident["id"],
        )
        listed = await call(client, "controlplane_op_list_analyses", incident_id=incident["id"])
    annotations = tools["controlplane_record_analysis"].annotations
    assert annotations is not None
    assert annotations.read_only_hint is False
    assert annotations.destructive_hint is False
    assert "controlplane_op_create_analysis" not in tools  # the curated tool replaces the gated generic one
    assert recorded["url"].endswith(f"/api/v1/analyses/{recorded['id']}")
    (analysis,) = listed["data"]["items"]
    assert (analysis["id"], analysis["report"], analysis["markdown"]) == (recorded["id"], report, "# disk")
    assert analysis["created_by"] == "controlplane-mcp"


async def test_read_only_mode_hides_the_write_tools(
    controlplane: ServedComponent, seeder: Seeder, issuer: TestIssuer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    with serve_mcp(controlplane, issuer, tmp_path_factory, CONTROLPLANE_MCP_READ_ONLY="true") as read_only:
        async with session(read_only, issuer) as client:
            tools = (await client.list_tools()).tools
    names = {tool.name for tool in tools}
    assert "controlplane_list_changes" in names
    assert "controlplane_op_list_analyses" in names
    assert all(tool.annotations and tool.annotations.read_only_hint for tool in tools)
    assert (
        not {"controlplane_scale_deployment", "controlplane_record_analysis", "controlplane_op_create_incident"} & names
    )


async def test_a_read_scoped_caller_gets_403_for_a_write_tool_and_nothing_is_requested(
    served: ServedComponent, issuer: TestIssuer, seeder: Seeder
) -> None:
    name = f"svc-{uuid.uuid4().hex[:6]}"
    resource = seeder.resource(name)
    token = issuer.mint(served.mcp_url, [READ], claims={"client_id": "reader"})
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
    }
    message = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "controlplane_scale_deployment", "arguments": {"resource": name, "replicas": 9}},
    }
    response = httpx.post(served.mcp_url, json=message, headers=headers, timeout=10)
    assert response.status_code == 403
    assert 'scope="controlplane:write"' in response.headers["www-authenticate"]
    approvals = seeder.ok("GET", f"/approvals?target={resource['id']}")["items"]
    assert approvals == []


@asynccontextmanager
async def in_process(
    controlplane: ServedComponent, issuer: TestIssuer, answer: Any, mode: str = "legacy"
) -> AsyncIterator[Client]:
    """A session on controlplane-mcp in this process, whose client answers elicitations with `answer`."""
    own = issuer.mint(controlplane.url, [READ, WRITE], claims={"client_id": "controlplane-mcp"})
    settings = ControlPlaneMcpSettings.from_source(
        SettingsSource({"CONTROLPLANE_URL": controlplane.url, "CONTROLPLANE_MCP_BEARER_TOKEN": own})
    )
    client = ControlPlaneClient(settings.backend, timeout=10.0)
    asked: list[str] = []

    async def elicit(context: Any, params: ElicitRequestParams) -> ElicitResult:
        asked.append(params.message)
        return answer

    try:
        # "legacy", the handshake protocol: a server may ask the client mid-call; 2026-07-28 has no back-channel.
        async with Client(create_server(settings, client), mode=mode, elicitation_callback=elicit) as session:
            session.asked = asked  # type: ignore[attr-defined]
            yield session
    finally:
        await client.aclose()


async def test_a_client_that_supports_elicitation_is_asked_before_an_approval_is_requested(
    controlplane: ServedComponent, issuer: TestIssuer, seeder: Seeder
) -> None:
    name = f"svc-{uuid.uuid4().hex[:6]}"
    resource = seeder.resource(name)
    declined = ElicitResult(action="decline")
    accepted = ElicitResult(action="accept", content={"reason": "p99 above SLO for 20 min"})
    async with in_process(controlplane, issuer, declined) as session:
        no = await call(session, "controlplane_restart_deployment", resource=name)
        assert session.asked == [f"Request approval to restart prod/{name}? An approver will be asked."]  # type: ignore[attr-defined]
    async with in_process(controlplane, issuer, accepted) as session:
        yes = await call(session, "controlplane_restart_deployment", resource=name)
    assert no["status"] == "cancelled"
    assert no["approval"] is None
    assert yes["status"] == "approval_pending"
    assert yes["approval"]["reason"] == "p99 above SLO for 20 min"
    # Over stdio or in process there is no caller token: the approval is the server's own request.
    assert yes["approval"]["on_behalf_of"] is None
    assert [a["id"] for a in seeder.ok("GET", f"/approvals?target={resource['id']}")["items"]] == [
        yes["approval"]["id"]
    ]


async def test_without_a_back_channel_the_approval_is_requested_unasked(
    controlplane: ServedComponent, issuer: TestIssuer, seeder: Seeder
) -> None:
    name = f"svc-{uuid.uuid4().hex[:6]}"
    seeder.resource(name)
    async with in_process(controlplane, issuer, ElicitResult(action="decline"), mode="auto") as session:
        result = await call(session, "controlplane_restart_deployment", resource=name, reason="stuck pods")
    assert result["status"] == "approval_pending"
    assert result["approval"]["reason"] == "stuck pods"
