"""Grouping: related alerts delivered together become one investigation of the service the others depend on.

An outage pages many services at once: a database fails and thirty of its callers' alerts arrive
within seconds. Investigating each of them is thirty investigations of one cause, so the pending
deliveries of a short wait are planned as groups (`Grouper.plan`): each group's `lead` is sent to
its agent, and its `members` are answered by the lead's task.

Which deliveries belong together is read from the direction of the service graph, as the control
plane (its source of truth) holds it:

- a delivery's subject is the resource its first firing, earliest alert names, read with the
  investigation kit's identity rules (`identity.subject_of`: `service`, `service_name`, `job`, a
  pod's workload, ..., and the environment's own names, ROUTER_LABEL_ALIASES), and found in the
  control plane by that name or another its labels give;
- a *root* is an alerting resource none of whose dependencies (followed up to `max_depth` hops)
  alerts in the batch; an alerting resource whose dependencies reach exactly one root is grouped
  under it; one that reaches several roots (two outages meet in it) or none (a cycle) stays alone;
- the lead is the root's earliest delivery; the root's other deliveries (it alerted twice) and its
  dependents' deliveries are members. A resource alone that alerted twice is one group too.

The lead is sent with the alerts of the members that name its service or a direct caller of it
added (`DeliveryGroup.payload`, at most MAX_MERGED_RESOURCES services): triage, given an alert group
naming several services, investigates the one another depends on, and reads the callers' alerts as
the symptoms of its failure. Sent alone, a failing dependency's own alert (a Redis down, a target
down) says less than its callers' errors: bundled scenarios route-planner-redis-down and
quote-api-pricing-deadlock miss with the root's alert alone and hit with the merged one.

A page may come after its outage's investigation started: planned in a later batch (it arrived
later, or another replica claimed it). `plan` is then given the leads of earlier batches still
running (`Ongoing`, asked for the resources the batch reaches: the router records each lead's root
across replicas, `agents.router.tasks`): an ongoing lead counts as its root alerting in the batch,
and the pages it would have as members join it (`DeliveryGroup.joined`: nothing is sent, the
members read as its investigation, with its report). Which leads are ongoing is the deliverer's
rule (`agents.router.delivery`): a lead attracts pages while it runs, and those that came at most the
group wait after it completed; a failed lead, or one that completed before that, attracts none.

Only deliveries of one owner and one agent are grouped (a member is answered by the lead's task,
which its owner must be allowed to read); other deliveries (deployment events, questions, a subject
the control plane does not know, a payload that cannot be read) are each alone.

The graph is read through controlplane-mcp's `controlplane_find_resource` (`ControlplaneMcp`), on a
session the router opens with its own token (`controlplane` below), at most `max_lookups` look-ups a
plan, `concurrency` at once, within `deadline_seconds` (a subject not read by then is unknown, its
deliveries alone; the others are grouped by what was read). A resource's answer is kept
`cache_seconds`, so that a storm does not ask the control plane again for every batch. When the
control plane cannot be asked (unreachable, failing, the router's client lacking controlplane:read)
nothing is grouped: every delivery is alone, which is what the router did before grouping, and the
outage is logged once, not once per batch. `plan` raises nothing but a cancellation.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

import anyio
from pydantic import ValidationError

from agents.router.tasks import RouterTask
from common.alertmanager import AlertmanagerWebhook
from common.components import COMPONENTS
from common.contracts.calls import ToolCaller
from common.contracts.controlplane import ControlplaneMcp
from common.errors import BackendError, ToolCallError
from common.investigation.identity import LabelAliases, WorkloadRef, subject_of
from common.task_groups import first_error, task_group

__all__ = [
    "GROUP_JOIN_SECONDS",
    "GROUP_WAIT_SECONDS",
    "DeliveryGroup",
    "Grouper",
    "Ongoing",
    "Subject",
    "group_deliveries",
    "merged_payload",
    "subject_of_delivery",
]

logger = logging.getLogger(__name__)

#: The proposed default of ROUTER_GROUP_WAIT_SECONDS: how long a pending delivery waits for related ones before
#: its group is planned. Alertmanager already waits its own `group_wait` (30 s by default) before the first
#: notification of a group, so the alerts of one outage reach the router within seconds of each other; every
#: investigation waits this long before it starts, so it is short.
GROUP_WAIT_SECONDS = 5.0
#: The proposed default of ROUTER_GROUP_JOIN_SECONDS: how long after its lead was planned a late page of an outage
#: may join the lead's investigation (while it runs). An investigation takes seconds to a minute; Alertmanager sends
#: a group's next notification after `group_interval` (5 minutes by default): ten minutes covers a page that waited
#: behind a busy triage, and bounds the leads looked up per plan.
GROUP_JOIN_SECONDS = 600.0
#: Dependency hops followed from an alerting resource: a caller, the service it calls, that service's database.
MAX_DEPTH = 3
#: Control plane look-ups in one plan, at most: a batch's distinct subjects, then the resources between them. An
#: outage of a hundred services is planned whole; a subject past the bound stays alone (each look-up is one
#: indexed query, about 10-50 ms, `concurrency` at once, and the answers are cached).
MAX_LOOKUPS = 256
#: Look-ups in flight at once.
CONCURRENCY = 8
#: The look-ups of one plan (it adds to every investigation's latency): a subject not read by then is unknown, and
#: its deliveries are sent alone; the others are grouped by what was read.
DEADLINE_SECONDS = 5.0
#: Beyond the deadline, for the session on controlplane-mcp to open and close; past it nothing is grouped.
SESSION_GRACE_SECONDS = 2.0
#: How long a resource's answer is kept: the service graph changes with deployments, not within a storm.
CACHE_SECONDS = 60.0
#: Resources the lead's merged webhook names at most, its own included: triage looks up the first eight an alert
#: group names (`common.investigation.scope`), and the lead's must be among them.
MAX_MERGED_RESOURCES = 8
#: Alerts of its members added to the lead's webhook at most (triage reads them all; the rest add nothing new).
MAX_MERGED_ALERTS = 100
#: Answers kept at most (a name the control plane does not know is kept too, so that it is not asked again).
MAX_CACHED = 4096
#: The trigger kind of an Alertmanager delivery (`RouterTask.trigger_kind`); the others are never grouped.
ALERT = "alert"
#: A resource asked for: its name and namespace (None: any).
Key = tuple[str, str | None]
#: The ongoing leads of the resources asked for: each lead with its root (`namespace/name`), any owner and agent.
Ongoing = Callable[[Collection[str]], Awaitable[Sequence[tuple[str, RouterTask]]]]
#: Kinds of a refused look-up that say only that no resource goes by the name asked.
_NO_SUCH_NAME = frozenset({"invalid_argument", "not_found", "limit"})


@dataclass(frozen=True)
class DeliveryGroup:
    """Deliveries investigated once: `lead` is sent to its agent, `members` are answered by the lead's task."""

    lead: RouterTask
    members: tuple[RouterTask, ...] = ()
    #: Why the members are answered by the lead's task, for the log and the members' record ("" when alone).
    reason: str = ""
    #: The webhook (JSON text) to send for the lead instead of its own payload, None to send its own: the
    #: lead's alerts and those of the members about its service or a direct caller of it (`merged_payload`).
    payload: str | None = None
    #: The resource the lead's investigation is about (`namespace/name`), None when not known.
    root: str | None = None
    #: The lead was planned in an earlier batch (an ongoing lead): it is not sent again, the members join it.
    joined: bool = False

    @property
    def tasks(self) -> tuple[RouterTask, ...]:
        return (self.lead, *self.members)


