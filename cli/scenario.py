"""`sre scenario load FILE...`: scenarios loaded into the running federation (what `make up` started).

Targets: Prometheus' remote-write receiver (PROMETHEUS_URL, default 127.0.0.1:9090), Loki's push
API (LOKI_URL when set, else the embedded store of loki-mcp at 127.0.0.1:8702), the control plane
(CONTROLPLANE_URL, default 127.0.0.1:8710). Tokens come from the registry, for the `scenario`
client `make up` provisions (controlplane:admin, logs:write). One line per target and per
scenario; exit 2 naming the problem (a scenario's file and field, or the backend that refused).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from common.errors import SreError
from common.settings import SettingsSource

if TYPE_CHECKING:
    from scenarios import Scenario

__all__ = ["add_scenario_parser", "run_scenario"]

DEFAULT_PROMETHEUS_URL = "http://127.0.0.1:9090"
DEFAULT_LOKI_MCP_URL = "http://127.0.0.1:8702"
DEFAULT_CONTROLPLANE_URL = "http://127.0.0.1:8710"
CLIENT = "scenario"
_TIMEOUT = 60.0


def add_scenario_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "scenario",
        help="load incident scenarios into the running platform",
        description="Load scenario files (SCENARIOS.md) into Prometheus, the log store and the control plane.",
    )
    actions = parser.add_subparsers(dest="scenario_command", required=True, metavar="ACTION")
    load = actions.add_parser("load", help="load scenarios' history (metrics, logs, control-plane rows)")
    load.add_argument("files", nargs="+", metavar="FILE", help="scenario files or directories of them")
    load.add_argument("--now", help="the instant the history ends, RFC 3339 (default: now)")
    load.add_argument(
        "--loki-mcp-url",
        default=DEFAULT_LOKI_MCP_URL,
        help=f"loki-mcp, whose embedded store takes the logs when LOKI_URL is unset (default {DEFAULT_LOKI_MCP_URL})",
    )


def run_scenario(args: argparse.Namespace, source: SettingsSource) -> int:
    from scenarios import load_scenarios

    try:
        now = _parse_now(args.now)
        scenarios = load_scenarios(args.files)
    except SreError as exc:
        print(f"sre scenario: {exc}", file=sys.stderr)
        return 2
    import anyio

    try:
        return anyio.run(_load, scenarios, now, source, args.loki_mcp_url.rstrip("/"))
    except SreError as exc:
        print(f"sre scenario: {exc}", file=sys.stderr)
        return 2


def _parse_now(text: str | None) -> datetime:
    from common.errors import InputError

    if text is None:
        return datetime.now(UTC).replace(microsecond=0)
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"--now {text!r} is not RFC 3339, e.g. 2026-11-05T12:00:00Z.") from None
    if at.tzinfo is None:
        raise InputError(f"--now {text!r} has no UTC offset; add Z or +hh:mm.")
    return at


async def _load(scenarios: list[Scenario], now: datetime, source: SettingsSource, loki_mcp_url: str) -> int:
    import httpx

    from cli.auth import client_token
    from common.settings import Upstream
    from registry.settings import RegistrySettings
    from scenarios.load import Targets, load_scenario_into
    from servers.loki_mcp.client import LokiClient

    prometheus = str(source.get("PROMETHEUS_URL") or DEFAULT_PROMETHEUS_URL).rstrip("/")
    controlplane = str(source.get("CONTROLPLANE_URL") or DEFAULT_CONTROLPLANE_URL).rstrip("/")
    loki_url = source.get("LOKI_URL")
    registry = RegistrySettings.from_source(source)

    def token(audience: str) -> str:
        # client_token runs its own event loop: keep it off this one.
        return client_token(registry, CLIENT, audience)

    import anyio.to_thread

    controlplane_token = await anyio.to_thread.run_sync(token, controlplane)
    if loki_url:
        # A Loki of its own: its credentials are LOKI_MCP_*'s business, not the registry's.
        upstream = Upstream(url=str(loki_url).removesuffix("/loki/api/v1"))
    else:
        loki_token = await anyio.to_thread.run_sync(token, f"{loki_mcp_url}/mcp")
        upstream = Upstream(url=loki_mcp_url, bearer_token=loki_token)
    loki = LokiClient(upstream, timeout=_TIMEOUT)
    status = 0
    try:
        async with (
            httpx.AsyncClient(timeout=_TIMEOUT) as http,
            httpx.AsyncClient(
                timeout=_TIMEOUT, headers={"Authorization": f"Bearer {controlplane_token}"}
            ) as controlplane_http,
        ):
            targets = Targets(
                http,
                prometheus_write_url=f"{prometheus}/api/v1/write",
                loki=loki,
                controlplane_url=controlplane,
                controlplane_http=controlplane_http,
            )
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
                print(f"{scenario.name}: {verdict} (now {now.isoformat()}, {len(report.alerts)} alert payloads)")
                if report.failed or not loaded:
                    status = 2
    finally:
        await loki.aclose()
    return status
