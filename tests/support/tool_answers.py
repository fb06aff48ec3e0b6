"""The structured answers of the MCP tools the investigation readers call, for fakes that stand in for a server."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["found_resources", "names_listed", "range_result", "range_series", "series_found"]


def _bounds(count: int) -> dict[str, Any]:
    return {"returned": count, "total": count, "truncated": False}


def found_resources(matches: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """controlplane_find_resource's answer: `matches` best first, no dependencies or dependents."""
    return {
        "matches": list(matches),
        "resource": matches[0] if matches else None,
        "dependencies": [],
        "dependents": [],
        **_bounds(len(matches)),
    }


def names_listed(names: Sequence[str]) -> dict[str, Any]:
    """prometheus_list_labels' answer listing the metric names `names` (the values of `__name__`)."""
    return {"backend": "p", "label": "__name__", "values": sorted(names), **_bounds(len(names))}


def series_found(series: Sequence[dict[str, str]]) -> dict[str, Any]:
    """prometheus_find_series' answer: the label sets."""
    return {"backend": "p", "selector": "x", "series": list(series), **_bounds(len(series))}


def range_series(labels: dict[str, str], points: Sequence[tuple[float, float]]) -> dict[str, Any]:
    """One series of prometheus_query_range's answer, in points detail."""
    values = [v for _, v in points]
    summary = {
        "points": len(points),
        "non_finite": 0,
        "min": min(values, default=None),
        "max": max(values, default=None),
        "mean": sum(values) / len(values) if values else None,
        "first": values[0] if values else None,
        "last": values[-1] if values else None,
        "trend_per_second": 0.0,
    }
    return {"labels": labels, "summary": summary, "points": [list(p) for p in points]}


def range_result(query: str, series: Sequence[dict[str, Any]], *, step: float) -> dict[str, Any]:
    """prometheus_query_range's answer holding `series` (each from `range_series`)."""
    return {
        "backend": "p",
        "query": query,
        "start": "a",
        "end": "b",
        "step_seconds": step,
        "detail": "points",
        "series": list(series),
        **_bounds(len(series)),
    }