@dataclass(frozen=True)
class Subject:
    """What a delivery's alert names, as the control plane is asked for it: `name`, then `other_names`."""

    name: str
    namespace: str | None = None
    other_names: tuple[str, ...] = ()

    @classmethod
    def of(cls, ref: WorkloadRef) -> Subject:
        return cls(ref.name, ref.namespace, ref.other_names)


def subject_of_delivery(task: RouterTask, aliases: LabelAliases) -> Subject | None:
    """The resource an alert delivery is about: its first firing, earliest alert's that names one (as triage
    reads the payload); None for another kind of delivery, one without its payload, or one that names none."""
    if task.trigger_kind != ALERT or not task.payload:
        return None
    try:
        webhook = AlertmanagerWebhook.model_validate(json.loads(task.payload))
    except (ValueError, ValidationError):
        return None
    for alert in sorted(webhook.firing, key=lambda a: a.starts_at):
        ref = subject_of(alert.labels, aliases)
        # A node is no service of the graph; an address is resolved by triage through Prometheus, not here.
        if ref is not None and ref.kind not in ("node", "address"):
            return Subject.of(ref)
    return None


def group_deliveries(
    deliveries: Sequence[RouterTask],
    resources: Mapping[str, str],
    dependencies: Mapping[str, Collection[str]],
    *,
    ongoing: Sequence[tuple[str, RouterTask]] = (),
    max_depth: int = MAX_DEPTH,
) -> list[DeliveryGroup]:
    """The groups of `deliveries` (the rule of this module's docstring), each delivery in exactly one, in the
    order of their leads in `deliveries` (a joined group's: its first member's).

    `resources` maps a delivery's id to the resource its alert is about (deliveries absent are alone);
    `dependencies` maps a resource to those it depends on directly (absent: none known). Resources are
    opaque keys (the grouper uses `namespace/name`). `ongoing` are leads of earlier batches with their root:
    each counts as its root alerting for its owner and agent, and the deliveries it would lead join it (a
    `joined` group; the earliest lead of a root when there are several)."""
    position = {task.id: index for index, task in enumerate(deliveries)}
    groups: list[DeliveryGroup] = []
    partitions: dict[tuple[str, str], list[RouterTask]] = {}
    for task in deliveries:
        if task.id in resources:
            partitions.setdefault((task.owner, task.agent), []).append(task)
        else:
            groups.append(DeliveryGroup(task))
    earlier: dict[tuple[str, str], dict[str, RouterTask]] = {}
    for root, lead in sorted(ongoing, key=lambda pair: (pair[1].created_at, pair[1].id)):
        earlier.setdefault((lead.owner, lead.agent), {}).setdefault(root, lead)
    for key, tasks in partitions.items():
        groups.extend(_group_partition(tasks, resources, dependencies, max_depth, earlier.get(key, {})))
    # A joined group (its lead planned before) goes where its first member was.
    return sorted(groups, key=lambda group: position[(group.members[0] if group.joined else group.lead).id])


