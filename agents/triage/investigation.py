"""One investigation, from request to DiagnosticReport, with no model.

    report = await investigate(request, toolbox, catalogue, settings, progress=say)

Stages (each timed in `report.timings`, each announced through `progress`):

1. scope: the resource, its dependencies and, when it is shared or the alert names its callers,
   the dependents that may be the cause (`scope.resolve_scope`); the nodes its pods ran on
   (`hosts.read_hosts`);
2. signals, changes and firing alerts, concurrently: the catalogue's series with their change
   points, every change in the look-back window (with the rollouts the pods show that no recorded
   change explains, `rollouts.read_rollouts`), the alerts firing on the resources in scope;
3. onset (`onset.choose_onset`): among the primary's own signals' credible change points (else its
   dependencies' symptoms), the largest against its own noise, unless another came clearly
   before it; the alert time is never used, it lags;
4. anomalies and logs, concurrently: metrics outside the catalogue split at the onset, and error
   templates that rose at it;
5. ranking (`ranking.rank`) and suggested actions (`actions.suggest`), each approval-gated.

The agent then records the report in the control plane (`common.investigation.recording.record`).

A source that fails is listed in `degraded`; the report stands on the others.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from agents.triage.actions import suggest
from agents.triage.request import InvestigationRequest
from analysis.ranking import Facts, LogRise, SignalShift, rank
from common.agents.kit import Progress
from common.diagnostic_report import DiagnosticReport, Scope
from common.investigation.alerts import read_firing_alerts
from common.investigation.anomalies import scan_anomalies
from common.investigation.changes import ChangeRecord, read_changes
from common.investigation.evidence import EvidenceLog, at
from common.investigation.hosts import read_hosts
from common.investigation.logs import read_log_rises
from common.investigation.metric_names import MetricNames
from common.investigation.metrics import SignalSeries, cite_signals, read_signals, shifts_of
from common.investigation.onset import choose_onset, reported_onset
from common.investigation.rollouts import read_rollouts
from common.investigation.scope import resolve_scope
from common.investigation.settings import InvestigationSettings
from common.investigation.signals import Signal
from common.investigation.window import Window
from common.investigation.workload_pods import PodHistory
from common.mcp.toolbox import Toolbox
from common.task_groups import task_group

__all__ = ["investigate"]


async def _quiet(message: str) -> None:
    return None


async def investigate(
    request: InvestigationRequest,
    toolbox: Toolbox,
    catalogue: Sequence[Signal],
    settings: InvestigationSettings,
    *,
    progress: Progress = _quiet,
    now: datetime | None = None,
) -> DiagnosticReport:
    started = time.perf_counter()
    timings: dict[str, float] = {}
    evidence = EvidenceLog()
    evidence.unavailable(toolbox.unavailable)
    window = Window.asked(
        request.start,
        request.end,
        lookback_seconds=settings.lookback_seconds,
        step_seconds=settings.step_seconds,
        now=now,
    )

    def lap(stage: str, since: float) -> float:
        timings[stage] = round(time.perf_counter() - since, 3)
        return time.perf_counter()

    await progress("Scoping: resolving the resource and its dependencies in the control plane.")
    mark = time.perf_counter()
    scope = await resolve_scope(request, toolbox, evidence, max_dependencies=settings.max_dependencies)
    # The primary's pods are read once: their nodes are its hosts, when they appeared its rollouts.
    pods = PodHistory(toolbox, scope, window, evidence)
    # Each resource's metric names are listed once: which signals have data, and what else to scan.
    names = MetricNames(toolbox, scope, window, evidence)
    scope.hosts = await read_hosts(toolbox, scope, window, evidence, limit=settings.max_dependencies, pods=pods)
    mark = lap("scope", mark)
    dependencies = ", ".join(d.name for d in scope.dependencies) or "none known"
    callers = f"; callers that may be the cause: {', '.join(d.name for d in scope.suspect_dependents)}"
    await progress(
        f"Gathering signals and changes for {scope.primary.name} (dependencies: {dependencies}"
        f"{callers if scope.suspect_dependents else ''})."
    )

    series: list[SignalSeries] = []
    changes: list[ChangeRecord] = []

    async def signals() -> None:
        nonlocal series
        series = await read_signals(toolbox, scope, catalogue, window, evidence, names=names)

    async def recent_changes() -> None:
        nonlocal changes
        recorded = await read_changes(toolbox, scope, window, evidence)
        # Rollouts the pods show and no recorded change explains (the control plane's record wins).
        every = [*scope.investigated, *scope.also_alerting]
        resources = list({r.name: r for r in every if r.kind != "node"}.values())
        rollouts = await read_rollouts(toolbox, scope, window, evidence, recorded, resources, pods=pods)
        changes = sorted([*recorded, *rollouts], key=lambda c: c.fact.at)

    async with task_group() as group:
        group.start_soon(signals)
        group.start_soon(recent_changes)
        group.start_soon(read_firing_alerts, toolbox, scope, evidence)
    mark = lap("signals_and_changes", mark)

    series = cite_signals(series, scope, window, evidence)
    chosen = choose_onset(series, scope)
    onset = chosen.onset.at if chosen is not None and chosen.onset is not None else None
    found = "not detected" if chosen is None or onset is None else f"{at(onset):%H:%M:%S} UTC from {chosen.label}"
    await progress(f"Onset {found}. Scanning other metrics and logs around it.")

    anomalies: list[SignalShift] = []
    log_rises: list[LogRise] = []

    async def scan() -> None:
        nonlocal anomalies
        anomalies = await scan_anomalies(toolbox, scope, catalogue, window, onset, evidence, names=names)

    async def logs() -> None:
        nonlocal log_rises
        log_rises = await read_log_rises(toolbox, scope, window, onset, evidence)

    async with task_group() as group:
        group.start_soon(scan)
        group.start_soon(logs)
    mark = lap("anomalies_and_logs", mark)

    facts = Facts(
        service=scope.primary.name,
        namespace=scope.primary.namespace,
        dependencies=tuple(d.name for d in scope.dependencies),
        onset=onset,
        changes=[c.fact for c in changes],
        shifts=[*shifts_of(series), *anomalies],
        log_rises=log_rises,
        primary_is_dependency=scope.primary_is_dependency,
        dependents=tuple(d.name for d in scope.suspect_dependents),
        callers=tuple(d.name for d in scope.callers),
        service_kind=scope.primary.kind,
        hosts=tuple(h.name for h in scope.hosts),
        healthy=_healthy(series),
    )
    hypotheses = rank(facts)
    actions = suggest(hypotheses, scope, changes)
    lap("ranking", mark)
    timings["total"] = round(time.perf_counter() - started, 3)
    return DiagnosticReport(
        id=f"rep-{uuid.uuid4().hex[:16]}",
        created_at=datetime.now(UTC),
        trigger=request.trigger,
        scope=Scope(
            service=scope.primary.name,
            namespace=scope.primary.namespace,
            resource_id=scope.primary.id,
            dependencies=[d.name for d in scope.dependencies],
            start=at(window.start),
            end=at(window.end),
        ),
        onset=reported_onset(chosen),
        hypotheses=hypotheses,
        evidence=evidence.items,
        changes=[c.reported(onset) for c in changes],
        suggested_actions=actions,
        degraded=evidence.degraded(),
        timings=timings,
    )


def _healthy(series: Sequence[SignalSeries]) -> tuple[str, ...]:
    """The resources whose symptom signals were read and none shifted in the window."""
    read = {s.resource.name for s in series if s.signal.kind == "symptom"}
    shifted = {s.resource.name for s in series if s.signal.kind == "symptom" and s.onset is not None}
    return tuple(sorted(read - shifted))
