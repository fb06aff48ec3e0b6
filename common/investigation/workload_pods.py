"""A workload's pods over the window, read once per investigation: `PodHistory`.

One range query per workload (one series per pod and node, at most MAX_PODS): kube-state-metrics'
`kube_pod_info` with its `node` label, and the pods only cAdvisor saw. When each pod first had a
value gives the workload's rollouts (`rollouts.read_rollouts`); the nodes kube_pod_info placed them
on are its hosts (`hosts.read_hosts`). Both read the same answer, so the primary's pods are asked
for once. A failed read is noted once in the evidence log ("pods of X"), and both readers go on
without it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import anyio

from common.contracts.calls import ToolCaller
from common.contracts.prometheus import PrometheusMcp, RangeSeries
from common.investigation.evidence import EvidenceLog
from common.investigation.identity import matchers
from common.investigation.scope import ResolvedScope, Resource
from common.investigation.sources import noted
from common.investigation.window import Window
from common.timerange import iso

__all__ = ["MAX_PODS", "PodHistory", "WorkloadPods", "first_values"]

#: Pod series a workload's query returns, at most.
MAX_PODS = 200


def first_values(series: Sequence[RangeSeries], label: str) -> dict[str, float]:
    """The first time each value of `label` had a point in `series` (a value may name several series)."""
    firsts: dict[str, float] = {}
    for item in series:
        name = item.labels.get(label)
        seen = [t for t, v in item.points or [] if v is not None]
        if name and seen:
            firsts[name] = min(seen[0], firsts.get(name, seen[0]))
    return firsts


@dataclass(frozen=True)
class WorkloadPods:
    """A workload's pods over the window: `query` (as cited) and its series, one per pod and node."""

    query: str
    series: list[RangeSeries]

    def appeared(self) -> dict[str, float]:
        """The first time each pod was seen (Unix seconds)."""
        return first_values(self.series, "pod")

    def nodes(self) -> list[str]:
        """The nodes `kube_pod_info` placed the pods on, sorted."""
        return sorted({node for item in self.series if (node := item.labels.get("node"))})


class PodHistory:
    """Each workload's pods over `window`, read once per investigation (`of`), noted in `evidence` if it failed."""

    def __init__(self, toolbox: ToolCaller, scope: ResolvedScope, window: Window, evidence: EvidenceLog) -> None:
        self._prometheus = PrometheusMcp(toolbox)
        self._scope = scope
        self._window = window
        self._evidence = evidence
        self._read: dict[tuple[str, str], WorkloadPods | None] = {}
        self._locks: dict[tuple[str, str], anyio.Lock] = {}

    async def of(self, resource: Resource) -> WorkloadPods | None:
        """Every pod of `resource` that kube-state-metrics or cAdvisor saw in the window; None if the read failed."""
        key = (resource.namespace or "", resource.name)
        async with self._locks.setdefault(key, anyio.Lock()):
            if key not in self._read:
                self._read[key] = await self._query(resource)
        return self._read[key]

    async def _query(self, resource: Resource) -> WorkloadPods | None:
        namespace = self._scope.series_namespace(resource) or resource.namespace
        selector = matchers(resource, "pod", namespace)
        # kube-state-metrics' pods with their node; then, for the pods it does not know, cAdvisor's.
        cadvisor = f'container_memory_working_set_bytes{{{selector},container!=""}}'
        query = f"count by (pod, node) (kube_pod_info{{{selector}}}) or on (pod) count by (pod) ({cadvisor})"
        window = self._window
        answer = await noted(
            self._prometheus.query_range(
                query,
                start=iso(window.start),
                end=iso(window.end),
                step=f"{window.step:g}s",
                detail="points",
                limit=MAX_PODS,
            ),
            self._evidence,
            f"pods of {resource.name}",
        )
        return None if answer is None else WorkloadPods(query, answer.series)
