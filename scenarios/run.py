"""The eval harness: scenarios loaded, investigated by the platform, and scored (SCENARIOS.md).

    summary = await run_scenarios(scenarios, targets, tokens, router_url="http://127.0.0.1:8720")
    summary.totals    # {"scenarios": 13, "hit_at_1": 0.92, ...}

Each scenario is isolated first (`scenarios.isolation`: namespaces of its own, so runs never
read each other's data), loaded into `targets` with `now` the moment of its load, and then:

- by default its Alertmanager payloads are posted, one per alert group as Alertmanager would,
  to the router's `POST /webhooks/alertmanager` (202 with the tasks it started), and each
  task is polled at `GET /tasks/<id>` until it ends. The report of the first payload (the
  primary page) is scored, or of the first the router investigates when it passes over the
  first (a resolved group); the others are waited for, not scored. Latency runs from posting
  the first payload to seeing the scored task end;
- with `direct=True` the first payload goes as an A2A data message straight to the `triage`
  agent (at `triage_url`, else where the registry says), and latency runs from sending it to
  the final task.

Calls to the router and agents carry tokens of the caller's own client (`tokens`, scope
`agents:invoke`). A scenario that fails to load, or gets no report in `report_timeout` seconds, is a
result with its `error`; the run goes on with the next. When the router (or the agent, or the
registry) cannot be reached at all, no scenario is loaded: each result says so.

By default (`concurrency=1`) scenarios run one after another: a load writing while another
investigation reads would make latencies depend on the order of the suite. With `concurrency=N`
(a drill of an outage that pages many teams at once) every scenario is loaded first, in turn,
each in namespaces of its own (run ids distinct within the run), and then their alert groups are
posted N scenarios at a time, the next starting as one ends; each report is scored as above and
`on_result` sees the results as they end. The latency then includes the time the federation kept
the page waiting behind the others. A scenario's history ends when it was loaded, and it is paged
as long after that as the loads after it and the pages before it took (minutes on a busy machine),
so each scenario stays live from its load until its report (`scenarios.live`): its data goes on
being written as its own clock runs, and is caught up to the second just before its first page.
Triage then reads an outage still going on, as a real one is while its pages wait, not data that
stopped minutes ago (which, past Prometheus' 5-minute look-back, reads as no data at all). The
scenario's clock stays anchored at its load, so its ground truth is the same. Pages are still
posted together once every scenario is loaded. In turn (`concurrency=1`) a scenario is paged
within a second of its load and nothing is kept live.

`clock` gives the `now` each scenario is loaded with (the wall clock); a clock behind it stands for
loads that took that much longer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import anyio
import httpx

from common.errors import SreError
from common.http import create_http_client
from common.settings import DEFAULT_REGISTRY_URL
from scenarios.investigation import DEFAULT_ROUTER_URL, POLL_INTERVAL, Investigation, NoReport
from scenarios.isolation import isolated, new_run_id
from scenarios.live import HORIZON, LiveScenarios
from scenarios.load import Targets, load_scenario_into
from scenarios.records import GroundTruth, expected
from scenarios.score import Score, expects_change, score, top_hypothesis, totals
from scenarios.spec import Scenario

if TYPE_CHECKING:
    from common.auth import TokenSource

__all__ = [
    "DEFAULT_ROUTER_URL",
    "DEFAULT_TIMEOUT",
    "POLL_INTERVAL",
    "RunSummary",
    "ScenarioResult",
    "run_scenarios",
]

logger = logging.getLogger(__name__)

#: Seconds a scenario's investigation may take, from the first payload to its report.
DEFAULT_TIMEOUT = 120.0
_HTTP_TIMEOUT = 30.0


@dataclass(frozen=True)
class ScenarioResult:
    """One scenario's run: its truth, the report (None when none came) and how it scored."""

    name: str
    run_id: str
    expected: GroundTruth
    score: Score
    report: dict[str, Any] | None = None
    latency_s: float | None = None
    error: str | None = None

    @property
    def top(self) -> dict[str, Any] | None:
        """The top hypothesis: kind, resource, namespace, ref, confidence (None without one)."""
        hypothesis = top_hypothesis(self.report)
        if hypothesis is None:
            return None
        target = hypothesis.get("target")
        target = target if isinstance(target, dict) else {}
        return {
            "kind": hypothesis.get("kind"),
            "resource": target.get("resource"),
            "namespace": target.get("namespace"),
            "ref": target.get("ref"),
            "confidence": hypothesis.get("confidence"),
        }

    @property
    def report_id(self) -> str | None:
        value = self.report.get("id") if self.report is not None else None
        return value if isinstance(value, str) else None

    def to_json(self) -> dict[str, Any]:
        """The line `sre scenario run --json` prints for the scenario."""
        truth = self.expected
        onset_error = self.score.onset_error_minutes
        return {
            "name": self.name,
            "run_id": self.run_id,
            "expected": {
                "kind": truth.kind,
                "service": truth.service,
                "namespace": truth.namespace,
                "ref": truth.ref,
                "onset": truth.onset.isoformat() if truth.onset is not None else None,
            },
            "top": self.top,
            "hit_at_1": self.score.hit_at_1,
            "hit_at_3": self.score.hit_at_3,
            "onset_error_minutes": round(onset_error, 2) if onset_error is not None else None,
            "change_found": self.score.change_found,
            "latency_s": round(self.latency_s, 3) if self.latency_s is not None else None,
            "report_id": self.report_id,
            "error": self.error,
        }


