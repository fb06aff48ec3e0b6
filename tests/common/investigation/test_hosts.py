"""The nodes a workload's pods ran on are found from kube-state-metrics and the control plane, in the same
read of the pods that finds the workload's rollouts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from support.tool_answers import found_resources, range_result, range_series, series_found

from common.investigation.evidence import EvidenceLog
from common.investigation.hosts import read_hosts
from common.investigation.rollouts import read_rollouts
from common.investigation.scope import ResolvedScope, Resource
from common.investigation.window import Window
from common.investigation.workload_pods import PodHistory
from common.mcp.toolbox import Toolbox

pytestmark = pytest.mark.anyio

NODES = {"node-a": "node", "node-b": "node", "node-c": "node", "shards": "statefulset"}
WINDOW = Window(0.0, 3600.0, 30.0)


@dataclass
class Backends:
    """prometheus_query_range of the pods (kube_pod_info's with their node), controlplane_find_resource over
    NODES."""

    on_nodes: list[str]
    asked: list[Mapping[str, Any]] = field(default_factory=list)

    async def call(
        self, server: str, tool: str, arguments: Mapping[str, Any], *, typed: bool = False
    ) -> dict[str, Any]:
        self.asked.append({"tool": tool, **arguments})
        if tool == "prometheus_query_range":
            pods = [
                range_series({"pod": f"shards-{i}", "node": node}, [(0.0, 1.0), (3600.0, 1.0)])
                for i, node in enumerate(self.on_nodes)
            ]
            # A pod only cAdvisor saw has no node.
            pods.append(range_series({"pod": "shards-9"}, [(0.0, 1.0)]))
            return range_result(arguments["query"], pods, step=30.0)
        if tool == "prometheus_find_series":
            return series_found([])
        assert tool == "controlplane_find_resource"
        name = arguments["query"]
        kind = NODES.get(name)
        return found_resources(
            [{"id": f"id-{name}", "name": name, "namespace": "default", "kind": kind}] if kind else []
        )

    def pod_reads(self) -> list[str]:
        return [
            a["query"] for a in self.asked if a["tool"] == "prometheus_query_range" and "kube_pod_info" in a["query"]
        ]


async def test_the_nodes_of_a_workloads_pods_are_its_hosts() -> None:
    backends = Backends(on_nodes=["node-b", "node-a", "not-registered", "node-a"])
    scope = ResolvedScope(Resource("shards", "data", kind="statefulset"), primary_series_namespace="data")

    hosts = await read_hosts(cast(Toolbox, backends), scope, WINDOW, EvidenceLog(), limit=3)

    assert [(h.name, h.kind) for h in hosts] == [("node-a", "node"), ("node-b", "node")]
    (query,) = backends.pod_reads()
    assert query.startswith('count by (pod, node) (kube_pod_info{pod=~"shards-')
    assert 'namespace="data"' in query


async def test_the_hosts_and_the_rollouts_share_one_read_of_the_pods() -> None:
    backends = Backends(on_nodes=["node-a"])
    primary = Resource("shards", "data", kind="statefulset")
    scope = ResolvedScope(primary, primary_series_namespace="data")
    evidence = EvidenceLog()
    pods = PodHistory(cast(Toolbox, backends), scope, WINDOW, evidence)

    hosts = await read_hosts(cast(Toolbox, backends), scope, WINDOW, evidence, limit=3, pods=pods)
    await read_rollouts(cast(Toolbox, backends), scope, WINDOW, evidence, [], [primary], pods=pods)

    assert [h.name for h in hosts] == ["node-a"]
    assert len(backends.pod_reads()) == 1


async def test_a_node_has_no_hosts() -> None:
    backends = Backends(on_nodes=["node-a"])
    scope = ResolvedScope(Resource("node-c", "default", kind="node"))

    assert await read_hosts(cast(Toolbox, backends), scope, WINDOW, EvidenceLog(), limit=3) == []
    assert backends.asked == []
