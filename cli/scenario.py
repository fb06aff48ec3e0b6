"""`sre scenario load|run FILE...`: scenarios in the running federation (what `make up` started).

`load` writes scenarios' history; `run` is the eval harness (SCENARIOS.md, "Scoring"): each
scenario is isolated (namespaces of its own), loaded, investigated through the router's
Alertmanager webhook (ROUTER_URL, default 127.0.0.1:8720) or straight by triage (`--direct`:
TRIAGE_URL, else the registry's entry), and its report scored against the ground truth.

FILE is a scenario file, a directory of them, the name of a bundled, candidate or held-out scenario,
`bundled` for all the bundled ones, `candidates` for the incidents triage is being taught
(scenarios/candidates, not yet held to the bundled suite's score), or `heldout` for the incidents
written blind to measure triage on what it was never taught (scenarios/heldout). Targets: Prometheus'
remote-write receiver (PROMETHEUS_URL, default 127.0.0.1:9090), Loki's push API (LOKI_URL when
set, else the embedded store of loki-mcp at 127.0.0.1:8702), the control plane
(CONTROLPLANE_URL, default 127.0.0.1:8710). Tokens come from the registry, for the clients
`make up` provisions: `scenario` loads (controlplane:admin, logs:write), `cli` calls the router
and triage (agents:invoke).

`load` prints one line per target and per scenario and exits 2 naming the problem (a scenario's
file and field, or the backend that refused). `run` prints a table (or JSON lines) and exits 0
when every scenario produced a report, 1 otherwise, 2 when a scenario file is invalid. `run
--concurrency N` is a drill of many pages at once: every scenario loaded first, then their alert
groups posted N scenarios at a time (`scenarios.run`), each scenario's data going on from its load
to its report (`scenarios.live`), rows printed as reports come.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from cli.scenario_table import ResultTable, totals_line
from common.errors import InputError, SreError
from common.local_run import read_endpoints
from common.settings import DEFAULT_DATA_DIR, SettingsSource

if TYPE_CHECKING:
    from common.auth import TokenSource
    from scenarios import Scenario
    from scenarios.load import Targets
    from scenarios.run import ScenarioResult

__all__ = [
    "Backends",
    "add_scenario_parser",
    "load_and_report",
    "load_targets",
    "run_scenario",
    "scenario_paths",
    "token_sources",
]

DEFAULT_PROMETHEUS_URL = "http://127.0.0.1:9090"
DEFAULT_LOKI_MCP_URL = "http://127.0.0.1:8702"
DEFAULT_CONTROLPLANE_URL = "http://127.0.0.1:8710"
#: Loads scenarios (controlplane:admin, logs:write).
CLIENT = "scenario"
#: Calls the router and the agents (agents:invoke): the person at the keyboard.
CALLER = "cli"
BUNDLED = "bundled"
CANDIDATES = "candidates"
#: Incidents no rule may be fitted to: the score on them is the score on unseen incidents.
HELDOUT = "heldout"
_TIMEOUT = 60.0
_FILES_HELP = (
    "scenario files, directories of them, bundled, candidate or held-out scenario names, `bundled`, `candidates` "
    "or `heldout` for all"
)


def add_scenario_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "scenario",
        help="load incident scenarios into the running platform, or run them as an evaluation",
        description="Load scenario files (SCENARIOS.md) into Prometheus, the log store and the control plane, "
        "or run them through the platform and score its reports.",
    )
    actions = parser.add_subparsers(dest="scenario_command", required=True, metavar="ACTION")
    load = actions.add_parser("load", help="load scenarios' history (metrics, logs, control-plane rows)")
    load.add_argument("files", nargs="+", metavar="FILE", help=_FILES_HELP)
    load.add_argument("--now", help="the instant the history ends, RFC 3339 (default: now)")
    run = actions.add_parser(
        "run",
        help="load each scenario, have it investigated, and score the report (the eval harness)",
        description="Each scenario is loaded in namespaces of its own, its alerts are posted to the router's\n"
        "Alertmanager webhook (ROUTER_URL, default http://127.0.0.1:8720), and the report of its first\n"
        "alert group is scored: hit@1, hit@3, onset error, preceding change found, latency.\n"
        "With --concurrency N every scenario is loaded first, then their alerts are posted N scenarios\n"
        "at a time: many pages at once, as an outage that pages several teams does.\n"
        "Exit 0 when every scenario produced a report, 1 otherwise.",
        epilog="examples:\n  sre scenario run bundled\n  sre scenario run checkout-bad-deploy-errors --direct --json\n"
        "  sre scenario run bundled --concurrency 10",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("files", nargs="+", metavar="FILE", help=_FILES_HELP)
    run.add_argument(
        "--direct",
        action="store_true",
        help="skip the router: send the first alert group to triage (TRIAGE_URL, else found in the registry)",
    )
    run.add_argument("--json", action="store_true", help="one JSON object per scenario, then one with the totals")
    run.add_argument(
        "--timeout", type=_seconds, metavar="S", help="seconds to wait for each scenario's report (default 120)"
    )
    run.add_argument(
        "--concurrency",
        type=_positive,
        default=1,
        metavar="N",
        help="load every scenario first, then investigate N at a time, each latency from its first page to its "
        "report (default 1: each scenario loaded and investigated in turn)",
    )
    run.add_argument(
        "--reseed",
        type=int,
        default=0,
        metavar="N",
        help="add N to every scenario's seed: the same incidents in other noise, to check that a score is "
        "not an accident of one draw (default 0: the seeds as written)",
    )
    for action in (load, run):
        action.add_argument(
            "--loki-mcp-url",
            default=None,
            help="loki-mcp, whose embedded store takes the logs when LOKI_URL is unset "
            f"(default {DEFAULT_LOKI_MCP_URL}, or where `sre up` recorded it)",
        )


#: What each of `sre up`'s recorded components is called in this command's settings.
_RECORDED = {
    "PROMETHEUS_URL": "prometheus",
    "CONTROLPLANE_URL": "controlplane",
    "ROUTER_URL": "router",
    "REGISTRY_URL": "registry",
}


def with_recorded_endpoints(source: SettingsSource, loki_mcp_url: str | None) -> tuple[SettingsSource, str]:
    """The URLs `sre up` recorded in SRE_DATA_DIR as defaults, and loki-mcp's URL: `SRE_UP_<NAME>_PORT` can
    move any component, and the scenarios must reach the federation that runs, not the default ports. A
    variable or option set still wins."""
    recorded = read_endpoints(Path(source.get("SRE_DATA_DIR") or DEFAULT_DATA_DIR))
    defaults = {key: recorded[name] for key, name in _RECORDED.items() if name in recorded and not source.get(key)}
    return source.with_overrides(defaults), loki_mcp_url or recorded.get("loki-mcp", DEFAULT_LOKI_MCP_URL)


def run_scenario(args: argparse.Namespace, source: SettingsSource) -> int:
    from scenarios import load_scenarios

    source, loki_mcp_url = with_recorded_endpoints(source, args.loki_mcp_url)
    try:
        now = _parse_now(args.now) if args.scenario_command == "load" else None
        scenarios = load_scenarios(scenario_paths(args.files))
        if args.scenario_command == "run" and args.reseed:
            scenarios = [s.model_copy(update={"seed": s.seed + args.reseed}) for s in scenarios]
    except SreError as exc:
        print(f"sre scenario: {exc}", file=sys.stderr)
        return 2
    import anyio

    backends = Backends.of(source, loki_mcp_url)
    if args.scenario_command == "run":
        try:
            return anyio.run(_run, args, scenarios, backends, source)
        except SreError as exc:
            print(f"sre scenario run: {exc}", file=sys.stderr)
            return 1
    assert now is not None
    try:
        return anyio.run(load_and_report, scenarios, now, backends, source)
    except SreError as exc:
        print(f"sre scenario: {exc}", file=sys.stderr)
        return 2


def scenario_paths(given: Sequence[str]) -> list[Path]:
    """Files and directories as they are; `bundled`, `candidates`, `heldout` and a name there as its file(s)."""
    from scenarios import BUNDLED_DIR, CANDIDATES_DIR

    folders = {BUNDLED: BUNDLED_DIR, CANDIDATES: CANDIDATES_DIR, HELDOUT: BUNDLED_DIR.parent / HELDOUT}
    paths = []
    for text in given:
        path = Path(text)
        named = [folder / f"{text}.yaml" for folder in folders.values() if "/" not in text]
        if path.exists():
            paths.append(path)
        elif text in folders:
            paths.append(folders[text])
        elif any(file.is_file() for file in named):
            paths.append(next(file for file in named if file.is_file()))
        else:
            names = ", ".join(sorted(p.stem for p in BUNDLED_DIR.glob("*.yaml")))
            raise InputError(
                f"{text} is neither a scenario file, a directory, nor a bundled scenario ({names}; "
                f"or `{BUNDLED}` for all of them, `{CANDIDATES}` for the candidates, `{HELDOUT}` for the held-out set)."
            )
    return paths


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, got {text}")
    return value


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def _parse_now(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC).replace(microsecond=0)
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"--now {text!r} is not RFC 3339, e.g. 2026-11-05T12:00:00Z.") from None
    if at.tzinfo is None:
        raise InputError(f"--now {text!r} has no UTC offset; add Z or +hh:mm.")
    return at


# --- where scenarios go --------------------------------------------------------------------------


@dataclass(frozen=True)
class Backends:
    prometheus: str
    controlplane: str
    loki_mcp: str
    #: A Loki of its own (LOKI_URL): its credentials are LOKI_MCP_*'s business, not the registry's.
    loki: str | None

    @classmethod
    def of(cls, source: SettingsSource, loki_mcp_url: str) -> Backends:
        loki = source.get("LOKI_URL")
        return cls(
            prometheus=str(source.get("PROMETHEUS_URL") or DEFAULT_PROMETHEUS_URL).rstrip("/"),
            controlplane=str(source.get("CONTROLPLANE_URL") or DEFAULT_CONTROLPLANE_URL).rstrip("/"),
            loki_mcp=loki_mcp_url.rstrip("/"),
            loki=str(loki).removesuffix("/").removesuffix("/loki/api/v1") if loki else None,
        )

    @property
    def audiences(self) -> list[str]:
        """The resources the `scenario` client needs tokens for."""
        return [self.controlplane] + ([] if self.loki else [f"{self.loki_mcp}/mcp"])


@asynccontextmanager
async def token_sources(source: SettingsSource, *clients: str) -> AsyncIterator[list[TokenSource]]:
    """A token source per client, each renewing its tokens as a long run needs."""
    from cli.auth import client_credentials
    from common.auth import TokenSource
    from common.http import create_http_client
    from registry.settings import RegistrySettings

    registry = RegistrySettings.from_source(source)
    async with create_http_client(timeout=10.0) as http:
        yield [TokenSource(client_credentials(registry, client), http) for client in clients]


@asynccontextmanager
async def load_targets(backends: Backends, tokens: TokenSource) -> AsyncIterator[Targets]:
    import httpx

    from common.http import create_http_client
    from common.settings import Upstream
    from scenarios.load import Targets
    from servers.loki_mcp.client import LokiClient

    if backends.loki:
        loki = LokiClient(Upstream(url=backends.loki), timeout=_TIMEOUT)
    else:
        auth = tokens.bearer_auth(f"{backends.loki_mcp}/mcp")
        http = create_http_client(base_url=backends.loki_mcp, timeout=_TIMEOUT, auth=auth)
        loki = LokiClient(Upstream(url=backends.loki_mcp), timeout=_TIMEOUT, http_client=http)
    try:
        async with (
            httpx.AsyncClient(timeout=_TIMEOUT) as http,
            httpx.AsyncClient(timeout=_TIMEOUT, auth=tokens.bearer_auth(backends.controlplane)) as controlplane_http,
        ):
            yield Targets(
                http,
                prometheus_write_url=f"{backends.prometheus}/api/v1/write",
                loki=loki,
                controlplane_url=backends.controlplane,
                controlplane_http=controlplane_http,
            )
    finally:
        await loki.aclose()


# --- load ----------------------------------------------------------------------------------------


async def load_and_report(scenarios: list[Scenario], now: datetime, backends: Backends, source: SettingsSource) -> int:
    from scenarios.load import load_scenario_into

    status = 0
    async with token_sources(source, CLIENT) as (tokens,), load_targets(backends, tokens) as targets:
        for audience in backends.audiences:
            await tokens.token(audience)  # a refused client stops here, not once per target
        for scenario in scenarios:
            report = await load_scenario_into(scenario, now, targets)
            for target, counts in report.counts.items():
                listed = ", ".join(f"{key} {value}" for key, value in counts.items())
                print(f"{scenario.name}: {target}: loaded ({listed})")
            for target, reason in report.skipped.items():
                if target != "victoriametrics":  # not a target of this command
                    print(f"{scenario.name}: {target}: skipped: {reason}")
            for target, reason in report.failed.items():
                print(f"{scenario.name}: {target}: failed: {reason}", file=sys.stderr)
            loaded = list(report.counts)
            verdict = "loaded into " + ", ".join(loaded) if loaded else "not loaded"
            # The namespaces are what a person queries next (a run's are renamed prod-<run id>).
            namespaces = ", ".join(sorted({service.namespace for service in scenario.services}))
            print(
                f"{scenario.name}: {verdict}, namespaces {namespaces} "
                f"(now {now.isoformat()}, {len(report.alerts)} alert payloads)"
            )
            if report.failed or not loaded:
                status = 2
    return status


# --- run -----------------------------------------------------------------------------------------


async def _run(args: argparse.Namespace, scenarios: list[Scenario], backends: Backends, source: SettingsSource) -> int:
    from registry.settings import RegistrySettings
    from scenarios.run import DEFAULT_ROUTER_URL, DEFAULT_TIMEOUT, run_scenarios

    table = None if args.json else ResultTable(scenarios)
    if table is not None:
        table.header()

    def show(result: ScenarioResult) -> None:
        print(json.dumps(result.to_json()) if table is None else table.row(result), flush=True)
        if result.error:
            print(f"sre scenario run: {result.error}", file=sys.stderr, flush=True)

    async with (
        token_sources(source, CLIENT, CALLER) as (loader, caller),
        load_targets(backends, loader) as targets,
    ):
        summary = await run_scenarios(
            scenarios,
            targets,
            caller,
            router_url=str(source.get("ROUTER_URL") or DEFAULT_ROUTER_URL),
            direct=args.direct,
            triage_url=source.get("TRIAGE_URL") or None,
            registry_url=RegistrySettings.from_source(source).serve.registry_url,
            report_timeout=args.timeout or DEFAULT_TIMEOUT,
            concurrency=args.concurrency,
            on_result=show,
        )
    if table is None:
        print(json.dumps(summary.totals), flush=True)
    else:
        print(totals_line(summary), flush=True)
    failed = sum(1 for result in summary.results if result.report is None)
    verdict = f"{failed} of {len(summary.results)} scenarios produced no report; " if failed else ""
    at_once = f" ({args.concurrency} at a time)" if args.concurrency > 1 else ""
    print(f"sre scenario run: {verdict}wall time {summary.wall_time_s:.1f} s{at_once}", file=sys.stderr)
    return 0 if summary.ok else 1
