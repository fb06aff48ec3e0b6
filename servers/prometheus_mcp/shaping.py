"""From Prometheus API data to bounded tool results: samples, series, summaries. No I/O."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from analysis.summary import downsample, summarize
from common.contracts.prometheus import Alert, InstantSample, MetricMetadata, RangeSeries, Rule, Target
from common.errors import BackendFailed
from common.timerange import iso

__all__ = [
    "alerts",
    "instant_samples",
    "metadata",
    "parse_matrix",
    "range_series",
    "rules",
    "targets",
]

# Below this many points per series a plot shape is meaningless; send the summary instead.
_MIN_USEFUL_POINTS = 20


def parse_value(raw: Any) -> tuple[float | None, str | None]:
    """Prometheus sends values as strings; NaN and infinities have no JSON number."""
    value = float(raw)
    if math.isnan(value):
        return None, "NaN"
    if math.isinf(value):
        return None, "+Inf" if value > 0 else "-Inf"
    return value, None


def instant_samples(result_type: str, result: Any, notes: list[str]) -> list[InstantSample]:
    try:
        if result_type == "vector":
            return [_sample(item["metric"], item["value"]) for item in result]
        if result_type == "scalar":
            return [_sample({}, result)]
        if result_type == "matrix":
            notes.append("the query returned a range vector: each series shows its last sample only")
            return [_sample(item["metric"], item["values"][-1]) for item in result if item.get("values")]
        return []
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise _malformed(exc) from None


def parse_matrix(result: Any) -> list[tuple[dict[str, str], list[tuple[float, float]]]]:
    try:
        return [
            (dict(item["metric"]), [(float(t), float(v)) for t, v in item.get("values", ())]) for item in result or ()
        ]
    except (KeyError, TypeError, ValueError) as exc:
        raise _malformed(exc) from None


def range_series(
    matrix: Sequence[tuple[dict[str, str], list[tuple[float, float]]]],
    *,
    detail: str,
    max_points_returned: int,
    notes: list[str],
) -> tuple[list[RangeSeries], str]:
    """Every series with its summary; points too when they fit the budget (averaged down if needed)."""
    budget = max_points_returned // max(1, len(matrix))
    if detail == "auto":
        detail = "points" if budget >= _MIN_USEFUL_POINTS else "summary"
        if detail == "summary":
            notes.append(
                f"{len(matrix)} series are too many to return points within {max_points_returned} points; "
                "each series comes as a summary (ask for fewer series to see points)"
            )
    per_series = max(budget, _MIN_USEFUL_POINTS)
    shaped = []
    averaged = 0
    for labels, points in matrix:
        summary = summarize(points)
        if detail == "summary":
            shaped.append(RangeSeries(labels=labels, summary=summary))
            continue
        kept = downsample(points, per_series)
        if len(kept) < len(points):
            averaged += 1
        shaped.append(
            RangeSeries(
                labels=labels,
                summary=summary,
                points=[(t, v if math.isfinite(v) else None) for t, v in kept],
                downsampled_from=len(points) if len(kept) < len(points) else None,
            )
        )
    if averaged:
        notes.append(
            f"{averaged} series had more than {per_series} points and were averaged down to {per_series} "
            "(summaries use every point)"
        )
    return shaped, detail


def metadata(data: Any) -> list[MetricMetadata]:
    try:
        return [
            MetricMetadata(
                metric=name, type=str(m.get("type", "")), help=str(m.get("help", "")), unit=str(m.get("unit", ""))
            )
            for name, items in sorted((data or {}).items())
            for m in items[:1]
        ]
    except (AttributeError, TypeError, ValueError) as exc:
        raise _malformed(exc) from None


def alerts(data: Any) -> list[Alert]:
    try:
        return [
            Alert(
                name=str(raw.get("labels", {}).get("alertname", "")),
                state=str(raw.get("state", "")),
                labels=dict(raw.get("labels", {})),
                annotations=dict(raw.get("annotations", {})),
                active_at=raw.get("activeAt"),
                value=raw.get("value"),
            )
            for raw in (data or {}).get("alerts", ())
        ]
    except (AttributeError, TypeError, ValueError) as exc:
        raise _malformed(exc) from None


def rules(data: Any) -> list[Rule]:
    try:
        return [
            Rule(
                group=str(group.get("name", "")),
                file=group.get("file"),
                name=str(raw.get("name", "")),
                type="alerting" if raw.get("type") == "alerting" else "recording",
                query=str(raw.get("query", "")),
                health=str(raw.get("health", "unknown")),
                last_error=raw.get("lastError") or None,
                state=raw.get("state"),
                duration_seconds=raw.get("duration"),
                labels=dict(raw.get("labels") or {}),
            )
            for group in (data or {}).get("groups", ())
            for raw in group.get("rules", ())
        ]
    except (AttributeError, TypeError, ValueError) as exc:
        raise _malformed(exc) from None


def targets(data: Any) -> list[Target]:
    try:
        return [
            Target(
                job=str(raw.get("scrapePool") or raw.get("labels", {}).get("job", "")),
                instance=str(raw.get("labels", {}).get("instance", "")),
                health=raw.get("health") if raw.get("health") in ("up", "down") else "unknown",
                scrape_url=str(raw.get("scrapeUrl", "")),
                last_error=raw.get("lastError") or None,
                last_scrape=raw.get("lastScrape"),
                last_scrape_duration_seconds=raw.get("lastScrapeDuration"),
                labels=dict(raw.get("labels", {})),
            )
            for raw in (data or {}).get("activeTargets", ())
        ]
    except (AttributeError, TypeError, ValueError) as exc:
        raise _malformed(exc) from None


def _sample(labels: dict[str, str], pair: Sequence[Any]) -> InstantSample:
    value, special = parse_value(pair[1])
    return InstantSample(labels=dict(labels), value=value, special=special, timestamp=iso(float(pair[0])))


def _malformed(exc: Exception) -> BackendFailed:
    return BackendFailed(
        f"The backend's answer has an unexpected shape ({type(exc).__name__}: {exc}); "
        "check that it implements the Prometheus HTTP API.",
        backend="-",
    )
