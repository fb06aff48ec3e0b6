"""Rollouts seen in the metrics: a workload whose pods were replaced by a new revision inside the window.

A Deployment rolls out by creating a ReplicaSet and moving its pods there: the new revision's pods
appear while the old one's go. The pods of a workload are its `pod` scheme's series (`identity.matchers`,
every pod over the window, read by `workload_pods.PodHistory`, whose answer the hosts share); a pod's
revision is its ReplicaSet, from kube-state-metrics' owner chain (`pods.PodDirectory`) or else from its
name (`<deployment>-<pod-template-hash>-<suffix>`). A revision whose first pod appeared inside the
window, after another revision's, is a rollout at that moment. A pod replaced within its revision (an
eviction, a node lost) is not: it keeps its ReplicaSet. A StatefulSet keeps its pods' names across a
rollout: when no pod belongs to a ReplicaSet, its revisions are read from
kube-state-metrics' `kube_statefulset_status_update_revision{revision}` instead (a scale keeps the
revision, a template change makes a new one). DaemonSets are not seen.

Each rollout is a `rollout` change (ranked as a deployment) citing the exact query, unless the control
plane recorded a change of the same workload within ROLLOUT_MATCH_SECONDS: its record names the
version and the actor, and the rollout is what that change did.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from analysis.ranking import ChangeFact
from common.contracts.calls import ToolCaller
from common.contracts.prometheus import PrometheusMcp
from common.investigation.changes import ChangeRecord
from common.investigation.evidence import EvidenceLog
from common.investigation.identity import matchers
from common.investigation.pods import PodDirectory
from common.investigation.scope import ResolvedScope, Resource
from common.investigation.sources import for_each, noted
from common.investigation.window import Window
from common.investigation.workload_pods import PodHistory, first_values
from common.timerange import iso

__all__ = ["ROLLOUT_MATCH_SECONDS", "Rollout", "find_rollouts", "read_rollouts"]

#: A recorded change and a rollout this close are one change: a Deployment's pods must be progressing within
#: its progressDeadlineSeconds, 600 s by default.
ROLLOUT_MATCH_SECONDS = 600.0
#: Kinds of resource that have no pods of their own to roll out.
_PODLESS_KINDS = frozenset({"node", "external"})


@dataclass(frozen=True)
class Rollout:
    """Revision `revision` of a workload appeared at `at`, replacing `replaced` (the revisions before it)."""

    at: float
    revision: str
    replaced: tuple[str, ...]


def find_rollouts(
    appeared: Mapping[str, float], revision_of: Callable[[str], str | None], window: Window
) -> list[Rollout]:
    """The rollouts in the times pods were first seen (Unix seconds), oldest first.

    A revision is a rollout when its first pod appeared after the window's first two steps (a series
    there may only have begun with the window) and another revision had pods before it.
    """
    firsts: dict[str, float] = {}
    for pod, first in appeared.items():
        revision = revision_of(pod)
        if revision is not None:
            firsts[revision] = min(first, firsts.get(revision, first))
    rollouts = []
    for revision, first in firsts.items():
        before = tuple(sorted(r for r, f in firsts.items() if f < first))
        if first > window.start + 2 * window.step and before:
            rollouts.append(Rollout(first, revision, before))
    return sorted(rollouts, key=lambda r: r.at)


async def read_rollouts(
    toolbox: ToolCaller,
    scope: ResolvedScope,
    window: Window,
    evidence: EvidenceLog,
    recorded: Sequence[ChangeRecord],
    resources: Sequence[Resource],
    *,
    pods: PodHistory | None = None,
) -> list[ChangeRecord]:
    """A `rollout` change for each rollout of `resources` the control plane did not record, oldest first; `pods`:
    the investigation's pods already read (the hosts read the primary's)."""
    prometheus = PrometheusMcp(toolbox)
    history = pods or PodHistory(toolbox, scope, window, evidence)
    directory = PodDirectory(prometheus, start=iso(window.start), end=iso(window.end))
    found: list[ChangeRecord] = []

    async def read(resource: Resource) -> None:
        namespace = scope.series_namespace(resource) or resource.namespace
        workload = await history.of(resource)
        if workload is None or not workload.series:
            return
        query = workload.query
        appeared = workload.appeared()
        owners = await directory.owners(namespace) if namespace else None

        def revision_of(pod: str) -> str | None:
            if owners is not None and (owner := owners.pods.get(pod)) is not None:
                return owner[1] if owner[0] == "ReplicaSet" else None
            return _replicaset_of(pod, resource.name)

        rollouts = find_rollouts(appeared, revision_of, window)
        if not any(revision_of(pod) for pod in appeared):
            # No ReplicaSet's pods: a StatefulSet's revisions, if it is one.
            selected = matchers(resource, "statefulset", namespace)
            query = f"count by (revision) (kube_statefulset_status_update_revision{{{selected}}})"
            revisions = await noted(
                prometheus.query_range(
                    query, start=iso(window.start), end=iso(window.end), step=f"{window.step:g}s", detail="points"
                ),
                evidence,
                f"revisions of {resource.name}",
            )
            appeared = first_values(revisions.series, "revision") if revisions is not None else {}
            rollouts = find_rollouts(appeared, lambda revision: revision, window)
        for rollout in rollouts:
            if any(_same_change(change, resource, rollout) for change in recorded):
                continue
            found.append(_record(resource, rollout, query, window, evidence))

    await for_each([r for r in resources if r.kind not in _PODLESS_KINDS], read)
    return sorted(found, key=lambda c: c.fact.at)


def _replicaset_of(pod: str, workload: str) -> str | None:
    """`<workload>-<pod-template-hash>` for a Deployment's pod named as Kubernetes names them, else None."""
    prefix = f"{workload}-"
    rest = pod[len(prefix) :] if pod.startswith(prefix) else ""
    template_hash, _, suffix = rest.rpartition("-")
    return f"{workload}-{template_hash}" if template_hash and "-" not in template_hash and suffix else None


def _same_change(change: ChangeRecord, resource: Resource, rollout: Rollout) -> bool:
    return change.fact.resource == resource.name and abs(change.fact.at - rollout.at) <= ROLLOUT_MATCH_SECONDS


def _record(resource: Resource, rollout: Rollout, query: str, window: Window, evidence: EvidenceLog) -> ChangeRecord:
    summary = (
        f"Rollout of {resource.name} seen in the metrics: revision {rollout.revision} appeared at "
        f"{iso(rollout.at)}, replacing {', '.join(rollout.replaced)}; no recorded change of {resource.name} "
        f"explains it"
    )
    evidence_id = evidence.add(
        "prometheus",
        query,
        summary,
        start=window.start,
        end=window.end,
        data={"rollout": {"resource": resource.name, "revision": rollout.revision, "replaced": list(rollout.replaced)}},
    )
    return ChangeRecord(
        ChangeFact(
            evidence_id=evidence_id,
            at=rollout.at,
            type="rollout",
            resource=resource.name,
            ref=rollout.revision,
            summary=summary,
        ),
        actor="",
        summary=summary,
    )
