"""What the MCP hop costs: one instant query, directly against Prometheus and through prometheus-mcp.

    .venv/bin/python bench/mcp_overhead.py [--calls 1000] [--warmup 50] [--concurrency 8] [--query 'vector(1)']

Everything runs on 127.0.0.1 and is started here: a Prometheus (the Debian binary, via the test
suite's `PrometheusProcess`), prometheus-mcp as users start it (`sre stdio prometheus-mcp` as a
child of this process, `sre serve prometheus-mcp` as a served process, once with
SRE_AUTH_DISABLED and once verifying bearer tokens from the test issuer), and the clients. Modes:

- direct       httpx POST /api/v1/query on a pooled client (the baseline: a Python program's own query)
- direct-lean  the same on `common.http1.Http1Transport`, the transport prometheus-mcp sends it with
- stdio        `prometheus_query` through the MCP client over stdio
- http         `prometheus_query` over Streamable HTTP, auth disabled
- http+auth    the same with `Authorization: Bearer <RS256 JWT>`, verified on every request
- pab1it0      pab1it0's `prometheus-mcp-server` (PyPI, the most used Python Prometheus MCP server),
               its `execute_query` tool over stdio, through the same MCP client: the comparison

pab1it0's server lives in its own virtual environment, `bench/.venvs/pab1it0` (git-ignored), made
on the first run with `python -m venv` and `pip install prometheus-mcp-server==1.6.2`; `--no-pab1it0`
leaves it out. Both stdio servers send their logs (stderr) to a file, so neither pays a terminal.

Each mode warms up, then makes `--calls` sequential calls on one client and one session; direct,
stdio, http and pab1it0 are also run with `--concurrency` calls in flight on that same client/session. Latency is
measured in this process around each call. CPU time per call (user + system, psutil) is taken
over the measured calls for this process (the client) and for the server process; the server's RSS
after its runs and its peak (VmHWM) too. Prometheus answers the same request in every mode, so
"overhead" (p50 minus the direct p50) is what the MCP hop adds, client and server side together.
A last line times `JwtVerifier.verify_token` alone, the part of http+auth that end-to-end noise hides.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

import anyio
import httpx
import httpx2
import psutil
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

ROOT = Path(__file__).resolve().parents[1]
# The benchmark reuses the test suite's real-process helpers: Prometheus, the token issuer, `sre serve`.
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from support.backends import PrometheusProcess  # noqa: E402
from support.issuer import TestIssuer  # noqa: E402
from support.served import ServedComponent  # noqa: E402

from common.auth import JwtVerifier, TokenValidation  # noqa: E402
from common.http1 import Http1Transport  # noqa: E402
from common.scopes import METRICS_READ  # noqa: E402

DEFAULT_CALLS = 1000
DEFAULT_WARMUP = 50
DEFAULT_CONCURRENCY = 8
DEFAULT_QUERY = "vector(1)"
TOOL = "prometheus_query"
PAB1IT0_PACKAGE = "prometheus-mcp-server==1.6.2"
PAB1IT0_TOOL = "execute_query"
PAB1IT0_VENV = ROOT / "bench" / ".venvs" / "pab1it0"
SCOPE = METRICS_READ
# Long enough for the whole run: a token that expires mid-run would turn calls into 401s.
TOKEN_LIFETIME_SECONDS = 3600
CALL_TIMEOUT_SECONDS = 30.0
MB = 1_000_000

Call = Callable[[], Awaitable[None]]


@dataclass
class Run:
    mode: str
    concurrency: int
    latencies_ms: list[float]
    elapsed_s: float
    client_cpu_ms_per_call: float
    server_cpu_ms_per_call: float | None

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_ms)

    @property
    def p95(self) -> float:
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[94]

    @property
    def calls_per_second(self) -> float:
        return len(self.latencies_ms) / self.elapsed_s


@dataclass
class ModeResult:
    """The runs of one mode and the memory of its server process after them."""

    rss_mb: float | None = None
    peak_rss_mb: float | None = None
    runs: list[Run] = field(default_factory=list)


@dataclass(frozen=True)
class Mode:
    """A way of making the query: `call` makes one, `pid` is the server process (None for direct)."""

    name: str
    call: Call
    pid: int | None


async def measure(mode: Mode, calls: int, warmup: int, concurrency: int) -> Run:
    for _ in range(warmup):
        await mode.call()
    latencies: list[float] = []
    remaining = calls

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            with anyio.fail_after(CALL_TIMEOUT_SECONDS):
                await mode.call()
            latencies.append((time.perf_counter() - started) * 1000)

    client = psutil.Process()
    server = psutil.Process(mode.pid) if mode.pid is not None else None
    client_before, server_before = _cpu_seconds(client), _cpu_seconds(server)
    started = time.perf_counter()
    async with anyio.create_task_group() as tasks:
        for _ in range(concurrency):
            tasks.start_soon(worker)
    elapsed = time.perf_counter() - started
    client_cpu = (_cpu_seconds(client) - client_before) * 1000 / calls
    server_cpu = (_cpu_seconds(server) - server_before) * 1000 / calls if server is not None else None
    return Run(mode.name, concurrency, latencies, elapsed, client_cpu, server_cpu)


async def benchmark(mode: Mode, args: argparse.Namespace, *, concurrent_too: bool) -> ModeResult:
    server = ModeResult()
    server.runs.append(await measure(mode, args.calls, args.warmup, 1))
    if concurrent_too and args.concurrency > 1:
        server.runs.append(await measure(mode, args.calls, args.warmup, args.concurrency))
    if mode.pid is not None:
        server.rss_mb = psutil.Process(mode.pid).memory_info().rss / MB
        server.peak_rss_mb = _peak_rss_mb(mode.pid)
    return server


def _cpu_seconds(process: psutil.Process | None) -> float:
    if process is None:
        return 0.0
    times = process.cpu_times()
    return float(times.user + times.system)


def _peak_rss_mb(pid: int) -> float | None:
    # The kernel's high-water mark of the resident set; psutil does not expose it.
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / MB
    except OSError:
        pass
    return None


def _child_server(subcommand: str) -> int:
    """The pid of the prometheus-mcp this process started with `cli.main <subcommand>`."""
    for child in psutil.Process().children(recursive=True):
        try:
            command = child.cmdline()
        except psutil.Error:
            continue
        if "cli.main" in command and subcommand in command and "prometheus-mcp" in command:
            return int(child.pid)
    raise RuntimeError(f"No `cli.main {subcommand} prometheus-mcp` child process found.")


def _check(result: object) -> None:
    if getattr(result, "is_error", True):
        raise RuntimeError(f"The tool call failed: {getattr(result, 'content', result)}")


def pab1it0_server() -> Path:
    """The `prometheus-mcp-server` executable of pab1it0's package, installed on first use."""
    executable = PAB1IT0_VENV / "bin" / "prometheus-mcp-server"
    if executable.exists():
        return executable
    print(f"Installing {PAB1IT0_PACKAGE} into {PAB1IT0_VENV} (first run only)...", file=sys.stderr)
    PAB1IT0_VENV.parent.mkdir(parents=True, exist_ok=True)
    # Nothing under bench/.venvs belongs in git.
    (PAB1IT0_VENV.parent / ".gitignore").write_text("*\n")
    subprocess.run([sys.executable, "-m", "venv", str(PAB1IT0_VENV)], check=True)
    pip = [str(PAB1IT0_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", PAB1IT0_PACKAGE]
    subprocess.run(pip, check=True)
    if not executable.exists():
        raise RuntimeError(f"{PAB1IT0_PACKAGE} installed no {executable}; remove {PAB1IT0_VENV} and run again.")
    return executable


def _child_pid(executable: str) -> int:
    for child in psutil.Process().children(recursive=True):
        try:
            if child.exe() == executable or executable in child.cmdline()[:2]:
                return int(child.pid)
        except psutil.Error:
            continue
    raise RuntimeError(f"No child process {executable} found.")


@asynccontextmanager
async def direct_mode(prometheus_url: str, query: str, *, lean: bool = False) -> AsyncIterator[Mode]:
    transport = Http1Transport() if lean else None
    async with httpx.AsyncClient(base_url=prometheus_url, timeout=CALL_TIMEOUT_SECONDS, transport=transport) as http:

        async def call() -> None:
            # The same request prometheus-mcp sends for prometheus_query.
            form = {"query": query, "time": f"{time.time():.3f}", "timeout": "30000ms"}
            response = await http.post("/api/v1/query", data=form)
            if response.status_code != 200 or response.json().get("status") != "success":
                raise RuntimeError(f"Prometheus answered {response.status_code}: {response.text[:200]}")

        yield Mode("direct-lean" if lean else "direct", call, None)


@asynccontextmanager
async def stdio_mode(prometheus_url: str, query: str, log: Path) -> AsyncIterator[Mode]:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "cli.main", "stdio", "prometheus-mcp"],
        env={**os.environ, "PROMETHEUS_URL": prometheus_url},
        cwd=str(ROOT),
    )
    with log.open("w") as errlog:
        async with Client(stdio_client(params, errlog=errlog)) as client:

            async def call() -> None:
                _check(await client.call_tool(TOOL, {"query": query}))

            yield Mode("stdio", call, _child_server("stdio"))


