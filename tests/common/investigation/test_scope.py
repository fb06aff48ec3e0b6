"""Scope resolution finds the control plane's resource from whatever name an alert's labels give."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from agents.triage.request import parse_request
from common.investigation.evidence import EvidenceLog
from common.investigation.identity import LabelAliases
from common.investigation.scope import resolve_scope
from common.mcp.toolbox import Toolbox

pytestmark = pytest.mark.anyio

RESOURCES = [
    {"id": "r1", "name": "postgres", "namespace": "db", "kind": "database", "labels": {}, "selector": {}},
    {
        "id": "r2",
        "name": "cart",
        "namespace": "prod",
        "kind": "service",
        "labels": {},
        "selector": {"app": "shop-cart"},
    },
    {"id": "r3", "name": "cart-worker", "namespace": "prod", "kind": "service", "labels": {}, "selector": {}},
]


@dataclass
class ControlPlane:
    """controlplane_find_resource over RESOURCES: exact names first, then names containing the query; with a
    label, the resources carrying it as a label or in their pods' selector."""

    queries: list[Mapping[str, Any]] = field(default_factory=list)

    async def call(
        self, server: str, tool: str, arguments: Mapping[str, Any], *, typed: bool = False
    ) -> dict[str, Any]:
        assert (server, tool) == ("controlplane-mcp", "controlplane_find_resource")
        self.queries.append(arguments)
        query = arguments.get("query", "")
        key, _, value = arguments.get("label", "").partition("=")
        matches = sorted(
            (
                r
                for r in RESOURCES
                if (query in r["name"] or query == r["id"])
                and (not key or value in (r["labels"].get(key), r["selector"].get(key)))
            ),
            key=lambda r: r["name"] != query,
        )
        return {
            "matches": matches,
            "resource": matches[0] if matches else None,
            "dependencies": [],
            "dependents": [],
            "returned": len(matches),
            "total": len(matches),
            "truncated": False,
        }


def _alert(labels: dict[str, str]) -> str:
    alert = {"status": "firing", "labels": labels, "startsAt": "2026-11-22T11:00:00Z", "fingerprint": "f"}
    return json.dumps({"version": "4", "groupKey": "{}:{}", "status": "firing", "receiver": "r", "alerts": [alert]})


async def test_an_exporters_alert_is_about_the_resource_it_exports() -> None:
    request = parse_request([_alert({"alertname": "PostgresqlDown", "job": "prometheus-postgres-exporter"})])

    scope = await resolve_scope(request, cast(Toolbox, ControlPlane()), EvidenceLog(), max_dependencies=3)

    assert (scope.primary.name, scope.primary.kind) == ("postgres", "database")


async def test_a_crashing_pod_is_resolved_to_its_workload_by_exact_name() -> None:
    labels = {
        "alertname": "KubePodCrashLooping",
        "namespace": "prod",
        "pod": "cart-6f7d9b8c4-m2n4p",
        "container": "cart",
    }
    request = parse_request([_alert(labels)])

    scope = await resolve_scope(request, cast(Toolbox, ControlPlane()), EvidenceLog(), max_dependencies=3)

    assert (scope.primary.name, scope.primary.namespace) == ("cart", "prod")
    assert scope.primary.selector == {"app": "shop-cart"}


async def test_the_environments_label_aliases_name_the_resource_and_stay_with_the_scope() -> None:
    aliases = LabelAliases.parse("app=team_app")
    request = parse_request([_alert({"alertname": "HighErrorRate", "team_app": "cart", "namespace": "prod"})], aliases)

    scope = await resolve_scope(request, cast(Toolbox, ControlPlane()), EvidenceLog(), max_dependencies=3)

    assert scope.primary.name == "cart"
    assert scope.aliases is aliases


async def test_an_app_label_finds_the_workload_whose_pods_carry_it() -> None:
    request = parse_request([_alert({"alertname": "HighErrorRate", "app": "shop-cart", "namespace": "prod"})])
    controlplane = ControlPlane()

    scope = await resolve_scope(request, cast(Toolbox, controlplane), EvidenceLog(), max_dependencies=3)

    assert scope.primary.name == "cart"
    assert controlplane.queries[-1] == {"namespace": "prod", "label": "app=shop-cart", "limit": 5}
