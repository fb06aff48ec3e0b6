"""An alert storm against the router's Alertmanager webhook (issue 14): a sustained rate, or a burst at once.

    .venv/bin/python bench/alert_storm.py --rate 200 --minutes 5          # the issue's storm
    .venv/bin/python bench/alert_storm.py --rate 200 --minutes 5 --ha     # each group sent twice
    .venv/bin/python bench/alert_storm.py --rate 200 --minutes 2 --groups scenarios
    .venv/bin/python bench/alert_storm.py --rate 200 400 800 --minutes 1  # where it saturates
    .venv/bin/python bench/alert_storm.py --burst 200                     # 200 groups at once

Everything is real and on 127.0.0.1: `sre up --no-demo` (Prometheus, Alertmanager, registry,
control plane, the three MCP servers, triage and router, each its own process, tokens
everywhere, SQLite stores) started by the script in a temporary SRE_DATA_DIR.

What each group is (`--groups`):
- `synthetic` (default): a `HighErrorRate` alert on a service of its own (`storm-<n>`) that has
  no series, so every investigation runs the whole pipeline over real MCP sessions and finds
  little: cheap investigations, the federation's own overhead under the storm;
- `scenarios`: the primary page of one of `--scenarios` bundled scenarios, each loaded once
  (isolated, as `sre scenario run` does) before the storm; every group is one of those pages
  under a group key of its own, so each investigation reads real series, logs and changes;
- `mix`: every other group of each kind.

`--rate R --minutes M` posts R distinct groups per minute, evenly spaced, for M minutes (several
rates run one after the other, each after the previous drained); `--burst N` posts N at once.
`--ha` posts every group twice at the same moment, as a highly available pair of Alertmanagers
does: both copies must answer with the one task.

Measured, per rate: each post's answer (status; p50/p99/max per minute of the storm, target p99
< 200 ms), tasks per group (exactly one), every task's end (the router's record and triage's task
store are read every second, so watching costs the federation nothing; each task is then read
once through `GET /tasks/{id}` as a user would, to check it ended), the drain time (from the last
post to the last task's end, target <= 120 s), the throughput (tasks ended per minute), the
backlog (posted and not ended) every 10 s and its slope over the storm's second half (a rate the
federation keeps up with has a flat backlog; a growing one is past saturation), and the peak RSS
(`VmHWM`) of the router and triage. The exit code is 1 when a post got a 5xx or no answer, a
group got other than one task, or a task did not end within `--timeout` of the last post.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # the project first: tests/common must not shadow common

from support.federation import RunningFederation, running_federation  # noqa: E402

from scenarios.isolation import isolated, new_run_id  # noqa: E402
from scenarios.load import load_scenario_into  # noqa: E402
from scenarios.spec import load_scenario  # noqa: E402

BUNDLED = ROOT / "scenarios" / "bundled"
ENDED = ("completed", "failed", "rejected", "canceled")
#: How often the stores are read for ended tasks, and the backlog sampled.
WATCH_SECONDS, BACKLOG_SECONDS = 1.0, 10.0
#: The issue's targets.
P99_TARGET_SECONDS, DRAIN_TARGET_SECONDS = 0.200, 120.0


def synthetic_payload(number: int, run: str) -> dict[str, Any]:
    labels = {"alertname": "HighErrorRate", "service": f"storm-{number}", "namespace": "storm", "severity": "page"}
    alert = {
        "status": "firing",
        "labels": labels,
        "annotations": {"summary": f"HighErrorRate on storm-{number}"},
        "startsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 600)),
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph",
        "fingerprint": f"{run[:8]}{number:08x}",
    }
    return {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="HighErrorRate", service="storm-{number}", run="{run}"}}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "router",
        "groupLabels": {"alertname": "HighErrorRate", "service": f"storm-{number}"},
        "commonLabels": labels,
        "commonAnnotations": alert["annotations"],
        "externalURL": "http://alertmanager:9093",
        "alerts": [alert],
    }


def scenario_payload(pages: list[dict[str, Any]], number: int, run: str) -> dict[str, Any]:
    """The page of scenario `number % len(pages)` under a group key of its own: a distinct group, real data."""
    page = copy.deepcopy(pages[number % len(pages)])
    page["groupKey"] = f'{page["groupKey"]}:{{storm="{run}-{number}"}}'
    return page


async def load_pages(federation: RunningFederation, count: int) -> list[dict[str, Any]]:
    """The primary pages of the first `count` bundled scenarios, each loaded (isolated) into the federation."""
    pages = []
    async with federation.targets() as targets:
        for path in sorted(BUNDLED.glob("*.yaml"))[:count]:
            private = isolated(load_scenario(path), new_run_id())
            loaded = await load_scenario_into(private, datetime.now(UTC).replace(microsecond=0), targets)
            problems = {**loaded.failed, **{t: r for t, r in loaded.skipped.items() if r != "not configured"}}
            if problems or not loaded.alerts:
                raise SystemExit(f"loading {path.name} failed: {problems or 'no alerts'}")
            pages.append(next(page for page in loaded.alerts if page.get("status") == "firing"))
            print(f"loaded {path.name}", flush=True)
    return pages


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def latency_line(label: str, values: list[float]) -> str:
    if not values:
        return f"{label}: none"
    return (
        f"{label}: n {len(values):4d}  p50 {statistics.median(values) * 1000:7.1f} ms  "
        f"p99 {percentile(values, 0.99) * 1000:7.1f} ms  max {max(values) * 1000:7.1f} ms"
    )


def peak_rss(federation: RunningFederation, component: str) -> float | None:
    """The peak resident set (MB) of `sre serve <component>` among `sre up`'s children."""
    for child in psutil.Process(federation.process.pid).children(recursive=True):
        try:
            if child.cmdline()[-2:] == ["serve", component]:
                status = Path(f"/proc/{child.pid}/status").read_text()
                line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
                return int(line.split()[1]) / 1000
        except (psutil.Error, OSError, StopIteration):
            continue
    return None


