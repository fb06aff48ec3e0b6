"""Loaded scenarios kept live: each one's data goes on being written as its own clock runs, until released.

    live = LiveScenarios(targets)
    tg.start_soon(live.keep)                       # every `interval` seconds, what fell due since
    report = await load_scenario_into(scenario, now, targets, ahead=HORIZON)
    live.add(run_id, scenario, report)             # its clock runs from its load's `now`
    await live.catch_up(run_id)                    # its data to this second, before it is paged
    live.release(run_id)                           # its investigation is over

A scenario's history ends at the `now` it was loaded with. A drill (`sre scenario run
--concurrency`) loads every scenario before it pages any, and loads take seconds to minutes on a
busy machine, so without this a page would come minutes after its data stops: the window triage
reads would end in repeated last samples and, past Prometheus' 5-minute look-back, in nothing,
and an ongoing incident would look like one that ended (the score fell with the loads' length).
A real outage goes on while its pages wait, so the scenario does: its metric samples and log
lines after `now` are the same generator carried on (`scenarios.samples`, `scenarios.logs` with
`until`: effects in force hold, counters keep counting, the noise and the Poisson arrivals go on),
written to the targets it was loaded into as real time reaches them. The scenario's clock stays
anchored at its load, so its ground truth (onset, change times) is unchanged. Control-plane rows
and alerts are events of the past and need nothing more.

The data past `now` is generated with the load (`ahead`), since generating a scenario costs about
a second of CPU; when real time passes its end, the scenario is generated again to twice as far,
in a worker thread. A write that fails is logged once per scenario and tried again on the next
tick; it never stops the drill.
"""

from __future__ import annotations

import bisect
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial

import anyio

from common.errors import BackendError
from scenarios.load import Ahead, LoadReport, Targets, carried_on, push_logs, write_samples
from scenarios.samples import SampleSeries
from scenarios.spec import Scenario
from servers.loki_mcp.models import PushStream

__all__ = ["DEFAULT_INTERVAL", "HORIZON", "LiveScenarios"]

logger = logging.getLogger(__name__)

#: How far past its load a scenario is generated at first: a drill of the bundled suite pages its last
#: scenario within a few minutes of its load, then takes a minute or two to investigate it.
HORIZON = timedelta(minutes=15)
#: Seconds between writes: below the bundled scenarios' 15 s step, so a sample is written within a few
#: seconds of its time, and log lines come in a steady trickle rather than once a step.
DEFAULT_INTERVAL = 5.0


@dataclass
class _Clock:
    """One live scenario: what was generated past its load, and how far of it was written."""

    scenario: Scenario
    now: datetime
    ahead: Ahead
    written_ms: int
    written_ns: int
    lock: anyio.Lock = field(default_factory=anyio.Lock)
    failing: bool = False


class LiveScenarios:
    """Scenarios whose data is written as real time reaches it, each from its load until `release`."""

    def __init__(self, targets: Targets, *, interval: float = DEFAULT_INTERVAL) -> None:
        self._targets = targets
        self._interval = interval
        self._logs = targets.loki is not None or targets.loki_push_url is not None
        self._clocks: dict[str, _Clock] = {}

    def add(self, key: str, scenario: Scenario, loaded: LoadReport) -> None:
        """Keep `scenario` (loaded as `loaded`, with `ahead`) live under `key`. Raises ValueError when the
        load generated nothing past its `now`."""
        if loaded.ahead is None:
            raise ValueError(f"{scenario.name} was loaded without `ahead`: nothing past its history to write.")
        now_ms = round(loaded.now.timestamp() * 1000)
        self._clocks[key] = _Clock(scenario, loaded.now, loaded.ahead, now_ms, now_ms * 1_000_000)

    def release(self, key: str) -> None:
        """Stop writing `key`'s data (unknown keys are ignored)."""
        self._clocks.pop(key, None)

    async def keep(self) -> None:
        """Every `interval` seconds, write what fell due for every live scenario; runs until cancelled."""
        while True:
            await anyio.sleep(self._interval)
            for key in list(self._clocks):
                await self.catch_up(key)

    async def catch_up(self, key: str) -> None:
        """Write `key`'s samples and log lines up to this instant (nothing once released)."""
        clock = self._clocks.get(key)
        if clock is None:
            return
        async with clock.lock:
            at = datetime.now(UTC)
            if at > clock.ahead.until:
                await self._extend(clock, at)
            at_ms = round(at.timestamp() * 1000)
            samples = _due_samples(clock.ahead.samples, clock.written_ms, at_ms)
            lines = _due_lines(clock.ahead.lines, clock.written_ns, at_ms * 1_000_000)
            try:
                if samples:
                    await write_samples(self._targets, samples)
                clock.written_ms = at_ms
                if lines:
                    await push_logs(self._targets, lines)
                clock.written_ns = at_ms * 1_000_000
            except BackendError as exc:
                if not clock.failing:
                    logger.warning(
                        "Scenario %s's data after %s could not be written (%s); its investigation reads data "
                        "that stops there until a write passes.",
                        clock.scenario.name,
                        datetime.fromtimestamp(clock.written_ms / 1000, UTC).isoformat(),
                        exc,
                    )
                clock.failing = True
                return
            if clock.failing:
                logger.info("Scenario %s's live data is written again.", clock.scenario.name)
            clock.failing = False

    async def _extend(self, clock: _Clock, at: datetime) -> None:
        """Generate `clock`'s scenario to twice as far past its load (at least to `at` and a horizon on)."""
        span = max(2 * (clock.ahead.until - clock.now), at - clock.now + HORIZON)
        logger.info("Scenario %s is still live: generating it to %s past its load", clock.scenario.name, span)
        work = partial(carried_on, clock.scenario, clock.now, clock.now + span, logs=self._logs)
        _, clock.ahead = await anyio.to_thread.run_sync(work)


def _due_samples(ahead: list[SampleSeries], after_ms: int, until_ms: int) -> list[SampleSeries]:
    due = []
    for series in ahead:
        first = bisect.bisect_right(series.points, after_ms, key=lambda point: point[0])
        last = bisect.bisect_right(series.points, until_ms, key=lambda point: point[0])
        if first < last:
            due.append(SampleSeries(series.family, series.type, series.name, series.labels, series.points[first:last]))
    return due


def _due_lines(ahead: list[PushStream], after_ns: int, until_ns: int) -> list[PushStream]:
    due = []
    for stream in ahead:
        first = bisect.bisect_right(stream.entries, after_ns, key=lambda entry: entry.timestamp_ns)
        last = bisect.bisect_right(stream.entries, until_ns, key=lambda entry: entry.timestamp_ns)
        if first < last:
            due.append(PushStream(stream.labels, stream.entries[first:last]))
    return due
