"""Scope: which resource to investigate, and what it depends on (controlplane-mcp).

Every resource the request names is looked up in the control plane. When an alert group names
several, the one the others depend on is investigated (an alert on `payments` and `checkout`,
where checkout calls payments, is about payments); otherwise the first firing, earliest alert's.
A free-text question's words are tried as names, and an exact name wins. When the control plane
cannot be reached the scope is the alert's labels alone, and the report says so.

Causes are looked for below the primary (its dependencies) and, when the primary is shared, above
it: the load and the use of a database, a queue or a provider are their callers' doing, so a
caller that changed can be the cause of the shared resource's alert (a consumer slowed by its
deploy backs the queue up). The primary counts as shared when it is of such a kind, when a
dependent of it alerts too, or when others call it and it calls nothing known. The dependents
an alert names as the callers that saw the failure (Istio's `source_workload`) are suspects
whatever the primary is: a caller's own timeout makes a healthy callee look failing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from common.contracts.controlplane import ControlplaneMcp, ResourceResult
from common.contracts.prometheus import PrometheusMcp
from common.errors import BackendError, InputError
from common.investigation import ingresses
from common.investigation.evidence import EvidenceLog
from common.investigation.identity import LabelAliases
from common.investigation.pods import PodDirectory
from common.investigation.sources import CONTROLPLANE
from common.mcp.toolbox import Toolbox
from common.task_groups import task_group

__all__ = ["ResolvedScope", "Resource", "ScopeRequest", "Subject", "resolve_scope"]

#: Kinds of resource that other services call rather than run on: when one alerts, it may be the cause itself.
DEPENDENCY_KINDS = frozenset({"database", "queue", "cache", "external"})
#: Series labels that are a pod's Kubernetes label, sanitised, by the label's key: the control plane finds the
#: workload whose pods' selector (or own labels) carry it.
_KUBERNETES_LABELS = {"app": "app", "app_kubernetes_io_name": "app.kubernetes.io/name"}


@dataclass(frozen=True)
class Subject:
    """A resource a request names; `namespace` None when it does not say. `kind` is what the labels say it
    is (`deployment`, `node`...), `other_names` further names they give, tried when `name` is not found."""

    name: str
    namespace: str | None = None
    started_at: datetime | None = None
    kind: str | None = None
    other_names: tuple[str, ...] = ()
    #: The label `name` was read from (`app`, `pod`...), None for a name given as such.
    label: str | None = None
    #: The workloads the labels name as the callers that saw the failure (an Istio `source_workload`), when
    #: the alert is about calls to `name` as its callers report them.
    callers: tuple[str, ...] = ()
    #: The IP address the labels hold (a scrape target's), resolved through kube_pod_info when no name is found.
    address: str | None = None


class ScopeRequest(Protocol):
    """What scope resolution reads of an agent's request."""

    @property
    def subjects(self) -> Sequence[Subject]:
        """The resources the request names (an alert's, an event's, a question's `service`)."""

    @property
    def words(self) -> Sequence[str]:
        """Words of a free-text question that may name a resource; empty when `subjects` are given."""

    @property
    def alerts(self) -> Sequence[object]:
        """The alerts behind the request, if any: then the primary's series carry the alert's namespace label."""

    @property
    def aliases(self) -> LabelAliases:
        """The environment's extra label names, with which the resources' series and alerts are found."""


