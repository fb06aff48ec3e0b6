"""One outage paging many services through the router (issue 14): one investigation, not one per page.

    .venv/bin/python bench/alert_grouping.py                       # a database and 30 callers paging
    .venv/bin/python bench/alert_grouping.py --callers 100 --outages 3 --unrelated 5
    .venv/bin/python bench/alert_grouping.py --late-after 15    # half the callers page 15 s later

Everything is real and on 127.0.0.1: `sre up --no-demo` started by the script in a temporary
SRE_DATA_DIR (its router groups related deliveries, `ROUTER_GROUP_WAIT_SECONDS` at its default).
The control plane is given, per outage, a database `db-<k>` and `--callers` services calling it
(`svc-<k>-<n>`, every third through a quiet `api-<k>`: two hops), and `--unrelated` services that
call nothing. Then every service pages at once, each page its own Alertmanager group (as a route
with `group_by: [alertname, service]` sends them), the outages' pages and the unrelated ones mixed.
With `--late-after S`, every other caller pages S seconds after the others (past the group wait,
so planned in a later batch, while the outage's investigation runs): they join it.

Measured: the router's tasks (one per page), the investigations triage started (read from its task
store: the target is one per outage plus one per unrelated page, where each page was one before
grouping), the time from the first post to each page's task reading as ended through
`GET /tasks/{id}` (as a user reads it; a grouped page reads as its lead's investigation), and what
each outage's investigation names first. The exit code is 1 when a page got no task, a task did
not end within `--timeout`, or triage started other than the target count of investigations.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from support.federation import RunningFederation, running_federation

ENDED = frozenset({"completed", "failed", "canceled", "rejected"})


def topology(run: str, outages: int, callers: int, unrelated: int) -> tuple[list[dict[str, Any]], list[str]]:
    """The control plane's resources (in the order they must be created) and the services that page."""
    namespace = f"outage-{run}"
    resources: list[dict[str, Any]] = []
    paging: list[str] = []
    for k in range(outages):
        db, api = f"db-{k}", f"api-{k}"
        resources.append({"name": db, "kind": "database", "dependencies": []})
        resources.append({"name": api, "kind": "deployment", "dependencies": [db]})
        paging.append(db)
        for n in range(callers):
            name = f"svc-{k}-{n}"
            resources.append({"name": name, "kind": "deployment", "dependencies": [api if n % 3 == 2 else db]})
            paging.append(name)
    for n in range(unrelated):
        resources.append({"name": f"lone-{n}", "kind": "deployment", "dependencies": []})
        paging.append(f"lone-{n}")
    for resource in resources:
        resource |= {"namespace": namespace, "version": "v1", "replicas": 2}
    return resources, paging


def page(service: str, namespace: str, run: str) -> dict[str, Any]:
    """One service's Alertmanager group: a HighErrorRate alert on it, firing for two minutes."""
    starts = (datetime.now(UTC) - timedelta(minutes=2)).isoformat()
    labels = {"alertname": "HighErrorRate", "service": service, "namespace": namespace, "severity": "critical"}
    return {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="HighErrorRate",service="{service}",run="{run}"}}',
        "status": "firing",
        "receiver": "router",
        "groupLabels": {"alertname": "HighErrorRate", "service": service},
        "commonLabels": labels,
        "commonAnnotations": {"summary": f"5xx ratio of {service} above 5%"},
        "externalURL": "http://127.0.0.1:9093",
        "alerts": [
            {
                "status": "firing",
                "labels": labels,
                "annotations": {"summary": f"5xx ratio of {service} above 5%"},
                "startsAt": starts,
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://127.0.0.1:9090/graph",
                "fingerprint": uuid.uuid5(uuid.NAMESPACE_URL, f"{run}/{service}").hex[:16],
            }
        ],
    }


def investigations(data_dir: Path) -> int:
    """The tasks triage's store holds (the federation is fresh: every one is this run's)."""
    store = next(data_dir.rglob("triage-tasks.db"))
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=30) as triage:
        return int(triage.execute("SELECT count(*) FROM tasks").fetchone()[0])


async def seed(federation: RunningFederation, resources: list[dict[str, Any]]) -> None:
    controlplane = federation.url("CONTROLPLANE")
    headers = {"Authorization": f"Bearer {federation.token('scenario', controlplane)}"}
    async with httpx.AsyncClient(timeout=30, headers=headers) as http:
        for resource in resources:
            response = await http.post(f"{controlplane}/api/v1/resources", json=resource)
            response.raise_for_status()


