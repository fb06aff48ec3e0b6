"""The scenario format of SCENARIOS.md as pydantic models, and the loader that checks it.

Times in a scenario are Prometheus durations (`15s`, `5m`, `2h`, `1d`, `1h30m`): spans (`duration`, `step`) are
positive, instants (`at`, `until`, `from`, `starts_at`, `onset`) are 0 or negative, meaning
before now; the models keep them as integer seconds. Everything outside the contract is
rejected by `load_scenario` with a `ScenarioError` naming the file, the field (as
`series[2].effects[0].kind`) and the reason; every problem of a file is reported at once.

Two choices the contract leaves open: service names are unique within a scenario (events,
`depends_on`, `service` labels and the ground truth name services by name alone), and an event
may carry further fields than those modelled here; they are kept as its details.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, ValidationError, field_validator
from pydantic_core import ErrorDetails

from common.diagnostic_report import HYPOTHESIS_KINDS, HypothesisKind
from common.errors import InputError
from scenarios.checks import problems
from scenarios.templates import LogFormat, parse_template

__all__ = [
    "BUNDLED_DIR",
    "CANDIDATES_DIR",
    "DEFAULT_BUCKETS",
    "EVENT_TYPES",
    "ROOT_CAUSE_KINDS",
    "Alert",
    "Effect",
    "Event",
    "Expected",
    "Latency",
    "LogLine",
    "LogStream",
    "RootCause",
    "Scenario",
    "ScenarioError",
    "Series",
    "Service",
    "duration_text",
    "load_scenario",
    "load_scenarios",
    "parse_duration",
    "parse_scenario",
    "scenario_document",
]

#: The scenarios shipped with the project.
BUNDLED_DIR = Path(__file__).parent / "bundled"
#: Incidents triage is being taught: not yet in the bundled suite (nor held to its score).
CANDIDATES_DIR = Path(__file__).parent / "candidates"

EVENT_TYPES = ("deployment", "rollback", "config_change", "feature_flag", "scale", "restart", "infrastructure")
ROOT_CAUSE_KINDS = HYPOTHESIS_KINDS
#: Prometheus' client libraries' default buckets (seconds), for a histogram that names none.
DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# Prometheus' duration syntax: units largest first, each at most once (`1h30m`, not `30m1h`).
_DURATION = re.compile(r"^(-?)(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_UNITS = ("w", "d", "h", "m", "s")
_UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION_HINT = "a duration such as 15s, 5m, 2h, 1d or 1h30m"


def parse_duration(text: str) -> int:
    """A Prometheus duration (`15s`, `5m`, `2h`, `1d`, `1w`, compound `1h30m`, optionally
    negative) in seconds; ValueError otherwise."""
    match = _DURATION.match(text.strip())
    if match is None or not any(match.groups()[1:]):
        raise ValueError(f"expected {_DURATION_HINT} (units largest first, negative for before now), got {text!r}")
    seconds = sum(
        int(count) * _UNIT_SECONDS[unit] for unit, count in zip(_UNITS, match.groups()[1:], strict=True) if count
    )
    return -seconds if match.group(1) else seconds


def _duration_text(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected {_DURATION_HINT}, got {value!r}")
    return value


def _span(value: object) -> int:
    seconds = parse_duration(_duration_text(value))
    if seconds <= 0:
        raise ValueError(f"must be a positive duration such as 15s or 3h, got {value!r}")
    return seconds


def _instant(value: object) -> int:
    seconds = parse_duration(_duration_text(value))
    if seconds > 0:
        raise ValueError(f"must be 0 or negative (a time before now), such as -{value}, got {value!r}")
    return seconds


def _label_value(value: object) -> object:
    # `code: 200` is the most common slip; an integer label value is unambiguous.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def duration_text(seconds: int) -> str:
    """`seconds` as the duration a scenario file writes (`-90m` as `-1h30m`, `3h`, `0s`): the
    inverse of `parse_duration`, in Prometheus' compound form (weeks written as days)."""
    if seconds == 0:
        return "0s"
    sign = "-" if seconds < 0 else ""
    rest = abs(seconds)
    parts = []
    for unit in ("d", "h", "m", "s"):
        count, rest = divmod(rest, _UNIT_SECONDS[unit])
        if count:
            parts.append(f"{count}{unit}")
    return sign + "".join(parts)


