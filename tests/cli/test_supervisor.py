"""`sre up`'s supervisor with small real child processes: a component that dies is restarted with a
back-off and a line saying so, one that keeps dying is given up (or stops everything when essential),
and nothing is restarted once stopping began."""

from __future__ import annotations

import io
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from support.backends import free_port
from support.eventually import eventually

from cli.supervisor import Child, RestartPolicy, Supervisor
from common.errors import ConfigError

#: A component in miniature: answers /healthz with its pid.
HEALTHY = """
import http.server, os, sys
class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = str(os.getpid()).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Health).serve_forever()
"""
FAST = RestartPolicy(first_delay_seconds=0.05, max_delay_seconds=0.2, max_restarts=2, window_seconds=60)


def healthy(name: str, logs: Path) -> Child:
    port = free_port()
    return Child(
        name, [sys.executable, "-c", HEALTHY, str(port)], f"http://127.0.0.1:{port}/healthz", logs / f"{name}.log"
    )


def crashing(name: str, logs: Path) -> Child:
    return Child(
        name, [sys.executable, "-c", "import sys; sys.exit(3)"], "http://127.0.0.1:9/healthz", logs / f"{name}.log"
    )


def pid_answering(child: Child) -> int | None:
    try:
        return int(httpx.get(child.ready_url, timeout=1.0).text)
    except httpx.TransportError:
        return None


class Running:
    def __init__(self, supervisor: Supervisor, out: io.StringIO) -> None:
        self.supervisor = supervisor
        self.out = out
        self.error: BaseException | None = None

    def lines(self) -> list[str]:
        return self.out.getvalue().splitlines()


@pytest.fixture
def supervise(tmp_path: Path) -> Iterator[Callable[..., Running]]:
    children: list[Child] = []
    threads: list[tuple[Supervisor, threading.Thread]] = []

    def start(*wanted: Child, policy: RestartPolicy = FAST, essential: tuple[str, ...] = ()) -> Running:
        for child in wanted:
            child.launch()
            children.append(child)
        for child in wanted:
            if "HTTPServer" in child.command[2]:
                child.wait_ready(time.monotonic() + 20)
        out = io.StringIO()
        supervisor = Supervisor(wanted, policy, essential=essential, out=out, poll_seconds=0.02)
        running = Running(supervisor, out)

        def run() -> None:
            try:
                supervisor.run()
            except BaseException as exc:  # the test reads it
                running.error = exc

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        threads.append((supervisor, thread))
        return running

    yield start
    for supervisor, thread in threads:
        supervisor.stop()
        thread.join(10)
    for child in reversed(children):
        child.stop()


def test_a_component_killed_is_restarted_and_a_line_says_which_how_where_and_when(
    supervise: Callable[..., Running], tmp_path: Path
) -> None:
    api, other = healthy("api", tmp_path), healthy("other", tmp_path)
    running = supervise(api, other)
    assert api.process is not None
    assert other.process is not None
    killed, other_pid = api.process.pid, other.process.pid

    os.kill(killed, signal.SIGKILL)
    eventually(lambda: pid_answering(api) not in (None, killed), timeout=20, what="a new api process answering")
    eventually(lambda: any("is back" in line for line in running.lines()), timeout=20, what=running.out.getvalue)

    died, back = running.lines()
    assert died == (
        f"sre up: api (pid {killed}) was killed by SIGKILL; its log: {tmp_path / 'api.log'}. "
        "Restarting it in 0.05s (restart 1 of at most 2 within 60s)."
    )
    assert back == f"sre up: api is back (pid {pid_answering(api)})."
    assert pid_answering(other) == other_pid


def test_a_component_that_keeps_dying_is_given_up_and_the_rest_keep_running(
    supervise: Callable[..., Running], tmp_path: Path
) -> None:
    crasher, other = crashing("crasher", tmp_path), healthy("other", tmp_path)
    running = supervise(crasher, other)

    eventually(lambda: running.supervisor.given_up() == ["crasher"], timeout=20, what=running.out.getvalue)

    lines = running.lines()
    assert [line.split(" Restarting it in ")[1] for line in lines[:2]] == [
        "0.05s (restart 1 of at most 2 within 60s).",
        "0.1s (restart 2 of at most 2 within 60s).",
    ]
    assert "exited with code 3" in lines[2]
    assert lines[2].endswith(
        "It was restarted 2 times within 60s: giving up on it; the other components keep running. "
        "Fix the cause, then restart sre up."
    )
    assert running.error is None
    assert pid_answering(other) is not None


def test_an_essential_component_given_up_stops_sre_up(supervise: Callable[..., Running], tmp_path: Path) -> None:
    registry = crashing("registry", tmp_path)
    running = supervise(registry, essential=("registry",))

    eventually(lambda: running.error is not None, timeout=20, what=running.out.getvalue)

    assert isinstance(running.error, ConfigError)
    assert "registry is essential" in str(running.error)
    assert str(tmp_path / "registry.log") in str(running.error)


def test_a_component_is_not_restarted_once_stopping_began(tmp_path: Path) -> None:
    crasher = crashing("crasher", tmp_path)
    crasher.launch()
    assert crasher.process is not None
    crasher.process.wait(10)
    out = io.StringIO()
    supervisor = Supervisor([crasher], RestartPolicy(first_delay_seconds=0), out=out)
    supervisor.check()
    assert "Restarting it in 0s" in out.getvalue()  # the next round would restart it
    first = crasher.process

    supervisor.stop()  # what Ctrl-C does, during the back-off
    supervisor.check()

    assert crasher.process is first
    assert "is back" not in out.getvalue()


def test_a_component_that_cannot_be_started_again_counts_as_dying_again(
    supervise: Callable[..., Running], tmp_path: Path
) -> None:
    crasher = crashing("crasher", tmp_path)
    running = supervise(crasher)
    crasher.command = [str(tmp_path / "uninstalled")]

    eventually(lambda: running.supervisor.given_up() == ["crasher"], timeout=20, what=running.out.getvalue)

    assert running.error is None
    assert sum("could not be started again" in line for line in running.lines()) == 2