@dataclass(frozen=True)
class Resource:
    name: str
    namespace: str | None
    id: str | None = None
    kind: str | None = None
    version: str | None = None
    replicas: int | None = None
    #: The resource's own labels and its pods' selector as the control plane holds them (Kubernetes keys,
    #: `app.kubernetes.io/name`), which name it in the series' label schemes better than its name does.
    labels: Mapping[str, str] = field(default_factory=dict, compare=False)
    selector: Mapping[str, str] = field(default_factory=dict, compare=False)

    @classmethod
    def of(cls, item: dict[str, Any]) -> Resource:
        replicas = item.get("replicas")
        labels, selector = item.get("labels"), item.get("selector")
        return cls(
            name=str(item["name"]),
            namespace=item.get("namespace"),
            id=item.get("id"),
            kind=item.get("kind"),
            version=item.get("version"),
            replicas=replicas if isinstance(replicas, int) else None,
            labels={str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {},
            selector={str(k): str(v) for k, v in selector.items()} if isinstance(selector, dict) else {},
        )


@dataclass
class ResolvedScope:
    primary: Resource
    dependencies: list[Resource] = field(default_factory=list)
    dependents: list[Resource] = field(default_factory=list)
    #: The dependents that may have caused the incident, whose changes and signals are read as the primary's:
    #: all of them (up to the dependencies' cap) when the primary is shared, else the callers the alert names.
    suspect_dependents: list[Resource] = field(default_factory=list)
    #: The dependents the alert names as the callers that saw the failure.
    callers: list[Resource] = field(default_factory=list)
    #: The nodes the primary's pods ran on in the window (`hosts.read_hosts`, after resolution).
    hosts: list[Resource] = field(default_factory=list)
    #: Other resources the request named (alerts on them too).
    also_alerting: list[Resource] = field(default_factory=list)
    #: The `namespace` label of the primary's series: the alert's own when an alert named it (a node's
    #: series usually carry none, whatever namespace the control plane files the node under).
    primary_series_namespace: str | None = None
    #: The environment's label aliases (TRIAGE_LABEL_ALIASES), for the readers to find series and alerts by.
    aliases: LabelAliases = field(default_factory=LabelAliases)

    def series_namespace(self, resource: Resource) -> str | None:
        if resource is self.primary:
            return self.primary_series_namespace
        return None if resource.kind == "node" else resource.namespace

    @property
    def primary_is_dependency(self) -> bool:
        """The primary is something others call (a database, a provider) or a dependency of another alerting one."""
        alerting = {r.name for r in self.also_alerting}
        return self.primary.kind in DEPENDENCY_KINDS or any(d.name in alerting for d in self.dependents)

    @property
    def investigated(self) -> list[Resource]:
        """The resources whose signals are read: the primary, its dependencies, the suspect dependents, its hosts."""
        return [self.primary, *self.dependencies, *self.suspect_dependents, *self.hosts]


@dataclass
class _Found:
    subject: Subject
    resource: Resource | None
    dependencies: list[Resource]
    dependents: list[Resource]


async def resolve_scope(
    request: ScopeRequest, toolbox: Toolbox, evidence: EvidenceLog, *, max_dependencies: int
) -> ResolvedScope:
    subjects = list(request.subjects) or [Subject(word) for word in request.words]
    if not subjects:
        raise InputError("The question names no service: say which one, e.g. 'why is checkout failing?'.")
    found: list[_Found | None] = [None] * len(subjects)

    controlplane = ControlplaneMcp(toolbox)

    async def look_up(index: int, subject: Subject) -> None:
        try:
            answer = await _find(controlplane, subject, exact_only=bool(request.words), toolbox=toolbox)
        except BackendError as exc:
            evidence.failed(CONTROLPLANE, f"find {subject.name}", exc)
            if not request.words:  # an alert's or an event's resource stands without the control plane
                found[index] = _Found(subject, None, [], [])
            return
        item = None if answer is None else answer.resource
        if answer is None or item is None:
            return
        found[index] = _Found(
            subject,
            Resource.of(item),
            [Resource.of(d) for d in answer.dependencies],
            [Resource.of(d) for d in answer.dependents],
        )

    async with task_group() as group:
        for index, subject in enumerate(subjects[:8]):
            group.start_soon(look_up, index, subject)
    resolved = [f for f in found if f is not None]
    if not resolved:
        if request.words and CONTROLPLANE in evidence.failures:
            raise InputError(
                f"The question names no resource explicitly and the control plane, where names are looked up, "
                f"failed ({evidence.failures[CONTROLPLANE][0]}): send the service by name, as in "
                f'{{"service": "checkout", "namespace": "prod"}}.'
            )
        if request.words:
            raise InputError(
                f"No resource in the control plane is named like a word of the question "
                f"({', '.join(request.words[:8])}): name the service exactly."
            )
        subject = subjects[0]
        return ResolvedScope(
            Resource(subject.name, subject.namespace),
            primary_series_namespace=subject.namespace,
            aliases=request.aliases,
        )
    primary = _primary(resolved)
    others = [f for f in resolved if f is not primary]
    resource = primary.resource or Resource(primary.subject.name, primary.subject.namespace)
    from_alert = bool(request.alerts) or resource.kind == "node"
    series_namespace = primary.subject.namespace if from_alert else resource.namespace
    scope = ResolvedScope(
        primary=resource,
        primary_series_namespace=series_namespace,
        dependencies=primary.dependencies[:max_dependencies],
        dependents=primary.dependents,
        also_alerting=[f.resource or Resource(f.subject.name, f.subject.namespace) for f in others],
        aliases=request.aliases,
    )
    scope.callers = await _callers(controlplane, primary, evidence)
    shared = scope.primary_is_dependency or (bool(primary.dependents) and not primary.dependencies)
    suspects = primary.dependents if shared else scope.callers
    scope.suspect_dependents = list({d.name: d for d in [*scope.callers, *suspects]}.values())[:max_dependencies]
    return scope


async def _callers(controlplane: ControlplaneMcp, primary: _Found, evidence: EvidenceLog) -> list[Resource]:
    """The callers the primary's alert names: its dependents of those names, else (the control plane not knowing
    that they call it) the resources of those names."""
    dependents = {d.name: d for d in primary.dependents}
    callers = []
    for name in primary.subject.callers:
        if name in dependents:
            callers.append(dependents[name])
            continue
        try:
            answer = await controlplane.find_resource(name, namespace=primary.subject.namespace or None, limit=1)
        except BackendError as exc:
            evidence.failed(CONTROLPLANE, f"find {name}", exc)
            continue
        if answer.resource is not None and answer.resource.get("name") == name:
            callers.append(Resource.of(answer.resource))
    return callers


async def _find(
    controlplane: ControlplaneMcp, subject: Subject, *, exact_only: bool, toolbox: Toolbox
) -> ResourceResult | None:
    """The control plane's resource for a subject: the first of its names (its label's, then the others its
    labels give, such as an exporter's job's subject) that names one exactly; else the workload of the pod
    holding its IP address (`pods.PodDirectory`) or a Service its Ingress routes to (`ingresses.backends`);
    else the resource whose labels or pods' selector carry the subject's label (`app=cart`); else, unless
    `exact_only`, the best partial match of its name."""
    namespace = subject.namespace or None
    first: ResourceResult | None = None
    for name in dict.fromkeys((subject.name, *subject.other_names)):
        answer = await controlplane.find_resource(name, namespace=namespace, limit=5)
        if answer.resource is not None and answer.resource.get("name") == name:
            return answer
        first = first or answer
    since = subject.started_at.timestamp() - 3600 if subject.started_at else None
    start = f"{since:.0f}" if since else "now-1h"
    if subject.address is not None:
        pods = PodDirectory(PrometheusMcp(toolbox), start=start, end="now")
        workload = await pods.workload_at(subject.address)
        if workload is not None:
            answer = await controlplane.find_resource(workload[1], namespace=workload[0], limit=5)
            if answer.resource is not None and answer.resource.get("name") == workload[1]:
                return answer
    if subject.kind == "ingress":
        for backend in await ingresses.backends(
            PrometheusMcp(toolbox), subject.name, namespace, start=start, end="now"
        ):
            answer = await controlplane.find_resource(backend, namespace=namespace, limit=5)
            if answer.resource is not None and answer.resource.get("name") == backend:
                return answer
    key = _KUBERNETES_LABELS.get(subject.label or "")
    if key is not None:
        answer = await controlplane.find_resource(namespace=namespace, label=f"{key}={subject.name}", limit=5)
        if answer.resource is not None:
            return answer
    return None if exact_only else first


def _primary(found: Sequence[_Found]) -> _Found:
    """The deepest named resource that another named one depends on, else the first named."""
    names = {f.resource.name for f in found if f.resource is not None}

    def depended_on(candidate: _Found) -> bool:
        return candidate.resource is not None and any(
            candidate.resource.name in {d.name for d in other.dependencies} for other in found if other is not candidate
        )

    def depth(candidate: _Found) -> int:
        # Calls no other named resource: the end of the chain.
        return 0 if not {d.name for d in candidate.dependencies} & names else 1

    callees = [f for f in found if depended_on(f)]
    return min(callees, key=depth) if callees else found[0]