class Stores:
    """Read-only looks at the router's record and triage's task store (SQLite files under SRE_DATA_DIR)."""

    def __init__(self, data_dir: Path) -> None:
        self.router = next(data_dir.rglob("router-tasks.db"))
        self.triage = next(data_dir.rglob("triage-tasks.db"))

    def ended(self, router_ids: set[str]) -> dict[str, str]:
        """The router tasks among `router_ids` that ended, with their final state."""
        ended: dict[str, str] = {}
        with _read_only(self.router) as router:
            rows = router.execute("SELECT id, delivery, a2a_task_id FROM router_tasks").fetchall()
        started: dict[str, str] = {}
        for task_id, delivery, a2a_id in rows:
            if task_id not in router_ids:
                continue
            if delivery == "failed":
                ended[task_id] = "failed"
            elif a2a_id:
                started[a2a_id] = task_id
        if started:
            with _read_only(self.triage) as triage:
                for a2a_id, status in triage.execute("SELECT id, status FROM tasks").fetchall():
                    if a2a_id in started:
                        state = _state(status)
                        if state in ENDED:
                            ended[started[a2a_id]] = state
        return ended

    def tasks_per_group(self) -> Counter[str]:
        with _read_only(self.router) as router:
            rows = router.execute("SELECT dedup_group FROM router_tasks WHERE dedup_group IS NOT NULL").fetchall()
        return Counter(group for (group,) in rows)


def _read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)


def _state(status: str | bytes | None) -> str:
    """A stored A2A status's state as the router's facade names it (`completed`, ...)."""
    try:
        state = str(json.loads(status or "{}").get("state", ""))
    except (ValueError, AttributeError):
        return ""
    return state.lower().removeprefix("task_state_").replace("_", "-")


@dataclass
class Post:
    number: int
    copy: int
    sent: float
    status: int = 0
    seconds: float = 0.0
    tasks: list[str] = field(default_factory=list)


@dataclass
class Level:
    """One storm: what was posted and what came of it."""

    rate: float | None
    groups: int
    posts: list[Post] = field(default_factory=list)
    ended: dict[str, tuple[str, float]] = field(default_factory=dict)
    backlog: list[tuple[float, int]] = field(default_factory=list)
    started: float = 0.0
    last_post: float = 0.0


