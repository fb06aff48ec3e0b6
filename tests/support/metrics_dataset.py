"""A deterministic metrics history whose every value is known, for exact assertions.

``build_dataset(end)`` covers ``start = end - 10800`` .. ``end`` (3 hours) at ``step = 60``:
181 points per series, point ``i`` at ``start + 60 * i`` (``i = 0 .. 180``). ``end`` must be a
unix second aligned to 60; callers pass ``int(time.time()) // 60 * 60``.
``split_at = end - 1800`` starts the recent 30 minutes: it is point ``i = 150``. "Before
split_at" means ``i < 150``, "from split_at on" means ``i >= 150``.

Series and their values:

gauge ``node_cpu_utilisation{service, instance}``
    - ``service="checkout", instance="checkout-1"``: 0.30 before split_at, 0.90 from split_at on
      (a clear step up).
    - ``service="cart", instance="cart-1"``: 0.40 everywhere.
    - ``service="search", instance="search-1"``: 0.50 at even ``i``, 0.52 at odd ``i``
      (noise without a change; 0.50 at ``end``).
    - ``service="payments", instance="payments-1"``: 0.60 before split_at, 0.45 from split_at on
      (a step down, smaller than checkout's).

counter ``http_requests_total{service, code}``
    - ``checkout/200``: ``60 * i`` (rate 1/s; 10800 at ``end``).
    - ``checkout/500``: ``30 * max(0, i - 150)``: 0 up to and including split_at, then +30 per point
      (rate 0.5/s over any window after split_at; 900 at ``end``).
    - ``cart/200``: ``120 * i`` (rate 2/s; 21600 at ``end``).

gauge ``queue_depth{queue="orders"}``: ``i`` (0 .. 180; 180 at ``end``).

gauge ``tenant_info{tenant=ODD_TENANT}``: 1 everywhere. ``ODD_TENANT`` is ``a"}or vector(1)``: a
quote, a brace and spaces, to prove label values are escaped on the way in and out.

Two renderings of the same samples: ``openmetrics()`` (timestamps in seconds, for
``promtool tsdb create-blocks-from openmetrics``) and ``prometheus_import_text()`` (timestamps in
milliseconds, for VictoriaMetrics ``/api/v1/import/prometheus``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "HISTORY_SECONDS",
    "ODD_TENANT",
    "POINTS",
    "RECENT_SECONDS",
    "STEP",
    "Dataset",
    "Series",
    "build_dataset",
    "escape_label_value",
]

STEP = 60
HISTORY_SECONDS = 3 * 3600
RECENT_SECONDS = 30 * 60
POINTS = HISTORY_SECONDS // STEP + 1
ODD_TENANT = 'a"}or vector(1)'

_SPLIT_INDEX = (HISTORY_SECONDS - RECENT_SECONDS) // STEP

Kind = Literal["gauge", "counter"]


@dataclass(frozen=True)
class Series:
    name: str
    labels: dict[str, str]
    kind: Kind
    points: list[tuple[int, float]]

    def value_at(self, timestamp: int) -> float:
        """The sample at exactly ``timestamp``; KeyError when there is none."""
        for ts, value in self.points:
            if ts == timestamp:
                return value
        raise KeyError(timestamp)


@dataclass(frozen=True)
class Dataset:
    start: int
    end: int
    series: list[Series]
    step: int = STEP
    split_at: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "split_at", self.end - RECENT_SECONDS)

    def find(self, name: str, **labels: str) -> Series:
        """The one series named ``name`` whose labels include ``labels``."""
        matches = [s for s in self.series if s.name == name and labels.items() <= s.labels.items()]
        if len(matches) != 1:
            raise LookupError(f"{len(matches)} series match {name} {labels}, expected exactly one.")
        return matches[0]

    def openmetrics(self) -> str:
        # OpenMetrics names a counter family without its `_total` suffix; promtool then expects
        # the samples to carry it.
        def family(name: str, kind: Kind) -> str:
            return name.removesuffix("_total") if kind == "counter" else name

        lines = list(self._render(family, timestamp=str))
        lines.append("# EOF")
        return "\n".join(lines) + "\n"

    def prometheus_import_text(self) -> str:
        lines = self._render(lambda name, _kind: name, timestamp=lambda ts: str(ts * 1000))
        return "\n".join(lines) + "\n"

    def _render(self, family: Callable[[str, Kind], str], timestamp: Callable[[int], str]) -> Iterator[str]:
        # Both formats require one family's samples to be contiguous, so group by name while
        # keeping first-seen order.
        names = list(dict.fromkeys(s.name for s in self.series))
        for name in names:
            members = [s for s in self.series if s.name == name]
            yield f"# TYPE {family(name, members[0].kind)} {members[0].kind}"
            for series in members:
                selector = name + _format_labels(series.labels)
                for ts, value in series.points:
                    yield f"{selector} {value!r} {timestamp(ts)}"


def escape_label_value(value: str) -> str:
    """Escape a label value for the text formats and for a PromQL double-quoted string."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _format_labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{escape_label_value(v)}"' for k, v in labels.items()) + "}"


def build_dataset(end: int) -> Dataset:
    if end % STEP:
        raise ValueError(f"end must be aligned to {STEP} seconds, got {end}.")
    start = end - HISTORY_SECONDS
    timestamps = [start + STEP * i for i in range(POINTS)]

    def series(name: str, kind: Kind, labels: dict[str, str], value: Callable[[int], float]) -> Series:
        return Series(name, labels, kind, [(ts, float(value(i))) for i, ts in enumerate(timestamps)])

    def step_at_split(before: float, after: float) -> Callable[[int], float]:
        return lambda i: before if i < _SPLIT_INDEX else after

    cpu = "node_cpu_utilisation"
    requests = "http_requests_total"
    return Dataset(
        start=start,
        end=end,
        series=[
            series(cpu, "gauge", {"service": "checkout", "instance": "checkout-1"}, step_at_split(0.30, 0.90)),
            series(cpu, "gauge", {"service": "cart", "instance": "cart-1"}, lambda i: 0.40),
            series(cpu, "gauge", {"service": "search", "instance": "search-1"}, lambda i: 0.50 if i % 2 == 0 else 0.52),
            series(cpu, "gauge", {"service": "payments", "instance": "payments-1"}, step_at_split(0.60, 0.45)),
            series(requests, "counter", {"service": "checkout", "code": "200"}, lambda i: 60 * i),
            series(
                requests, "counter", {"service": "checkout", "code": "500"}, lambda i: 30 * max(0, i - _SPLIT_INDEX)
            ),
            series(requests, "counter", {"service": "cart", "code": "200"}, lambda i: 120 * i),
            series("queue_depth", "gauge", {"queue": "orders"}, lambda i: i),
            series("tenant_info", "gauge", {"tenant": ODD_TENANT}, lambda i: 1),
        ],
    )