def _group_partition(
    tasks: Sequence[RouterTask],
    resources: Mapping[str, str],
    dependencies: Mapping[str, Collection[str]],
    max_depth: int,
    ongoing: Mapping[str, RouterTask],
) -> list[DeliveryGroup]:
    by_resource: dict[str, list[RouterTask]] = {}
    for task in tasks:
        by_resource.setdefault(resources[task.id], []).append(task)
    alerting = set(by_resource) | set(ongoing)
    reached = {node: _reach(node, dependencies, max_depth) & alerting - {node} for node in alerting}
    roots = {node for node, below in reached.items() if not below}
    parent: dict[str, str] = {}
    for node, below in reached.items():
        if node in roots:
            continue
        reached_roots = below & roots
        if len(reached_roots) == 1:
            parent[node] = next(iter(reached_roots))
    groups = []
    for node in [*by_resource, *(node for node in ongoing if node not in by_resource)]:
        if node in parent:
            continue
        own = sorted(by_resource.get(node, ()), key=lambda task: (task.created_at, task.id))
        dependents = [d for d in by_resource if parent.get(d) == node]
        joining = [*own, *(task for d in dependents for task in by_resource[d])]
        if node in ongoing:
            # Its investigation runs: the pages of its outage planned since join it rather than start another.
            if joining:
                joining.sort(key=lambda task: (task.created_at, task.id))
                reason = _reason(node, len(own), dependents, late=True)
                groups.append(DeliveryGroup(ongoing[node], tuple(joining), reason, root=node, joined=True))
            continue
        lead, *again = own
        members = [*again, *(task for d in dependents for task in by_resource[d])]
        members.sort(key=lambda task: (task.created_at, task.id))
        if not members:
            groups.append(DeliveryGroup(lead, root=node))
            continue
        # The members whose alerts tell triage the lead's service is the one depended on (it picks, among the
        # resources an alert group names, the one another depends on directly): its own and its direct callers'.
        informing = [m for m in members if node == resources[m.id] or node in dependencies.get(resources[m.id], ())]
        callers = [resources[m.id] for m in informing if resources[m.id] != node]
        kept = set(list(dict.fromkeys(callers))[: MAX_MERGED_RESOURCES - 1])
        informing = [m for m in informing if resources[m.id] == node or resources[m.id] in kept]
        reason = _reason(node, len(again), dependents)
        groups.append(DeliveryGroup(lead, tuple(members), reason, merged_payload(lead, informing), root=node))
    return groups