@asynccontextmanager
async def pab1it0_mode(executable: Path, prometheus_url: str, query: str, log: Path) -> AsyncIterator[Mode]:
    """pab1it0's server as its README starts it for a desktop client: over stdio, configured by environment."""
    # The SDK adds the usual few variables (PATH, HOME...) to these.
    env = {"PROMETHEUS_URL": prometheus_url, "PROMETHEUS_MCP_SERVER_TRANSPORT": "stdio"}
    params = StdioServerParameters(command=str(executable), env=env, cwd=str(log.parent))
    with log.open("w") as errlog:
        async with Client(stdio_client(params, errlog=errlog)) as client:

            async def call() -> None:
                _check(await client.call_tool(PAB1IT0_TOOL, {"query": query}))

            yield Mode("pab1it0", call, _child_pid(str(executable)))


@asynccontextmanager
async def http_mode(name: str, mcp_url: str, query: str, token: str | None) -> AsyncIterator[Mode]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        httpx2.AsyncClient(headers=headers) as http,
        Client(streamable_http_client(mcp_url, http_client=http)) as client,
    ):

        async def call() -> None:
            _check(await client.call_tool(TOOL, {"query": query}))

        yield Mode(name, call, _child_server("serve"))


async def run_all(
    args: argparse.Namespace, workdir: Path, prometheus: PrometheusProcess
) -> tuple[dict[str, ModeResult], float]:
    servers: dict[str, ModeResult] = {}
    async with direct_mode(prometheus.url, args.query) as mode:
        servers[mode.name] = await benchmark(mode, args, concurrent_too=True)
    async with direct_mode(prometheus.url, args.query, lean=True) as mode:
        servers[mode.name] = await benchmark(mode, args, concurrent_too=True)
    async with stdio_mode(prometheus.url, args.query, workdir / "stdio.log") as mode:
        servers[mode.name] = await benchmark(mode, args, concurrent_too=True)
    if args.pab1it0:
        async with pab1it0_mode(pab1it0_server(), prometheus.url, args.query, workdir / "pab1it0.log") as mode:
            servers[mode.name] = await benchmark(mode, args, concurrent_too=True)

    # The per-caller limit (200 a second by default) would answer 429 to the 8-in-flight phase on a quiet
    # machine: what is measured is the hop, not the limiter.
    base_env = {"PROMETHEUS_URL": prometheus.url, "SRE_HOST": "127.0.0.1", "SRE_REQUESTS_PER_SECOND": "100000"}
    with ServedComponent("prometheus-mcp", {**base_env, "SRE_AUTH_DISABLED": "true"}, workdir / "open") as served:
        async with http_mode("http", served.mcp_url, args.query, None) as mode:
            servers[mode.name] = await benchmark(mode, args, concurrent_too=True)

    with TestIssuer() as issuer:
        auth_env = {**base_env, "SRE_AUTH_ISSUER": issuer.issuer, "SRE_AUTH_JWKS_URL": issuer.jwks_url}
        with ServedComponent("prometheus-mcp", auth_env, workdir / "auth") as served:
            token = issuer.mint(served.mcp_url, [SCOPE], lifetime=TOKEN_LIFETIME_SECONDS)
            async with http_mode("http+auth", served.mcp_url, args.query, token) as mode:
                servers[mode.name] = await benchmark(mode, args, concurrent_too=False)
            verification_us = await verification_cost(issuer, served.mcp_url, token, args.calls)
    return servers, verification_us


