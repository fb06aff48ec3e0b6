"""Hosts: the nodes the primary's pods ran on during the window (kube-state-metrics' `kube_pod_info`).

A workload alerts when a node under it fails: its pods on that node go with it, and the alert
(replicas missing, a pod not ready) names the workload, not the node. `read_hosts` lists the
`node` label of the primary's pods' `kube_pod_info` series over the window and finds each node
in the control plane, so that the nodes' own signals are read with the primary's and ranking
can name a node that failed under it. Without kube-state-metrics there are no hosts, which is
no failure; a failed lookup is noted and the other hosts stand.
"""

from __future__ import annotations

from common.contracts.controlplane import ControlplaneMcp
from common.contracts.prometheus import PrometheusMcp
from common.investigation.evidence import EvidenceLog
from common.investigation.identity import tool_matchers
from common.investigation.scope import ResolvedScope, Resource
from common.investigation.sources import for_each, noted
from common.investigation.window import Window
from common.mcp.toolbox import Toolbox
from common.timerange import iso

__all__ = ["read_hosts"]


async def read_hosts(
    toolbox: Toolbox, scope: ResolvedScope, window: Window, evidence: EvidenceLog, *, limit: int
) -> list[Resource]:
    """The nodes (at most `limit`, as the control plane holds them) that ran the primary's pods in the window."""
    if scope.primary.kind == "node":
        return []
    selected = tool_matchers(scope.primary, "pod", scope.series_namespace(scope.primary) or scope.primary.namespace)
    answer = await noted(
        PrometheusMcp(toolbox).list_labels(
            "node",
            matchers={"__name__": "kube_pod_info", **selected},
            start=iso(window.start),
            end=iso(window.end),
            limit=limit,
        ),
        evidence,
        f"nodes of {scope.primary.name}'s pods",
    )
    if answer is None:
        return []
    controlplane = ControlplaneMcp(toolbox)
    found: dict[str, Resource] = {}

    async def find(name: str) -> None:
        node = await noted(controlplane.find_resource(name, limit=1), evidence, f"find node {name}")
        item = None if node is None else node.resource
        if item is not None and item.get("name") == name and item.get("kind") == "node":
            found[name] = Resource.of(item)

    names = [n for n in answer.values if n][:limit]
    await for_each(names, find)
    return [found[n] for n in names if n in found]