def merged_payload(lead: RouterTask, members: Sequence[RouterTask]) -> str | None:
    """The lead's webhook with the firing alerts of `members` added (each once, by fingerprint; at most
    MAX_MERGED_ALERTS), its common labels and annotations those all the alerts share; None when nothing is
    added (or the lead's payload cannot be read: it is then sent as it is)."""
    try:
        webhook = json.loads(lead.payload or "")
    except ValueError:
        return None
    if not isinstance(webhook, dict) or not isinstance(webhook.get("alerts"), list):
        return None
    alerts: list[dict[str, Any]] = [a for a in webhook["alerts"] if isinstance(a, dict)]
    seen = {a.get("fingerprint") for a in alerts}
    added = 0
    for member in members:
        try:
            theirs = json.loads(member.payload or "").get("alerts", [])
        except (ValueError, AttributeError):
            continue
        for alert in theirs if isinstance(theirs, list) else []:
            if added >= MAX_MERGED_ALERTS:
                break
            if isinstance(alert, dict) and alert.get("status") == "firing" and alert.get("fingerprint") not in seen:
                seen.add(alert.get("fingerprint"))
                alerts.append(alert)
                added += 1
    if not added:
        return None
    merged = {
        **webhook,
        "status": "firing",
        "alerts": alerts,
        "commonLabels": _common(a.get("labels") for a in alerts),
        "commonAnnotations": _common(a.get("annotations") for a in alerts),
    }
    return json.dumps(merged, ensure_ascii=False)


def _common(maps: Iterable[object]) -> dict[str, str]:
    """The pairs every map holds (Alertmanager's common labels)."""
    shared: dict[str, str] | None = None
    for pairs in maps:
        own = pairs if isinstance(pairs, dict) else {}
        shared = dict(own) if shared is None else {k: v for k, v in shared.items() if own.get(k) == v}
    return shared or {}


def _reach(node: str, dependencies: Mapping[str, Collection[str]], max_depth: int) -> set[str]:
    """The resources `node` depends on within `max_depth` hops."""
    seen: set[str] = set()
    frontier = {node}
    for _ in range(max_depth):
        frontier = {d for n in frontier for d in dependencies.get(n, ())} - seen
        if not frontier:
            break
        seen |= frontier
    return seen


def _reason(root: str, again: int, dependents: Sequence[str], *, late: bool = False) -> str:
    parts = []
    if dependents:
        shown = ", ".join(sorted(dependents)[:5]) + (f" and {len(dependents) - 5} more" if len(dependents) > 5 else "")
        parts.append(f"{shown} depend{'s' if len(dependents) == 1 else ''} on {root}, which alerts too")
    if late:
        if again:
            parts.append(f"{root} alerted again")
        return f"{'; '.join(parts)}: joined the investigation of {root} under way."
    if again:
        parts.append(f"{root} alerted {again + 1} times")
    return f"{'; '.join(parts)}: investigated once, as {root}."


@dataclass(frozen=True)
class _Found:
    """A resource the control plane holds (`namespace/name`), with those it depends on and those depending on it."""

    key: str
    dependencies: tuple[str, ...]
    dependents: tuple[str, ...]


