"""Gather: what the three MCP servers say about the scope, turned into facts and cited evidence.

Each function reads one source for every resource in scope, concurrently, and never raises for a
source's failure: the failure is noted in the `EvidenceLog` (the report's `degraded`) and the
investigation goes on with what the other sources said.

- `read_signals`: the signal catalogue's PromQL for the primary and its dependencies, over the
  look-back window, each series searched for its change point (`analysis.onset`);
- `scan_anomalies`: every other metric carrying a resource's labels, split at the onset
  (`prometheus_find_anomalous_series`); a series whose labels name a dependency (a `provider`
  or `pool` label, say) is evidence about that dependency;
- `read_log_rises`: error templates that rose at the onset against the window before it, and
  which dependencies they mention;
- `read_changes`: every change to the primary and its dependencies in the window;
- `read_firing_alerts`: the alerts firing now on the primary and its dependencies (context for
  the reader, not a cause: an alert fires after its symptom began).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import anyio

from agents.triage.evidence import EvidenceLog
from agents.triage.ranking import ChangeFact, LogRise, SignalShift
from agents.triage.scope import CONTROLPLANE, ResolvedScope, Resource
from agents.triage.signals import Signal
from analysis.onset import Onset, detect_onset
from common.errors import BackendError
from common.mcp.toolbox import Toolbox
from common.task_groups import task_group
from common.timerange import iso, parse_duration

__all__ = [
    "LOKI",
    "PROMETHEUS",
    "SignalSeries",
    "Window",
    "read_changes",
    "read_firing_alerts",
    "read_log_rises",
    "read_signals",
    "scan_anomalies",
]

PROMETHEUS = "prometheus-mcp"
LOKI = "loki-mcp"
#: Calls in flight at once on one server.
CONCURRENCY = 8
#: An anomalous series scoring below this (robust sigmas) is noise.
MIN_ANOMALY_SCORE = 6.0
#: Other metrics scanned per resource, at most.
MAX_EXTRA_METRICS = 12
#: Points dropped at the start of a series that appeared in the window (longer than the catalogue's rate windows).
WARM_UP_SECONDS = 600.0
#: Longest log window compared with its baseline, seconds.
MAX_LOG_WINDOW = 3600.0
MIN_LOG_WINDOW = 600.0
_RANGE = re.compile(r"\[(\d+[smhd])\]")
_METRIC_NAME = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{")
_IGNORED_LABELS = frozenset({"service", "namespace", "job", "instance", "pod", "container", "__name__"})


@dataclass(frozen=True)
class Window:
    start: float
    end: float
    step: float


@dataclass(frozen=True)
class SignalSeries:
    resource: Resource
    signal: Signal
    query: str
    points: list[tuple[float, float]]
    onset: Onset | None
    evidence_id: str | None = None


async def _bounded(calls: Sequence[Callable[[], Awaitable[None]]]) -> None:
    limiter = anyio.CapacityLimiter(CONCURRENCY)

    async def run(call: Callable[[], Awaitable[None]]) -> None:
        async with limiter:
            await call()

    async with task_group() as group:
        for call in calls:
            group.start_soon(run, call)


async def _call(
    toolbox: Toolbox, server: str, tool: str, arguments: dict[str, Any], evidence: EvidenceLog, what: str
) -> dict[str, Any] | None:
    """The tool's result, or None with the failure noted as degrading the report."""
    try:
        return await toolbox.call(server, tool, arguments)
    except BackendError as exc:
        evidence.failed(server, what, exc)
        return None


def _selector(resource: Resource, namespace: str | None) -> dict[str, str]:
    return {"service": resource.name, **({"namespace": namespace} if namespace else {})}


