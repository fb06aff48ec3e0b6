"""`sre up` (what `make up` runs): the platform on embedded defaults, on 127.0.0.1.

It provisions one OAuth client per component, then starts each as its own process, in waves
(what a wave needs is ready before it starts): Prometheus (the Debian package, data under
SRE_DATA_DIR, the bundled alert rules, scraping itself and the components with its own
client-credentials token) and the registry with its embedded authorization server; then the
reference control plane (SQLite), prometheus-mcp, loki-mcp (with its embedded log store), the
triage agent and the router; then controlplane-mcp and Alertmanager, which posts alerts to the
router's webhook with its own token. The MCP servers and the agents register themselves. It
waits for each to be healthy and prints where everything is.

Then, unless `--no-demo`, it plays a bundled incident (`cli.demo`): the scenario's history is
loaded and its live samples keep arriving, its alert fires, and the report triage writes is
printed (Markdown, on stdout) with its URL.

The children run in process groups of their own, so Ctrl-C (or SIGTERM, SIGHUP) reaches `sre up`
alone: it stops the demo, then every component in reverse order, and exits 0. A component that
dies is restarted, with a back-off and a line on stderr saying so, and given up after too many
restarts while the rest keep running; the registry is essential, so giving it up stops everything
(`cli.supervisor`).
"""

from __future__ import annotations

import json
import shutil
import signal
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from cli.provisioning import provision, reserved_names
from cli.supervisor import Child, Supervisor
from common.components import COMPONENTS, Component
from common.errors import ConfigError
from common.local_run import write_endpoints
from common.scopes import AGENTS_INVOKE, METRICS_READ
from common.settings import DEFAULT_DATA_DIR, SettingsSource
from registry.auth_storage import admin_auth
from registry.settings import RegistrySettings
from scenarios.spec import BUNDLED_DIR

if TYPE_CHECKING:
    from cli.demo import Demo

__all__ = ["ALERT_RULES", "PORTS", "alertmanager_config", "start_waves", "up"]

#: DESIGN's ports: the two Debian programs `sre up` runs, then the components'; `SRE_UP_<NAME>_PORT` moves one
#: (tests, a second copy).
PORTS = {"prometheus": 9090, "alertmanager": 9093, **{c.name: c.port for c in COMPONENTS.values()}}
#: Prometheus' alerting rules, written against the metric names of the bundled scenarios.
ALERT_RULES = BUNDLED_DIR.parent / "bundled-rules" / "alert-rules.yml"
#: Per wave of components; generous, since a slow or busy machine takes long to import the agents.
_READY_TIMEOUT = 120.0
#: Longer than any bundled scenario's history (at most 6 h), so all of it can be remote-written.
OUT_OF_ORDER_WINDOW = "12h"
#: Short, so an alert's `for:` is seen through within seconds of its end (the demo waits on it).
EVALUATION_INTERVAL = "5s"


#: Components whose loss stops `sre up` once restarting them failed: the registry issues every token and
#: serves the keys every component checks them with. Without any other, the rest still work, degraded.
ESSENTIAL = ("registry",)
#: What stops `sre up`: Ctrl-C, `kill`, the terminal closing.
_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class _Stop(Exception):
    """SIGTERM or SIGHUP: stop like Ctrl-C does."""


