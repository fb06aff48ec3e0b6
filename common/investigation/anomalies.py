"""Anomalies: metrics outside the signal catalogue that departed at the onset.

For each resource in scope, its other metric names (`metric_names.MetricNames`, the listing the
signal reader used; at most MAX_EXTRA_METRICS) are each scanned for series that changed at the onset
(`prometheus_find_anomalous_series`). A resource's series are found by its identity in each label
scheme the catalogue's signals use (`identity.tool_matchers`): by equality (`service`,
`service_name`, `deployment`, `destination_workload`...) or by regex (`job`, an exporter's server
address, and `pod`, every pod of the workload over the window). A series whose labels name a
dependency (a `provider` or `pool` label, say) is evidence about that dependency. A failed listing or scan is noted as
degrading the report and that resource's or metric's series are missing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from analysis.ranking import SignalShift
from common.contracts.calls import ToolCaller
from common.contracts.prometheus import PrometheusMcp
from common.investigation.evidence import EvidenceLog
from common.investigation.metric_names import MetricNames
from common.investigation.scope import ResolvedScope, Resource
from common.investigation.signals import Signal
from common.investigation.sources import for_each, noted
from common.investigation.window import Window
from common.timerange import iso

__all__ = ["scan_anomalies"]

#: An anomalous series scoring below this (robust sigmas) is noise.
MIN_ANOMALY_SCORE = 6.0
#: Other metrics scanned per resource, at most.
MAX_EXTRA_METRICS = 12
_METRIC_NAME = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{")
# The labels that name the resource itself (in any scheme) or where it was scraped.
_IGNORED_LABELS = frozenset(
    {
        "service",
        "service_name",
        "app",
        "app_kubernetes_io_name",
        "deployment",
        "statefulset",
        "daemonset",
        "destination_workload",
        "destination_workload_namespace",
        "namespace",
        "job",
        "instance",
        "pod",
        "container",
        "server",
        "addr",
        "__name__",
    }
)


async def scan_anomalies(
    toolbox: ToolCaller,
    scope: ResolvedScope,
    catalogue: Sequence[Signal],
    window: Window,
    onset: float | None,
    evidence: EvidenceLog,
    *,
    names: MetricNames | None = None,
) -> list[SignalShift]:
    """Metrics outside the catalogue that departed at the onset, for each resource in scope."""
    known = {name for signal in catalogue for name in _METRIC_NAME.findall(signal.query)}
    names = names or MetricNames(toolbox, scope, window, evidence)
    dependencies = {d.name for d in scope.dependencies}
    split = (
        onset if onset is not None and window.start + 6 * window.step < onset < window.end - 4 * window.step else None
    )
    recent = None if split is None else f"{int(window.end - split)}s"
    prometheus = PrometheusMcp(toolbox)
    shifts: list[SignalShift] = []

    async def scan(item: tuple[Resource, dict[str, str], str]) -> None:
        resource, selected, metric = item
        answer = await noted(
            prometheus.find_anomalous_series(
                metric,
                matchers=selected,
                start=iso(window.start),
                end=iso(window.end),
                step=f"{window.step:g}s",
                recent=recent,
                limit=5,
            ),
            evidence,
            f"anomaly scan of {metric} for {resource.name}",
        )
        if answer is None:
            return
        for series in answer.series:
            if series.score < MIN_ANOMALY_SCORE:
                continue
            named = [v for k, v in series.labels.items() if k not in _IGNORED_LABELS and v in dependencies]
            about = named[0] if named else resource.name
            shown = ",".join(f'{k}="{v}"' for k, v in sorted(series.labels.items()) if k not in _IGNORED_LABELS)
            signal = f"{metric}{{{shown}}}" if shown else metric
            change = series.relative_change
            evidence_id = evidence.add(
                "prometheus",
                answer.query or metric,
                f"{signal} of {resource.name} went {series.direction} "
                f"{'' if change is None else f'{change:+.0%} '}after {answer.split_at} "
                f"(score {series.score:.1f})",
                start=window.start,
                end=window.end,
                data={"labels": series.labels, "score": round(series.score, 1), "about": about},
            )
            shifts.append(
                SignalShift(
                    evidence_id=evidence_id,
                    resource=about,
                    signal=signal,
                    kind="anomaly",
                    at=split if split is not None else window.end - (window.end - window.start) / 4,
                    direction=series.direction,
                    magnitude=change,
                    score=series.score,
                )
            )

    schemes = list(dict.fromkeys(signal.labels for signal in catalogue))
    listed: dict[tuple[str, str], list[str]] = {}

    async def list_metrics(pair: tuple[Resource, str]) -> None:
        resource, scheme = pair
        metrics = await names.of(resource, scheme)
        listed[(resource.name, scheme)] = sorted((metrics or frozenset()) - known)

    resources = [scope.primary, *scope.dependencies]
    await for_each([(resource, scheme) for resource in resources for scheme in schemes], list_metrics)
    scans: list[tuple[Resource, dict[str, str], str]] = []
    for resource in resources:
        # The resource's other metrics across its schemes, at most MAX_EXTRA_METRICS, in scheme order.
        seen: set[str] = set()
        for scheme in schemes:
            for metric in listed.get((resource.name, scheme), []):
                if metric not in seen and len(seen) < MAX_EXTRA_METRICS:
                    seen.add(metric)
                    scans.append((resource, names.matchers(resource, scheme), metric))
    await for_each(scans, scan)
    return shifts