async def storm(
    http: httpx.AsyncClient, router: str, level: Level, make: Callable[[int], dict[str, Any]], *, copies: int
) -> None:
    """Post `level.groups` groups (each `copies` times at once) at `level.rate` per minute, or all at once."""
    interval = 60.0 / level.rate if level.rate else 0.0

    async def post(number: int, copy_number: int, body: dict[str, Any]) -> None:
        record = Post(number, copy_number, time.perf_counter())
        level.posts.append(record)
        try:
            response = await http.post(f"{router}/webhooks/alertmanager", json=body)
        except httpx.HTTPError as exc:
            print(f"group {number}: {type(exc).__name__} {exc}", flush=True)
            record.seconds = time.perf_counter() - record.sent
            return
        record.seconds = time.perf_counter() - record.sent
        record.status = response.status_code
        if response.status_code < 300:
            record.tasks = [task["id"] for task in response.json().get("tasks", [])]
        elif sum(1 for other in level.posts if other.status >= 400) <= 3:
            print(f"group {number}: {response.status_code} {response.text[:300]}", flush=True)

    async with asyncio.TaskGroup() as posts:
        for number in range(level.groups):
            due = level.started + number * interval
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            body = make(number)
            for copy_number in range(copies):
                posts.create_task(post(number, copy_number, body))
            level.last_post = time.perf_counter()


async def watch(stores: Stores, level: Level, storming: asyncio.Task[None]) -> None:
    """Read the stores every second until the posts are answered and every task has ended; sample the backlog."""
    next_sample = level.started
    while True:
        ids = {task for post in level.posts for task in post.tasks}
        for task_id, state in (await asyncio.to_thread(stores.ended, ids - set(level.ended))).items():
            level.ended[task_id] = (state, time.perf_counter())
        now = time.perf_counter()
        if now >= next_sample:
            level.backlog.append((now - level.started, len(ids) - len(level.ended)))
            next_sample += BACKLOG_SECONDS
        if storming.done() and len(level.ended) >= len(ids):
            return
        await asyncio.sleep(WATCH_SECONDS)


async def confirm(http: httpx.AsyncClient, router: str, task_ids: set[str]) -> Counter[str]:
    """Each task's state through `GET /tasks/{id}`, as a user would read it (8 reads at once)."""
    states: Counter[str] = Counter()
    limit = asyncio.Semaphore(8)

    async def read(task_id: str) -> None:
        async with limit:
            try:
                response = await http.get(f"{router}/tasks/{task_id}")
                states[response.json().get("state", f"HTTP {response.status_code}")] += 1
            except httpx.HTTPError as exc:
                states[type(exc).__name__] += 1

    async with asyncio.TaskGroup() as reads:
        for task_id in task_ids:
            reads.create_task(read(task_id))
    return states


def slope_per_minute(samples: list[tuple[float, int]]) -> float:
    """The least-squares slope (tasks per minute) of the backlog samples."""
    if len(samples) < 2:
        return 0.0
    xs, ys = [x / 60 for x, _ in samples], [float(y) for _, y in samples]
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread if spread else 0.0