async def read_signals(
    toolbox: Toolbox, scope: ResolvedScope, catalogue: Sequence[Signal], window: Window, evidence: EvidenceLog
) -> list[SignalSeries]:
    """Every catalogue signal of the primary and its dependencies, with its change point."""
    found: list[SignalSeries] = []

    def reader(resource: Resource, signal: Signal) -> Callable[[], Awaitable[None]]:
        async def read() -> None:
            query = signal.render(resource.name, scope.series_namespace(resource))
            arguments = {
                "query": query,
                "start": iso(window.start),
                "end": iso(window.end),
                "step": f"{window.step:g}s",
                "detail": "points",
            }
            answer = await _call(
                toolbox, PROMETHEUS, "prometheus_query_range", arguments, evidence, f"{signal.name} of {resource.name}"
            )
            if answer is None:
                return
            series = answer.get("series") or []
            if not series:
                return
            points = _settled([(float(t), float(v)) for t, v in series[0].get("points") or [] if v is not None], window)
            found.append(SignalSeries(resource, signal, query, points, _onset(points, query)))

        return read

    resources = [scope.primary, *scope.dependencies]
    await _bounded([reader(resource, signal) for resource in resources for signal in catalogue])
    order = {r.name: i for i, r in enumerate(resources)}
    names = [s.name for s in catalogue]
    found.sort(key=lambda s: (order.get(s.resource.name, 99), names.index(s.signal.name)))
    return found


def _onset(points: list[tuple[float, float]], query: str) -> Onset | None:
    """The change point of `points`, moved back by half the query's rate window for a step.

    A rate over a window W turns a step at T into a ramp from T to T+W, and the fitted split falls
    in its middle; half the window back is where the step was.
    """
    onset = detect_onset(points)
    windows = [parse_duration(w) for w in _RANGE.findall(query)]
    if onset is None or onset.kind != "step" or not windows:
        return onset
    return replace(onset, at=onset.at - max(windows) / 2)


def _settled(points: list[tuple[float, float]], window: Window) -> list[tuple[float, float]]:
    """`points` without the first minutes of a series that appeared inside the window.

    Rates over a range window (`rate(x[5m])`) start from a partial window when a series appears,
    which reads as a step; the appearance itself is not the incident.
    """
    if not points or points[0][0] <= window.start + window.step:
        return points
    settled = points[0][0] + WARM_UP_SECONDS
    return [(t, v) for t, v in points if t >= settled]


def cite_signals(
    series: list[SignalSeries], scope: ResolvedScope, window: Window, evidence: EvidenceLog
) -> list[SignalSeries]:
    """Evidence for each series that shifted, and for the primary's symptoms either way."""
    cited = []
    for item in series:
        primary_symptom = item.resource is scope.primary and item.signal.kind == "symptom"
        if item.onset is None and not primary_symptom:
            cited.append(item)
            continue
        evidence_id = evidence.add(
            "prometheus",
            item.query,
            _signal_summary(item),
            start=window.start,
            end=window.end,
            data=_signal_data(item),
        )
        cited.append(SignalSeries(item.resource, item.signal, item.query, item.points, item.onset, evidence_id))
    return cited


def shifts_of(series: Sequence[SignalSeries]) -> list[SignalShift]:
    return [
        SignalShift(
            evidence_id=item.evidence_id or "",
            resource=item.resource.name,
            signal=item.signal.name,
            kind=item.signal.kind,
            at=item.onset.at,
            direction=item.onset.direction,
            magnitude=item.onset.magnitude,
            score=item.onset.score,
        )
        for item in series
        if item.onset is not None
    ]


def _signal_summary(item: SignalSeries) -> str:
    what = f"{item.signal.name} of {item.resource.name}"
    if item.onset is None:
        last = item.points[-1][1] if item.points else None
        return f"{what}: no change in the window" + ("" if last is None else f" (now {_number(last)})")
    onset = item.onset
    change = "" if onset.magnitude is None else f" ({onset.magnitude:+.0%})"
    return (
        f"{what} went {onset.direction} at {iso(onset.at)} ({onset.kind}): {_number(onset.before)} -> "
        f"{_number(onset.after)}{change}"
    )


