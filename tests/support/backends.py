"""Real Prometheus and VictoriaMetrics processes on 127.0.0.1 for integration tests.

Plain classes, not pytest fixtures, so a conftest (or a script) decides their scope::

    with PrometheusProcess(tmp / "prom", build_dataset(end), default_rules=True) as prom:
        httpx.get(f"{prom.url}/api/v1/query", params={"query": "queue_depth"})

Life cycle: ``start()`` (load history, launch, wait until ready) -> ``pause()``/``resume()``
(SIGSTOP/SIGCONT: a hanging backend that accepts connections but never answers) ->
``kill()`` (SIGKILL: a dead backend, connections refused) -> ``start()`` again restarts on the
same port with the same data -> ``stop()``. Every launched process is also stopped at interpreter
exit and, on Linux, killed by the kernel if the test process dies without running ``atexit``.

Errors: ``BackendStartError`` when a binary exits before it is ready, and a test failure
(``support.eventually``) when it is not ready in time; either message ends with the tail of the
backend's log.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import json
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx
import pytest

from support.eventually import eventually
from support.metrics_dataset import Dataset

__all__ = [
    "DEFAULT_STARTUP_TIMEOUT",
    "AlertmanagerProcess",
    "BackendStartError",
    "PrometheusProcess",
    "VictoriaMetricsProcess",
    "free_port",
    "write_rules",
]

DEFAULT_STARTUP_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
LOG_TAIL_LINES = 40
_POLL_INTERVAL = 0.05
_PORT_ATTEMPTS = 3

PROMETHEUS_BINARY = "prometheus"
PROMTOOL_BINARY = "promtool"
ALERTMANAGER_BINARY = "prometheus-alertmanager"
VICTORIA_METRICS_BINARY = "victoria-metrics"

SELF_SCRAPE_ALERT = "PrometheusSelfScrapeUp"
SELF_SCRAPE_RECORD = "job:up:sum"

_RULES = f"""\
groups:
  - name: sre-test
    rules:
      - alert: {SELF_SCRAPE_ALERT}
        expr: up{{job="prometheus"}} == 1
        for: 0s
        labels:
          severity: info
        annotations:
          summary: "Prometheus scrapes itself"
      - record: {SELF_SCRAPE_RECORD}
        expr: sum by (job) (up)
"""


class BackendStartError(RuntimeError):
    pass


def free_port() -> int:
    """A port free on 127.0.0.1 now, never handed out before in this process.

    Chosen outside the kernel's ephemeral range: a port from ``bind(0)`` comes from the range
    outgoing connections take their local ports from, so any process's next HTTP call could take
    it before the backend binds it (CI lost a run to Alertmanager, the last process `sre up`
    starts, finding its port so taken). The port can still be taken by another listener, so
    start() retries on another port if the backend reports it taken.
    """
    low, high = _listening_range()
    for _ in range(_PORT_PICKS):
        port = _ports_random.randint(low, high)
        if port not in _handed_out and _bindable(port):
            _handed_out.add(port)
            return port
    raise BackendStartError(f"no free port found on 127.0.0.1 between {low} and {high} after {_PORT_PICKS} tries")


_PORT_PICKS = 500
_handed_out: set[int] = set()
_ports_random = random.Random()


def _listening_range() -> tuple[int, int]:
    """The widest port range below or above the ephemeral one (Linux default 32768-60999)."""
    try:
        low, high = (int(n) for n in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        low, high = 32768, 60999
    below, above = (10000, low - 1), (high + 1, 65535)
    return max(below, above, key=lambda r: r[1] - r[0])


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def write_rules(path: Path) -> Path:
    """Write the `sre-test` group: alert PrometheusSelfScrapeUp (fires once Prometheus has scraped
    itself, severity info) and recording rule job:up:sum = sum by (job) (up)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_RULES)
    return path


_live: set[_BackendProcess] = set()


@atexit.register
def _stop_leftovers() -> None:
    for backend in list(_live):
        backend.stop()


def _die_with_parent() -> Callable[[], None] | None:
    # atexit does not run when pytest itself is SIGKILLed or times out on SIGTERM; PDEATHSIG makes
    # the kernel kill the backend then. It fires when the *thread* that spawned the child exits,
    # so only use it from the main thread, which lives as long as the process.
    if sys.platform != "linux" or threading.current_thread() is not threading.main_thread():
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1

    def preexec() -> None:
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)

    return preexec


