"""One investigation, from request to DiagnosticReport, with no model.

    report = await investigate(request, toolbox, catalogue, settings, progress=say)

Stages (each timed in `report.timings`, each announced through `progress`):

1. scope: the resource and its dependencies (`scope.resolve_scope`);
2. signals, changes and firing alerts, concurrently: the catalogue's series with their change
   points, every change in the look-back window, the alerts firing on the resources in scope;
3. onset: the earliest credible change point among the primary's own signals (symptoms,
   availability, saturation, traffic), else among its dependencies' symptoms; the alert time is
   never used, it lags;
4. anomalies and logs, concurrently: metrics outside the catalogue split at the onset, and error
   templates that rose at it;
5. ranking (`ranking.rank`) and suggested actions (`actions.suggest`), each approval-gated;
6. the report is recorded in the control plane (`controlplane_record_analysis`).

A source that fails is listed in `degraded`; the report stands on the others.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from agents.triage.actions import suggest
from agents.triage.request import InvestigationRequest
from analysis.ranking import Facts, LogRise, SignalShift, rank
from common.agents.kit import Progress
from common.contracts.controlplane import AnalysisResult, ControlplaneMcp
from common.diagnostic_report import Change, DiagnosticReport, Onset, Scope, SourceFailure
from common.errors import BackendError
from common.investigation.alerts import read_firing_alerts
from common.investigation.anomalies import scan_anomalies
from common.investigation.changes import ChangeRecord, read_changes
from common.investigation.evidence import EvidenceLog, at
from common.investigation.logs import read_log_rises
from common.investigation.metrics import SignalSeries, cite_signals, read_signals, shifts_of
from common.investigation.scope import ResolvedScope, resolve_scope
from common.investigation.signals import Signal
from common.investigation.sources import CONTROLPLANE
from common.investigation.window import Window
from common.mcp.toolbox import Toolbox
from common.task_groups import task_group

__all__ = ["InvestigationSettings", "investigate", "record"]

#: Signal kinds of the primary that can mark the onset, in the order they are trusted.
_ONSET_KINDS = ("symptom", "availability", "saturation", "traffic")
#: A relative change of the request rate that counts as a surge (or a collapse, at -0.5).
SURGE = 0.5


@dataclass(frozen=True)
class InvestigationSettings:
    lookback_seconds: float = 6 * 3600.0
    step_seconds: float = 60.0
    max_dependencies: int = 6


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
    for server, reason in toolbox.unavailable.items():
        evidence.failures.setdefault(server, []).append(reason)
    end = (request.end or now or datetime.now(UTC)).timestamp()
    start = request.start.timestamp() if request.start is not None else end - settings.lookback_seconds
    window = Window(start=start, end=end, step=settings.step_seconds)

    def lap(stage: str, since: float) -> float:
        timings[stage] = round(time.perf_counter() - since, 3)
        return time.perf_counter()

    await progress("Scoping: resolving the resource and its dependencies in the control plane.")
    mark = time.perf_counter()
    scope = await resolve_scope(request, toolbox, evidence, max_dependencies=settings.max_dependencies)
    mark = lap("scope", mark)
    names = ", ".join(d.name for d in scope.dependencies) or "none known"
    await progress(f"Gathering signals and changes for {scope.primary.name} (dependencies: {names}).")

    series: list[SignalSeries] = []
    changes: list[ChangeRecord] = []

    async def signals() -> None:
        nonlocal series
        series = await read_signals(toolbox, scope, catalogue, window, evidence)

    async def recent_changes() -> None:
        nonlocal changes
        changes = await read_changes(toolbox, scope, window, evidence)

    async with task_group() as group:
        group.start_soon(signals)
        group.start_soon(recent_changes)
        group.start_soon(read_firing_alerts, toolbox, scope, evidence)
    mark = lap("signals_and_changes", mark)

    series = cite_signals(series, scope, window, evidence)
    onset_series = _onset_series(series, scope)
    onset = onset_series.onset.at if onset_series is not None and onset_series.onset is not None else None
    found = "not detected" if onset is None else f"{at(onset):%H:%M:%S} UTC from {_name(onset_series)}"
    await progress(f"Onset {found}. Scanning other metrics and logs around it.")

    anomalies: list[SignalShift] = []
    log_rises: list[LogRise] = []

    async def scan() -> None:
        nonlocal anomalies
        anomalies = await scan_anomalies(toolbox, scope, catalogue, window, onset, evidence)

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
        onset=None
        if onset is None or onset_series is None
        else Onset(at=at(onset), signal=_name(onset_series), evidence_ids=[onset_series.evidence_id or ""]),
        hypotheses=hypotheses,
        evidence=evidence.items,
        changes=[_change(c, onset) for c in changes],
        suggested_actions=actions,
        degraded=evidence.degraded(),
        timings=timings,
    )


def _onset_series(series: Sequence[SignalSeries], scope: ResolvedScope) -> SignalSeries | None:
    """The series whose change point is the incident's onset (see the module doc)."""
    own = [s for s in series if s.resource is scope.primary and _marks_onset(s)]
    if not own:
        own = [s for s in series if s.onset is not None and s.signal.kind in ("symptom", "availability")]
    if not own:
        return None
    return min(own, key=lambda s: (s.onset.at if s.onset else 0.0, -(s.onset.score if s.onset else 0.0)))


def _marks_onset(item: SignalSeries) -> bool:
    """A change point of the primary that can start an incident: traffic only when it stepped up or down
    sharply (request rates follow daily cycles, which six hours of window show as slow bends of 50 %)."""
    if item.onset is None or item.signal.kind not in _ONSET_KINDS:
        return False
    if item.signal.kind != "traffic":
        return True
    return item.onset.kind == "step" and abs(item.onset.magnitude or 0.0) >= SURGE


def _name(item: SignalSeries | None) -> str:
    return "" if item is None else f"{item.signal.name} of {item.resource.name}"


def _change(record: ChangeRecord, onset: float | None) -> Change:
    fact = record.fact
    return Change(
        at=at(fact.at),
        type=fact.type,
        resource=fact.resource,
        actor=record.actor or None,
        summary=record.summary,
        ref=fact.ref,
        minutes_before_onset=None if onset is None else round((onset - fact.at) / 60, 1),
    )


async def record(report: DiagnosticReport, toolbox: Toolbox) -> AnalysisResult | None:
    """The report recorded in the control plane as an analysis (its id and URL); None when that failed."""
    top = report.hypotheses[0] if report.hypotheses else None
    title = f"{report.scope.service}: " + (
        f"{top.kind} on {top.target.resource} ({top.confidence:.0%})" if top is not None else "no cause found"
    )
    try:
        return await ControlplaneMcp(toolbox).record_analysis(
            "diagnostic",
            title=title,
            summary=report.trigger.summary[:2000],
            report=report.model_dump(mode="json"),
            markdown=report.to_markdown(),
        )
    except BackendError as exc:
        report.degraded.append(SourceFailure(source=CONTROLPLANE, reason=f"recording the report failed: {exc}"))
        return None