def _signal_data(item: SignalSeries) -> dict[str, Any]:
    data: dict[str, Any] = {"signal": item.signal.name, "kind": item.signal.kind, "resource": item.resource.name}
    if item.onset is not None:
        data |= {
            "onset": iso(item.onset.at),
            "direction": item.onset.direction,
            "shape": item.onset.kind,
            "before": item.onset.before,
            "after": item.onset.after,
            "score": round(item.onset.score, 1),
        }
    return data


def _number(value: float) -> str:
    return f"{value:.3g}"


async def scan_anomalies(
    toolbox: Toolbox,
    scope: ResolvedScope,
    catalogue: Sequence[Signal],
    window: Window,
    onset: float | None,
    evidence: EvidenceLog,
) -> list[SignalShift]:
    """Metrics outside the catalogue that departed at the onset, for each resource in scope."""
    known = {name for signal in catalogue for name in _METRIC_NAME.findall(signal.query)}
    dependencies = {d.name for d in scope.dependencies}
    split = (
        onset if onset is not None and window.start + 6 * window.step < onset < window.end - 4 * window.step else None
    )
    recent = None if split is None else f"{int(window.end - split)}s"
    shifts: list[SignalShift] = []

    def scanner(resource: Resource, metric: str, matchers: dict[str, str]) -> Callable[[], Awaitable[None]]:
        async def scan() -> None:
            arguments: dict[str, Any] = {
                "metric": metric,
                "matchers": matchers,
                "start": iso(window.start),
                "end": iso(window.end),
                "step": f"{window.step:g}s",
                "limit": 5,
            }
            if recent is not None:
                arguments["recent"] = recent
            answer = await _call(
                toolbox,
                PROMETHEUS,
                "prometheus_find_anomalous_series",
                arguments,
                evidence,
                f"anomaly scan of {metric} for {resource.name}",
            )
            if answer is None:
                return
            for series in answer.get("series") or []:
                score = float(series.get("score") or 0.0)
                if score < MIN_ANOMALY_SCORE:
                    continue
                labels: dict[str, str] = series.get("labels") or {}
                named = [v for k, v in labels.items() if k not in _IGNORED_LABELS and v in dependencies]
                about = named[0] if named else resource.name
                shown = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k not in _IGNORED_LABELS)
                signal = f"{metric}{{{shown}}}" if shown else metric
                change = series.get("relative_change")
                evidence_id = evidence.add(
                    "prometheus",
                    str(answer.get("query") or metric),
                    f"{signal} of {resource.name} went {series.get('direction')} "
                    f"{'' if change is None else f'{change:+.0%} '}after {answer.get('split_at')} "
                    f"(score {score:.1f})",
                    start=window.start,
                    end=window.end,
                    data={"labels": labels, "score": round(score, 1), "about": about},
                )
                shifts.append(
                    SignalShift(
                        evidence_id=evidence_id,
                        resource=about,
                        signal=signal,
                        kind="anomaly",
                        at=split if split is not None else window.end - (window.end - window.start) / 4,
                        direction=str(series.get("direction") or "up"),
                        magnitude=None if change is None else float(change),
                        score=score,
                    )
                )

        return scan

    async def metrics_of(resource: Resource) -> list[str]:
        matchers = _selector(resource, scope.series_namespace(resource))
        arguments = {"label": "__name__", "matchers": matchers, "start": iso(window.start), "end": iso(window.end)}
        answer = await _call(
            toolbox, PROMETHEUS, "prometheus_list_labels", arguments, evidence, f"metric names of {resource.name}"
        )
        if answer is None:
            return []
        return [name for name in answer.get("values") or [] if name not in known][:MAX_EXTRA_METRICS]

    resources = [scope.primary, *scope.dependencies]
    names: dict[str, list[str]] = {}

    def lister(resource: Resource) -> Callable[[], Awaitable[None]]:
        async def list_metrics() -> None:
            names[resource.name] = await metrics_of(resource)

        return list_metrics

    await _bounded([lister(resource) for resource in resources])
    await _bounded(
        [
            scanner(resource, metric, _selector(resource, scope.series_namespace(resource)))
            for resource in resources
            for metric in names.get(resource.name, [])
        ]
    )
    return shifts