class Grouper:
    """Plans pending deliveries as groups, reading the service graph from the control plane.

    `controlplane()` opens a session on controlplane-mcp with the router's own token (a `Toolbox` of
    `mcp_toolbox(["controlplane-mcp"], ...)`, or a session kept open); it is entered once per plan that
    has alerts to group. `aliases` are the environment's extra label names (ROUTER_LABEL_ALIASES, as triage's).
    The other arguments bound each plan (see the module's constants)."""

    def __init__(
        self,
        controlplane: Callable[[], AbstractAsyncContextManager[ToolCaller]],
        *,
        aliases: LabelAliases | None = None,
        max_depth: int = MAX_DEPTH,
        max_lookups: int = MAX_LOOKUPS,
        concurrency: int = CONCURRENCY,
        deadline_seconds: float = DEADLINE_SECONDS,
        cache_seconds: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._controlplane = controlplane
        self._aliases = aliases or LabelAliases()
        self._max_depth = max_depth
        self._max_lookups = max_lookups
        self._concurrency = concurrency
        self._deadline = deadline_seconds
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._cache: dict[Key, tuple[float, _Found | None]] = {}
        #: Why the last plan could not read the graph; None while it can (an outage is logged once).
        self.unavailable: str | None = None

    async def plan(self, deliveries: Sequence[RouterTask], ongoing: Ongoing | None = None) -> list[DeliveryGroup]:
        """Each delivery in exactly one group; every delivery alone when the graph cannot be read. `ongoing` gives
        the running leads of earlier batches among the resources the batch reaches (their pages join them)."""
        subjects = {task.id: s for task in deliveries if (s := subject_of_delivery(task, self._aliases))}
        if not subjects:
            # Even one subject is looked up: its page may join an ongoing lead, or lead those that come later.
            return [DeliveryGroup(task) for task in deliveries]
        try:
            with anyio.fail_after(self._deadline + SESSION_GRACE_SECONDS):
                resources, dependencies, unread = await self._graph(subjects)
        except Exception as exc:
            # The session's own task group may wrap what went wrong: the first error is the cause.
            cause = first_error(exc)
            if isinstance(cause, TimeoutError):
                self._lost(f"the session on controlplane-mcp took longer than {self._deadline:g} s to open or close")
            elif isinstance(cause, BackendError):
                self._lost(str(cause))
            else:
                # Not a backend's known failure (a session refused in a way the toolbox does not name, or a bug):
                # deliveries still go out, ungrouped as before grouping, and the trace is logged with the warning.
                self._lost(f"{type(cause).__name__}: {cause}", cause)
            return [DeliveryGroup(task) for task in deliveries]
        if self.unavailable is not None:
            logger.info("The control plane answers again: related alerts are grouped again")
            self.unavailable = None
        if unread:
            logger.info(
                "%d of %d subjects were not read from the control plane within %g s: their deliveries are sent alone",
                unread,
                len({(s.name, s.namespace) for s in subjects.values()}),
                self._deadline,
            )
        leads = await self._ongoing(ongoing, set(resources.values()), dependencies)
        return group_deliveries(deliveries, resources, dependencies, ongoing=leads, max_depth=self._max_depth)

    async def _ongoing(
        self, ongoing: Ongoing | None, alerting: set[str], dependencies: Mapping[str, Collection[str]]
    ) -> Sequence[tuple[str, RouterTask]]:
        """The ongoing leads of the resources alerting in the batch and of those they reach; none when they
        cannot be read (the batch is then planned on its own, as before late pages joined)."""
        if ongoing is None or not alerting:
            return ()
        reached = alerting.union(*(_reach(node, dependencies, self._max_depth) for node in alerting))
        try:
            return await ongoing(reached)
        except Exception as exc:
            logger.warning("The ongoing investigations could not be read (%s): late pages start their own", exc)
            return ()

    def _lost(self, reason: str, error: BaseException | None = None) -> None:
        if self.unavailable is None:
            logger.warning(
                "Related alerts are not grouped while the control plane's service graph cannot be read (%s); "
                "each delivery is sent alone. controlplane-mcp must be registered and reachable, and the router's "
                "client needs controlplane:read: `sre up` grants it when it starts again (it brings the clients it "
                "provisions up to date), a client registered by hand gets it with `sre auth add-client "
                "<SRE_CLIENT_ID> --rotate-secret --scopes %s` (then give the router the new secret).",
                reason,
                ",".join(COMPONENTS["router"].client_scopes),
                exc_info=error,
            )
        self.unavailable = reason

    async def _graph(self, subjects: Mapping[str, Subject]) -> tuple[dict[str, str], dict[str, set[str]], int]:
        """The resource of each delivery (by id) whose subject the control plane knows, the dependencies known of
        the resources between them (up to `max_depth` hops from each), and how many subjects were not read within
        the deadline (a look-up still out then is given up: its subject is unknown)."""
        budget = _Budget(self._max_lookups)
        limiter = anyio.CapacityLimiter(self._concurrency)
        until = anyio.current_time() + self._deadline
        async with self._controlplane() as tools:
            controlplane = ControlplaneMcp(tools)

            async def look_up_all(wanted: Mapping[Key, tuple[str, ...]]) -> dict[Key, _Found | None]:
                found: dict[Key, _Found | None] = {}

                async def look_up(key: Key, names: tuple[str, ...]) -> None:
                    async with limiter:
                        found[key] = await self._find(controlplane, names, key[1], budget)

                with anyio.move_on_after(until - anyio.current_time()):
                    async with task_group() as group:
                        for key, names in wanted.items():
                            group.start_soon(look_up, key, names)
                return found

            wanted = {(s.name, s.namespace) for s in subjects.values()}
            named = await look_up_all(
                {(s.name, s.namespace): tuple(dict.fromkeys((s.name, *s.other_names))) for s in subjects.values()}
            )
            resources = {
                task_id: hit.key for task_id, s in subjects.items() if (hit := named.get((s.name, s.namespace)))
            }
            dependencies: dict[str, set[str]] = {}
            known: set[str] = set()

            def learn(hits: Collection[_Found | None]) -> None:
                for hit in hits:
                    if hit is None:
                        continue
                    known.add(hit.key)
                    dependencies.setdefault(hit.key, set()).update(hit.dependencies)
                    for dependent in hit.dependents:
                        dependencies.setdefault(dependent, set()).add(hit.key)

            learn(named.values())
            # The resources between alerting ones, one hop further each round (the alerting ones' own hop is known).
            frontier = {d for key in set(resources.values()) for d in dependencies.get(key, ())} - known
            for _ in range(self._max_depth - 1):
                if not frontier or budget.spent or anyio.current_time() >= until:
                    break
                learn((await look_up_all({_split(key): (_split(key)[0],) for key in sorted(frontier)})).values())
                known |= frontier
                frontier = {d for key in frontier for d in dependencies.get(key, ())} - known
        return resources, dependencies, len(wanted - named.keys())

    async def _find(
        self, controlplane: ControlplaneMcp, names: tuple[str, ...], namespace: str | None, budget: _Budget
    ) -> _Found | None:
        """The resource named exactly by the first of `names` the control plane knows (in `namespace` when given)."""
        for name in names:
            cached = self._cache.get((name, namespace))
            if cached is not None and cached[0] > self._clock():
                answer = cached[1]
            elif not budget.take():
                return None
            else:
                answer = await self._ask(controlplane, name, namespace)
                self._remember((name, namespace), answer)
            if answer is not None:
                return answer
        return None

    def _remember(self, key: Key, answer: _Found | None) -> None:
        now = self._clock()
        if len(self._cache) >= MAX_CACHED:
            # Names come from alerts' labels, which a sender chooses: the cache never outgrows a bound.
            self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
            if len(self._cache) >= MAX_CACHED:
                self._cache.clear()
        self._cache[key] = (now + self._cache_seconds, answer)

    async def _ask(self, controlplane: ControlplaneMcp, name: str, namespace: str | None) -> _Found | None:
        try:
            answer = await controlplane.find_resource(name, namespace=namespace, limit=5)
        except ToolCallError as exc:
            # The name refused (too long, not a name): no resource goes by it. Any other refusal (the router's
            # client lacks controlplane:read, the control plane failing) is the graph being unreadable.
            if exc.kind in _NO_SUCH_NAME:
                return None
            raise
        item = answer.resource
        if item is None or item.get("name") != name:
            return None
        return _Found(
            _key(item), tuple(_key(d) for d in answer.dependencies), tuple(_key(d) for d in answer.dependents)
        )


class _Budget:
    """Look-ups left in one plan."""

    def __init__(self, lookups: int) -> None:
        self.left = lookups

    @property
    def spent(self) -> bool:
        return self.left <= 0

    def take(self) -> bool:
        if self.left <= 0:
            return False
        self.left -= 1
        return True


def _key(item: Mapping[str, Any]) -> str:
    return f"{item.get('namespace') or ''}/{item.get('name')}"


def _split(key: str) -> Key:
    """`namespace/name` as (name, namespace) to look up."""
    namespace, _, name = key.partition("/")
    return name, namespace or None