def up(source: SettingsSource, *, demo: str | None = None) -> int:
    """Run the platform until Ctrl-C; `demo` names the scenario to play (a bundled name or a file)."""
    from cli.demo import Demo

    ports = {name: int(source.get(f"SRE_UP_{_key(name)}_PORT") or port) for name, port in PORTS.items()}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    # What each component is known by: the audience of tokens for it.
    audiences = {c.name: f"{urls[c.name]}{c.audience_path}" for c in COMPONENTS.values()}
    data_dir = Path(source.get("SRE_DATA_DIR") or DEFAULT_DATA_DIR).resolve()
    prometheus_url = source.get("PROMETHEUS_URL")
    if demo is not None and prometheus_url:
        print(
            "sre up: PROMETHEUS_URL is set, so no demo: it needs sre up's own Prometheus, with the bundled "
            "alert rules and Alertmanager.",
            file=sys.stderr,
        )
        demo = None
    scenario = Demo.scenario_named(demo) if demo is not None else None
    logs = data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    registry_settings = RegistrySettings.from_source(source.with_overrides({"SRE_DATA_DIR": str(data_dir)}))
    # The registry's clients file, or its database when REGISTRY_DATABASE_URL is PostgreSQL.
    _, clients = admin_auth(registry_settings)
    secrets = provision(data_dir, clients)
    # So that what runs beside sre up with the same data directory (`adk web agents`) finds its registry.
    write_endpoints(data_dir, urls)
    sre = [sys.executable, "-m", "cli.main"]
    common_env = {"SRE_DATA_DIR": str(data_dir), "SRE_HOST": "127.0.0.1", "REGISTRY_URL": urls["registry"]}

    own_prometheus = not prometheus_url
    prometheus_url = prometheus_url or urls["prometheus"]
    # What a component is told about the others beyond the registry, which finds the rest.
    wiring: dict[str, dict[str, str]] = {
        "registry": {
            # Tokens for a component that does not register (the control plane) are issued because it is listed.
            "REGISTRY_RESOURCES": json.dumps([urls[c.name] for c in COMPONENTS.values() if c.kind == "service"]),
            # Each component's name is its own client's: no other client may take or shadow it.
            "REGISTRY_RESERVED_NAMES": json.dumps(reserved_names()),
        },
        "prometheus-mcp": {"PROMETHEUS_URL": prometheus_url},
        "controlplane-mcp": {"CONTROLPLANE_URL": urls["controlplane"]},
        "router": {"ROUTER_TRIAGE_AGENT": "triage"},
    }

    def served(component: Component) -> Child:
        name = component.name
        command = [*sre, "serve", name]
        env = {**common_env, "SRE_PORT": str(ports[name]), **wiring.get(name, {})}
        if component.client_scopes:
            env |= {"SRE_CLIENT_ID": name, "SRE_CLIENT_SECRET": secrets[name]}
        return Child(name, command, f"{urls[name]}/healthz", logs / f"{name}.log", env)

    # Started wave by wave, each wave's components side by side, once what they start `after` is ready:
    # everyone verifies tokens with the registry's keys.
    waves = [[served(component) for component in wave] for wave in start_waves(COMPONENTS.values())]
    if own_prometheus:
        # Scraped with a token for each component's own audience: an MCP server's /mcp, an agent's URL.
        scraped = {c.name: audiences[c.name] for c in COMPONENTS.values() if c.registers}
        waves[0].insert(0, _prometheus(data_dir, ports["prometheus"], urls, scraped, logs))
    # Alertmanager goes with sre up's own Prometheus; another Prometheus has its own Alertmanager.
    alertmanager = prometheus_url == urls["prometheus"]
    if alertmanager:
        waves[-1].append(_alertmanager(data_dir, ports["alertmanager"], urls, logs))
    started: list[Child] = []
    previous = {signum: signal.getsignal(signum) for signum in _SIGNALS}
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _raise_stop)
    try:
        for wave in waves:
            print(f"sre up: starting {', '.join(child.name for child in wave)} ...", file=sys.stderr, flush=True)
            deadline = time.monotonic() + _READY_TIMEOUT
            for child in wave:
                child.launch()
                started.append(child)
            for child in wave:
                child.wait_ready(deadline)
        _banner(prometheus_url, urls, audiences, logs, alertmanager=alertmanager)
        if scenario is None:
            _supervise(started)
        else:
            federation = {
                "SRE_DATA_DIR": str(data_dir),
                "REGISTRY_URL": urls["registry"],
                "PROMETHEUS_URL": prometheus_url,
                "CONTROLPLANE_URL": urls["controlplane"],
            }
            _play_while_waiting(Demo(scenario, source.with_overrides(federation), urls, logs), started)
    except (KeyboardInterrupt, _Stop):
        pass
    finally:
        _ignore_signals()
        for child in reversed(started):
            child.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        print("sre up: stopped.", file=sys.stderr)
    return 0