class _PortTakenError(Exception):
    pass


class _BackendProcess:
    """Launch, readiness, signals and clean-up shared by both backends."""

    name: str
    ready_path: str
    port_taken_marker = "address already in use"

    def __init__(self, workdir: Path, dataset: Dataset | None, startup_timeout: float) -> None:
        self.workdir = Path(workdir)
        self.dataset = dataset
        self.startup_timeout = startup_timeout
        self.log_path = self.workdir / f"{self.name}.log"
        self.version = "unknown"
        self._port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._prepared = False
        self._loaded = False

    # -- to override -------------------------------------------------------------------------

    def _prepare(self) -> None:
        """Runs once, before the first launch; a restart must not backfill twice."""

    def _command(self, port: int) -> list[str]:
        raise NotImplementedError

    def _load(self, client: httpx.Client) -> None:
        """Runs once per workdir, after the first time the backend is ready."""

    def _read_version(self, client: httpx.Client) -> str:
        raise NotImplementedError

    # -- public ------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError(f"{self.name} has not been started.")
        return self._port

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    scheme = "http"

    def client_options(self) -> dict[str, Any]:
        """What an httpx client needs to talk to this backend (TLS trust, credentials)."""
        return {}

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> Self:
        """Start (or restart after kill()/stop(), on the same port when it is still free)."""
        if self.running:
            return self
        if not self._prepared:
            self.workdir.mkdir(parents=True, exist_ok=True)
            self._prepare()
            self._prepared = True
        for attempt in range(_PORT_ATTEMPTS):
            if self._port is None or attempt > 0:
                self._port = free_port()
            self._launch(self._port)
            try:
                self._wait_ready()
                break
            except _PortTakenError:
                self._reap()
        else:
            raise BackendStartError(f"{self.name} found no free port in {_PORT_ATTEMPTS} attempts.{self._log_tail()}")
        try:
            with httpx.Client(base_url=self.url, timeout=5.0, **self.client_options()) as client:
                if not self._loaded:
                    self._load(client)
                    self._loaded = True
                self.version = self._read_version(client)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._process is None:
            return
        if self._process.poll() is None:
            # A paused process keeps SIGTERM pending until it is continued.
            self._process.send_signal(signal.SIGCONT)
            self._process.terminate()
            try:
                self._process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._process.kill()
        self._reap()

    def kill(self) -> None:
        """SIGKILL: the backend is gone and its port refuses connections."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
        self._reap()

    def pause(self) -> None:
        """SIGSTOP: the kernel still accepts connections, but nothing answers."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<{type(self).__name__} {state} port={self._port} workdir={str(self.workdir)!r}>"

    # -- internals ---------------------------------------------------------------------------

    def _launch(self, port: int) -> None:
        command = self._command(port)
        if shutil.which(command[0]) is None:
            raise BackendStartError(f"{command[0]} is not installed (it ships in the Debian package of the same name).")
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                command,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent(),
            )
        _live.add(self)

    def _wait_ready(self) -> None:
        process = self._process
        assert process is not None

        def ready() -> bool:
            if process.poll() is not None:
                tail = self._log_tail()
                if self.port_taken_marker in tail:
                    raise _PortTakenError
                self._reap()
                raise BackendStartError(
                    f"{self.name} exited with code {process.returncode} before becoming ready.{tail}"
                )
            with contextlib.suppress(httpx.TransportError):
                return client.get(f"{self.url}{self.ready_path}").status_code == 200
            return False

        with httpx.Client(timeout=1.0, **self.client_options()) as client:
            try:
                self._eventually(ready, f"{self.name} to be ready at {self.url}{self.ready_path}")
            except pytest.fail.Exception:
                self.stop()
                raise

    def _eventually(self, condition: Callable[[], bool], what: str) -> None:
        eventually(
            condition,
            timeout=self.startup_timeout,
            interval=_POLL_INTERVAL,
            what=lambda: f"{what}{self._log_tail()}",
        )

    def _signal(self, signum: signal.Signals) -> None:
        if not self.running:
            raise RuntimeError(f"{self.name} is not running.")
        assert self._process is not None
        self._process.send_signal(signum)

    def _reap(self) -> None:
        if self._process is not None:
            self._process.wait()
        _live.discard(self)

    def _log_tail(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
        except OSError:
            return ""
        return f"\n--- last {len(lines)} lines of {self.log_path} ---\n" + "\n".join(lines)


def _run(command: list[str], what: str) -> str:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BackendStartError(f"{what} failed with code {result.returncode}:\n{result.stdout}{result.stderr}")
    return result.stdout


class PrometheusProcess(_BackendProcess):
    """Prometheus scraping itself every second, with history backfilled from ``dataset``."""

    name = "prometheus"
    ready_path = "/-/ready"

    def __init__(
        self,
        workdir: Path,
        dataset: Dataset | None,
        rule_files: Sequence[Path] = (),
        extra_scrape_configs: Sequence[Mapping[str, Any]] = (),
        *,
        default_rules: bool = False,
        remote_write_receiver: bool = False,
        out_of_order_window: str | None = None,
        alertmanagers: Sequence[str] = (),
        web_config: Mapping[str, Any] | None = None,
        client_options: Mapping[str, Any] | None = None,
        startup_timeout: float = DEFAULT_STARTUP_TIMEOUT,
    ) -> None:
        super().__init__(workdir, dataset, startup_timeout)
        # Prometheus' own TLS and basic auth (--web.config.file); client_options lets the
        # fixture itself pass them while it waits for readiness.
        self.web_config = dict(web_config) if web_config else None
        self._client_options = dict(client_options or {})
        if self.web_config and "tls_server_config" in self.web_config:
            self.scheme = "https"
        self.rule_files = [Path(p) for p in rule_files]
        self.extra_scrape_configs = [dict(c) for c in extra_scrape_configs]
        self.default_rules = default_rules
        self.remote_write_receiver = remote_write_receiver
        # Remote-written history (a scenario's) is older than the self-scrape's samples: without
        # tsdb.out_of_order_time_window, Prometheus refuses it as out of order.
        self.out_of_order_window = out_of_order_window
        self.alertmanagers = list(alertmanagers)
        self.data_dir = self.workdir / "data"
        self.config_path = self.workdir / "prometheus.yml"

    def _prepare(self) -> None:
        if self.default_rules:
            self.rule_files.append(write_rules(self.workdir / "sre-test-rules.yml"))
        if self.dataset is not None:
            history = self.workdir / "history.om"
            history.write_text(self.dataset.openmetrics())
            _run(
                [
                    PROMTOOL_BINARY,
                    "tsdb",
                    "create-blocks-from",
                    "openmetrics",
                    "--quiet",
                    str(history),
                    str(self.data_dir),
                ],
                "promtool tsdb create-blocks-from openmetrics",
            )

    def _command(self, port: int) -> list[str]:
        # JSON is YAML, and the self-scrape target needs the port chosen for this launch.
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(p) for p in self.rule_files],
            "scrape_configs": [
                {"job_name": "prometheus", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]},
                *self.extra_scrape_configs,
            ],
        }
        if self.alertmanagers:
            targets = [url.split("://", 1)[-1] for url in self.alertmanagers]
            config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": targets}]}]}
        if self.out_of_order_window is not None:
            config["storage"] = {"tsdb": {"out_of_order_time_window": self.out_of_order_window}}
        self.config_path.write_text(json.dumps(config, indent=2))
        web = []
        if self.web_config is not None:
            web_path = self.workdir / "web.yml"
            web_path.write_text(json.dumps(self.web_config, indent=2))
            web = [f"--web.config.file={web_path}"]
        return [
            PROMETHEUS_BINARY,
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.data_dir}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--web.enable-lifecycle",
            "--storage.tsdb.retention.time=30d",
            *(["--web.enable-remote-write-receiver"] if self.remote_write_receiver else []),
            *web,
        ]

    def client_options(self) -> dict[str, Any]:
        return self._client_options

    def _read_version(self, client: httpx.Client) -> str:
        response = client.get("/api/v1/status/buildinfo")
        response.raise_for_status()
        return str(response.json()["data"]["version"])