@dataclass(frozen=True)
class RunSummary:
    results: list[ScenarioResult]
    totals: dict[str, Any]
    wall_time_s: float

    @property
    def ok(self) -> bool:
        """Every scenario produced a report, whatever its score."""
        return all(result.report is not None for result in self.results)


@dataclass(frozen=True)
class _Loaded:
    """A scenario loaded in namespaces of its own, its alert groups ready to post."""

    name: str
    run_id: str
    truth: GroundTruth
    change_expected: bool
    alerts: list[dict[str, Any]]


async def run_scenarios(
    scenarios: Sequence[Scenario],
    targets: Targets,
    tokens: TokenSource,
    *,
    router_url: str = DEFAULT_ROUTER_URL,
    direct: bool = False,
    triage_url: str | None = None,
    registry_url: str = DEFAULT_REGISTRY_URL,
    report_timeout: float = DEFAULT_TIMEOUT,
    poll_interval: float = POLL_INTERVAL,
    concurrency: int = 1,
    on_result: Callable[[ScenarioResult], None] | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> RunSummary:
    """Load, investigate and score each scenario, in turn or (`concurrency` > 1) all loaded first and then
    investigated `concurrency` at a time; `on_result` sees each result as it comes. The summary lists the
    results in the order of `scenarios`. Raises ValueError when `concurrency` is below 1."""
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, got {concurrency}.")
    started = time.perf_counter()
    investigate = Investigation(
        tokens,
        router_url=router_url.rstrip("/"),
        direct=direct,
        triage_url=triage_url.rstrip("/") if triage_url else None,
        registry_url=registry_url.rstrip("/"),
        report_timeout=report_timeout,
        poll_interval=poll_interval,
    )
    results: list[ScenarioResult | None] = [None] * len(scenarios)

    def done(index: int, result: ScenarioResult) -> None:
        results[index] = result
        if on_result is not None:
            on_result(result)

    run_ids = _RunIds()
    # Each page in flight holds one connection at a time (it posts, then polls its task).
    async with create_http_client(timeout=_HTTP_TIMEOUT, attempts=1, max_connections=max(50, concurrency)) as http:
        unreachable = await investigate.unreachable(http)
        if unreachable is not None:
            for index, scenario in enumerate(scenarios):
                done(index, _failed(scenario, run_ids.new(), unreachable))
        elif concurrency == 1:
            for index, scenario in enumerate(scenarios):
                loaded = await _load(scenario, targets, run_ids.new(), clock())
                done(
                    index,
                    loaded if isinstance(loaded, ScenarioResult) else await _investigate(loaded, investigate, http),
                )
        else:
            await _drill(scenarios, targets, investigate, http, concurrency, run_ids, done, clock)
    finished = [result for result in results if result is not None]
    latencies = [r.latency_s for r in finished if r.report is not None and r.latency_s is not None]
    return RunSummary(finished, totals([r.score for r in finished], latencies), time.perf_counter() - started)


async def _drill(
    scenarios: Sequence[Scenario],
    targets: Targets,
    investigate: Investigation,
    http: httpx.AsyncClient,
    concurrency: int,
    run_ids: _RunIds,
    done: Callable[[int, ScenarioResult], None],
    clock: Callable[[], datetime],
) -> None:
    """Every scenario loaded first, then their pages investigated `concurrency` at a time, each scenario
    live from its load to its report."""
    live = LiveScenarios(targets)
    async with anyio.create_task_group() as keeper:
        keeper.start_soon(live.keep)
        ready: list[tuple[int, _Loaded]] = []
        for index, scenario in enumerate(scenarios):
            loaded = await _load(scenario, targets, run_ids.new(), clock(), live)
            if isinstance(loaded, ScenarioResult):
                done(index, loaded)
            else:
                ready.append((index, loaded))
        logger.info("%d scenarios loaded; investigating them %d at a time", len(ready), concurrency)
        limiter = anyio.CapacityLimiter(concurrency)

        async def one(index: int, loaded: _Loaded) -> None:
            async with limiter:
                await live.catch_up(loaded.run_id)
                result = await _investigate(loaded, investigate, http)
            live.release(loaded.run_id)
            done(index, result)

        async with anyio.create_task_group() as group:
            for index, loaded in ready:
                group.start_soon(one, index, loaded)
        keeper.cancel_scope.cancel()


class _RunIds:
    """Run ids distinct within one run: two scenarios loaded side by side never share namespaces."""

    def __init__(self) -> None:
        self._given: set[str] = set()

    def new(self) -> str:
        run_id = new_run_id()
        while run_id in self._given:
            run_id = new_run_id()
        self._given.add(run_id)
        return run_id


def _failed(scenario: Scenario, run_id: str, error: str) -> ScenarioResult:
    """A scenario that was not loaded."""
    truth = expected(scenario, datetime.now(UTC).replace(microsecond=0))
    change_expected = expects_change(scenario)
    return ScenarioResult(
        scenario.name,
        run_id,
        truth,
        score(truth, None, change_expected=change_expected),
        error=f"{scenario.name}: {error}",
    )


async def _load(
    scenario: Scenario, targets: Targets, run_id: str, now: datetime, live: LiveScenarios | None = None
) -> _Loaded | ScenarioResult:
    """The scenario loaded as run `run_id` with its history ending at `now` (and kept `live` under its run
    id), or the result of a scenario that could not be."""
    change_expected = expects_change(scenario)
    try:
        private = isolated(scenario, run_id)
    except SreError as exc:
        return _failed(scenario, run_id, f"cannot be isolated: {exc}")
    now = now.replace(microsecond=0)
    truth = expected(private, now)
    try:
        loaded = await load_scenario_into(private, now, targets, ahead=HORIZON if live is not None else None)
        problems = {**loaded.failed, **{t: r for t, r in loaded.skipped.items() if r != "not configured"}}
        if problems:
            raise NoReport("loading failed: " + "; ".join(f"{target}: {why}" for target, why in problems.items()))
        if not loaded.alerts:
            raise NoReport("the scenario has no alerts to post")
    except (NoReport, SreError) as exc:
        error = f"{scenario.name}: {exc}"
    except Exception as exc:
        error = _unexpected(scenario.name, run_id, exc)
    else:
        logger.info("scenario %s loaded as run %s (namespaces *-%s)", scenario.name, run_id, run_id)
        if live is not None:
            live.add(run_id, private, loaded)
        return _Loaded(scenario.name, run_id, truth, change_expected, loaded.alerts)
    return ScenarioResult(
        scenario.name, run_id, truth, score(truth, None, change_expected=change_expected), error=error
    )


async def _investigate(loaded: _Loaded, investigate: Investigation, http: httpx.AsyncClient) -> ScenarioResult:
    """The loaded scenario's pages investigated, and the report scored."""
    name, run_id, truth, change_expected = loaded.name, loaded.run_id, loaded.truth, loaded.change_expected
    try:
        report, latency = await investigate(http, loaded.alerts)
    except (NoReport, SreError) as exc:
        error = f"{name}: {exc}"
    except Exception as exc:
        error = _unexpected(name, run_id, exc)
    else:
        return ScenarioResult(
            name, run_id, truth, score(truth, report, change_expected=change_expected), report, latency
        )
    return ScenarioResult(name, run_id, truth, score(truth, None, change_expected=change_expected), error=error)


def _unexpected(name: str, run_id: str, exc: Exception) -> str:
    # One scenario's surprise must not cost the rest of a long run: logged with its trace.
    logger.exception("Scenario %s (run %s) failed unexpectedly", name, run_id)
    return f"{name}: unexpected {type(exc).__name__} (the log has the trace): {exc}"