def start_waves(components: Iterable[Component]) -> list[list[Component]]:
    """The components in waves, each after the waves holding what it starts `after`, in their records' order."""
    waves: list[list[Component]] = []
    placed: set[str] = set()
    pending = list(components)
    while pending:
        wave = [c for c in pending if placed.issuperset(c.after)]
        if not wave:
            raise ConfigError(f"Components wait for each other or for unknown ones: {[c.name for c in pending]}.")
        waves.append(wave)
        placed.update(c.name for c in wave)
        pending = [c for c in pending if c.name not in placed]
    return waves


def _play_while_waiting(demo: Demo, children: list[Child]) -> None:
    from anyio.from_thread import start_blocking_portal

    with start_blocking_portal() as portal:
        player = portal.start_task_soon(demo.play)
        try:
            _supervise(children)
        finally:
            _ignore_signals()
            # The live samples stop before the components they are written to.
            player.cancel()


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop(signal.Signals(signum).name)


def _ignore_signals() -> None:
    """Shutting down: a second Ctrl-C must not leave components running."""
    for signum in _SIGNALS:
        signal.signal(signum, signal.SIG_IGN)


def _supervise(children: list[Child]) -> None:
    """Until Ctrl-C: restarts happen only in here, so none can follow the stopping in `up`."""
    Supervisor(children, essential=ESSENTIAL).run()


def _prometheus(data_dir: Path, port: int, urls: Mapping[str, str], scraped: Mapping[str, str], logs: Path) -> Child:
    binary = shutil.which("prometheus")
    if binary is None:
        raise ConfigError(
            "The prometheus binary is missing; install it (sudo apt-get install -y prometheus) or set PROMETHEUS_URL."
        )
    secret_file = data_dir / "credentials" / "prometheus.secret"
    config: dict[str, Any] = {
        "global": {"scrape_interval": "15s", "evaluation_interval": EVALUATION_INTERVAL},
        "rule_files": [str(ALERT_RULES)],
        "alerting": {
            "alertmanagers": [{"static_configs": [{"targets": [urlsplit(urls["alertmanager"]).netloc]}]}],
        },
        "scrape_configs": [
            {"job_name": "prometheus", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]},
            *(
                # The components' /metrics need a token like any other request: Prometheus gets its own,
                # one per component since each is its own audience.
                {
                    "job_name": name,
                    "static_configs": [{"targets": [urlsplit(audience).netloc]}],
                    "oauth2": {
                        "client_id": "prometheus",
                        "client_secret_file": str(secret_file),
                        "token_url": f"{urls['registry']}/oauth/token",
                        "scopes": [METRICS_READ],
                        "endpoint_params": {"resource": audience},
                    },
                }
                for name, audience in scraped.items()
            ),
        ],
        # `sre scenario load` remote-writes hours of history, older than what Prometheus already holds.
        "storage": {"tsdb": {"out_of_order_time_window": OUT_OF_ORDER_WINDOW}},
    }
    return _prometheus_project(
        "prometheus", binary, config, data_dir, port, logs, "--storage.tsdb.path", "--web.enable-remote-write-receiver"
    )


def _prometheus_project(
    name: str, binary: str, config: Mapping[str, Any], data_dir: Path, port: int, logs: Path, storage: str, *flags: str
) -> Child:
    """Prometheus or Alertmanager: config and data under SRE_DATA_DIR/<name>, their flags, ready at /-/ready."""
    workdir = data_dir / name
    workdir.mkdir(parents=True, exist_ok=True)
    config_file = workdir / f"{name}.yml"
    config_file.write_text(json.dumps(config, indent=2))  # JSON is valid YAML
    return Child(
        name,
        [
            binary,
            f"--config.file={config_file}",
            f"{storage}={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            *flags,
        ],
        f"http://127.0.0.1:{port}/-/ready",
        logs / f"{name}.log",
    )


