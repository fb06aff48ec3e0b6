"""A report on a workload seen only through its pods' series names the workload and cites the pods' query,
and says which profiles and label schemes its signals were read with (issue 13's "Done when")."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from support.tool_answers import names_listed, range_result, range_series

from common.investigation.catalogue import applicable, load_profiles
from common.investigation.evidence import EvidenceLog
from common.investigation.identity import SCHEMES, selects
from common.investigation.metrics import cite_signals, read_signals
from common.investigation.scope import ResolvedScope, Resource
from common.investigation.window import Window
from common.mcp.toolbox import Toolbox

pytestmark = pytest.mark.anyio

STEP = 15.0
WINDOW = Window(start=0.0, end=7200.0, step=STEP)
CART = Resource("cart", "shop", kind="deployment")
#: The pods of two revisions: the old ones until the rollout, the new ones after it.
PODS = ("cart-84f6c7d9b-t7hvn", "cart-84f6c7d9b-x2x4z", "cart-5b6c7d8f9-k2m4p")


@dataclass
class Prometheus:
    """prometheus_query_range: the largest working set of cart's pods (stepping up at 5400 s) for the memory
    query selecting them by the pod regex; nothing for any other query. prometheus_list_labels: the pods'
    only metric, `container_memory_working_set_bytes`, for matchers selecting them (unless `listing` is off:
    then the listing breaks its contract, as a failing server's would)."""

    queries: list[str] = field(default_factory=list)
    listing: bool = True

    async def call(
        self, server: str, tool: str, arguments: Mapping[str, Any], *, typed: bool = False
    ) -> dict[str, Any]:
        if tool == "prometheus_list_labels":
            if not self.listing:
                return {}
            pod = (arguments.get("matchers") or {}).get("pod", "")
            ours = pod.startswith("=~") and all(selects(CART, SCHEMES["pod"], p) for p in PODS)
            return names_listed(["container_memory_working_set_bytes"] if ours else [])
        assert tool == "prometheus_query_range"
        query = arguments["query"]
        self.queries.append(query)
        series = []
        if query.startswith("max(container_memory_working_set_bytes{") and 'pod=~"cart-' in query:
            points = [(float(t), 4e8 if t < 5400 else 9e8) for t in range(0, 7201, int(STEP))]
            series = [range_series({}, points)]
        return range_result(query, series, step=STEP)


async def test_a_pod_scheme_workloads_report_names_the_workload_and_cites_its_pods_query() -> None:
    catalogue = applicable(load_profiles(), {"container_cpu_usage_seconds_total", "kube_pod_info"})
    scope = ResolvedScope(CART, primary_series_namespace="shop")
    evidence = EvidenceLog()

    prometheus = Prometheus()
    series = await read_signals(cast(Toolbox, prometheus), scope, catalogue, WINDOW, evidence)
    cited = cite_signals(series, scope, WINDOW, evidence)

    (memory,) = [s for s in cited if s.signal.name == "memory"]
    (item,) = [e for e in evidence.items if e.id == memory.evidence_id]
    # The workload, never a pod hash, and the exact query: every pod of cart's by the pod regex.
    assert item.summary.startswith("memory of cart went up at ")
    assert item.query.startswith(
        'max(container_memory_working_set_bytes{pod=~"cart-[bcdfghjklmnpqrstvwxz2456789]{1,10}-'
    )
    assert 'namespace="shop"' in item.query
    assert (item.data["labels"], item.data["profile"]) == ("pod", "kube-prometheus-stack")
    assert not any(pod.rsplit("-", 1)[1] in e.summary for e in evidence.items for pod in PODS)
    # The note: the profiles chosen and the labels each signal was read with, or tried in vain.
    (note,) = [e for e in evidence.items if e.summary.startswith("Signals of cart")]
    assert note.query == "prometheus_list_labels(label=__name__)"
    assert "from the profiles kube-prometheus-stack" in note.summary
    assert "memory by pod" in note.summary
    assert "restarts (tried by pod)" in note.summary
    assert note.data["read"] == {"memory": {"labels": "pod", "profile": "kube-prometheus-stack"}}
    assert note.data["missing"]["replicas_available"] == ["deployment", "statefulset", "daemonset"]


async def test_only_signals_whose_metrics_the_resource_has_are_queried_and_a_failed_listing_queries_them_all() -> None:
    catalogue = applicable(load_profiles(), {"container_cpu_usage_seconds_total", "kube_pod_info"})
    scope = ResolvedScope(CART, primary_series_namespace="shop")

    listed = Prometheus()
    found = await read_signals(cast(Toolbox, listed), scope, catalogue, WINDOW, EvidenceLog())
    # The pods carry one metric: one range query, the memory signal's, for every signal of the profile.
    assert [q.split("{")[0] for q in listed.queries] == ["max(container_memory_working_set_bytes"]

    unlisted = Prometheus(listing=False)
    evidence = EvidenceLog()
    fallback = await read_signals(cast(Toolbox, unlisted), scope, catalogue, WINDOW, evidence)
    # Without the listing every signal is asked, as before it existed, and the same series is read.
    assert len(unlisted.queries) > len(listed.queries) == 1
    assert [(s.signal.name, s.query) for s in fallback] == [(s.signal.name, s.query) for s in found]
    assert any("metric names of" in failure.reason for failure in evidence.degraded())