# JSON dumps write durations back as text, so a dumped scenario parses again (`scenario_document`).
_AS_TEXT = PlainSerializer(duration_text, return_type=str, when_used="json")
Span = Annotated[int, BeforeValidator(_span), _AS_TEXT]
Instant = Annotated[int, BeforeValidator(_instant), _AS_TEXT]
Name = Annotated[str, Field(pattern=r"^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$")]
LabelName = Annotated[str, Field(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$")]
Labels = dict[LabelName, Annotated[str, BeforeValidator(_label_value)]]
Factor = Annotated[float, Field(ge=0)]
# A Kubernetes label (`app.kubernetes.io/name: checkout`), with the syntax Kubernetes accepts:
# an optional DNS-subdomain prefix and a name of at most 63 characters; a value of at most 63.
KubernetesLabels = dict[
    Annotated[
        str, Field(pattern=r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
    ],
    Annotated[str, BeforeValidator(_label_value), Field(pattern=r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")],
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Service(_Model):
    name: Name
    namespace: Name = "default"
    kind: Literal["deployment", "statefulset", "database", "queue", "external", "node"]
    version: str | None = None
    replicas: int | None = Field(default=None, ge=0, le=10_000)
    depends_on: list[str] = Field(default_factory=list)
    # What the control plane holds for the workload: its own labels and its pods' label selector.
    labels: KubernetesLabels = Field(default_factory=dict)
    selector: KubernetesLabels = Field(default_factory=dict)


class Effect(_Model):
    """step: `factor`/`latency_factor` from `at` (until `until`); spike: the same between `at`
    and `until`; ramp: linear from 1 at `at` to `to_factor`/`latency_factor` at `until` (default
    now), then holds."""

    at: Instant
    until: Instant | None = None
    kind: Literal["step", "spike", "ramp"]
    factor: Factor | None = None
    to_factor: Factor | None = None
    latency_factor: Annotated[float, Field(gt=0)] | None = None


class Latency(_Model):
    median_ms: Annotated[float, Field(gt=0)]
    p99_ms: Annotated[float, Field(gt=0)]


class Series(_Model):
    metric: Annotated[str, Field(pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")]
    type: Literal["counter", "gauge", "histogram", "summary"]
    labels: Labels = Field(default_factory=dict)
    baseline: Factor
    noise: Annotated[float, Field(ge=0, le=1)] = 0.0
    daily_amplitude: Annotated[float, Field(ge=0, lt=1)] = 0.0
    effects: list[Effect] = Field(default_factory=list)
    latency: Latency | None = None
    buckets: list[Annotated[float, Field(gt=0)]] | None = None
    quantiles: list[Annotated[float, Field(gt=0, lt=1)]] | None = None
    from_: Instant | None = Field(default=None, alias="from")
    until: Instant | None = None


class LogLine(_Model):
    template: Annotated[str, Field(min_length=1, max_length=4000)]
    rate: Annotated[float, Field(gt=0, le=1000)]
    from_: Instant | None = Field(default=None, alias="from")
    until: Instant | None = None

    @field_validator("template")
    @classmethod
    def _placeholders(cls, value: str) -> str:
        parse_template(value)
        return value


class LogStream(_Model):
    labels: Annotated[Labels, Field(min_length=1)]
    format: LogFormat = "plain"
    lines: Annotated[list[LogLine], Field(min_length=1)]


class Event(BaseModel):
    """A change in the control plane's history; fields beyond these are kept as its details."""

    model_config = ConfigDict(extra="allow", frozen=True)

    at: Instant
    type: Literal["deployment", "rollback", "config_change", "feature_flag", "scale", "restart", "infrastructure"]
    service: str | None = None
    actor: Annotated[str, Field(min_length=1, max_length=200)] = "scenario"
    summary: Annotated[str, Field(max_length=4000)] | None = None
    version: Annotated[str, Field(max_length=200)] | None = None
    status: str | None = None
    ref: str | None = None
    replicas: int | None = Field(default=None, ge=0, le=10_000)

    @property
    def details(self) -> dict[str, Any]:
        """Every field but those the control plane records on their own (at, type, service, actor, summary)."""
        known = {"version": self.version, "status": self.status, "ref": self.ref, "replicas": self.replicas}
        details = {key: value for key, value in known.items() if value is not None}
        details.update(self.model_extra or {})
        return details


class Alert(_Model):
    alertname: Annotated[str, Field(min_length=1, max_length=200)]
    labels: Labels = Field(default_factory=dict)
    starts_at: Instant
    ends_at: Instant | None = None
    summary: Annotated[str, Field(min_length=1, max_length=4000)]
    description: str | None = None
    runbook_url: str | None = None
    annotations: Labels = Field(default_factory=dict)


class RootCause(_Model):
    kind: HypothesisKind
    service: str | None = None
    ref: str | None = None


class Expected(_Model):
    root_cause: RootCause
    onset: Instant | None = None


class Scenario(_Model):
    name: Annotated[str, Field(pattern=r"^[a-z0-9-]+$", max_length=100)]
    description: str = ""
    seed: int
    duration: Span
    step: Span
    services: Annotated[list[Service], Field(min_length=1)]
    series: list[Series] = Field(default_factory=list)
    logs: list[LogStream] = Field(default_factory=list)
    events: list[Event] = Field(default_factory=list)
    alerts: list[Alert] = Field(default_factory=list)
    expected: Expected

    def service(self, name: str) -> Service:
        """The service named `name`; KeyError when there is none."""
        for service in self.services:
            if service.name == name:
                return service
        raise KeyError(name)


# --- loading ----------------------------------------------------------------------------------


class ScenarioError(InputError):
    """A scenario file breaks the format: `problems` holds `(field path, reason)` pairs."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        lines = [f"  {field}: {reason}" if field else f"  {reason}" for field, reason in problems]
        count = f"{len(problems)} problems" if len(problems) > 1 else "1 problem"
        super().__init__(f"{source} is not a valid scenario ({count}):\n" + "\n".join(lines))
        self.source = source
        self.problems = problems


def load_scenario(path: str | Path) -> Scenario:
    """Read and check one scenario file; ScenarioError (an InputError) names file, field and reason."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(source, [("", f"cannot be read: {exc}")]) from exc
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ScenarioError(source, [("", f"is not valid YAML: {_yaml_reason(exc)}")]) from exc
    return parse_scenario(data, source)


def parse_scenario(data: Any, source: str = "<scenario>") -> Scenario:
    """Check already parsed YAML (a mapping) as the scenario `source`."""
    if not isinstance(data, dict):
        raise ScenarioError(
            source, [("", f"must be a YAML mapping of the scenario's fields, got {type(data).__name__}")]
        )
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(source, [_problem(error) for error in exc.errors()]) from None
    found = problems(scenario)
    if found:
        raise ScenarioError(source, found)
    return scenario


def scenario_document(scenario: Scenario) -> dict[str, Any]:
    """The scenario as the mapping a YAML file holds: `parse_scenario` of it gives the scenario back."""
    document: dict[str, Any] = scenario.model_dump(mode="json", by_alias=True, exclude_none=True)
    return document


def load_scenarios(paths: Iterable[str | Path]) -> list[Scenario]:
    """Load files, and the `*.yaml`/`*.yml` files of directories (sorted); names must be unique."""
    scenarios: list[Scenario] = []
    seen: dict[str, Path] = {}
    for given in paths:
        path = Path(given)
        files = sorted([*path.glob("*.yaml"), *path.glob("*.yml")]) if path.is_dir() else [path]
        for file in files:
            scenario = load_scenario(file)
            if scenario.name in seen:
                reason = f"{scenario.name!r} is already the name of the scenario in {seen[scenario.name]}"
                raise ScenarioError(str(file), [("name", reason)])
            seen[scenario.name] = file
            scenarios.append(scenario)
    return scenarios


class _StrictLoader(yaml.SafeLoader):
    """Safe YAML that rejects a key given twice (PyYAML would keep the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping


def _yaml_reason(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}" if mark is not None else problem


def _problem(error: ErrorDetails) -> tuple[str, str]:
    loc = error["loc"]
    field = _field_path(loc)
    kind = error["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_fields(loc[:-1])
        hint = f" (allowed: {', '.join(allowed)})" if allowed else ""
        return field, f"unknown field{hint}"
    if kind == "missing":
        return field, "is required"
    reason = error["msg"].removeprefix("Value error, ")
    if kind in ("literal_error", "string_pattern_mismatch", "greater_than", "less_than_equal", "too_short"):
        reason += f", got {error.get('input')!r}"
    if kind == "string_type":
        reason += " (quote the value in YAML)"
    return field, reason


def _field_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part == "[key]":
            path += " (the key)"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", part):
            path += f".{part}" if path else part
        else:
            path += f"[{part!r}]"
    return path


def _allowed_fields(loc: tuple[int | str, ...]) -> list[str]:
    model: type[BaseModel] | None = Scenario
    for part in loc:
        if isinstance(part, int) or model is None:
            continue
        fields = {field.alias or name: field for name, field in model.model_fields.items()}
        model = _model_in(fields[part].annotation) if part in fields else None
    if model is None:
        return []
    return [field.alias or name for name, field in model.model_fields.items()]


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is not None:
        for argument in typing.get_args(annotation):
            found = _model_in(argument)
            if found is not None:
                return found
    return None
