"""Rollouts seen in a workload's pods: a new revision replacing the old one inside the window is a change."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from support.tool_answers import range_result, range_series, series_found

from analysis.ranking import ChangeFact
from common.diagnostic_report import CHANGE_KINDS
from common.investigation.changes import ChangeRecord
from common.investigation.evidence import EvidenceLog
from common.investigation.identity import SCHEMES, selects
from common.investigation.rollouts import find_rollouts, read_rollouts
from common.investigation.scope import ResolvedScope, Resource
from common.investigation.window import Window
from common.mcp.toolbox import Toolbox

pytestmark = pytest.mark.anyio

STEP = 15.0
WINDOW = Window(start=0.0, end=7200.0, step=STEP)
ACCOUNTS = Resource("accounts-api", "identity", kind="deployment")
OLD = ("accounts-api-65v8qpnrs-5cp79", "accounts-api-65v8qpnrs-ztnk7", "accounts-api-65v8qpnrs-xlbmc")
NEW = ("accounts-api-6dbks954q-gfffz", "accounts-api-6dbks954q-fgz6x", "accounts-api-6dbks954q-bm6xk")
ROLLED_AT = 5820.0  # 23 minutes before the end


def _by_name(pod: str) -> str | None:
    return pod.rsplit("-", 1)[0]


def test_a_new_revision_replacing_the_old_one_is_a_rollout() -> None:
    appeared = {
        **dict.fromkeys(OLD, 0.0),
        **{pod: ROLLED_AT + i * STEP for i, pod in enumerate(NEW)},
    }

    (rollout,) = find_rollouts(appeared, _by_name, WINDOW)

    assert (rollout.at, rollout.revision, rollout.replaced) == (
        ROLLED_AT,
        "accounts-api-6dbks954q",
        ("accounts-api-65v8qpnrs",),
    )


def test_pods_replaced_within_their_revision_or_present_from_the_start_are_no_rollout() -> None:
    # A pod evicted and recreated by its ReplicaSet (a node lost): same revision, new pod.
    evicted = {OLD[0]: 0.0, OLD[1]: 0.0, "accounts-api-65v8qpnrs-q7v2k": 3060.0}
    assert find_rollouts(evicted, _by_name, WINDOW) == []
    # Two revisions both there when the window begins (a rollout before it) and one alone appearing later.
    before = {OLD[0]: 0.0, NEW[0]: STEP}
    assert find_rollouts(before, _by_name, WINDOW) == []
    first_ever = {NEW[0]: 3000.0}
    assert find_rollouts(first_ever, _by_name, WINDOW) == []
    # Pods whose revision cannot be told (a StatefulSet's) say nothing.
    assert find_rollouts({"db-0": 0.0, "db-1": 3000.0}, lambda pod: None, WINDOW) == []


def _series(pod: str, first: float, last: float) -> dict[str, Any]:
    return range_series({"pod": pod}, [(float(t), 1.0) for t in range(int(first), int(last) + 1, int(STEP))])


@dataclass
class Cluster:
    """prometheus_query_range of the pods' series (the query's pod regex applied) and kube-state-metrics' owners."""

    owners: list[dict[str, str]] = field(default_factory=list)
    queries: list[str] = field(default_factory=list)

    async def call(
        self, server: str, tool: str, arguments: Mapping[str, Any], *, typed: bool = False
    ) -> dict[str, Any]:
        if tool == "prometheus_find_series":
            found = self.owners if arguments["metric"] == "kube_pod_owner" else []
            return series_found(found)
        assert tool == "prometheus_query_range"
        query = arguments["query"]
        self.queries.append(query)
        pods = [_series(pod, 0.0, ROLLED_AT + 300) for pod in OLD] + [_series(pod, ROLLED_AT, 7200.0) for pod in NEW]
        selected = [s for s in pods if selects(ACCOUNTS, SCHEMES["pod"], s["labels"]["pod"])]
        return range_result(query, selected, step=STEP)


def _recorded(at: float, resource: str = "accounts-api") -> ChangeRecord:
    fact = ChangeFact(evidence_id="e1", at=at, type="deployment", resource=resource, ref="v3.8.0")
    return ChangeRecord(fact, actor="argocd", summary="deploy")


