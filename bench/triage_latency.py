"""Webhook-to-report latency of investigations, one at a time over the bundled suite and 10 at once.

    .venv/bin/python bench/triage_latency.py                  # starts `sre up --no-demo`, ~5 minutes
    .venv/bin/python bench/triage_latency.py --concurrency 10 --rounds 2
    .venv/bin/python bench/triage_latency.py --py-spy /tmp/pyspy/bin/py-spy   # + where triage's CPU goes

Everything is real and on 127.0.0.1: `sre up --no-demo` (Prometheus, registry, control plane, the
three MCP servers, triage and router, each its own process, tokens everywhere) started by the
script in a temporary SRE_DATA_DIR. Each scenario is isolated (namespaces of its own) and loaded
first; loading is not timed.

- **sequential**: each bundled scenario's first alert group is posted to the router's
  `POST /webhooks/alertmanager`; latency runs from the post to the `done` event of the task's
  stream (`GET /tasks/{id}/stream`), then the report is read once. Polling `GET /tasks/{id}` every
  50 ms, as this script did before, cost more CPU than the investigations (each poll reads the
  whole task from triage's store) and slowed what it measured;
- **concurrent**: `--concurrency` scenarios (the suite, cycled) are loaded, then their first
  alert groups are posted at once; each latency runs from its own post to its report.

Each row gives p50, p95 and max, triage's own `timings.total` (the pipeline without the router,
A2A and polling), the triage process's CPU seconds per investigation (user + system, psutil, over
the phase) and hit@1, so quality under load is visible next to speed. Each round ends with the
ratio p95(concurrent) / p95(one at a time), which issue 14 wants at 2 or less.

The router holds alert deliveries `ROUTER_GROUP_WAIT_SECONDS` (5 s by default) to group the pages
of one outage; every latency includes it. `--group-wait 0` turns grouping off, to time the
investigations alone.

`--py-spy PATH` samples the triage process (or `--profile NAME`, a process as the CPU rows name
it) with that py-spy (not a project dependency: install it with
`pip install --target /tmp/pyspy py-spy`) during each concurrent phase and prints the functions
that held the CPU most (own samples, and with their callees), so the remaining time can be placed.
"""

from __future__ import annotations

import argparse
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # the project first: tests/common must not shadow common

from support.federation import RunningFederation, running_federation  # noqa: E402

from scenarios import BUNDLED_DIR, load_scenarios  # noqa: E402
from scenarios.alerts import first_notification  # noqa: E402
from scenarios.isolation import isolated, new_run_id  # noqa: E402
from scenarios.load import load_scenario_into  # noqa: E402
from scenarios.records import GroundTruth  # noqa: E402
from scenarios.score import score  # noqa: E402

TIMEOUT = 300.0
#: Functions listed from a py-spy profile.
TOP = 15
#: Frames under every sample (the event loop, the runner), left out of the list with callees.
RUNTIME = ("asyncio/", "runpy", "anyio/_backends/", "anyio/_core/", "cli/main.py", "threading.py")


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
        # As a dashboard would: the task's event stream says when it ended; no polling load on the router.
        async with http.stream("GET", f"{router}/tasks/{task['id']}/stream") as events:
            async for line in events.aiter_lines():
                if line.startswith("event: done"):
                    break
    latency = time.perf_counter() - started
    state = (await http.get(f"{router}/tasks/{task['id']}")).json()
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


def p95(outcomes: list[Outcome]) -> float:
    latencies = sorted(o.latency for o in outcomes)
    return latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))]


def row(label: str, outcomes: list[Outcome], cpu_seconds: float) -> str:
    latencies = sorted(o.latency for o in outcomes)
    pipeline = statistics.median(o.pipeline for o in outcomes)
    hits = sum(o.hit for o in outcomes)
    return (
        f"{label:<26} n={len(outcomes):<3} p50 {statistics.median(latencies):5.2f} s  p95 {p95(outcomes):5.2f} s  "
        f"max {latencies[-1]:5.2f} s  triage pipeline p50 {pipeline:5.2f} s  "
        f"triage CPU {cpu_seconds / len(outcomes):5.2f} s/investigation  hit@1 {hits}/{len(outcomes)}"
    )


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def federation_processes(federation: RunningFederation) -> dict[str, psutil.Process]:
    """Every process of the federation, named by its command (`serve triage`, `prometheus`, ...)."""
    named: dict[str, psutil.Process] = {}
    for child in psutil.Process(federation.process.pid).children(recursive=True):
        command = child.cmdline()
        if "serve" in command:
            name = "serve " + command[command.index("serve") + 1]
        else:
            name = Path(command[0]).name if command else str(child.pid)
        named[name if name not in named else f"{name} ({child.pid})"] = child
    return named


def process_named(processes: dict[str, psutil.Process], name: str) -> psutil.Process:
    if name not in processes:
        raise SystemExit(f"no process {name!r} under sre up; there are: {', '.join(sorted(processes))}")
    return processes[name]


def cpu_by_process(processes: dict[str, psutil.Process]) -> dict[str, float]:
    seconds: dict[str, float] = {}
    for name, process in processes.items():
        try:
            seconds[name] = cpu_seconds(process)
        except psutil.NoSuchProcess:
            continue
    return seconds


