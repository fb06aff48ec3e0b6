"""Security checklist rows 15, 16, 17 and 36 against controlplane-mcp and the control plane, both served for real.

15: a read-scoped token calling a write tool gets 403 `insufficient_scope` naming the write scope,
    and the control plane is not touched.
16: with the write scope but no (or an expired) approval nothing runs; the pending approval is
    returned, and the request and each refused use are in the audit log.
17: an approval reused, used for other arguments or another target, or approved by its requester
    is refused, with audit rows for what did happen and for each refused use.
36: a secret in an upstream error is redacted in the tool result and in the server's log.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from support.controlplane_mcp_harness import ADMIN, READ, WRITE, Seeder, serve_controlplane, serve_mcp, session
from support.issuer import TestIssuer
from support.mcp_session import call, call_error
from support.served import ServedComponent

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

TTL = 3
SECRET = "hunter2-do-not-leak"


@pytest.fixture(scope="module")
def controlplane(issuer: TestIssuer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedComponent]:
    with serve_controlplane(issuer, tmp_path_factory, approval_ttl=TTL) as component:
        yield component


@pytest.fixture(scope="module")
def seeder(controlplane: ServedComponent, issuer: TestIssuer) -> Seeder:
    return Seeder(controlplane.url, issuer)


@pytest.fixture(scope="module")
def served(
    controlplane: ServedComponent, issuer: TestIssuer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServedComponent]:
    with serve_mcp(controlplane, issuer, tmp_path_factory) as component:
        yield component


def fresh(seeder: Seeder) -> dict[str, str]:
    return seeder.resource(f"svc-{uuid.uuid4().hex[:8]}")  # type: ignore[return-value]


def audit_actions(seeder: Seeder, resource_id: str) -> list[str]:
    return [entry["action"] for entry in seeder.ok("GET", f"/audit-logs?resource_id={resource_id}")["items"]]


def test_row_15_a_read_scoped_token_gets_403_naming_the_write_scope_and_nothing_happens(
    served: ServedComponent, issuer: TestIssuer, seeder: Seeder
) -> None:
    resource = fresh(seeder)
    token = issuer.mint(served.mcp_url, [READ], claims={"client_id": "reader"})
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
    }
    for tool, arguments in (
        ("controlplane_scale_deployment", {"resource": resource["name"], "replicas": 9}),
        ("controlplane_restart_deployment", {"resource": resource["name"]}),
        ("controlplane_op_create_incident", {"body": {"title": "t"}}),
        ("controlplane_record_analysis", {"kind": "diagnostic", "title": "t", "report": {}}),
    ):
        message = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}
        response = httpx.post(served.mcp_url, json=message, headers=headers, timeout=10)
        assert response.status_code == 403, (tool, response.text)
        assert response.json()["error"] == "insufficient_scope"
        assert 'scope="controlplane:write"' in response.headers["www-authenticate"]
    assert seeder.ok("GET", f"/approvals?target={resource['id']}")["items"] == []
    assert audit_actions(seeder, resource["id"]) == ["resource.created"]


async def test_row_16_without_a_valid_approval_nothing_runs_and_the_request_is_audited(
    served: ServedComponent, issuer: TestIssuer, seeder: Seeder
) -> None:
    resource = fresh(seeder)
    async with session(served, issuer) as client:
        pending = await call(client, "controlplane_restart_deployment", resource=resource["name"])
        unknown = await call_error(
            client, "controlplane_restart_deployment", resource=resource["name"], approval_id="apr_000000000000"
        )
        assert seeder.approve(pending["approval"]["id"]).status_code == 200
        time.sleep(TTL + 0.5)
        expired = await call_error(
            client, "controlplane_restart_deployment", resource=resource["name"], approval_id=pending["approval"]["id"]
        )
    assert pending["status"] == "approval_pending"
    assert pending["approval"]["id"].startswith("apr_")
    assert "nothing has run" in pending["message"]
    assert "does not exist" in unknown
    assert "expired at" in expired
    assert seeder.ok("GET", f"/automation/executions?resource_id={resource['id']}")["items"] == []
    # Each refused use (the unknown id, then the expired approval) is on record too.
    assert audit_actions(seeder, resource["id"]) == [
        "approval.refused",
        "approval.approved",
        "approval.refused",
        "approval.requested",
        "resource.created",
    ]


async def test_row_17_reuse_other_arguments_other_target_and_self_approval_are_refused(
    served: ServedComponent, issuer: TestIssuer, seeder: Seeder
) -> None:
    resource, other = fresh(seeder), fresh(seeder)
    async with session(served, issuer, client_id="agent-x") as client:
        pending = await call(client, "controlplane_scale_deployment", resource=resource["name"], replicas=3)
        approval = pending["approval"]["id"]
        self_approved = seeder.approve(approval, client_id="agent-x")
        assert seeder.approve(approval).status_code == 200
        other_args = await call_error(
            client, "controlplane_scale_deployment", resource=resource["name"], replicas=30, approval_id=approval
        )
        other_target = await call_error(
            client, "controlplane_scale_deployment", resource=other["name"], replicas=3, approval_id=approval
        )
        ran = await call(
            client, "controlplane_scale_deployment", resource=resource["name"], replicas=3, approval_id=approval
        )
        reused = await call_error(
            client, "controlplane_scale_deployment", resource=resource["name"], replicas=3, approval_id=approval
        )
    assert self_approved.status_code == 403
    assert self_approved.json()["error"] == "self_approval"
    assert "granted for other arguments" in other_args
    assert f"not {other['id']}" in other_target
    assert ran["status"] == "executed"
    assert "is consumed" in reused
    assert seeder.ok("GET", f"/resources/{other['id']}")["replicas"] == 2
    assert len(seeder.ok("GET", f"/automation/executions?resource_id={resource['id']}")["items"]) == 1
    assert audit_actions(seeder, resource["id"]) == [
        "approval.refused",  # reused
        "scale",
        "approval.refused",  # other arguments
        "approval.approved",
        "approval.requested",
        "resource.created",
    ]
    assert audit_actions(seeder, other["id"]) == ["approval.refused", "resource.created"]  # other target


async def test_row_36_a_secret_in_an_upstream_error_is_redacted_in_the_result_and_the_log(
    served: ServedComponent, issuer: TestIssuer
) -> None:
    async with session(served, issuer) as client:
        # The control plane echoes the id it could not find ("No incident with id '...'").
        message = await call_error(client, "controlplane_get_incident", incident_id=f"password={SECRET}")
    assert "404" in message
    assert SECRET not in message
    assert "[REDACTED]" in message
    assert SECRET not in served.log_tail(10_000)


def test_the_control_plane_refuses_writes_without_their_scope(
    controlplane: ServedComponent, issuer: TestIssuer
) -> None:
    """The API itself, behind the MCP server: a write needs its scope whoever calls."""
    token = issuer.mint(controlplane.url, [READ], claims={"client_id": "reader"})
    response = httpx.post(
        f"{controlplane.url}/api/v1/approvals",
        json={"action": "restart", "target": "res_000000000000"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code == 403
    assert 'scope="controlplane:write"' in response.headers["www-authenticate"]
    admin_only = httpx.post(
        f"{controlplane.url}/api/v1/resources",
        json={"name": "x", "kind": "service"},
        headers={"Authorization": f"Bearer {issuer.mint(controlplane.url, [READ, WRITE])}"},
        timeout=10,
    )
    assert admin_only.status_code == 403
    assert ADMIN in admin_only.headers["www-authenticate"]
