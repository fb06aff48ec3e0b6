"""The rules of the scenario format that span fields: what one field says about another.

`problems(scenario)` answers every rule broken as `(field path, reason)` pairs; the pydantic
models check each field on its own first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scenarios.spec import Effect, Scenario, Series

__all__ = ["MAX_LOG_LINES", "MAX_POINTS", "problems"]

#: Bounds that keep a typo (`step: 1s` over `duration: 30d`) from generating without end.
MAX_POINTS = 50_000
MAX_LOG_LINES = 2_000_000

Problem = tuple[str, str]


def problems(scenario: Scenario) -> list[Problem]:
    found: list[Problem] = []
    names = [service.name for service in scenario.services]
    known = ", ".join(names)
    if scenario.step > scenario.duration:
        found.append(("step", "must not be longer than `duration`"))
    elif scenario.duration // scenario.step + 1 > MAX_POINTS:
        found.append(("step", f"gives more than {MAX_POINTS} points per series over `duration`; use a longer step"))
    for i, service in enumerate(scenario.services):
        if names.index(service.name) != i:
            found.append(
                (
                    f"services[{i}].name",
                    f"{service.name!r} is already the name of services[{names.index(service.name)}]",
                )
            )
        for j, dependency in enumerate(service.depends_on):
            target = dependency.rpartition("/")[2]
            if target == service.name:
                found.append((f"services[{i}].depends_on[{j}]", "a service cannot depend on itself"))
            elif target not in names:
                found.append(
                    (f"services[{i}].depends_on[{j}]", f"{dependency!r} is not a service of the scenario ({known})")
                )
    found.extend(_series_problems(scenario, names))
    found.extend(_log_problems(scenario, names))
    for i, event in enumerate(scenario.events):
        where = f"events[{i}]"
        if event.service is not None and event.service not in names:
            found.append((f"{where}.service", f"{event.service!r} is not a service of the scenario ({known})"))
        if event.type in ("deployment", "rollback"):
            if event.service is None:
                found.append((f"{where}.service", f"a {event.type} needs the service it changed"))
            if event.version is None:
                found.append((f"{where}.version", f"a {event.type} needs the version it deployed"))
            statuses = ("pending", "running", "succeeded", "failed", "rolled_back")
            if event.status is not None and event.status not in statuses:
                found.append((f"{where}.status", f"must be one of {', '.join(statuses)}, got {event.status!r}"))
        for key in event.model_extra or {}:
            if not key.isidentifier() or not key.islower():
                found.append((f"{where}.{key}", "an event's further fields need lower-case names like `ref` or `from`"))
    for i, alert in enumerate(scenario.alerts):
        if "alertname" in alert.labels:
            found.append((f"alerts[{i}].labels.alertname", "give the name as `alertname`, not as a label"))
        alerted = alert.labels.get("service")
        if alerted is not None and alerted not in names:
            found.append((f"alerts[{i}].labels.service", f"{alerted!r} is not a service of the scenario ({known})"))
        if alert.ends_at is not None and alert.ends_at <= alert.starts_at:
            found.append((f"alerts[{i}].ends_at", "must be after `starts_at`"))
    cause = scenario.expected.root_cause
    if cause.service is not None and cause.service not in names:
        found.append(("expected.root_cause.service", f"{cause.service!r} is not a service of the scenario ({known})"))
    if cause.kind != "unknown":
        if cause.service is None:
            found.append(("expected.root_cause.service", f"a root cause of kind {cause.kind} needs the service"))
        if scenario.expected.onset is None:
            found.append(("expected.onset", f"a root cause of kind {cause.kind} needs the onset"))
    return found


def _series_problems(scenario: Scenario, names: list[str]) -> list[Problem]:
    found: list[Problem] = []
    identities: dict[tuple[str, tuple[tuple[str, str], ...]], int] = {}
    families: dict[str, tuple[str, int]] = {}
    for i, series in enumerate(scenario.series):
        where = f"series[{i}]"
        identity = (series.metric, tuple(sorted(series.labels.items())))
        if identity in identities:
            found.append((where, f"has the metric and labels of series[{identities[identity]}]"))
        identities.setdefault(identity, i)
        family = series.metric.removesuffix("_total") if series.type == "counter" else series.metric
        # A counter named without `_total` is its own family (samples.py writes it as OpenMetrics' `unknown`):
        # `x` and `x_total` side by side would be one family written twice.
        kind = "counter without _total" if family == series.metric and series.type == "counter" else series.type
        other = families.setdefault(family, (kind, i))
        if other[0] != kind:
            found.append((f"{where}.type", f"{series.metric} is a {other[0]} in series[{other[1]}]"))
        if series.type in ("histogram", "summary"):
            found.extend(_distribution_problems(where, series))
        elif series.latency is not None:
            found.append((f"{where}.latency", f"only a histogram or summary has `latency`, not a {series.type}"))
        if series.type != "histogram" and series.buckets is not None:
            found.append((f"{where}.buckets", f"only a histogram has `buckets`, not a {series.type}"))
        if series.type != "summary" and series.quantiles is not None:
            found.append((f"{where}.quantiles", f"only a summary has `quantiles`, not a {series.type}"))
        for name in series.labels:
            if name.startswith("__"):
                found.append((f"{where}.labels.{name}", "names starting with __ are reserved to Prometheus"))
        service = series.labels.get("service")
        if service is not None and service not in names:
            found.append((f"{where}.labels.service", f"{service!r} is not a service of the scenario"))
        found.extend(_window_problems(where, series.from_, series.until))
        for j, effect in enumerate(series.effects):
            found.extend(_effect_problems(f"{where}.effects[{j}]", effect, series))
    return found


def _distribution_problems(where: str, series: Series) -> list[Problem]:
    """A histogram's or summary's: both observe a latency and add their own suffixes and label."""
    found: list[Problem] = []
    if series.latency is None:
        found.append((f"{where}.latency", f"a {series.type} needs `latency: {{median_ms: ..., p99_ms: ...}}`"))
    elif series.latency.p99_ms <= series.latency.median_ms:
        found.append((f"{where}.latency.p99_ms", "must be greater than `median_ms`"))
    if series.buckets is not None and (
        not series.buckets or any(b <= a for a, b in zip(series.buckets, series.buckets[1:], strict=False))
    ):
        found.append((f"{where}.buckets", "must be a non-empty list of strictly increasing upper bounds (seconds)"))
    if series.quantiles is not None and any(
        b <= a for a, b in zip(series.quantiles, series.quantiles[1:], strict=False)
    ):
        found.append((f"{where}.quantiles", "must be strictly increasing, such as [0.5, 0.9, 0.99]"))
    added = "le" if series.type == "histogram" else "quantile"
    if added in series.labels:
        found.append((f"{where}.labels.{added}", f"`{added}` is the label the {series.type} adds itself"))
    for suffix in ("_bucket", "_sum", "_count", "_total"):
        if series.metric.endswith(suffix):
            found.append((f"{where}.metric", f"name the {series.type} without the {suffix} suffix"))
    return found


def _effect_problems(where: str, effect: Effect, series: Series) -> list[Problem]:
    found: list[Problem] = []
    if effect.kind == "ramp":
        if effect.factor is not None:
            found.append((f"{where}.factor", "a ramp goes to `to_factor`; `factor` is for step and spike"))
        if effect.to_factor is None and effect.latency_factor is None:
            found.append((f"{where}.to_factor", "a ramp needs `to_factor` or `latency_factor`"))
    else:
        if effect.to_factor is not None:
            found.append((f"{where}.to_factor", f"`to_factor` is for a ramp; a {effect.kind} takes `factor`"))
        if effect.factor is None and effect.latency_factor is None:
            found.append((f"{where}.factor", f"a {effect.kind} needs `factor` or `latency_factor`"))
    if effect.kind == "spike" and effect.until is None:
        found.append((f"{where}.until", "a spike needs `until`"))
    end = effect.until if effect.until is not None else (0 if effect.kind == "ramp" else None)
    if end is not None and end <= effect.at:
        found.append(
            (
                f"{where}.until",
                "must be after `at`"
                if effect.until is not None
                else "a ramp ends at now by default: `at` must be before",
            )
        )
    if effect.latency_factor is not None and series.type not in ("histogram", "summary"):
        found.append((f"{where}.latency_factor", f"only a histogram or summary has a latency, not a {series.type}"))
    return found


def _log_problems(scenario: Scenario, names: list[str]) -> list[Problem]:
    found: list[Problem] = []
    total = 0.0
    for i, stream in enumerate(scenario.logs):
        service = stream.labels.get("service")
        if service is not None and service not in names:
            found.append((f"logs[{i}].labels.service", f"{service!r} is not a service of the scenario"))
        for j, line in enumerate(stream.lines):
            found.extend(_window_problems(f"logs[{i}].lines[{j}]", line.from_, line.until))
            start = max(-scenario.duration, line.from_ if line.from_ is not None else -scenario.duration)
            end = line.until if line.until is not None else 0
            total += line.rate * max(0, end - start)
            if total > MAX_LOG_LINES:
                found.append(
                    (f"logs[{i}].lines[{j}].rate", f"the scenario's logs exceed {MAX_LOG_LINES} lines; lower the rates")
                )
                return found
    return found


def _window_problems(where: str, start: int | None, end: int | None) -> list[Problem]:
    if start is not None and end is not None and end <= start:
        return [(f"{where}.until", "must be after `from`")]
    return []
