"""An alert storm: N distinct alert groups posted to the router's webhook at once (issue 11, "Done when").

    .venv/bin/python bench/alert_storm.py                 # starts `sre up --no-demo`, 200 groups
    .venv/bin/python bench/alert_storm.py --groups 50

Everything is real and on 127.0.0.1: `sre up --no-demo` (Prometheus, Alertmanager, registry,
control plane, the three MCP servers, triage and router, each its own process, tokens
everywhere, SQLite stores) started by the script in a temporary SRE_DATA_DIR. Each group is an
`HighErrorRate` alert on a service of its own (`storm-<n>`), so every investigation runs the whole
pipeline over real MCP sessions and finds little (no such series): what is measured is the
federation under a burst, not the quality of the reports.

All posts go out at once (one HTTP/1.1 connection each). The script then polls every task until
it ends and reports: the answers of the posts by status (any 5xx is a failure), tasks per group
(exactly one expected), the tasks' final states (none may stay submitted or working), the wall
time from the first post to the last task ending, p50/p95/max of each post's answer and of each
task's completion (post to end, polled every 0.5 s), and the peak RSS (`VmHWM`) of the router and
triage processes. The exit code is 1 when a post got a 5xx, a group got other than one task, or
a task did not end within `--timeout`.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # the project first: tests/common must not shadow common

from support.federation import RunningFederation, running_federation  # noqa: E402

POLL = 0.5
ENDED = ("completed", "failed", "rejected", "canceled")


def payload(number: int, run: str) -> dict[str, Any]:
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


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def figures(label: str, values: list[float]) -> str:
    if not values:
        return f"{label}: none"
    return (
        f"{label}: p50 {statistics.median(values):6.2f} s  p95 {percentile(values, 0.95):6.2f} s  "
        f"max {max(values):6.2f} s"
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


async def storm(federation: RunningFederation, groups: int, end_within: float) -> int:
    router = federation.url("ROUTER")
    token = federation.token("cli", router)
    run = uuid.uuid4().hex
    posted: dict[int, tuple[int, float, list[str]]] = {}
    ended: dict[str, tuple[str, float]] = {}
    limits = httpx.Limits(max_connections=groups + 10, max_keepalive_connections=groups + 10)
    headers = {"Authorization": f"Bearer {token}"}
    poll_errors: Counter[str] = Counter()
    async with httpx.AsyncClient(timeout=120, headers=headers, limits=limits) as http:
        started = time.perf_counter()

        async def post(number: int) -> None:
            sent = time.perf_counter()
            try:
                response = await http.post(f"{router}/webhooks/alertmanager", json=payload(number, run))
            except httpx.HTTPError as exc:
                print(f"group {number}: {type(exc).__name__} {exc}", flush=True)
                posted[number] = (0, time.perf_counter() - sent, [])
                return
            tasks = [task["id"] for task in response.json().get("tasks", [])] if response.status_code < 300 else []
            if response.status_code >= 500 and sum(1 for status, _, _ in posted.values() if status >= 500) < 3:
                print(f"group {number}: {response.status_code} {response.text[:300]}", flush=True)
            posted[number] = (response.status_code, time.perf_counter() - sent, tasks)
            with anyio.move_on_after(end_within):
                for task_id in tasks:
                    while True:
                        try:
                            state = (await http.get(f"{router}/tasks/{task_id}")).json().get("state")
                        except httpx.HTTPError as exc:  # counted, then polled again: a read is not a post
                            poll_errors[type(exc).__name__] += 1
                            state = None
                        if state in ENDED:
                            ended[task_id] = (state, time.perf_counter() - sent)
                            break
                        await anyio.sleep(POLL)

        async with anyio.create_task_group() as group:
            for number in range(groups):
                group.start_soon(post, number)
        wall = time.perf_counter() - started

    statuses = Counter(status for status, _, _ in posted.values())
    per_group = Counter(len(tasks) for _, _, tasks in posted.values())
    task_ids = [task_id for _, _, tasks in posted.values() for task_id in tasks]
    states = Counter(ended[task_id][0] if task_id in ended else "not ended" for task_id in task_ids)
    print(f"groups posted at once: {groups}; wall time to the last task's end: {wall:.1f} s")
    print(f"answers: {dict(sorted(statuses.items()))}; tasks per group: {dict(sorted(per_group.items()))}")
    print(f"final states: {dict(states)}; distinct task ids: {len(set(task_ids))}")
    print(f"polls that failed (and were repeated): {dict(poll_errors) or 0}")
    print(figures("post answered", [elapsed for _, elapsed, _ in posted.values()]))
    print(figures("task ended (from its post)", [elapsed for _, elapsed in ended.values()]))
    for component in ("router", "triage"):
        rss = peak_rss(federation, component)
        print(f"peak RSS of {component}: {rss:.0f} MB" if rss is not None else f"peak RSS of {component}: unknown")
    failed = (
        any(status >= 500 or status == 0 for status in statuses)
        or set(per_group) != {1}
        or states["not ended"] > 0
        or len(set(task_ids)) != groups
    )
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=200, help="distinct alert groups posted at once")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds a task may take to end")
    args = parser.parse_args()
    print(f"{platform.node()}: {platform.processor() or platform.machine()}, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as workdir, running_federation(Path(workdir)) as federation:
        return anyio.run(storm, federation, args.groups, args.timeout)


if __name__ == "__main__":
    sys.exit(main())
