"""Firing alerts are given to the resource their labels name, whichever labels those are."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import pytest

from common.investigation.alerts import read_firing_alerts
from common.investigation.evidence import EvidenceLog
from common.investigation.identity import LabelAliases
from common.investigation.scope import ResolvedScope, Resource
from common.mcp.toolbox import Toolbox

pytestmark = pytest.mark.anyio

KSM = {"job": "kube-state-metrics", "service": "kps-kube-state-metrics", "instance": "10.2.0.7:8080"}
FIRING = [
    ("KubePodCrashLooping", {"namespace": "prod", "pod": "cart-84f6c7d9b-t7hvn", "container": "cart", **KSM}),
    ("TargetDown", {"job": "prod/cart-db", "namespace": "prod"}),
    ("PostgresqlTooManyConnections", {"job": "postgres-exporter", "instance": "pg:9187", "namespace": "prod"}),
    ("KubePodCrashLooping", {"namespace": "staging", "pod": "cart-5b6c7d8f9-k2m4p", "container": "cart", **KSM}),
    ("HighErrorRate", {"service": "checkout", "namespace": "prod"}),
    ("BillingSlow", {"team_service": "billing"}),
]


class Prometheus:
    async def call(
        self, server: str, tool: str, arguments: Mapping[str, Any], *, typed: bool = False
    ) -> dict[str, Any]:
        assert (server, tool, arguments.get("state")) == ("prometheus-mcp", "prometheus_list_alerts", "firing")
        alerts = [
            {
                "name": name,
                "state": "firing",
                "labels": {"alertname": name, **labels},
                "annotations": {},
                "active_at": "2026-12-05T11:00:00Z",
                "value": "1",
            }
            for name, labels in FIRING
        ]
        return {
            "backend": "prometheus",
            "alerts": alerts,
            "returned": len(alerts),
            "total": len(alerts),
            "truncated": False,
        }


async def test_alerts_without_a_service_label_are_read_as_their_workloads() -> None:
    scope = ResolvedScope(
        Resource("cart", "prod"),
        dependencies=[Resource("cart-db", "prod"), Resource("postgres", "prod")],
        primary_series_namespace="prod",
    )
    evidence = EvidenceLog()

    await read_firing_alerts(cast(Toolbox, Prometheus()), scope, evidence)

    about = {item.summary.split(": ", 1)[0] for item in evidence.items}
    assert about == {
        "1 alert(s) firing on cart",  # its pod's, in its namespace only
        "1 alert(s) firing on cart-db",
        "1 alert(s) firing on postgres",  # its exporter's
    }


async def test_an_environments_label_aliases_reach_the_alerts() -> None:
    aliases = LabelAliases.parse("service=team_service")
    evidence = EvidenceLog()

    await read_firing_alerts(cast(Toolbox, Prometheus()), ResolvedScope(Resource("billing", None)), evidence)
    assert evidence.items == []
    await read_firing_alerts(
        cast(Toolbox, Prometheus()), ResolvedScope(Resource("billing", None), aliases=aliases), evidence
    )
    (item,) = evidence.items
    assert item.summary.startswith("1 alert(s) firing on billing: BillingSlow")