def alertmanager_config(router_url: str, registry_url: str, secret_file: Path) -> dict[str, Any]:
    """Every alert to the router's webhook, with a token of the `alertmanager` client for the router.

    Grouped by service and namespace: triage investigates one service, and the alerts of one
    service firing together (errors and latency, say) are one incident, so one investigation.
    Resolved notifications are sent: the router ends the incident on them, so the same alerts
    firing again later start a new investigation instead of being taken for a re-send.
    """
    return {
        "route": {
            "receiver": "router",
            "group_by": ["service", "namespace"],
            "group_wait": "10s",
            "group_interval": "5m",
            "repeat_interval": "4h",
        },
        "receivers": [
            {
                "name": "router",
                "webhook_configs": [
                    {
                        "url": f"{router_url}/webhooks/alertmanager",
                        "send_resolved": True,
                        "http_config": {
                            "oauth2": {
                                "client_id": "alertmanager",
                                "client_secret_file": str(secret_file),
                                "token_url": f"{registry_url}/oauth/token",
                                "scopes": [AGENTS_INVOKE],
                                "endpoint_params": {"resource": router_url},
                            }
                        },
                    }
                ],
            }
        ],
    }


def _alertmanager(data_dir: Path, port: int, urls: Mapping[str, str], logs: Path) -> Child:
    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if binary is None:
        raise ConfigError(
            "The prometheus-alertmanager binary is missing; install it (sudo apt-get install -y "
            "prometheus-alertmanager) or set PROMETHEUS_URL to a Prometheus with an Alertmanager of its own."
        )
    config = alertmanager_config(urls["router"], urls["registry"], data_dir / "credentials" / "alertmanager.secret")
    # A single instance: no gossip, and no second port (9094) to collide on.
    return _prometheus_project(
        "alertmanager", binary, config, data_dir, port, logs, "--storage.path", "--cluster.listen-address="
    )


def _key(name: str) -> str:
    return name.upper().replace("-", "_")


def _banner(
    prometheus_url: str, urls: Mapping[str, str], audiences: Mapping[str, str], logs: Path, *, alertmanager: bool
) -> None:
    prometheus_mcp = audiences["prometheus-mcp"]
    alerts = urls["alertmanager"]
    routed = f"  Alertmanager       {alerts}   (posts alerts to the router's webhook)\n" if alertmanager else ""
    components = "".join(f"  {name:18} {url}{_note(name, urls)}\n" for name, url in audiences.items())
    print(
        f"""
SRE Federation is up (Ctrl-C stops it). Logs: {logs}
  Prometheus         {prometheus_url}   (alert rules: {ALERT_RULES})
{routed}{components}Try it:
  TOKEN=$(.venv/bin/sre auth token --audience {prometheus_mcp})
  npx @modelcontextprotocol/inspector --cli {prometheus_mcp} --transport http \\
      --header "Authorization: Bearer $TOKEN" --method tools/list
  .venv/bin/sre scenario run bundled      (each bundled incident through the router, scored)
  or add `sre stdio prometheus-mcp` to Claude Desktop (see README).
""",
        file=sys.stderr,
        flush=True,
    )


def _note(name: str, urls: Mapping[str, str]) -> str:
    """What the banner says after a component's URL: where to go next."""
    notes = {
        "registry": "agents, servers, OAuth2 token endpoint /oauth/token",
        "controlplane": "API at /api/v1, OpenAPI at /openapi.json; reports at /api/v1/analyses",
        "loki-mcp": f"embedded log store; Loki push API at {urls['loki-mcp']}/loki/api/v1/push",
        "controlplane-mcp": "write tools need an approval: sre controlplane approvals",
        "router": "A2A; POST /webhooks/alertmanager, /webhooks/deployment",
    }
    kind = COMPONENTS[name].kind
    note = notes.get(name) or ("A2A; card at /.well-known/agent-card.json" if kind == "agent" else "")
    return f"   ({note})" if note else ""