async def read_log_rises(
    toolbox: Toolbox, scope: ResolvedScope, window: Window, onset: float | None, evidence: EvidenceLog
) -> list[LogRise]:
    """Error templates of the primary and its dependencies that rose at the onset."""
    since_onset = window.end - onset if onset is not None else MIN_LOG_WINDOW
    length = min(MAX_LOG_WINDOW, max(MIN_LOG_WINDOW, since_onset))
    start = window.end - length
    dependencies = [d.name for d in scope.dependencies]
    rises: list[LogRise] = []

    def reader(resource: Resource) -> Callable[[], Awaitable[None]]:
        async def read() -> None:
            selector = _stream_selector(resource, scope.series_namespace(resource))
            arguments = {
                "query": selector,
                "start": iso(start),
                "end": iso(window.end),
                "baseline_start": iso(start - length),
                "baseline_end": iso(start),
                "limit": 5,
            }
            try:
                answer = await toolbox.call(LOKI, "loki_error_patterns", arguments)
            except BackendError as exc:
                # A resource without logs answers with no patterns; a refusal of triage's own query
                # (`invalid_argument`) is a failure to report, not a sign that there are no logs.
                if exc.kind != "not_found":
                    evidence.failed(LOKI, f"error patterns of {resource.name}", exc)
                return
            for pattern in (answer.get("patterns") or [])[:3]:
                text = " ".join([pattern.get("template", ""), *pattern.get("examples", [])[:2]])
                mentions = tuple(d for d in dependencies if re.search(rf"(?<![\w-]){re.escape(d)}(?![\w-])", text))
                rate = f"{pattern.get('baseline_per_minute', 0):g} -> {pattern.get('current_per_minute', 0):g}/min"
                evidence_id = evidence.add(
                    "loki",
                    selector,
                    f"{'new' if pattern.get('new') else 'rising'} error in {resource.name} logs ({rate}): "
                    f"{pattern.get('template', '')[:300]}",
                    start=start - length,
                    end=window.end,
                    data={
                        "template": pattern.get("template"),
                        "examples": pattern.get("examples", [])[:2],
                        "first_seen": pattern.get("first_seen"),
                        "score": pattern.get("score"),
                        "mentions": list(mentions),
                    },
                )
                rises.append(
                    LogRise(
                        evidence_id=evidence_id,
                        resource=resource.name,
                        template=str(pattern.get("template", "")),
                        new=bool(pattern.get("new")),
                        score=float(pattern.get("score") or 0.0),
                        mentions=mentions,
                    )
                )

        return read

    await _bounded([reader(resource) for resource in [scope.primary, *scope.dependencies]])
    return rises


async def read_firing_alerts(toolbox: Toolbox, scope: ResolvedScope, evidence: EvidenceLog) -> None:
    """One evidence item per resource in scope with firing alerts (Prometheus' own rule evaluation)."""

    def reader(resource: Resource) -> Callable[[], Awaitable[None]]:
        async def read() -> None:
            matchers = _selector(resource, scope.series_namespace(resource))
            arguments = {"state": "firing", "matchers": matchers, "limit": 50}
            answer = await _call(
                toolbox, PROMETHEUS, "prometheus_list_alerts", arguments, evidence, f"firing alerts of {resource.name}"
            )
            if answer is None:
                return
            alerts = answer.get("alerts") or []
            if not alerts:
                return
            listed = "; ".join(
                f"{a.get('name')} since {a.get('active_at') or '?'}"
                + (f" ({a['annotations']['summary']})" if (a.get("annotations") or {}).get("summary") else "")
                for a in alerts[:5]
            )
            evidence.add(
                "prometheus",
                f"prometheus_list_alerts(state=firing, matchers={matchers})",
                f"{len(alerts)} alert(s) firing on {resource.name}: {listed}",
                data={"alerts": [{k: a.get(k) for k in ("name", "labels", "active_at")} for a in alerts[:20]]},
            )

        return read

    await _bounded([reader(resource) for resource in [scope.primary, *scope.dependencies]])