async def verification_cost(issuer: TestIssuer, audience: str, token: str, calls: int) -> float:
    """Microseconds per `JwtVerifier.verify_token` in this process, JWKS cached: the auth share of a call."""
    validation = TokenValidation(issuer=issuer.issuer, jwks_url=issuer.jwks_url, audience=audience)
    async with httpx.AsyncClient() as http:
        verifier = JwtVerifier(validation, http)
        if await verifier.verify_token(token) is None:
            raise RuntimeError("The benchmark token does not verify.")
        started = time.perf_counter()
        for _ in range(calls):
            await verifier.verify_token(token)
        return (time.perf_counter() - started) * 1_000_000 / calls


def report(
    servers: dict[str, ModeResult], verification_us: float, args: argparse.Namespace, prometheus: PrometheusProcess
) -> str:
    baseline = {r.concurrency: r.p50 for r in servers["direct"].runs}
    lines = [
        f"{time.strftime('%Y-%m-%d')}  {os.cpu_count()} cores  Python {platform.python_version()}  "
        f"Prometheus {prometheus.version}  mcp {version('mcp')}  query {args.query!r}  "
        f"{args.calls} calls after {args.warmup} warm-up calls",
        "",
        f"{'mode':10} {'conc':>4} {'p50 ms':>7} {'p95 ms':>7} {'calls/s':>8} {'overhead p50':>12} "
        f"{'client CPU':>10} {'server CPU':>10} {'RSS MB':>7} {'peak MB':>7}",
    ]
    for server in servers.values():
        for run in server.runs:
            overhead = f"{run.p50 - baseline[run.concurrency]:+.2f} ms" if run.concurrency in baseline else "n/a"
            lines.append(
                f"{run.mode:10} {run.concurrency:>4} {run.p50:>7.2f} {run.p95:>7.2f} {run.calls_per_second:>8.0f} "
                f"{overhead:>12} {run.client_cpu_ms_per_call:>10.2f} {_figure(run.server_cpu_ms_per_call, 2):>10} "
                f"{_figure(server.rss_mb, 1):>7} {_figure(server.peak_rss_mb, 1):>7}"
            )
    lines.append("")
    if "pab1it0" in servers:
        theirs = {r.concurrency: r.calls_per_second for r in servers["pab1it0"].runs}
        for name in ("stdio", "http"):
            for run in servers.get(name, ModeResult()).runs:
                if run.concurrency in theirs:
                    lines.append(
                        f"throughput {name} / pab1it0 at concurrency {run.concurrency}: "
                        f"{run.calls_per_second / theirs[run.concurrency]:.2f}x (target >= 1.5x)"
                    )
        lines.append("")
    if "direct-lean" in servers:
        lean = {r.concurrency: r.p50 for r in servers["direct-lean"].runs}
        over_lean = [
            f"{name} {run.p50 - lean[run.concurrency]:+.2f} ms"
            for name, server in servers.items()
            if name not in ("direct", "direct-lean", "pab1it0")
            for run in server.runs
            if run.concurrency == 1
        ]
        lines.append(
            "overhead p50 over direct-lean (the server's own transport) at concurrency 1: " + ", ".join(over_lean)
        )
    lines.append(f"JwtVerifier.verify_token alone (RS256, JWKS cached, in-process): {verification_us:.0f} us per call")
    lines.append(
        "overhead = p50 of the mode minus p50 of direct (httpx) at the same concurrency. CPU = ms of user + system\n"
        "time per measured call, of this process (the client) and of the prometheus-mcp process. RSS of\n"
        "prometheus-mcp after its runs, peak = VmHWM; MB = 10^6 bytes."
    )
    return "\n".join(lines)


