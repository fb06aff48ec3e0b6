"""Pods' owners and addresses from kube-state-metrics, and the scope an IP-only alert resolves to."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from support.tool_answers import found_resources, series_found

from agents.triage.request import parse_request
from common.contracts.prometheus import PrometheusMcp
from common.errors import BackendError
from common.investigation.evidence import EvidenceLog
from common.investigation.pods import PodDirectory
from common.investigation.scope import resolve_scope
from common.mcp.toolbox import Toolbox

pytestmark = pytest.mark.anyio

KSM = {"job": "kube-state-metrics"}
SERIES = {
    "kube_pod_info": [
        {"namespace": "identity", "pod": "accounts-db-0", "pod_ip": "10.82.227.225", **KSM},
        {"namespace": "identity", "pod": "ledger-5c4d8b7f9b-kq7wz", "pod_ip": "10.1.0.9", **KSM},
        # An address a pod gave up and another took inside the window names neither.
        {"namespace": "identity", "pod": "web-5c4d8b7f9b-aaaaa", "pod_ip": "10.1.0.7", **KSM},
        {"namespace": "identity", "pod": "web-5c4d8b7f9b-bbbbb", "pod_ip": "10.1.0.7", **KSM},
    ],
    "kube_pod_owner": [
        {"namespace": "identity", "pod": "accounts-db-0", "owner_kind": "StatefulSet", "owner_name": "accounts-db"},
        {
            "namespace": "identity",
            "pod": "ledger-5c4d8b7f9b-kq7wz",
            "owner_kind": "ReplicaSet",
            "owner_name": "ledger-v2-5c4d8b7f9b",
        },
    ],
    "kube_replicaset_owner": [
        {
            "namespace": "identity",
            "replicaset": "ledger-v2-5c4d8b7f9b",
            "owner_kind": "Deployment",
            "owner_name": "ledger-v2",
        }
    ],
}
RESOURCES = [
    {"id": "r1", "name": "accounts-db", "namespace": "identity", "kind": "database", "labels": {}, "selector": {}},
    {"id": "r2", "name": "ledger-v2", "namespace": "identity", "kind": "deployment", "labels": {}, "selector": {}},
]


@dataclass
class Cluster:
    """prometheus_find_series over SERIES (equality matchers) and controlplane_find_resource over RESOURCES."""

    calls: list[tuple[str, Mapping[str, Any]]] = field(default_factory=list)
    prometheus_down: bool = False

    async def call(
        self, server: str, tool: str, arguments: Mapping[str, Any], *, typed: bool = False
    ) -> dict[str, Any]:
        self.calls.append((tool, arguments))
        if tool == "prometheus_find_series":
            if self.prometheus_down:
                raise BackendError("Prometheus is down.", backend="prometheus-mcp")
            matchers = arguments.get("matchers") or {}
            found = [s for s in SERIES.get(arguments["metric"], []) if all(s.get(k) == v for k, v in matchers.items())]
            return series_found(found)
        assert tool == "controlplane_find_resource"
        query = arguments.get("query", "")
        matches = [r for r in RESOURCES if query and query in r["name"]]
        matches.sort(key=lambda r: r["name"] != query)
        return found_resources(matches)


def _directory(cluster: Cluster) -> PodDirectory:
    return PodDirectory(PrometheusMcp(cast(Toolbox, cluster)), start="now-1h", end="now")


async def test_the_owner_chain_names_the_workload_and_is_asked_once_per_namespace() -> None:
    cluster = Cluster()
    pods = _directory(cluster)

    assert await pods.workload("ledger-5c4d8b7f9b-kq7wz", "identity") == "ledger-v2"  # not the name's "ledger"
    assert await pods.workload("accounts-db-0", "identity") == "accounts-db"
    assert await pods.workload("cart-7d9f8b6c5-x2x4z", "identity") == "cart"  # no owner known: the suffix rule

    asked = [a["metric"] for tool, a in cluster.calls]
    assert asked == ["kube_pod_owner", "kube_replicaset_owner"]


async def test_an_address_names_its_pod_only_when_one_pod_held_it() -> None:
    pods = _directory(Cluster())

    assert await pods.workload_at("10.82.227.225") == ("identity", "accounts-db")
    assert await pods.workload_at("10.1.0.9") == ("identity", "ledger-v2")
    assert await pods.workload_at("10.1.0.7") is None
    assert await pods.workload_at("10.9.9.9") is None


async def test_without_prometheus_the_name_suffix_rule_stands() -> None:
    pods = _directory(Cluster(prometheus_down=True))

    assert await pods.workload("ledger-5c4d8b7f9b-kq7wz", "identity") == "ledger"
    assert await pods.workload_at("10.82.227.225") is None


def _alert(labels: dict[str, str]) -> str:
    alert = {"status": "firing", "labels": labels, "startsAt": "2026-11-22T11:00:00Z", "fingerprint": "f"}
    return json.dumps({"version": "4", "groupKey": "{}:{}", "status": "firing", "receiver": "r", "alerts": [alert]})


async def test_an_alert_naming_only_a_scrape_address_is_about_the_pod_that_held_it() -> None:
    # TargetDown of a target kube-prometheus-stack scrapes by pod IP, under a job that names no resource.
    request = parse_request([_alert({"alertname": "TargetDown", "job": "pg", "instance": "10.82.227.225:9187"})])

    scope = await resolve_scope(request, cast(Toolbox, Cluster()), EvidenceLog(), max_dependencies=3)

    assert (scope.primary.name, scope.primary.kind) == ("accounts-db", "database")
