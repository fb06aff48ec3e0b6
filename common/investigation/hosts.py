"""Hosts: the nodes the primary's pods ran on during the window (kube-state-metrics' `kube_pod_info`).

A workload alerts when a node under it fails: its pods on that node go with it, and the alert
(replicas missing, a pod not ready) names the workload, not the node. `read_hosts` takes the
`node` label of the primary's pods' `kube_pod_info` series over the window (the read the rollouts
share, `workload_pods.PodHistory`) and finds each node in the control plane, so that the nodes'
own signals are read with the primary's and ranking can name a node that failed under it. Without
kube-state-metrics there are no hosts, which is no failure; a failed lookup is noted and the other hosts stand.
"""

from __future__ import annotations

from common.contracts.controlplane import ControlplaneMcp
from common.investigation.evidence import EvidenceLog
from common.investigation.scope import ResolvedScope, Resource
from common.investigation.sources import for_each, noted
from common.investigation.window import Window
from common.investigation.workload_pods import PodHistory
from common.mcp.toolbox import Toolbox

__all__ = ["read_hosts"]


async def read_hosts(
    toolbox: Toolbox,
    scope: ResolvedScope,
    window: Window,
    evidence: EvidenceLog,
    *,
    limit: int,
    pods: PodHistory | None = None,
) -> list[Resource]:
    """The nodes (at most `limit`, as the control plane holds them) that ran the primary's pods in the window;
    `pods`: the investigation's pods, which the rollouts read too."""
    if scope.primary.kind == "node":
        return []
    workload = await (pods or PodHistory(toolbox, scope, window, evidence)).of(scope.primary)
    if workload is None:
        return []
    controlplane = ControlplaneMcp(toolbox)
    found: dict[str, Resource] = {}

    async def find(name: str) -> None:
        node = await noted(controlplane.find_resource(name, limit=1), evidence, f"find node {name}")
        item = None if node is None else node.resource
        if item is not None and item.get("name") == name and item.get("kind") == "node":
            found[name] = Resource.of(item)

    names = workload.nodes()[:limit]
    await for_each(names, find)
    return [found[n] for n in names if n in found]