class AlertmanagerProcess(_BackendProcess):
    """Alertmanager (the Debian package) routing every alert to one webhook receiver at once.

    `webhook_url` receives Alertmanager's webhook payloads (version 4); `http_config` is the
    receiver's `http_config` (e.g. `{"authorization": {"credentials": "..."}}` for a bearer token).
    Grouping waits are short so a test sees a notification within a second or two.
    """

    name = "alertmanager"
    ready_path = "/-/ready"

    def __init__(
        self,
        workdir: Path,
        webhook_url: str,
        *,
        http_config: Mapping[str, Any] | None = None,
        repeat_interval: str = "1h",
        startup_timeout: float = DEFAULT_STARTUP_TIMEOUT,
    ) -> None:
        super().__init__(workdir, None, startup_timeout)
        self.webhook_url = webhook_url
        self.http_config = dict(http_config or {})
        self.repeat_interval = repeat_interval
        self.config_path = self.workdir / "alertmanager.yml"

    def _command(self, port: int) -> list[str]:
        receiver: dict[str, Any] = {"url": self.webhook_url, "send_resolved": True}
        if self.http_config:
            receiver["http_config"] = self.http_config
        config = {
            "route": {
                "receiver": "router",
                "group_by": ["alertname", "service"],
                "group_wait": "1s",
                "group_interval": "1s",
                "repeat_interval": self.repeat_interval,
            },
            "receivers": [{"name": "router", "webhook_configs": [receiver]}],
        }
        self.config_path.write_text(json.dumps(config, indent=2))
        return [
            ALERTMANAGER_BINARY,
            f"--config.file={self.config_path}",
            f"--storage.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            # No gossip: a single instance, and no second port to collide on.
            "--cluster.listen-address=",
        ]

    def _read_version(self, client: httpx.Client) -> str:
        response = client.get("/api/v2/status")
        response.raise_for_status()
        return str(response.json().get("versionInfo", {}).get("version", "unknown"))


