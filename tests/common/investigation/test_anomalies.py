"""The anomaly scan finds a workload's other metrics in the label schemes that need a regex (its pods)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from common.investigation.anomalies import scan_anomalies
from common.investigation.evidence import EvidenceLog
from common.investigation.identity import SCHEMES, selects
from common.investigation.scope import ResolvedScope, Resource
from common.investigation.signals import Signal
from common.investigation.window import Window
from common.mcp.toolbox import Toolbox

pytestmark = pytest.mark.anyio

CART = Resource("cart", "prod", kind="deployment")
WINDOW = Window(start=0.0, end=7200.0, step=15.0)
#: Only the pods' series carry the workload: cAdvisor and the JVM's metrics by pod, no `service` label.
PODS = ("cart-7d9f8b6c5-x2x4z", "cart-5b6c7d8f9-k2m4p")
MEMORY = Signal(
    name="memory", kind="saturation", labels="pod", query="sum(container_memory_working_set_bytes{$selector})"
)


@dataclass
class Prometheus:
    """prometheus_list_labels and prometheus_find_anomalous_series over the pods' `jvm_gc_pause_seconds_count`."""

    calls: list[tuple[str, Mapping[str, Any]]] = field(default_factory=list)

    async def call(
        self, server: str, tool: str, arguments: Mapping[str, Any], *, typed: bool = False
    ) -> dict[str, Any]:
        self.calls.append((tool, arguments))
        matchers = arguments.get("matchers") or {}
        pod = matchers.get("pod", "")
        # The fake applies the regex as Prometheus would, through the identity rule that wrote it.
        ours = pod.startswith("=~") and all(selects(CART, SCHEMES["pod"], p) for p in PODS)
        bounds = {"returned": 1, "total": 1, "truncated": False}
        if tool == "prometheus_list_labels":
            names = ["container_memory_working_set_bytes", "jvm_gc_pause_seconds_count"] if ours else []
            return {"backend": "p", "label": "__name__", "values": names, **bounds}
        assert tool == "prometheus_find_anomalous_series"
        series = {
            "labels": {"pod": PODS[1], "namespace": "prod", "gc": "G1 Old Generation"},
            "score": 14.0,
            "direction": "up",
            "baseline_median": 0.1,
            "recent_median": 2.0,
            "baseline_spread": 0.05,
            "relative_change": 19.0,
            "recent_outlier_fraction": 1.0,
        }
        return {
            "backend": "p",
            "query": f'rate({arguments["metric"]}{{pod=~"{pod[2:]}"}}[2m])',
            "start": "a",
            "split_at": "b",
            "end": "c",
            "step_seconds": 15.0,
            "scanned_series": 2,
            "skipped_series": 0,
            "series": [series] if ours else [],
            **bounds,
        }


async def test_a_pod_scheme_workloads_other_metrics_are_scanned_by_its_pod_regex() -> None:
    prometheus = Prometheus()
    scope = ResolvedScope(primary=CART, primary_series_namespace="prod")

    shifts = await scan_anomalies(cast(Toolbox, prometheus), scope, (MEMORY,), WINDOW, 5400.0, EvidenceLog())

    assert [(s.resource, s.signal.split("{")[0], s.direction) for s in shifts] == [
        ("cart", "jvm_gc_pause_seconds_count", "up")
    ]
    scanned = [a for tool, a in prometheus.calls if tool == "prometheus_find_anomalous_series"]
    # The catalogue's own metric is not scanned again; the other one is, by every pod of cart's.
    assert [a["metric"] for a in scanned] == ["jvm_gc_pause_seconds_count"]
    assert scanned[0]["matchers"]["pod"].startswith("=~cart-")
    assert scanned[0]["matchers"]["namespace"] == "prod"