def _stream_selector(resource: Resource, namespace: str | None) -> str:
    matchers = _selector(resource, namespace)
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in matchers.items()) + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


@dataclass(frozen=True)
class ChangeRecord:
    fact: ChangeFact
    actor: str
    summary: str


async def read_changes(
    toolbox: Toolbox, scope: ResolvedScope, window: Window, evidence: EvidenceLog
) -> list[ChangeRecord]:
    """Every change to the primary, its dependencies and the other alerting resources in the window, oldest first."""
    answers: list[tuple[dict[str, Any], dict[str, Any]]] = []

    def reader(resource: Resource) -> Callable[[], Awaitable[None]]:
        async def read() -> None:
            arguments: dict[str, Any] = {
                "resource": resource.id or resource.name,
                "start": iso(window.start),
                "end": iso(window.end),
                "include_dependencies": resource is scope.primary,
                "limit": 200,
            }
            if resource.id is None and resource.namespace:
                arguments["namespace"] = resource.namespace
            what = f"changes of {resource.name}"
            answer = await _call(toolbox, CONTROLPLANE, "controlplane_list_changes", arguments, evidence, what)
            if answer is not None:
                answers.append((arguments, answer))

        return read

    await _bounded([reader(resource) for resource in [scope.primary, *scope.also_alerting]])
    seen: dict[tuple[Any, ...], tuple[dict[str, Any], dict[str, Any]]] = {}
    for arguments, answer in answers:
        for change in answer.get("changes") or []:
            key = (change.get("at"), change.get("type"), change.get("resource_id"), change.get("summary"))
            seen.setdefault(key, (arguments, change))
    ordered = sorted(seen.values(), key=lambda item: str(item[1].get("at")))
    return [_change_record(arguments, change, evidence) for arguments, change in ordered]


def _change_record(arguments: dict[str, Any], change: dict[str, Any], evidence: EvidenceLog) -> ChangeRecord:
    details: dict[str, Any] = change.get("details") or {}
    resource = change.get("resource")
    name = resource.split("/", 1)[-1] if isinstance(resource, str) else None
    ref = details.get("ref") or details.get("version")
    before, after = details.get("from"), details.get("to")
    adds_capacity = (
        change.get("type") == "scale"
        and isinstance(before, int | float)
        and isinstance(after, int | float)
        and after > before
    )
    ts = datetime.fromisoformat(str(change["at"]).replace("Z", "+00:00")).timestamp()
    summary = str(change.get("summary") or "")
    evidence_id = evidence.add(
        "controlplane",
        f"controlplane_list_changes(resource={arguments['resource']}, start={arguments['start']}, "
        f"end={arguments['end']})",
        f"{change.get('type')} of {resource or 'the platform'} by {change.get('actor')} at {change['at']}: "
        f"{summary}" + (f" [{ref}]" if ref else ""),
        data={"change": {k: v for k, v in change.items() if k != "minutes_ago"}},
    )
    return ChangeRecord(
        ChangeFact(
            evidence_id=evidence_id,
            at=ts,
            type=str(change.get("type")),
            resource=name,
            ref=None if ref is None else str(ref),
            summary=summary,
            adds_capacity=adds_capacity,
        ),
        actor=str(change.get("actor") or ""),
        summary=summary,
    )
