"""The `sre` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Literal

import anyio

from cli.auth import add_auth_parser, run_auth
from cli.controlplane import add_controlplane_parser, run_controlplane
from cli.demo import DEFAULT_DEMO
from cli.logs import add_logs_parser, run_logs
from cli.scenario import add_scenario_parser, run_scenario
from common.components import COMPONENTS
from common.errors import ConfigError
from common.logging import configure_logging
from common.settings import SettingsSource
from common.telemetry import export_spans_from_environment

__all__ = ["main"]

_DESCRIPTION = """\
SRE Federation: MCP servers and A2A agents that take an alert to a ranked, evidenced diagnosis.

Configuration comes from the environment (PROMETHEUS_URL, SRE_AUTH_ISSUER, ...) and an optional
TOML file named by SRE_CONFIG; see docs/configuration.md."""

_EPILOG = """\
examples:
  sre stdio prometheus-mcp            MCP over stdio, for Claude Desktop or an IDE
  sre serve prometheus-mcp            MCP over Streamable HTTP on 127.0.0.1:8701/mcp
  sre stdio controlplane-mcp --read-only   control plane tools without the write tools
  sre stdio loki-mcp --disable patterns    loki-mcp without its log template tools
  PROMETHEUS_URL=http://prom:9090 sre doctor
  sre auth add-client triage --scopes agents:invoke   print a client secret (once)
"""


_READ_ONLY_HELP = "controlplane-mcp: hide the write tools (same as CONTROLPLANE_MCP_READ_ONLY=true)"
_DISABLE_HELP = "an MCP server: do not offer this tool group (repeatable; same as <PREFIX>DISABLED_GROUPS)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sre", description=_DESCRIPTION, epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR (default INFO)")
    parser.add_argument("--log-json", action="store_true", help="log one JSON object per line (to stderr)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    names = ", ".join(COMPONENTS)
    listing = "\n".join(f"  {c.name:18} {c.summary} (port {c.port})" for c in COMPONENTS.values())

    serve = commands.add_parser(
        "serve",
        help="run a component over HTTP",
        description=f"Run a component over HTTP.\n\ncomponents:\n{listing}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("name", choices=list(COMPONENTS), metavar="NAME", help=names)
    serve.add_argument("--read-only", action="store_true", help=_READ_ONLY_HELP)
    serve.add_argument("--disable", action="append", default=[], metavar="GROUP", help=_DISABLE_HELP)
    stdio = commands.add_parser(
        "stdio",
        help="run an MCP server over stdio (for Claude Desktop, IDEs)",
        description="Run an MCP server over stdin/stdout; no token is needed (it is your own child process).",
    )
    stdio.add_argument("name", choices=[c.name for c in COMPONENTS.values() if c.stdio], metavar="NAME", help=names)
    stdio.add_argument("--read-only", action="store_true", help=_READ_ONLY_HELP)
    stdio.add_argument("--disable", action="append", default=[], metavar="GROUP", help=_DISABLE_HELP)
    up = commands.add_parser(
        "up",
        help="run the platform on embedded defaults (what `make up` runs)",
        description="Start every component on 127.0.0.1 with embedded defaults, then play a demo incident:\n"
        "its alert fires, Alertmanager posts it to the router, triage investigates, and the report is\n"
        "printed (Markdown) with its URL. Ctrl-C stops everything.",
        epilog="examples:\n  sre up\n  sre up --demo payments-db-pool-exhausted\n"
        "  sre up --no-demo         then: sre scenario run bundled",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo = up.add_mutually_exclusive_group()
    demo.add_argument(
        "--demo",
        metavar="NAME_OR_FILE",
        default=DEFAULT_DEMO,
        help=f"the scenario to play: a bundled scenario's name or a scenario file (default {DEFAULT_DEMO})",
    )
    demo.add_argument("--no-demo", action="store_true", help="start the platform only; load no scenario")
    commands.add_parser(
        "doctor",
        help="check the configuration and that every configured backend answers",
        description="Check the configuration and that every configured backend answers, one line per check.",
    )
    add_auth_parser(commands)
    add_logs_parser(commands)
    add_controlplane_parser(commands)
    add_scenario_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    configure_logging(args.log_level, json_format=args.log_json)
    try:
        if args.command == "logs":  # local files only: needs no settings
            return run_logs(args)
        source = SettingsSource.load()
        if args.command == "doctor":
            return _doctor(source)
        if args.command == "auth":
            return run_auth(args, source)
        if args.command == "controlplane":
            return run_controlplane(args, source)
        if args.command == "scenario":
            return run_scenario(args, source)
        if args.command == "up":
            from cli.up import up

            return up(source, demo=None if args.no_demo else args.demo)
        if args.read_only:
            if args.name != "controlplane-mcp":
                raise ConfigError(f"--read-only applies to controlplane-mcp only; {args.name} has no write tools.")
            source = source.with_overrides({"CONTROLPLANE_MCP_READ_ONLY": "true"})
        if args.disable:
            component = COMPONENTS[args.name]
            if not component.stdio:
                raise ConfigError(f"--disable applies to the MCP servers only; {args.name} has no tool groups.")
            source = source.with_overrides({f"{component.prefix}DISABLED_GROUPS": " ".join(args.disable)})
        transport: Literal["stdio", "http"] = "stdio" if args.command == "stdio" else "http"
        # The standard OTEL_EXPORTER_OTLP_* variables send the component's spans to a collector.
        export_spans_from_environment(args.name)
        anyio.run(COMPONENTS[args.name].serve_function(), transport, source)
    except ConfigError as exc:
        print(f"sre: configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


def _doctor(source: SettingsSource) -> int:
    from cli.doctor import run_checks

    checks = anyio.run(run_checks, source)
    for check in checks:
        print(check.line())
    failed = [c for c in checks if not c.ok and c.required]
    warned = [c for c in checks if not c.ok and not c.required]
    passed = len(checks) - len(failed) - len(warned)
    warnings = f", {len(warned)} warning(s)" if warned else ""
    print(f"{passed} of {len(checks)} checks passed{warnings}" if not failed else f"{len(failed)} check(s) failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