def _figure(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=DEFAULT_CALLS, help=f"measured calls per run ({DEFAULT_CALLS})")
    parser.add_argument("--warmup", type=int, default=DEFAULT_WARMUP, help=f"unmeasured calls first ({DEFAULT_WARMUP})")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=DEFAULT_CONCURRENCY,
        help=f"calls in flight, extra runs ({DEFAULT_CONCURRENCY})",
    )
    parser.add_argument("--query", default=DEFAULT_QUERY, help=f"PromQL instant query ({DEFAULT_QUERY!r})")
    parser.add_argument(
        "--no-pab1it0",
        dest="pab1it0",
        action="store_false",
        help=f"leave out the comparison with {PAB1IT0_PACKAGE} (installed on first run otherwise)",
    )
    args = parser.parse_args(argv)
    if args.calls < 2 or args.warmup < 0 or args.concurrency < 1:
        parser.error("--calls must be at least 2, --warmup at least 0, --concurrency at least 1.")
    with tempfile.TemporaryDirectory(prefix="sre-bench-") as tmp:
        workdir = Path(tmp)
        for sub in ("open", "auth"):
            (workdir / sub).mkdir()
        with PrometheusProcess(workdir / "prometheus", None) as prometheus:
            servers, verification_us = anyio.run(run_all, args, workdir, prometheus)
            print(report(servers, verification_us, args, prometheus))
    return 0


if __name__ == "__main__":
    sys.exit(main())