class VictoriaMetricsProcess(_BackendProcess):
    """Single-node VictoriaMetrics with history imported from ``dataset``.

    It has no scraper, rules or alerts of its own here: /api/v1/rules and /api/v1/alerts answer
    empty lists, /api/v1/targets no targets, /api/v1/metadata an empty object.
    """

    name = "victoria-metrics"
    ready_path = "/health"

    def __init__(
        self,
        workdir: Path,
        dataset: Dataset | None,
        *,
        startup_timeout: float = DEFAULT_STARTUP_TIMEOUT,
    ) -> None:
        super().__init__(workdir, dataset, startup_timeout)
        self.data_dir = self.workdir / "data"

    def _command(self, port: int) -> list[str]:
        return [
            VICTORIA_METRICS_BINARY,
            f"-storageDataPath={self.data_dir}",
            f"-httpListenAddr=127.0.0.1:{port}",
            "-retentionPeriod=1y",
            # Without these, VictoriaMetrics hides the last 30 s and serves cached results, so
            # queries near `end` and repeated queries after a change would not see the data.
            "-search.latencyOffset=0s",
            "-search.disableCache",
        ]

    def _load(self, client: httpx.Client) -> None:
        if self.dataset is None:
            return
        end = self.dataset.end
        response = client.post(
            "/api/v1/import/prometheus",
            content=self.dataset.prometheus_import_text().encode(),
            headers={"Content-Type": "text/plain"},
        )
        response.raise_for_status()
        # Imported rows sit in in-memory buffers for up to a second before search sees them.
        client.get("/internal/force_flush").raise_for_status()

        def imported() -> bool:
            response = client.get("/api/v1/query", params={"query": "count(queue_depth)", "time": end})
            result = response.json()["data"]["result"] if response.status_code == 200 else []
            return bool(result) and result[0]["value"][1] == "1"

        self._eventually(imported, "the imported history to be searchable")

    def _read_version(self, client: httpx.Client) -> str:
        # The Debian build is linked without a version: `-version`, /api/v1/status/buildinfo and
        # vm_app_version are all empty, so fall back to the package that installed the binary.
        version = _run([VICTORIA_METRICS_BINARY, "-version"], "victoria-metrics -version").strip()
        if version:
            return version
        with contextlib.suppress(OSError, BackendStartError):
            return _run(["dpkg-query", "-W", "-f=${Version}", "victoria-metrics"], "dpkg-query").strip()
        return "unknown"
