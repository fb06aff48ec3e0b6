"""The nodes a workload's pods ran on are found from kube-state-metrics and the control plane."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from common.investigation.evidence import EvidenceLog
from common.investigation.hosts import read_hosts
from common.investigation.scope import ResolvedScope, Resource
from common.investigation.window import Window
from common.mcp.toolbox import Toolbox
from tests.support.tool_answers import found_resources

pytestmark = pytest.mark.anyio

NODES = {"node-a": "node", "node-b": "node", "node-c": "node", "shards": "statefulset"}


@dataclass
class Backends:
    """prometheus_list_labels over kube_pod_info, controlplane_find_resource over NODES."""

    on_nodes: list[str]
    asked: list[Mapping[str, Any]] = field(default_factory=list)

    async def call(self, server: str, tool: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
        self.asked.append({"tool": tool, **arguments})
        if tool == "prometheus_list_labels":
            values = self.on_nodes
            return {"backend": "p", "label": "node", "values": values, "returned": 3, "total": 3, "truncated": False}
        assert tool == "controlplane_find_resource"
        name = arguments["query"]
        kind = NODES.get(name)
        return found_resources(
            [{"id": f"id-{name}", "name": name, "namespace": "default", "kind": kind}] if kind else []
        )


async def test_the_nodes_of_a_workloads_pods_are_its_hosts() -> None:
    backends = Backends(on_nodes=["node-a", "node-b", "not-registered"])
    scope = ResolvedScope(Resource("shards", "data", kind="statefulset"), primary_series_namespace="data")

    hosts = await read_hosts(cast(Toolbox, backends), scope, Window(0.0, 3600.0, 30.0), EvidenceLog(), limit=3)

    assert [(h.name, h.kind) for h in hosts] == [("node-a", "node"), ("node-b", "node")]
    (listing,) = [a for a in backends.asked if a["tool"] == "prometheus_list_labels"]
    assert listing["label"] == "node"
    assert listing["matchers"]["__name__"] == "kube_pod_info"
    assert listing["matchers"]["namespace"] == "data"
    assert listing["matchers"]["pod"].startswith("=~shards-")


async def test_a_node_has_no_hosts() -> None:
    backends = Backends(on_nodes=["node-a"])
    scope = ResolvedScope(Resource("node-c", "default", kind="node"))

    assert await read_hosts(cast(Toolbox, backends), scope, Window(0.0, 3600.0, 30.0), EvidenceLog(), limit=3) == []
    assert backends.asked == []
