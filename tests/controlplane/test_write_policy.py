"""One write policy, enforced by the control plane itself whoever calls (REST or controlplane-mcp).

`controlplane.policy.WRITE_POLICY` is the single source: the OpenAPI document's per-operation
security and `x-approval` are built from it, docs/security.md shows it as a table, and the
handlers enforce it. An incident's status is its state of record: acknowledging, resolving and
reopening need an approval of exactly that change, like restart, rollback and scale; a refusal
for want of an approval names the approval needed and leaves an audit row.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from support.controlplane_harness import WRITE, ControlPlane, approved, new_resource

from controlplane.openapi import OPERATIONS, READ_SCOPE, openapi_document
from controlplane.policy import WRITE_POLICY, policy_table

pytestmark = pytest.mark.integration

SECURITY_DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"

#: Each incident status change: (method, path suffix, body, the status it sets, the approval it needs).
CHANGES = [
    ("POST", "/acknowledge", {}, "acknowledged", "acknowledge_incident"),
    ("POST", "/resolve", {}, "resolved", "resolve_incident"),
    ("PATCH", "", {"status": "acknowledged"}, "acknowledged", "acknowledge_incident"),
    ("PATCH", "", {"status": "resolved"}, "resolved", "resolve_incident"),
]


def audit_of(cp: ControlPlane, incident_id: str) -> list[str]:
    rows = cp.all_items("/audit-logs")
    return [
        row["action"]
        for row in rows
        if incident_id in (row["details"].get("incident_id"), row["details"].get("target"))
    ]


@pytest.mark.parametrize(("method", "suffix", "body", "status", "action"), CHANGES)
def test_an_incident_status_change_without_an_approval_is_refused_naming_it_and_audited(
    controlplane: ControlPlane, method: str, suffix: str, body: dict[str, Any], status: str, action: str
) -> None:
    incident = controlplane.ok("POST", "/incidents", 201, json={"title": "no approval"}, scopes=(WRITE,))
    response = controlplane.call(
        method, f"/incidents/{incident['id']}{suffix}", json=body, client_id="agent", scopes=(WRITE,)
    )
    assert response.status_code == 403, response.text
    answer = response.json()
    assert answer["error"] == "approval_required"
    assert action in answer["error_description"]
    assert incident["id"] in answer["error_description"]
    assert controlplane.ok("GET", f"/incidents/{incident['id']}")["status"] == "open"
    assert audit_of(controlplane, incident["id"]) == ["approval.refused", "incident.created"]


@pytest.mark.parametrize(("method", "suffix", "body", "status", "action"), CHANGES)
def test_an_incident_status_change_with_its_approval_is_done_consumes_it_and_is_audited(
    controlplane: ControlPlane, method: str, suffix: str, body: dict[str, Any], status: str, action: str
) -> None:
    incident = controlplane.ok("POST", "/incidents", 201, json={"title": "approved"})
    approval = approved(controlplane, action, incident["id"])
    done = controlplane.ok(
        method,
        f"/incidents/{incident['id']}{suffix}",
        json={**body, "approval_id": approval["id"]},
        client_id="agent",
        scopes=(WRITE,),
    )
    assert done["status"] == status
    assert controlplane.ok("GET", f"/approvals/{approval['id']}")["status"] == "consumed"
    assert f"incident.{status}" in audit_of(controlplane, incident["id"])


def test_an_approval_for_another_change_is_refused_and_audited(controlplane: ControlPlane) -> None:
    incident = controlplane.ok("POST", "/incidents", 201, json={"title": "wrong approval"})
    acknowledge = approved(controlplane, "acknowledge_incident", incident["id"])
    response = controlplane.call(
        "POST", f"/incidents/{incident['id']}/resolve", json={"approval_id": acknowledge["id"]}, client_id="agent"
    )
    assert (response.status_code, response.json()["error"]) == (403, "approval_invalid")
    assert "is for the action acknowledge_incident, not resolve_incident" in response.json()["error_description"]
    assert controlplane.ok("GET", f"/approvals/{acknowledge['id']}")["status"] == "approved"
    assert audit_of(controlplane, incident["id"])[0] == "approval.refused"


def test_reopening_needs_an_approval_too(controlplane: ControlPlane) -> None:
    incident = controlplane.ok("POST", "/incidents", 201, json={"title": "reopen"})
    resolve = approved(controlplane, "resolve_incident", incident["id"])
    path = f"/incidents/{incident['id']}"
    controlplane.ok("POST", f"{path}/resolve", json={"approval_id": resolve["id"]}, client_id="agent")
    refused = controlplane.call("PATCH", path, json={"status": "open"}, client_id="agent")
    assert (refused.status_code, refused.json()["error"]) == (403, "approval_required")
    assert "reopen_incident" in refused.json()["error_description"]
    reopen = approved(controlplane, "reopen_incident", incident["id"])
    reopened = controlplane.ok("PATCH", path, json={"status": "open", "approval_id": reopen["id"]}, client_id="agent")
    assert (reopened["status"], reopened["resolved_at"]) == ("open", None)


def test_notes_analyses_and_new_incidents_need_only_the_write_scope(controlplane: ControlPlane) -> None:
    incident = controlplane.ok("POST", "/incidents", 201, json={"title": "scope only"}, scopes=(WRITE,))
    note = {"text": "looked at the dashboards"}
    controlplane.ok("POST", f"/incidents/{incident['id']}/timeline", 201, json=note, scopes=(WRITE,))
    analysis = {"kind": "diagnostic", "incident_id": incident["id"], "title": "t", "report": {}}
    controlplane.ok("POST", "/analyses", 201, json=analysis, scopes=(WRITE,))


def test_the_openapi_document_states_each_write_operations_scope_and_approval_from_the_policy() -> None:
    document = openapi_document()
    writes = {op.id for op in OPERATIONS if op.method != "get"}
    assert writes == set(WRITE_POLICY)
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if not path.startswith("/api/v1"):
                continue
            policy = WRITE_POLICY.get(operation["operationId"])
            if policy is None:
                assert method == "get"
                assert operation["security"] == [{"bearerAuth": [READ_SCOPE]}]
                assert operation["x-approval"] == {"required": False}
                continue
            assert operation["security"] == [{"bearerAuth": [policy.scope]}], operation["operationId"]
            declared = operation["x-approval"]
            assert declared["required"] is bool(policy.approvals)
            assert declared.get("actions", []) == list(policy.approvals)
            assert declared["why"] == policy.why


def test_the_table_in_docs_security_md_is_the_enforced_policy() -> None:
    text = SECURITY_DOC.read_text()
    assert policy_table() in text, "docs/security.md is stale: paste the output of python -m controlplane.policy"
    documented = set(re.findall(r"^\| `(\w+)` \|", text, re.MULTILINE))
    assert documented >= set(WRITE_POLICY)


def test_every_operation_the_policy_gates_refuses_a_call_without_an_approval(controlplane: ControlPlane) -> None:
    """Read from the policy, so an operation added to it with an approval but not enforced fails here."""
    resource = new_resource(controlplane)
    gated = {op.id: op for op in OPERATIONS if op.id in WRITE_POLICY and WRITE_POLICY[op.id].approvals}
    assert len(gated) == 6
    executed = len(controlplane.executor.calls)
    for operation_id, operation in gated.items():
        incident = controlplane.ok("POST", "/incidents", 201, json={"title": operation_id})
        path = operation.path.removeprefix("/api/v1").replace("{id}", incident["id"])
        body: dict[str, Any] = {"status": "resolved"} if operation_id == "update_incident" else {}
        if path.startswith("/actions/"):
            body = {"target": resource["id"], "arguments": {"replicas": 1} if "scale" in path else {}}
        before = controlplane.audit_count()
        response = controlplane.call(operation.method.upper(), path, json=body, client_id="agent", scopes=(WRITE,))
        answer = response.json()
        if path.startswith("/actions/"):  # an action names its approval in the body it must carry
            assert (response.status_code, answer["errors"][0]["field"]) == (422, "approval_id"), operation_id
            assert controlplane.audit_count() == before
        else:
            assert (response.status_code, answer["error"]) == (403, "approval_required"), operation_id
            assert controlplane.audit_count() == before + 1
    assert len(controlplane.executor.calls) == executed
