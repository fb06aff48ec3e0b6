"""The OpenAPI document: generated from the models, committed as controlplane/openapi.json, equal to the routes."""

from __future__ import annotations

import json
import re
from pathlib import Path

from common.metrics import ServerMetrics
from controlplane.api import HANDLERS, ControlPlaneApi
from controlplane.calls import Services
from controlplane.executor import RecordingExecutor
from controlplane.openapi import ADMIN_SCOPE, OPERATIONS, READ_SCOPE, WRITE_SCOPE, openapi_document
from controlplane.store import ControlPlaneStore

COMMITTED = Path(__file__).resolve().parents[2] / "controlplane" / "openapi.json"


def test_the_committed_document_is_the_generated_one() -> None:
    assert json.loads(COMMITTED.read_text()) == openapi_document(), (
        "controlplane/openapi.json is stale: run python -m controlplane.openapi > controlplane/openapi.json"
    )


def test_the_routes_are_exactly_the_documented_operations() -> None:
    api = ControlPlaneApi(
        Services(ControlPlaneStore("sqlite+aiosqlite://"), RecordingExecutor(), 900),
        metrics=ServerMetrics("controlplane"),
        max_body_bytes=1,
        auth_required=True,
        openapi={},
    )
    routed = {(m.lower(), route.path) for route in api.routes() for m in route.methods or () if m != "HEAD"}
    documented = {(method, path) for path, item in openapi_document()["paths"].items() for method in item}
    assert routed == documented == {(op.method, op.path) for op in OPERATIONS}
    assert len(OPERATIONS) == len(documented)
    assert set(HANDLERS) == {op.id for op in OPERATIONS} - {"get_openapi", "healthz", "get_metrics"}


def test_every_operation_has_a_snake_case_id_a_scope_and_its_statuses() -> None:
    document = openapi_document("http://127.0.0.1:8710")
    assert document["openapi"] == "3.1.0"
    assert document["servers"] == [{"url": "http://127.0.0.1:8710"}]
    ids = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            ids.append(operation["operationId"])
            assert re.fullmatch(r"[a-z]+(_[a-z]+)*", operation["operationId"])
            if path in ("/healthz", "/openapi.json"):
                assert operation["security"] == []
                continue
            assert "401" in operation["responses"]
            if path.startswith("/api/v1"):
                (scope,) = operation["security"][0]["bearerAuth"]
                assert scope in (READ_SCOPE, WRITE_SCOPE, ADMIN_SCOPE)
                assert "403" in operation["responses"]
                assert scope != READ_SCOPE or method == "get"
                if "requestBody" in operation:
                    assert {"400", "413", "422"} <= set(operation["responses"])
    assert len(ids) == len(set(ids))
    assert {"list_resources", "restart_action", "request_approval", "approve_approval"} <= set(ids)
