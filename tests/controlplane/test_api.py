"""The control plane's API contract over real HTTP, on SQLite and on a real PostgreSQL.

Every endpoint: its happy path, 404 for unknown ids, 409 for conflicts, 422 naming the field
(unknown fields and query parameters included), 401/403 for missing tokens and scopes, and
pagination through every page.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from support.controlplane_harness import ADMIN, READ, WRITE, ControlPlane, approved, new_resource, unique

pytestmark = pytest.mark.integration


# --- authentication and scopes ------------------------------------------------------------------


def test_no_token_is_401_with_a_bearer_challenge(controlplane: ControlPlane) -> None:
    response = controlplane.http.get(f"{controlplane.url}/api/v1/resources")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    foreign = controlplane.issuer.mint("http://127.0.0.1:8701/mcp", [READ])
    other = controlplane.http.get(
        f"{controlplane.url}/api/v1/resources", headers={"Authorization": f"Bearer {foreign}"}
    )
    assert other.status_code == 401
    assert controlplane.http.get(f"{controlplane.url}/metrics").status_code == 401
    assert controlplane.http.get(f"{controlplane.url}/healthz").status_code == 200
    assert controlplane.http.get(f"{controlplane.url}/openapi.json").status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "scopes", "needed"),
    [
        ("GET", "/resources", (WRITE,), READ),
        ("POST", "/resources", (READ, WRITE), ADMIN),
        ("POST", "/incidents", (READ,), WRITE),
        ("POST", "/approvals/apr_x/approve", (READ, WRITE), ADMIN),
        ("POST", "/actions/scale", (READ, ADMIN), WRITE),
        ("POST", "/audit-logs", (READ, WRITE), ADMIN),
    ],
)
def test_a_token_without_the_scope_is_403_naming_it(
    controlplane: ControlPlane, method: str, path: str, scopes: tuple[str, ...], needed: str
) -> None:
    before = controlplane.audit_count()
    response = controlplane.call(method, path, scopes=scopes, json={})
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"
    assert needed in response.json()["error_description"]
    assert f'scope="{needed}"' in response.headers["www-authenticate"]
    assert controlplane.audit_count() == before


def test_metrics_need_a_valid_token(controlplane: ControlPlane) -> None:
    metrics = controlplane.http.get(f"{controlplane.url}/metrics", headers=controlplane.headers(scopes=()))
    assert metrics.status_code == 200
    assert 'component="controlplane"' in metrics.text


# --- validation ---------------------------------------------------------------------------------


def test_unknown_or_bad_fields_and_parameters_are_422_naming_them(controlplane: ControlPlane) -> None:
    cases = [
        ("POST", "/resources", {"json": {"name": "ok", "kind": "service", "colour": "red"}}, "colour"),
        ("POST", "/resources", {"json": {"name": "Not_A_Name", "kind": "service"}}, "name"),
        ("POST", "/resources", {"json": {"name": "ok", "kind": "service", "replicas": -1}}, "replicas"),
        ("POST", "/resources", {"json": {"name": "ok", "kind": "service", "labels": {"a": "\x00"}}}, "labels.a"),
        ("GET", "/resources", {"params": {"limit": 0}}, "limit"),
        ("GET", "/resources", {"params": {"limit": 501}}, "limit"),
        ("GET", "/resources", {"params": {"colour": "red"}}, "colour"),
        ("GET", "/resources", {"params": {"cursor": "garbage"}}, "cursor"),
        ("GET", "/resources/res_x", {"params": {"colour": "red"}}, "colour"),
        ("GET", "/audit-logs", {"params": {"start": "yesterday"}}, "start"),
        ("GET", "/audit-logs", {"params": {"type": "nonsense"}}, "type.0"),
        (
            "POST",
            "/approvals",
            {"json": {"action": "scale", "target": "res_x", "arguments": {"replicas": -3}}},
            "arguments.replicas",
        ),
        ("POST", "/approvals", {"json": {"action": "scale", "target": "res_x", "ttl_seconds": 901}}, "ttl_seconds"),
        ("POST", "/incidents", {"json": {"title": "t", "resource_ids": ["res_nope"]}}, "resource_ids.0"),
    ]
    before = controlplane.audit_count()
    for method, path, kwargs, field in cases:
        response = controlplane.call(method, path, **kwargs)
        assert response.status_code == 422, (path, kwargs, response.text)
        body = response.json()
        assert body["error"] == "invalid_request"
        assert field in [error["field"] for error in body["errors"]], (field, body)
    assert controlplane.audit_count() == before


def test_bodies_must_be_json(controlplane: ControlPlane) -> None:
    response = controlplane.http.post(
        f"{controlplane.url}/api/v1/incidents",
        content=b"{",
        headers={**controlplane.headers(), "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    text = controlplane.http.post(
        f"{controlplane.url}/api/v1/incidents",
        content=b"{}",
        headers={**controlplane.headers(), "Content-Type": "text/plain"},
    )
    assert text.status_code == 400
    nan = controlplane.http.post(
        f"{controlplane.url}/api/v1/analyses",
        content=b'{"kind": "diagnostic", "title": "t", "report": {"x": NaN}}',
        headers={**controlplane.headers(), "Content-Type": "application/json"},
    )
    assert nan.status_code == 400


# --- resources and groups -----------------------------------------------------------------------


def test_resources_are_created_read_updated_and_unique_by_namespace_and_name(controlplane: ControlPlane) -> None:
    name = unique("api")
    created = new_resource(controlplane, name, namespace="shop", labels={"team": "payments"}, owner="team-a")
    assert created["id"].startswith("res_")
    assert (created["namespace"], created["name"], created["version"], created["replicas"]) == ("shop", name, "1.0", 2)
    assert controlplane.ok("GET", f"/resources/{created['id']}") == created

    duplicate = controlplane.call("POST", "/resources", json={"name": name, "namespace": "shop", "kind": "service"})
    assert duplicate.status_code == 409
    assert duplicate.json()["error"] == "conflict"
    assert controlplane.call("POST", "/resources", json={"name": name, "kind": "service"}).status_code == 201

    updated = controlplane.ok("PATCH", f"/resources/{created['id']}", json={"replicas": 4, "labels": {"team": "core"}})
    assert (updated["replicas"], updated["labels"], updated["version"]) == (4, {"team": "core"}, "1.0")
    assert updated["updated_at"] >= created["updated_at"]
    assert controlplane.call("PATCH", "/resources/res_unknown", json={"replicas": 1}).status_code == 404
    missing = controlplane.call("GET", "/resources/res_unknown")
    assert (missing.status_code, missing.json()["error"]) == (404, "not_found")


def test_resources_filter_by_namespace_kind_name_substring_and_labels(controlplane: ControlPlane) -> None:
    namespace = unique("ns")
    web = new_resource(
        controlplane, "web-frontend", namespace=namespace, kind="service", labels={"tier": "web", "team": "a"}
    )
    new_resource(controlplane, "web-backend", namespace=namespace, labels={"tier": "api", "team": "a"})
    db = new_resource(controlplane, "orders-db", namespace=namespace, kind="database", labels={"tier": "data"})

    def names(**params: object) -> list[str]:
        return [
            item["name"]
            for item in controlplane.ok("GET", "/resources", params={"namespace": namespace, **params})["items"]
        ]

    assert names() == ["web-frontend", "web-backend", "orders-db"]
    assert names(kind="database") == [db["name"]]
    assert names(name="web-frontend") == [web["name"]]
    assert names(q="web") == ["web-frontend", "web-backend"]
    assert names(label="team=a") == ["web-frontend", "web-backend"]
    assert names(label=["team=a", "tier=web"]) == ["web-frontend"]
    assert names(label="tier=nothing") == []


def test_resources_keep_kubernetes_labels_and_selector_through_create_update_and_read(
    controlplane: ControlPlane,
) -> None:
    labels = {"app.kubernetes.io/name": "checkout", "app.kubernetes.io/part-of": "shop"}
    created = new_resource(controlplane, unique("checkout"), labels=labels, selector={"app": "checkout"})
    assert (created["labels"], created["selector"]) == (labels, {"app": "checkout"})
    assert controlplane.ok("GET", f"/resources/{created['id']}") == created

    path = f"/resources/{created['id']}"
    moved = controlplane.ok("PATCH", path, json={"selector": {"app": "checkout", "track": "stable"}})
    assert (moved["labels"], moved["selector"]) == (labels, {"app": "checkout", "track": "stable"})
    cleared = controlplane.ok("PATCH", path, json={"selector": None})
    assert cleared["selector"] == {}
    assert new_resource(controlplane)["selector"] == {}

    too_many = {f"k{index}": "v" for index in range(65)}
    for body, field in (({"selector": too_many}, "selector"), ({"selector": {"app": "\x00"}}, "selector.app")):
        refused = controlplane.call("POST", "/resources", json={"name": unique("bad"), "kind": "deployment", **body})
        assert refused.status_code == 422
        assert field in str(refused.json())


def test_resources_are_found_by_a_kubernetes_label_or_an_entry_of_their_selector(controlplane: ControlPlane) -> None:
    namespace = unique("sel")
    checkout = new_resource(
        controlplane,
        "checkout",
        namespace=namespace,
        labels={"app.kubernetes.io/name": "checkout"},
        selector={"app": "checkout", "track": "stable"},
    )
    canary = new_resource(
        controlplane, "checkout-canary", namespace=namespace, selector={"app": "checkout", "track": "canary"}
    )
    new_resource(controlplane, "cart", namespace=namespace, labels={"app": "checkout"})

    def names(**params: object) -> list[str]:
        return [
            item["name"]
            for item in controlplane.ok("GET", "/resources", params={"namespace": namespace, **params})["items"]
        ]

    assert names(label="app.kubernetes.io/name=checkout") == [checkout["name"]]
    # The selector is matched on its own: `cart` carries app=checkout as a label, selects nothing.
    assert names(selector="app=checkout") == [checkout["name"], canary["name"]]
    assert names(selector=["app=checkout", "track=canary"]) == [canary["name"]]
    assert names(selector="app=cart") == []
    assert names(label="app=checkout", selector="app=checkout") == []
    # After an update, the lookup follows the new selector.
    controlplane.ok("PATCH", f"/resources/{canary['id']}", json={"selector": {"app": "checkout-next"}})
    assert names(selector="app=checkout") == [checkout["name"]]


def test_lists_page_through_every_item_without_repeats(controlplane: ControlPlane) -> None:
    namespace = unique("paged")
    ids = [new_resource(controlplane, f"r{index}", namespace=namespace)["id"] for index in range(7)]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"namespace": namespace, "limit": 3, **({"cursor": cursor} if cursor else {})}
        page = controlplane.ok("GET", "/resources", params=params)
        pages += 1
        seen.extend(item["id"] for item in page["items"])
        assert page["truncated"] == (page["next_cursor"] is not None)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert (seen, pages) == (ids, 3)

    # History lists are newest first, and page the same way.
    entries = controlplane.all_items("/audit-logs", type="resource")
    times = [entry["at"] for entry in entries]
    assert times == sorted(times, reverse=True)
    first = controlplane.ok("GET", "/audit-logs", params={"limit": 2, "type": "resource"})
    second = controlplane.ok(
        "GET", "/audit-logs", params={"limit": 2, "type": "resource", "cursor": first["next_cursor"]}
    )
    assert [e["id"] for e in first["items"] + second["items"]] == [e["id"] for e in entries[:4]]


def test_dependencies_resolve_names_in_the_namespace_or_qualified(controlplane: ControlPlane) -> None:
    namespace = unique("deps")
    other = unique("other")
    db = new_resource(controlplane, "db", namespace=namespace, kind="database")
    cache = new_resource(controlplane, "cache", namespace=other)
    api = new_resource(controlplane, "api", namespace=namespace, dependencies=["db", f"{other}/cache", "ghost"])
    web = new_resource(controlplane, "web", namespace=namespace, dependencies=["api"])

    graph = controlplane.ok("GET", f"/resources/{api['id']}/dependencies")
    assert graph["resource"]["id"] == api["id"]
    assert [r["id"] for r in graph["dependencies"]] == [db["id"], cache["id"]]
    assert [r["id"] for r in graph["dependents"]] == [web["id"]]
    assert graph["unresolved"] == ["ghost"]
    assert controlplane.call("GET", "/resources/res_nope/dependencies").status_code == 404


def test_resource_groups_hold_existing_resources(controlplane: ControlPlane) -> None:
    a, b = new_resource(controlplane), new_resource(controlplane)
    group = controlplane.ok(
        "POST", "/resource-groups", 201, json={"name": unique("grp"), "members": [a["id"], b["id"]]}
    )
    assert group["id"].startswith("grp_")
    assert controlplane.ok("GET", f"/resource-groups/{group['id']}") == group
    assert group["id"] in [g["id"] for g in controlplane.all_items("/resource-groups")]
    bad = controlplane.call("POST", "/resource-groups", json={"name": "g", "members": [a["id"], "res_nope"]})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "members.1"
    assert controlplane.call("GET", "/resource-groups/grp_nope").status_code == 404

    controlplane.ok(
        "POST", "/audit-logs", 201, json={"type": "config_change", "resource_id": a["id"], "actor": "ci", "at": _now()}
    )
    in_group = controlplane.all_items("/audit-logs", group_id=group["id"])
    assert {entry["resource_id"] for entry in in_group} == {a["id"], b["id"]}
    assert controlplane.call("GET", "/audit-logs", params={"group_id": "grp_nope"}).status_code == 404


# --- history ------------------------------------------------------------------------------------


def _now(offset_seconds: float = 0) -> str:
    return (datetime.now(UTC) + timedelta(seconds=offset_seconds)).isoformat()


def test_a_recorded_deployment_sets_the_version_only_when_newest(controlplane: ControlPlane) -> None:
    resource = new_resource(controlplane)
    body = {"resource_id": resource["id"], "actor": "ci-bot", "previous_version": "1.0"}
    newest = controlplane.ok("POST", "/deployments", 201, json={**body, "version": "1.2", "started_at": _now(-60)})
    assert newest["id"].startswith("dep_")
    assert controlplane.ok("GET", f"/resources/{resource['id']}")["version"] == "1.2"
    controlplane.ok("POST", "/deployments", 201, json={**body, "version": "1.1", "started_at": _now(-3600)})
    controlplane.ok(
        "POST", "/deployments", 201, json={**body, "version": "2.0", "status": "failed", "started_at": _now()}
    )
    assert controlplane.ok("GET", f"/resources/{resource['id']}")["version"] == "1.2"

    listed = controlplane.all_items("/deployments", resource_id=resource["id"])
    assert [d["version"] for d in listed] == ["2.0", "1.2", "1.1"]
    assert [
        d["version"] for d in controlplane.all_items("/deployments", resource_id=resource["id"], status="failed")
    ] == ["2.0"]
    window = {"resource_id": resource["id"], "start": _now(-120), "end": int(datetime.now(UTC).timestamp()) + 60}
    assert [d["version"] for d in controlplane.all_items("/deployments", **window)] == ["2.0", "1.2"]
    unknown = controlplane.call(
        "POST", "/deployments", json={**body, "resource_id": "res_nope", "version": "1", "started_at": _now()}
    )
    assert (unknown.status_code, unknown.json()["errors"][0]["field"]) == (422, "resource_id")

    change = controlplane.all_items("/audit-logs", resource_id=resource["id"], type="deployment")[0]
    assert (change["actor"], change["recorded_by"], change["action"]) == ("ci-bot", "operator", "deployment")


def test_audit_log_records_changes_made_elsewhere_and_filters_them(controlplane: ControlPlane) -> None:
    resource = new_resource(controlplane)
    at = _now(-30)
    recorded = controlplane.ok(
        "POST",
        "/audit-logs",
        201,
        json={
            "type": "feature_flag",
            "resource_id": resource["id"],
            "actor": "alice",
            "at": at,
            "summary": "flag on",
            "details": {"flag": "x"},
        },
    )
    assert recorded["id"].startswith("aud_")
    assert (recorded["type"], recorded["action"], recorded["actor"], recorded["recorded_by"]) == (
        "feature_flag",
        "feature_flag",
        "alice",
        "operator",
    )

    everything = controlplane.all_items("/audit-logs", resource_id=resource["id"])
    assert [e["type"] for e in everything] == ["resource", "feature_flag"]  # newest first: the flag is older
    assert [
        e["id"] for e in controlplane.all_items("/audit-logs", resource_id=resource["id"], changes_only="true")
    ] == [recorded["id"]]
    assert [e["id"] for e in controlplane.all_items("/audit-logs", resource_id=resource["id"], actor="alice")] == [
        recorded["id"]
    ]
    both = controlplane.all_items("/audit-logs", resource_id=resource["id"], type=["feature_flag", "resource"])
    assert len(both) == 2
    before = controlplane.all_items("/audit-logs", resource_id=resource["id"], end=_now(-10))
    assert [e["id"] for e in before] == [recorded["id"]]
    bad = controlplane.call("POST", "/audit-logs", json={"type": "resource", "actor": "a", "at": at})
    assert (bad.status_code, bad.json()["errors"][0]["field"]) == (422, "type")  # API activity is not recorded by hand


# --- incidents, alert rules, analyses ---------------------------------------------------------


def test_an_incident_is_opened_acknowledged_noted_resolved_and_reopened(controlplane: ControlPlane) -> None:
    resource = new_resource(controlplane)
    incident = controlplane.ok(
        "POST",
        "/incidents",
        201,
        json={"title": "5xx on checkout", "severity": "critical", "resource_ids": [resource["id"]]},
        scopes=(WRITE,),
    )
    assert (incident["status"], incident["timeline"]) == ("open", [])
    path = f"/incidents/{incident['id']}"

    # Each status change needs an approval of it (tests/controlplane/test_write_policy.py).
    def approval(action: str, requester: str = "operator") -> str:
        return approved(controlplane, action, incident["id"], requester=requester)["id"]  # type: ignore[no-any-return]

    acknowledge = {"note": "looking", "approval_id": approval("acknowledge_incident", "oncall")}
    acknowledged = controlplane.ok("POST", f"{path}/acknowledge", json=acknowledge, client_id="oncall")
    assert (acknowledged["status"], acknowledged["acknowledged_by"]) == ("acknowledged", "oncall")
    assert controlplane.call("POST", f"{path}/acknowledge", json={}).status_code == 409
    entry = controlplane.ok("POST", f"{path}/timeline", 201, json={"text": "rolled back canary", "kind": "action"})
    assert entry["actor"] == "operator"
    resolve = {"note": "fixed", "approval_id": approval("resolve_incident")}
    resolved = controlplane.ok("POST", f"{path}/resolve", json=resolve)
    assert (resolved["status"], resolved["resolved_by"]) == ("resolved", "operator")
    assert [e["text"] for e in resolved["timeline"]] == [
        "acknowledged: looking",
        "rolled back canary",
        "resolved: fixed",
    ]
    assert controlplane.call("POST", f"{path}/resolve", json={}).status_code == 409
    reopen = {"status": "open", "note": "again", "approval_id": approval("reopen_incident")}
    reopened = controlplane.ok("PATCH", path, json=reopen)
    assert (reopened["status"], reopened["resolved_at"]) == ("open", None)
    assert controlplane.call("PATCH", path, json={"status": "open"}).status_code == 409

    assert controlplane.ok("GET", path) == reopened
    listed = controlplane.all_items("/incidents", resource_id=resource["id"])
    assert [i["id"] for i in listed] == [incident["id"]]
    assert incident["id"] in [i["id"] for i in controlplane.all_items("/incidents", status="open")]
    assert incident["id"] not in [i["id"] for i in controlplane.all_items("/incidents", status="resolved")]
    for method, suffix in (("GET", ""), ("PATCH", ""), ("POST", "/acknowledge"), ("POST", "/timeline")):
        body = {"status": "resolved"} if method == "PATCH" else {"text": "x"} if suffix == "/timeline" else {}
        assert controlplane.call(method, f"/incidents/inc_nope{suffix}", json=body).status_code == 404
    actions = [
        e["action"]
        for e in controlplane.all_items("/audit-logs", type="incident")
        if e["details"].get("incident_id") == incident["id"]
    ]
    assert actions == [
        "incident.reopened",
        "incident.resolved",
        "incident.timeline_added",
        "incident.acknowledged",
        "incident.created",
    ]


def test_alert_rules_and_analyses(controlplane: ControlPlane) -> None:
    resource = new_resource(controlplane)
    rule = controlplane.ok(
        "POST",
        "/alert-rules",
        201,
        json={"name": "HighErrorRate", "expr": "rate(x[5m]) > 1", "for_seconds": 300, "resource_id": resource["id"]},
    )
    assert controlplane.ok("GET", f"/alert-rules/{rule['id']}") == rule
    assert rule["id"] in [r["id"] for r in controlplane.all_items("/alert-rules")]
    assert controlplane.call("GET", "/alert-rules/rule_nope").status_code == 404
    assert controlplane.call("POST", "/alert-rules", json={"name": "bad name", "expr": "x"}).status_code == 422

    incident = controlplane.ok("POST", "/incidents", 201, json={"title": "t"})
    body = {
        "kind": "diagnostic",
        "incident_id": incident["id"],
        "title": "Why",
        "report": {"hypotheses": []},
        "markdown": "# Why",
    }
    analysis = controlplane.ok("POST", "/analyses", 201, json=body, client_id="triage")
    assert (analysis["created_by"], analysis["report"]) == ("triage", {"hypotheses": []})
    assert controlplane.ok("GET", f"/analyses/{analysis['id']}") == analysis
    assert [a["id"] for a in controlplane.all_items("/analyses", incident_id=incident["id"])] == [analysis["id"]]
    assert controlplane.all_items("/analyses", incident_id=incident["id"], kind="postmortem") == []
    assert controlplane.call("GET", "/analyses/ana_nope").status_code == 404
    orphan = controlplane.call("POST", "/analyses", json={**body, "incident_id": "inc_nope"})
    assert (orphan.status_code, orphan.json()["errors"][0]["field"]) == (422, "incident_id")
    assert controlplane.call("GET", "/automation/executions/exe_nope").status_code == 404
    assert controlplane.call("GET", "/approvals/apr_nope").status_code == 404


@pytest.mark.parametrize(
    "started_at", ["0001-01-01T00:00:00+01:00", "1969-12-31T23:59:59Z", "0001-01-01T00:00:00-01:00"]
)
def test_a_time_before_1970_or_out_of_range_is_422_not_500(controlplane: ControlPlane, started_at: str) -> None:
    """Found by schemathesis: year 1 at +01:00 is year 0 in UTC, which Python cannot represent."""
    resource = new_resource(controlplane)
    body = {"resource_id": resource["id"], "version": "v1", "actor": "ci", "started_at": started_at}
    response = controlplane.call("POST", "/deployments", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "started_at"
    listed = controlplane.call("GET", "/deployments", params={"start": "0001-01-01T00:00:00+01:00"})
    assert listed.status_code == 422, listed.text
