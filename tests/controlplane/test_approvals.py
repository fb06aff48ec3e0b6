"""Approvals and the actions they allow, on SQLite and a real PostgreSQL (SECURITY-CHECKLIST 16, 17).

An action runs only with an approval that is approved, unexpired, unconsumed and granted to
this caller for exactly this action, target, arguments and end user; anything else is 403
`approval_invalid` naming the rule, with nothing executed and nothing recorded. Each approval
transition and each action leaves exactly one audit row.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from support.controlplane_harness import WRITE, ControlPlane, approved, new_resource

from controlplane.approvals import arguments_hash

pytestmark = pytest.mark.integration


def act(
    cp: ControlPlane,
    action: str,
    target: str,
    approval_id: str,
    arguments: dict[str, Any] | None = None,
    *,
    client_id: str = "agent",
    on_behalf_of: str | None = None,
) -> Any:
    body = {"target": target, "arguments": arguments or {}, "approval_id": approval_id, "on_behalf_of": on_behalf_of}
    return cp.call("POST", f"/actions/{action}", json=body, client_id=client_id, scopes=(WRITE,))


def refused(cp: ControlPlane, response: Any, rule: str) -> None:
    assert response.status_code == 403, response.text
    assert response.json()["error"] == "approval_invalid"
    assert rule in response.json()["error_description"]


def test_an_approved_scale_runs_once_changes_replicas_and_is_audited(controlplane: ControlPlane) -> None:
    resource = new_resource(controlplane)
    pending = controlplane.ok(
        "POST",
        "/approvals",
        201,
        json={"action": "scale", "target": resource["id"], "arguments": {"replicas": 5}, "reason": "load"},
        client_id="agent",
        scopes=(WRITE,),
    )
    assert (pending["status"], pending["requester"]) == ("pending", "agent")
    assert pending["arguments_hash"] == arguments_hash({"replicas": 5})
    refused(
        controlplane,
        act(controlplane, "scale", resource["id"], pending["id"], {"replicas": 5}),
        "is pending, not approved",
    )

    decided = controlplane.ok("POST", f"/approvals/{pending['id']}/approve", json={"reason": "fine"}, client_id="human")
    assert (decided["status"], decided["decided_by"], decided["decision_reason"]) == ("approved", "human", "fine")
    execution = act(controlplane, "scale", resource["id"], pending["id"], {"replicas": 5})
    assert execution.status_code == 200, execution.text
    run = execution.json()
    assert (run["status"], run["action"], run["parameters"], run["approval_id"], run["executor"]) == (
        "succeeded",
        "scale",
        {"replicas": 5},
        pending["id"],
        "recording",
    )
    assert controlplane.ok("GET", f"/resources/{resource['id']}")["replicas"] == 5
    assert controlplane.ok("GET", f"/automation/executions/{run['id']}") == run
    assert controlplane.ok("GET", f"/approvals/{pending['id']}")["status"] == "consumed"

    refused(controlplane, act(controlplane, "scale", resource["id"], pending["id"], {"replicas": 5}), "is consumed")
    audit = controlplane.all_items("/audit-logs", resource_id=resource["id"])
    assert [(e["type"], e["action"]) for e in audit] == [
        ("approval", "approval.refused"),  # used again
        ("scale", "scale"),
        ("approval", "approval.approved"),
        ("approval", "approval.refused"),  # used while pending
        ("approval", "approval.requested"),
        ("resource", "resource.created"),
    ]
    assert audit[1]["details"]["approval_id"] == pending["id"]
    assert [
        e["id"] for e in controlplane.all_items("/automation/executions", resource_id=resource["id"], action="scale")
    ] == [run["id"]]


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        ({"action": "restart"}, "is for the action scale, not restart"),
        ({"target": "other"}, "is for the target"),
        ({"arguments": {"replicas": 6}}, "was granted for other arguments"),
        ({"client_id": "intruder"}, "was requested by agent, not intruder"),
        ({"on_behalf_of": "mallory"}, "is on behalf of None, not 'mallory'"),
        ({"approval_id": "apr_unknown"}, "does not exist"),
    ],
)
def test_an_approval_used_for_anything_else_is_refused_and_nothing_runs(
    controlplane: ControlPlane, change: dict[str, Any], rule: str
) -> None:
    resource = new_resource(controlplane)
    other = new_resource(controlplane)
    approval = approved(controlplane, "scale", resource["id"], {"replicas": 3})
    call = {
        "action": "scale",
        "target": resource["id"],
        "approval_id": approval["id"],
        "arguments": {"replicas": 3},
        "client_id": "agent",
        "on_behalf_of": None,
        **change,
    }
    if call["target"] == "other":
        call["target"] = other["id"]
    before = (controlplane.audit_count(), len(controlplane.executor.calls))
    refused(
        controlplane,
        act(
            controlplane,
            call["action"],
            call["target"],
            call["approval_id"],
            call["arguments"],
            client_id=call["client_id"],
            on_behalf_of=call["on_behalf_of"],
        ),
        rule,
    )
    # The refusal is on record, and nothing else happened.
    assert (controlplane.audit_count() - 1, len(controlplane.executor.calls)) == before
    refusal = controlplane.all_items("/audit-logs", type="approval")[0]
    assert (refusal["action"], refusal["actor"]) == ("approval.refused", call["client_id"])
    assert rule in refusal["summary"]
    assert controlplane.ok("GET", f"/approvals/{approval['id']}")["status"] == "approved"
    assert controlplane.ok("GET", f"/resources/{resource['id']}")["replicas"] == 2


def test_self_approval_is_refused_for_the_requester_and_the_user_it_acts_for(controlplane: ControlPlane) -> None:
    resource = new_resource(controlplane)
    pending = controlplane.ok(
        "POST",
        "/approvals",
        201,
        json={"action": "restart", "target": resource["id"], "on_behalf_of": "bob"},
        client_id="mcp",
    )
    for approver in ("mcp", "bob"):
        response = controlplane.call("POST", f"/approvals/{pending['id']}/approve", json={}, client_id=approver)
        assert (response.status_code, response.json()["error"]) == (403, "self_approval")
    assert controlplane.ok("GET", f"/approvals/{pending['id']}")["status"] == "pending"
    controlplane.ok("POST", f"/approvals/{pending['id']}/approve", json={}, client_id="alice")
    refused(
        controlplane,
        act(controlplane, "restart", resource["id"], pending["id"], client_id="mcp"),
        "is on behalf of 'bob', not None",
    )
    done = act(controlplane, "restart", resource["id"], pending["id"], client_id="mcp", on_behalf_of="bob")
    assert done.json()["on_behalf_of"] == "bob"
    assert controlplane.all_items("/audit-logs", resource_id=resource["id"], type="restart")[0]["on_behalf_of"] == "bob"


def test_a_rejected_approval_cannot_be_used_or_decided_again(controlplane: ControlPlane) -> None:
    resource = new_resource(controlplane)
    pending = controlplane.ok(
        "POST", "/approvals", 201, json={"action": "restart", "target": resource["id"]}, client_id="agent"
    )
    rejected = controlplane.ok(
        "POST", f"/approvals/{pending['id']}/reject", json={"reason": "not now"}, client_id="human"
    )
    assert rejected["status"] == "rejected"
    refused(controlplane, act(controlplane, "restart", resource["id"], pending["id"]), "is rejected, not approved")
    again = controlplane.call("POST", f"/approvals/{pending['id']}/approve", json={}, client_id="human")
    assert (again.status_code, again.json()["error"]) == (409, "conflict")
    assert pending["id"] in [
        a["id"] for a in controlplane.all_items("/approvals", status="rejected", target=resource["id"])
    ]
    assert controlplane.call("POST", "/approvals", json={"action": "restart", "target": "res_nope"}).status_code == 404


def test_expired_approvals_cannot_be_used_nor_approved(controlplane: ControlPlane) -> None:
    resource = new_resource(controlplane)
    used_late = approved(controlplane, "restart", resource["id"])
    pending = controlplane.ok(
        "POST",
        "/approvals",
        201,
        json={"action": "restart", "target": resource["id"], "ttl_seconds": 30},
        client_id="agent",
    )
    assert pending["expires_at"] < used_late["expires_at"]
    controlplane.clock.advance(60)
    try:
        late = controlplane.call("POST", f"/approvals/{pending['id']}/approve", json={}, client_id="human")
        assert (late.status_code, late.json()["error"]) == (409, "expired")
        assert controlplane.ok("GET", f"/approvals/{pending['id']}")["status"] == "expired"
        assert (
            controlplane.all_items("/audit-logs", resource_id=resource["id"], type="approval")[0]["action"]
            == "approval.expired"
        )
        controlplane.clock.advance(900)
        refused(controlplane, act(controlplane, "restart", resource["id"], used_late["id"]), "expired at")
    finally:
        controlplane.clock.offset = type(controlplane.clock.offset)()


def test_two_concurrent_uses_of_one_approval_run_exactly_once(controlplane: ControlPlane) -> None:
    resource = new_resource(controlplane)
    approval = approved(controlplane, "scale", resource["id"], {"replicas": 7})
    with ThreadPoolExecutor(8) as pool:
        responses = list(
            pool.map(lambda _: act(controlplane, "scale", resource["id"], approval["id"], {"replicas": 7}), range(8))
        )
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] + [403] * 7, [r.text for r in responses]
    assert len(controlplane.all_items("/automation/executions", resource_id=resource["id"])) == 1
    assert len(controlplane.all_items("/audit-logs", resource_id=resource["id"], type="scale")) == 1


def test_rollback_goes_to_the_previous_version_and_records_a_deployment(controlplane: ControlPlane) -> None:
    resource = new_resource(controlplane, version="1.0")
    nothing = approved(controlplane, "rollback", resource["id"])
    none = act(controlplane, "rollback", resource["id"], nothing["id"])
    assert (none.status_code, none.json()["error"]) == (409, "conflict")
    assert controlplane.ok("GET", f"/approvals/{nothing['id']}")["status"] == "approved"  # not consumed

    deploy = {
        "resource_id": resource["id"],
        "version": "1.1",
        "previous_version": "1.0",
        "actor": "ci",
        "started_at": "2026-01-01T00:00:00Z",
    }
    controlplane.ok("POST", "/deployments", 201, json=deploy)
    run = act(controlplane, "rollback", resource["id"], nothing["id"]).json()
    assert (run["status"], run["parameters"]) == ("succeeded", {"to_version": "1.0"})
    assert controlplane.ok("GET", f"/resources/{resource['id']}")["version"] == "1.0"
    latest = controlplane.all_items("/deployments", resource_id=resource["id"])[0]
    assert (latest["trigger"], latest["version"], latest["previous_version"], latest["actor"]) == (
        "rollback",
        "1.0",
        "1.1",
        "agent",
    )

    explicit = approved(controlplane, "rollback", resource["id"], {"to_version": "0.9"})
    assert (
        act(controlplane, "rollback", resource["id"], explicit["id"], {"to_version": "0.9"}).json()["status"]
        == "succeeded"
    )
    assert controlplane.ok("GET", f"/resources/{resource['id']}")["version"] == "0.9"


def test_a_failed_execution_is_recorded_and_consumes_the_approval(controlplane: ControlPlane) -> None:
    resource = new_resource(controlplane)
    approval = approved(controlplane, "scale", resource["id"], {"replicas": 9})
    controlplane.executor.failing = True
    try:
        response = act(controlplane, "scale", resource["id"], approval["id"], {"replicas": 9})
    finally:
        controlplane.executor.failing = False
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["detail"]) == ("failed", "the cluster refused")
    assert controlplane.ok("GET", f"/resources/{resource['id']}")["replicas"] == 2
    assert controlplane.ok("GET", f"/approvals/{approval['id']}")["status"] == "consumed"
    assert (
        controlplane.all_items("/audit-logs", resource_id=resource["id"], type="scale")[0]["details"]["status"]
        == "failed"
    )


def test_acknowledging_with_an_approval_consumes_it(controlplane: ControlPlane) -> None:
    incident = controlplane.ok("POST", "/incidents", 201, json={"title": "t"})
    wrong = approved(controlplane, "restart", new_resource(controlplane)["id"])
    body = {"note": "ack", "approval_id": wrong["id"]}
    refused(
        controlplane,
        controlplane.call("POST", f"/incidents/{incident['id']}/acknowledge", json=body, client_id="agent"),
        "is for the action restart",
    )
    approval = approved(controlplane, "acknowledge_incident", incident["id"], on_behalf_of="bob")
    body = {"note": "ack", "approval_id": approval["id"], "on_behalf_of": "bob"}
    done = controlplane.ok("POST", f"/incidents/{incident['id']}/acknowledge", json=body, client_id="agent")
    assert done["status"] == "acknowledged"
    assert controlplane.ok("GET", f"/approvals/{approval['id']}")["status"] == "consumed"
    entry = [
        e
        for e in controlplane.all_items("/audit-logs", type="incident")
        if e["details"].get("approval_id") == approval["id"]
    ]
    assert [(e["action"], e["on_behalf_of"]) for e in entry] == [("incident.acknowledged", "bob")]


def test_every_write_leaves_exactly_one_audit_row_and_failed_writes_none(controlplane: ControlPlane) -> None:
    resource = new_resource(controlplane)
    incident = controlplane.ok("POST", "/incidents", 201, json={"title": "t"})

    def write(method: str, path: str, body: dict[str, Any], status: int, client_id: str = "operator") -> dict[str, Any]:
        before = controlplane.audit_count()
        response = controlplane.call(method, path, json=body, client_id=client_id)
        assert response.status_code == status, response.text
        # A decision too late records the expiry; a refusal by an approval rule records the refusal.
        recorded = ("expired", "approval_invalid", "approval_required")
        expected = 1 if status < 400 or response.json()["error"] in recorded else 0
        assert controlplane.audit_count() == before + expected, (method, path, status)
        return response.json()  # type: ignore[no-any-return]

    rid = resource["id"]
    write("POST", "/resources", {"name": "audited", "namespace": resource["name"], "kind": "queue"}, 201)
    write("POST", "/resources", {"name": "audited", "namespace": resource["name"], "kind": "queue"}, 409)
    write("PATCH", f"/resources/{rid}", {"owner": "team"}, 200)
    write("PATCH", "/resources/res_nope", {"owner": "team"}, 404)
    write("POST", "/resource-groups", {"name": "g", "members": [rid]}, 201)
    write("POST", "/resource-groups", {"name": "g", "members": ["res_nope"]}, 422)
    write(
        "POST",
        "/deployments",
        {"resource_id": rid, "version": "2", "actor": "ci", "started_at": "2026-01-01T00:00:00Z"},
        201,
    )
    write(
        "POST",
        "/audit-logs",
        {"type": "config_change", "resource_id": rid, "actor": "ci", "at": "2026-01-01T00:00:00Z"},
        201,
    )
    write("POST", "/alert-rules", {"name": "R", "expr": "up == 0"}, 201)
    write("POST", "/incidents", {"title": "t2"}, 201)
    write("PATCH", f"/incidents/{incident['id']}", {"status": "acknowledged"}, 403)
    acknowledge = approved(controlplane, "acknowledge_incident", incident["id"], requester="operator")
    write("PATCH", f"/incidents/{incident['id']}", {"status": "acknowledged", "approval_id": acknowledge["id"]}, 200)
    write("POST", f"/incidents/{incident['id']}/acknowledge", {}, 409)
    write("POST", f"/incidents/{incident['id']}/timeline", {"text": "n"}, 201)
    resolve = approved(controlplane, "resolve_incident", incident["id"], requester="operator")
    write("POST", f"/incidents/{incident['id']}/resolve", {"approval_id": resolve["id"]}, 200)
    write("POST", "/analyses", {"kind": "postmortem", "title": "pm", "report": {}}, 201)
    pending = write(
        "POST", "/approvals", {"action": "scale", "target": rid, "arguments": {"replicas": 1}}, 201, "agent"
    )
    write("POST", f"/approvals/{pending['id']}/approve", {}, 403, "agent")
    write("POST", f"/approvals/{pending['id']}/approve", {}, 200, "human")
    write(
        "POST",
        "/actions/scale",
        {"target": rid, "arguments": {"replicas": 2}, "approval_id": pending["id"]},
        403,
        "agent",
    )
    write(
        "POST",
        "/actions/scale",
        {"target": rid, "arguments": {"replicas": 1}, "approval_id": pending["id"]},
        200,
        "agent",
    )
    rejected = write("POST", "/approvals", {"action": "restart", "target": rid}, 201, "agent")
    write("POST", f"/approvals/{rejected['id']}/reject", {}, 200, "human")
    expiring = write("POST", "/approvals", {"action": "restart", "target": rid, "ttl_seconds": 30}, 201, "agent")
    controlplane.clock.advance(31)
    try:
        write("POST", f"/approvals/{expiring['id']}/approve", {}, 409, "human")
    finally:
        controlplane.clock.offset = type(controlplane.clock.offset)()
    restart = approved(controlplane, "restart", rid)
    write("POST", "/actions/restart", {"target": rid, "approval_id": restart["id"]}, 200, "agent")


def test_an_operation_approval_is_used_once_by_its_requester_for_exactly_its_call(controlplane: ControlPlane) -> None:
    """controlplane-mcp gates the API's further operations: it consumes the approval, then sends the call."""
    call = {"query": [["dry_run", "false"]], "body": {"title": "flaky disk"}}
    grant = approved(
        controlplane, "operation:create_analysis", "/api/v1/analyses", call, requester="agent", on_behalf_of="user-1"
    )
    use = {"action": "operation:create_analysis", "target": "/api/v1/analyses", "on_behalf_of": "user-1"}

    def consume(client_id: str = "agent", **changes: Any) -> Any:
        body = {**use, "arguments": call, **changes}
        return controlplane.call(
            "POST", f"/approvals/{grant['id']}/consume", json=body, client_id=client_id, scopes=(WRITE,)
        )

    refused(controlplane, consume(arguments={**call, "body": {"title": "other"}}), "granted for other arguments")
    refused(controlplane, consume(target="/api/v1/incidents"), "not /api/v1/incidents")
    refused(controlplane, consume(action="operation:create_incident"), "not operation:create_incident")
    refused(controlplane, consume(client_id="intruder"), "not intruder")
    refused(controlplane, consume(on_behalf_of="user-2"), "not 'user-2'")
    used = consume()
    assert used.status_code == 200, used.text
    assert used.json()["status"] == "consumed"
    refused(controlplane, consume(), "is consumed")
    audit = controlplane.all_items("/audit-logs", type="approval")
    mine = [e["action"] for e in audit if e["details"].get("approval_id") == grant["id"]]
    assert mine == ["approval.consumed", "approval.approved", "approval.requested"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"action": "operation:x", "target": "analyses", "arguments": {}}, "target"),
        ({"action": "operation:x", "target": "/api/v1/x", "arguments": {"replicas": 3}}, "arguments"),
        ({"action": "operation:bad id", "target": "/api/v1/x", "arguments": {}}, "action"),
    ],
)
def test_a_malformed_operation_approval_request_is_422_naming_the_field(
    controlplane: ControlPlane, body: dict[str, Any], field: str
) -> None:
    response = controlplane.call("POST", "/approvals", json=body, client_id="agent", scopes=(WRITE,))
    assert response.status_code == 422, response.text
    assert field in {error["field"].split(".")[0] for error in response.json()["errors"]}


def test_built_in_actions_cannot_be_consumed_without_running(controlplane: ControlPlane) -> None:
    resource = new_resource(controlplane)
    grant = approved(controlplane, "restart", resource["id"])
    body = {"action": "restart", "target": resource["id"], "arguments": {}}
    response = controlplane.call(
        "POST", f"/approvals/{grant['id']}/consume", json=body, client_id="agent", scopes=(WRITE,)
    )
    assert response.status_code == 422, response.text
    assert controlplane.ok("GET", f"/approvals/{grant['id']}")["status"] == "approved"