async def run(federation: RunningFederation, args: argparse.Namespace) -> int:
    run_id = uuid.uuid4().hex[:6]
    resources, paging = topology(run_id, args.outages, args.callers, args.unrelated)
    await seed(federation, resources)
    namespace = resources[0]["namespace"]
    router = federation.url("ROUTER")
    headers = {"Authorization": f"Bearer {federation.token('cli', router)}"}
    before = investigations(federation.data_dir)
    async with httpx.AsyncClient(timeout=30, headers=headers) as http:
        late = {s for s in paging if args.late_after > 0 and s.startswith("svc-") and int(s.rsplit("-", 1)[1]) % 2}
        paging = [s for s in paging if s not in late] + [s for s in paging if s in late]
        started = time.perf_counter()
        answers = await asyncio.gather(
            *(
                http.post(f"{router}/webhooks/alertmanager", json=page(s, namespace, run_id))
                for s in paging[: -len(late) or None]
            )
        )
        if late:
            await asyncio.sleep(max(0.0, started + args.late_after - time.perf_counter()))
            answers += await asyncio.gather(
                *(
                    http.post(f"{router}/webhooks/alertmanager", json=page(s, namespace, run_id))
                    for s in paging[-len(late) :]
                )
            )
        posted = time.perf_counter() - started
        tasks: dict[str, str] = {}
        for service, answer in zip(paging, answers, strict=True):
            listed = answer.json().get("tasks", []) if answer.status_code < 300 else []
            if listed:
                tasks[listed[0]["id"]] = service
            else:
                print(f"{service}: HTTP {answer.status_code} {answer.text[:200]}", flush=True)
        ended: dict[str, float] = {}
        bodies: dict[str, dict[str, Any]] = {}
        deadline = started + args.timeout
        while len(ended) < len(tasks) and time.perf_counter() < deadline:
            for task_id in [t for t in tasks if t not in ended]:
                response = await http.get(f"{router}/tasks/{task_id}")
                body = response.json() if response.status_code == 200 else {}
                if _state(body.get("state")) in ENDED:
                    ended[task_id] = time.perf_counter() - started
                    bodies[task_id] = body
            await asyncio.sleep(0.5)
    started_at_triage = investigations(federation.data_dir) - before
    target = args.outages + args.unrelated
    states = Counter(_state(body.get("state")) for body in bodies.values())
    grouped = sum(1 for body in bodies.values() if body.get("grouped_into"))
    seconds = sorted(ended.values())
    print(
        f"{len(paging)} pages ({args.outages} outage(s) of a database and {args.callers} callers, "
        f"{args.unrelated} unrelated), posted in {posted:.2f} s; {platform.node()}, load {_load()}"
    )
    if late:
        print(f"{len(late)} of them posted {args.late_after:g} s after the others")
    print(f"router tasks: {len(tasks)}; grouped into another: {grouped}; ended: {dict(states)}")
    print(f"investigations started at triage: {started_at_triage} (target {target}; {len(paging)} without grouping)")
    if seconds:
        print(
            f"first post to a page's task ended: min {seconds[0]:.1f} s, median {statistics.median(seconds):.1f} s, "
            f"max {seconds[-1]:.1f} s"
        )
    for k in range(args.outages):
        lead = next((body for task_id, body in bodies.items() if tasks[task_id] == f"db-{k}"), None)
        top = ((lead or {}).get("result") or {}).get("hypotheses") or [{}]
        target_name = (top[0].get("target") or {}).get("resource") if isinstance(top[0], dict) else None
        print(f"outage {k}: investigation of db-{k}'s page names first: {top[0].get('kind')} {target_name}")
    for line in _grouping_log(federation.data_dir):
        print(f"router: {line}")
    missing = len(paging) - len(tasks)
    unfinished = len(tasks) - len(ended)
    if missing or unfinished:
        print(f"FAILED: {missing} page(s) got no task, {unfinished} task(s) did not end within {args.timeout:g} s")
    ok = not missing and not unfinished and started_at_triage == target
    return 0 if ok else 1


#: What the router logs about a plan: groups made, late pages joined, and why a page went alone.
_GROUPING_EVENTS = (
    "Grouped ",
    "joined router task",
    "were not read",
    "takes no late page",
    "could join it",
    "not grouped",
)


def _grouping_log(data_dir: Path) -> list[str]:
    """The router's log lines about grouping (their messages, without the time and logger)."""
    log = data_dir / "logs" / "router.log"
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    return [line.partition("] ")[2][:240] for line in lines if any(event in line for event in _GROUPING_EVENTS)]


def _state(value: object) -> str:
    return str(value or "").lower().removeprefix("task_state_").replace("_", "-")


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--outages", type=int, default=1, help="databases failing at once (default 1)")
    parser.add_argument("--callers", type=int, default=30, help="services paging per outage (default 30)")
    parser.add_argument("--unrelated", type=int, default=2, help="services paging alone meanwhile (default 2)")
    parser.add_argument(
        "--late-after",
        type=float,
        default=0.0,
        help="seconds after which every other caller pages (default 0: all at once)",
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds for every task to end (default 300)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="alert-grouping-") as workdir, running_federation(Path(workdir)) as fed:
        return asyncio.run(run(fed, args))


if __name__ == "__main__":
    sys.exit(main())
