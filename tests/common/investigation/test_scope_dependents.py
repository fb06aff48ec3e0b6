"""Scope resolution reads a shared resource's callers, and the callers an alert names, as possible causes."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, cast

import pytest

from agents.triage.request import parse_request
from common.investigation.evidence import EvidenceLog
from common.investigation.scope import resolve_scope
from common.mcp.toolbox import Toolbox

pytestmark = pytest.mark.anyio

#: name -> (kind, dependencies); dependents are the resources naming it.
GRAPH = {
    "media-db": ("statefulset", ()),
    "uploads-queue": ("queue", ()),
    "transcoder": ("deployment", ("uploads-queue", "media-db")),
    "uploader": ("deployment", ("uploads-queue", "thumbs")),
    "thumbs": ("deployment", ("media-db",)),
    "gallery": ("deployment", ("thumbs",)),
}


def _item(name: str) -> dict[str, Any]:
    return {"id": f"id-{name}", "name": name, "namespace": "media", "kind": GRAPH[name][0]}


async def _call(server: str, tool: str, arguments: Mapping[str, Any], *, typed: bool = False) -> dict[str, Any]:
    assert (server, tool) == ("controlplane-mcp", "controlplane_find_resource")
    name = arguments.get("query", "")
    if name not in GRAPH:
        return {"matches": [], "resource": None, "returned": 0, "total": 0, "truncated": False}
    return {
        "matches": [_item(name)],
        "resource": _item(name),
        "dependencies": [_item(d) for d in GRAPH[name][1]],
        "dependents": [_item(other) for other, (_, deps) in GRAPH.items() if name in deps],
        "returned": 1,
        "total": 1,
        "truncated": False,
    }


class ControlPlane:
    call = staticmethod(_call)


def _alerts(*label_sets: dict[str, str]) -> str:
    alerts = [
        {"status": "firing", "labels": labels, "startsAt": f"2026-11-22T11:0{i}:00Z", "fingerprint": f"f{i}"}
        for i, labels in enumerate(label_sets)
    ]
    return json.dumps({"version": "4", "groupKey": "{}:{}", "status": "firing", "receiver": "r", "alerts": alerts})


async def _scope(*label_sets: dict[str, str]) -> Any:
    request = parse_request([_alerts(*label_sets)])
    return await resolve_scope(request, cast(Toolbox, ControlPlane()), EvidenceLog(), max_dependencies=4)


def _seen_by_caller(callee: str, caller: str) -> dict[str, str]:
    """An alert on Istio's client-side report of calls from `caller` to `callee`."""
    return {
        "alertname": "UpstreamErrorRateHigh",
        "destination_workload": callee,
        "destination_workload_namespace": "media",
        "source_workload": caller,
        "reporter": "source",
    }


async def test_a_queues_callers_are_suspects() -> None:
    scope = await _scope({"alertname": "QueueBacklog", "service": "uploads-queue", "namespace": "media"})

    assert [d.name for d in scope.suspect_dependents] == ["transcoder", "uploader"]
    assert [r.name for r in scope.investigated] == ["uploads-queue", "transcoder", "uploader"]


async def test_a_resource_others_call_that_calls_nothing_is_shared_whatever_its_kind() -> None:
    """A database run as a StatefulSet: its kind says nothing, the graph says others call it."""
    scope = await _scope({"alertname": "TooManyConnections", "service": "media-db", "namespace": "media"})

    assert {d.name for d in scope.suspect_dependents} == {"transcoder", "thumbs"}


async def test_a_service_with_dependencies_of_its_own_keeps_its_callers_out() -> None:
    scope = await _scope({"alertname": "HighErrorRate", "service": "thumbs", "namespace": "media"})

    assert scope.suspect_dependents == []
    assert [r.name for r in scope.investigated] == ["thumbs", "media-db"]


async def test_the_caller_an_alert_names_is_a_suspect_even_of_an_unshared_service() -> None:
    """Istio's client-side view: calls from uploader to thumbs, as uploader reports them."""
    scope = await _scope(_seen_by_caller("thumbs", "uploader"))

    assert scope.primary.name == "thumbs"
    assert [d.name for d in scope.callers] == ["uploader"]
    assert [d.name for d in scope.suspect_dependents] == ["uploader"]


async def test_a_callee_of_another_alerting_service_reads_its_callers() -> None:
    scope = await _scope(
        {"alertname": "HighErrorRate", "service": "gallery", "namespace": "media"},
        {"alertname": "HighErrorRate", "service": "thumbs", "namespace": "media"},
    )

    assert scope.primary.name == "thumbs"
    assert {d.name for d in scope.suspect_dependents} == {"uploader", "gallery"}


async def test_a_named_caller_the_control_plane_does_not_know_as_a_dependent_is_still_a_suspect() -> None:
    scope = await _scope(_seen_by_caller("thumbs", "transcoder"))

    assert [d.name for d in scope.suspect_dependents] == ["transcoder"]
