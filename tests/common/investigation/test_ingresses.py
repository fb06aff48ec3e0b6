"""An alert on an Ingress is about the Service it routes to, as ingress-nginx's request series name it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import pytest
from support.tool_answers import found_resources, series_found

from agents.triage.request import parse_request
from common.contracts.prometheus import PrometheusMcp
from common.investigation import ingresses
from common.investigation.evidence import EvidenceLog
from common.investigation.scope import resolve_scope
from common.mcp.toolbox import Toolbox

pytestmark = pytest.mark.anyio


def _requests(service: str, namespace: str, status: str, *, exported: bool = True) -> dict[str, str]:
    where = {"exported_namespace": namespace, "namespace": "ingress-nginx"} if exported else {"namespace": namespace}
    return {"ingress": "tickets-web", "service": service, "status": status, **where}


SERIES = [
    _requests("event-page", "tickets", "200"),
    _requests("event-page", "tickets", "502"),
    _requests("event-page", "tickets", "499"),
    _requests("seat-api", "tickets", "200"),
    # The same Ingress name in another namespace routes elsewhere.
    _requests("legacy-web", "staging", "200", exported=False),
]
RESOURCES = [
    {"id": "r1", "name": "event-page", "namespace": "tickets", "kind": "deployment", "labels": {}, "selector": {}},
    {"id": "r2", "name": "seat-api", "namespace": "tickets", "kind": "deployment", "labels": {}, "selector": {}},
]


@dataclass
class Cluster:
    async def call(
        self, server: str, tool: str, arguments: Mapping[str, Any], *, typed: bool = False
    ) -> dict[str, Any]:
        if tool == "prometheus_find_series":
            assert arguments["metric"] == "nginx_ingress_controller_requests"
            found = [s for s in SERIES if s["ingress"] == arguments["matchers"]["ingress"]]
            return series_found(found)
        query = arguments.get("query", "")
        matches = [r for r in RESOURCES if query and query in r["name"]]
        return found_resources(matches)


async def test_an_ingresss_backends_are_its_request_series_services_in_its_namespace() -> None:
    prometheus = PrometheusMcp(cast(Toolbox, Cluster()))

    assert await ingresses.backends(prometheus, "tickets-web", "tickets", start="now-1h", end="now") == [
        "event-page",
        "seat-api",
    ]
    assert await ingresses.backends(prometheus, "tickets-web", "staging", start="now-1h", end="now") == ["legacy-web"]


async def test_an_alert_on_an_ingress_is_about_the_service_it_routes_to() -> None:
    alert = {
        "status": "firing",
        "labels": {"alertname": "IngressHigh5xxRate", "exported_namespace": "tickets", "ingress": "tickets-web"},
        "startsAt": "2026-11-22T11:00:00Z",
        "fingerprint": "f",
    }
    payload = {"version": "4", "groupKey": "{}:{}", "status": "firing", "receiver": "r", "alerts": [alert]}

    scope = await resolve_scope(
        parse_request([json.dumps(payload)]), cast(Toolbox, Cluster()), EvidenceLog(), max_dependencies=3
    )

    assert (scope.primary.name, scope.primary.namespace) == ("event-page", "tickets")