def report(level: Level, copies: int, groups_per_task: Counter[int], confirmed: Counter[str]) -> bool:
    """Print the level's figures; whether it met exactly-once, no loss and no 5xx."""
    posts = level.posts
    storm_seconds = level.last_post - level.started
    what = f"{level.rate:g} groups/min for {storm_seconds / 60:.1f} min" if level.rate else "all at once"
    print(f"\n== {level.groups} groups, {what}, each posted {copies}x ==")
    print(f"answers: {dict(sorted(Counter(post.status for post in posts).items()))}")
    for minute in range(int(storm_seconds // 60) + 1):
        values = [post.seconds for post in posts if int((post.sent - level.started) // 60) == minute]
        print(latency_line(f"  post answered, minute {minute + 1}", values))
    everything = [post.seconds for post in posts]
    print(latency_line("  post answered, whole storm", everything))
    by_group: dict[int, set[str]] = {}
    for post in posts:
        by_group.setdefault(post.number, set()).update(post.tasks)
    per_group = Counter(len(tasks) for tasks in by_group.values())
    task_ids = {task for tasks in by_group.values() for task in tasks}
    print(f"tasks per group (answers): {dict(sorted(per_group.items()))}; in the record: {dict(groups_per_task)}")
    states = Counter(level.ended[task][0] if task in level.ended else "not ended" for task in task_ids)
    print(f"final states (stores): {dict(states)}; through GET /tasks/{{id}}: {dict(confirmed)}")
    if level.ended:
        last_end = max(at for _, at in level.ended.values())
        drain = last_end - level.last_post
        print(
            f"drain after the last post: {drain:.1f} s (target <= {DRAIN_TARGET_SECONDS:.0f} s); "
            f"first post to last end: {last_end - level.started:.1f} s"
        )
        per_minute = Counter(int((at - level.started) // 60) for _, at in level.ended.values())
        print(f"tasks ended per minute: {[per_minute.get(m, 0) for m in range(max(per_minute) + 1)]}")
    second_half = [(at, n) for at, n in level.backlog if storm_seconds / 2 <= at <= storm_seconds]
    print(f"backlog every {BACKLOG_SECONDS:.0f} s: {[n for _, n in level.backlog]}")
    print(f"backlog slope over the storm's second half: {slope_per_minute(second_half):+.1f} tasks/min")
    p99 = percentile(everything, 0.99) if everything else float("inf")
    print(f"p99 answer {p99 * 1000:.1f} ms: target {'met' if p99 < P99_TARGET_SECONDS else 'MISSED'}")
    return (
        all(300 > post.status > 0 for post in posts)
        and set(per_group) == {1}
        and states["not ended"] == 0
        and set(groups_per_task.values()) <= {1}
    )


async def run(federation: RunningFederation, args: argparse.Namespace) -> int:
    router = federation.url("ROUTER")
    stores = Stores(federation.data_dir)
    pages = await load_pages(federation, args.scenarios) if args.groups != "synthetic" else []
    copies = 2 if args.ha else 1
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=64)
    ok = True
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:
        levels = [(rate, round(rate * args.minutes)) for rate in args.rate] if args.rate else [(None, args.burst)]
        for rate, groups in levels:
            run_id = uuid.uuid4().hex

            def make(number: int, run_id: str = run_id) -> dict[str, Any]:
                real = args.groups == "scenarios" or (args.groups == "mix" and number % 2 == 1)
                return scenario_payload(pages, number, run_id) if real else synthetic_payload(number, run_id)

            http.headers["Authorization"] = f"Bearer {federation.token('cli', router)}"
            before = stores.tasks_per_group()
            level = Level(rate, groups, started=time.perf_counter())
            storming = asyncio.create_task(storm(http, router, level, make, copies=copies))
            try:
                await asyncio.wait_for(
                    watch(stores, level, storming), timeout=args.timeout + (60 * groups / rate if rate else 0)
                )
            except TimeoutError:
                print(f"tasks still not ended {args.timeout:.0f} s after the storm", flush=True)
            await storming
            task_ids = {task for post in level.posts for task in post.tasks}
            http.headers["Authorization"] = f"Bearer {federation.token('cli', router)}"  # the storm's may expire
            confirmed = await confirm(http, router, task_ids)
            groups_per_task = Counter(
                count for group, count in (stores.tasks_per_group() - before).items() if group not in before
            )
            ok = report(level, copies, groups_per_task, confirmed) and ok
            for component in ("router", "triage"):
                rss = peak_rss(federation, component)
                print(f"peak RSS of {component}: {rss:.0f} MB" if rss is not None else f"{component}: RSS unknown")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    shape = parser.add_mutually_exclusive_group()
    shape.add_argument("--rate", type=float, nargs="+", help="distinct groups per minute (several: one after another)")
    shape.add_argument("--burst", type=int, default=200, help="distinct groups posted at once (without --rate)")
    parser.add_argument("--minutes", type=float, default=5.0, help="how long each --rate lasts")
    parser.add_argument("--ha", action="store_true", help="post every group twice at once (an HA Alertmanager pair)")
    parser.add_argument("--groups", choices=("synthetic", "scenarios", "mix"), default="synthetic")
    parser.add_argument("--scenarios", type=int, default=6, help="bundled scenarios loaded for --groups scenarios|mix")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds after the last post for tasks to end")
    args = parser.parse_args()
    print(f"{platform.node()}: {platform.processor() or platform.machine()}, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as workdir, running_federation(Path(workdir)) as federation:
        code = asyncio.run(run(federation, args))
    print(f"load average after the run: {' '.join(f'{load:.2f}' for load in psutil.getloadavg())}")
    return code


if __name__ == "__main__":
    sys.exit(main())
