"""Webhook-to-report latency of investigations, one at a time over the bundled suite and 10 at once.

    .venv/bin/python bench/triage_latency.py                  # starts `sre up --no-demo`, ~3 minutes
    .venv/bin/python bench/triage_latency.py --concurrency 10 --rounds 2

Everything is real and on 127.0.0.1: `sre up --no-demo` (Prometheus, registry, control plane, the
three MCP servers, triage and router, each its own process, tokens everywhere) started by the
script in a temporary SRE_DATA_DIR. Each scenario is isolated (namespaces of its own) and loaded
first; loading is not timed.

- **sequential**: each bundled scenario's first alert group is posted to the router's
  `POST /webhooks/alertmanager`; latency runs from the post to the moment `GET /tasks/{id}`
  shows the task completed (polled every 50 ms, so the figure is at most 50 ms late);
- **concurrent**: `--concurrency` scenarios (the suite, cycled) are loaded, then their first
  alert groups are posted at once; each latency runs from its own post to its report.

Each row gives p50, p95 and max, triage's own `timings.total` (the pipeline without the router,
A2A and polling) and hit@1, so quality under load is visible next to speed.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # the project first: tests/common must not shadow common

from support.federation import RunningFederation, running_federation  # noqa: E402

from scenarios import BUNDLED_DIR, load_scenarios  # noqa: E402
from scenarios.alerts import first_notification  # noqa: E402
from scenarios.isolation import isolated, new_run_id  # noqa: E402
from scenarios.load import load_scenario_into  # noqa: E402
from scenarios.records import GroundTruth  # noqa: E402
from scenarios.score import score  # noqa: E402

POLL = 0.05
TIMEOUT = 300.0


@dataclass
class Case:
    name: str
    payload: dict[str, Any]
    truth: GroundTruth


@dataclass
class Outcome:
    latency: float
    pipeline: float
    hit: bool


async def load_cases(federation: RunningFederation, count: int | None) -> list[Case]:
    suite = load_scenarios([BUNDLED_DIR])
    chosen = suite if count is None else [suite[i % len(suite)] for i in range(count)]
    cases = []
    async with federation.targets() as targets:
        for scenario in chosen:
            private = isolated(scenario, new_run_id())
            loaded = await load_scenario_into(private, datetime.now(UTC).replace(microsecond=0), targets)
            if loaded.failed or loaded.expected is None:
                raise SystemExit(f"{scenario.name} did not load: {loaded.failed}")
            cases.append(Case(scenario.name, first_notification(loaded.alerts[0]), loaded.expected))
    return cases


async def investigate(http: httpx.AsyncClient, router: str, case: Case) -> Outcome:
    started = time.perf_counter()
    posted = await http.post(f"{router}/webhooks/alertmanager", json=case.payload)
    assert posted.status_code == 202, posted.text
    (task,) = posted.json()["tasks"]
    with anyio.fail_after(TIMEOUT):
        while True:
            state = (await http.get(f"{router}/tasks/{task['id']}")).json()
            if state["state"] not in ("submitted", "working"):
                break
            await anyio.sleep(POLL)
    latency = time.perf_counter() - started
    report = state.get("result")
    if state["state"] != "completed" or report is None:
        raise SystemExit(f"{case.name}: no report ({state})")
    hit = bool(score(case.truth, report, change_expected=False).hit_at_1)
    return Outcome(latency, float(report["timings"]["total"]), hit)


async def measure(federation: RunningFederation, cases: list[Case], concurrent: bool) -> list[Outcome]:
    router = federation.url("ROUTER")
    token = federation.token("cli", router)
    outcomes: list[Outcome] = []
    async with httpx.AsyncClient(timeout=60, headers={"Authorization": f"Bearer {token}"}) as http:
        if not concurrent:
            for case in cases:
                outcomes.append(await investigate(http, router, case))
            return outcomes

        async def one(case: Case) -> None:
            outcomes.append(await investigate(http, router, case))

        async with anyio.create_task_group() as group:
            for case in cases:
                group.start_soon(one, case)
    return outcomes


def row(label: str, outcomes: list[Outcome]) -> str:
    latencies = sorted(o.latency for o in outcomes)
    p95 = latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))]
    pipeline = statistics.median(o.pipeline for o in outcomes)
    hits = sum(o.hit for o in outcomes)
    return (
        f"{label:<26} n={len(outcomes):<3} p50 {statistics.median(latencies):5.2f} s  p95 {p95:5.2f} s  "
        f"max {latencies[-1]:5.2f} s  triage pipeline p50 {pipeline:5.2f} s  hit@1 {hits}/{len(outcomes)}"
    )


async def main(args: argparse.Namespace) -> None:
    print(f"{platform.node()}: {platform.processor() or platform.machine()}, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as workdir, running_federation(Path(workdir)) as federation:
        for round_ in range(1, args.rounds + 1):
            sequential = await measure(federation, await load_cases(federation, None), concurrent=False)
            print(row(f"round {round_} sequential", sequential), flush=True)
            concurrent = await measure(federation, await load_cases(federation, args.concurrency), concurrent=True)
            print(row(f"round {round_} {args.concurrency} at once", concurrent), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=1)
    anyio.run(main, parser.parse_args())