async def prometheus_requests(federation: RunningFederation) -> Counter[str]:
    """Prometheus's own count of the API requests it served, by handler."""
    async with httpx.AsyncClient(timeout=10) as http:
        text = (await http.get(f"{federation.url('PROMETHEUS')}/metrics")).text
    served: Counter[str] = Counter()
    for line in text.splitlines():
        if line.startswith("prometheus_http_requests_total{") and 'handler="/api/v1/' in line:
            handler = line.split('handler="', 1)[1].split('"', 1)[0]
            served[handler] += round(float(line.rsplit(" ", 1)[1]))
    return served


def requests_row(before: Counter[str], after: Counter[str], investigations: int) -> str:
    spent = {handler: (after[handler] - before[handler]) / investigations for handler in after}
    parts = "  ".join(f"{h} {n:.1f}" for h, n in sorted(spent.items(), key=lambda kv: -kv[1]) if n)
    return f"{'':<26} Prometheus API requests/investigation: {parts}"


def cpu_row(label: str, before: dict[str, float], after: dict[str, float], investigations: int) -> str:
    """CPU seconds per investigation of each process over a phase, largest first, and their sum."""
    spent = {name: (after[name] - before[name]) / investigations for name in after if name in before}
    parts = "  ".join(f"{name} {seconds:.2f}" for name, seconds in sorted(spent.items(), key=lambda kv: -kv[1]))
    return f"{label:<26} CPU s/investigation: all {sum(spent.values()):.2f}  {parts}"


@contextmanager
def sampled(py_spy: str | None, pid: int, workdir: Path, label: str) -> Iterator[None]:
    """py-spy sampling `pid` while the block runs, its top functions printed after; nothing without `py_spy`."""
    if py_spy is None:
        yield
        return
    collapsed = workdir / f"{label.replace(' ', '-')}.txt"
    command = [py_spy, "record", "--pid", str(pid), "--format", "raw", "--output", str(collapsed), "--nonblocking"]
    sampler = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield
    finally:
        sampler.send_signal(signal.SIGINT)
        _, errors = sampler.communicate(timeout=60)
        if not collapsed.exists():
            print(f"py-spy wrote no profile: {errors.decode()[-500:]}")
        else:
            print(profile_summary(collapsed.read_text()), flush=True)


def profile_summary(collapsed: str) -> str:
    """The functions with the most samples of their own, and with their callees, from py-spy's raw output."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        total += samples
        frames = [frame.split(" (")[0] + " (" + frame.split(" (")[-1].split(":")[0] + ")" for frame in stack.split(";")]
        own[frames[-1]] += samples
        for frame in set(frames):
            inclusive[frame] += samples
    if not total:
        return "py-spy: no samples"
    lines = [f"py-spy: {total} samples; own share, then share with callees:"]
    lines += [f"  {100 * n / total:5.1f} %  {name}" for name, n in own.most_common(TOP)]
    lines.append("  --")
    callers = [(name, n) for name, n in inclusive.most_common() if not any(part in name for part in RUNTIME)]
    lines += [f"  {100 * n / total:5.1f} %  {name}" for name, n in callers[:TOP]]
    return "\n".join(lines)


async def main(args: argparse.Namespace) -> None:
    print(f"{platform.node()}: {platform.processor() or platform.machine()}, Python {platform.python_version()}")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in psutil.getloadavg())}")
    settings = {} if args.group_wait is None else {"ROUTER_GROUP_WAIT_SECONDS": str(args.group_wait)}
    print(f"router group wait: {args.group_wait if args.group_wait is not None else 'default'}")
    with (
        tempfile.TemporaryDirectory() as workdir,
        running_federation(Path(workdir), settings=settings) as federation,
    ):
        processes = federation_processes(federation)
        triage = process_named(processes, "serve triage")
        profiled = process_named(processes, args.profile)
        for round_ in range(1, args.rounds + 1):
            cases = await load_cases(federation, None)
            before, everyone = cpu_seconds(triage), cpu_by_process(processes)
            served = await prometheus_requests(federation)
            sequential = await measure(federation, cases, concurrent=False)
            print(row(f"round {round_} one at a time", sequential, cpu_seconds(triage) - before), flush=True)
            print(cpu_row("", everyone, cpu_by_process(processes), len(sequential)), flush=True)
            print(requests_row(served, await prometheus_requests(federation), len(sequential)), flush=True)
            cases = await load_cases(federation, args.concurrency)
            before, everyone = cpu_seconds(triage), cpu_by_process(processes)
            with sampled(args.py_spy, profiled.pid, Path(workdir), f"round {round_}"):
                concurrent = await measure(federation, cases, concurrent=True)
            print(row(f"round {round_} {args.concurrency} at once", concurrent, cpu_seconds(triage) - before))
            print(cpu_row("", everyone, cpu_by_process(processes), len(concurrent)), flush=True)
            ratio = p95(concurrent) / p95(sequential)
            print(f"round {round_} p95({args.concurrency}) / p95(1) = {ratio:.2f} (target <= 2)", flush=True)
        print(f"load average at end: {' '.join(f'{x:.2f}' for x in psutil.getloadavg())}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--py-spy", dest="py_spy", default=None, help="a py-spy executable: profile triage")
    parser.add_argument(
        "--profile", default="serve triage", help="the process --py-spy samples, as the CPU rows name it"
    )
    parser.add_argument(
        "--group-wait",
        dest="group_wait",
        type=float,
        default=None,
        help="ROUTER_GROUP_WAIT_SECONDS (default: the router's, 5 s; 0 times the investigations without it)",
    )
    anyio.run(main, parser.parse_args())