async def test_a_rollout_no_change_explains_is_a_deployment_like_change_citing_the_pods_query() -> None:
    evidence = EvidenceLog()
    scope = ResolvedScope(primary=ACCOUNTS, primary_series_namespace="identity")

    (change,) = await read_rollouts(cast(Toolbox, Cluster()), scope, WINDOW, evidence, [], [ACCOUNTS])

    assert (change.fact.type, change.fact.resource, change.fact.ref, change.fact.at) == (
        "rollout",
        "accounts-api",
        "accounts-api-6dbks954q",
        ROLLED_AT,
    )
    assert CHANGE_KINDS["rollout"] == "deployment"
    (cited,) = evidence.items
    # The exact query, selecting every pod of the workload by the pod regex, never one pod's hash.
    assert cited.query.startswith('count by (pod, node) (kube_pod_info{pod=~"accounts-api-')
    assert 'namespace="identity"' in cited.query
    assert "accounts-api-65v8qpnrs" in cited.summary


async def test_the_control_planes_record_of_the_same_workload_wins() -> None:
    scope = ResolvedScope(primary=ACCOUNTS, primary_series_namespace="identity")
    toolbox = cast(Toolbox, Cluster())

    same = await read_rollouts(toolbox, scope, WINDOW, EvidenceLog(), [_recorded(ROLLED_AT - 60)], [ACCOUNTS])
    other = await read_rollouts(toolbox, scope, WINDOW, EvidenceLog(), [_recorded(ROLLED_AT, "login-web")], [ACCOUNTS])
    long_before = await read_rollouts(toolbox, scope, WINDOW, EvidenceLog(), [_recorded(1000.0)], [ACCOUNTS])

    assert same == []
    assert [c.fact.type for c in other] == ["rollout"]
    assert [c.fact.type for c in long_before] == ["rollout"]


async def test_kube_state_metrics_owners_name_the_revision() -> None:
    # The ReplicaSets kube-state-metrics names: the old pods' and the new ones' are one revision here (a pod
    # rename, say), so there was no rollout, whatever the names suggest.
    owners = [
        {"namespace": "identity", "pod": pod, "owner_kind": "ReplicaSet", "owner_name": "accounts-api-rs1"}
        for pod in (*OLD, *NEW)
    ]
    scope = ResolvedScope(primary=ACCOUNTS, primary_series_namespace="identity")

    found = await read_rollouts(cast(Toolbox, Cluster(owners)), scope, WINDOW, EvidenceLog(), [], [ACCOUNTS])

    assert found == []


@dataclass
class StatefulCluster:
    """A StatefulSet's pod (same name across the rollout) and kube-state-metrics' update revisions."""

    async def call(
        self, server: str, tool: str, arguments: Mapping[str, Any], *, typed: bool = False
    ) -> dict[str, Any]:
        if tool == "prometheus_find_series":
            return series_found([])
        query = arguments["query"]
        if query.startswith("count by (pod, node)"):
            series = [_series("accounts-db-0", 0.0, 7200.0)]
        else:
            assert 'kube_statefulset_status_update_revision{statefulset="accounts-db",namespace="identity"}' in query
            old = range_series({"revision": "accounts-db-5d8b9c7f4"}, [(0.0, 1.0), (ROLLED_AT, 1.0)])
            new = range_series({"revision": "accounts-db-7f9c6d5b8"}, [(ROLLED_AT, 1.0), (7200.0, 1.0)])
            series = [old, new]
        return range_result(query, series, step=STEP)


async def test_a_statefulsets_rollout_is_read_from_its_update_revisions() -> None:
    db = Resource("accounts-db", "identity", kind="statefulset")
    scope = ResolvedScope(primary=db, primary_series_namespace="identity")

    (change,) = await read_rollouts(cast(Toolbox, StatefulCluster()), scope, WINDOW, EvidenceLog(), [], [db])

    assert (change.fact.type, change.fact.ref, change.fact.at) == ("rollout", "accounts-db-7f9c6d5b8", ROLLED_AT)
    assert "replacing accounts-db-5d8b9c7f4" in change.summary
