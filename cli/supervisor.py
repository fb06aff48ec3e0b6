"""`sre up`'s components as supervised child processes: one that dies is started again, as systemd would.

    supervisor = Supervisor(children, essential={"registry"})
    supervisor.run()  # until Ctrl-C (KeyboardInterrupt), `stop()`, or an essential component gives up

- A component that exits is restarted after a back-off that doubles with each restart in the
  window (`RestartPolicy`: 1 s, 2 s, 4 s, ... at most 30 s), so a crash loop does not spin.
- More than `max_restarts` restarts within `window_seconds`: the supervisor gives up on it and
  says so, and the other components keep running. A component that crashes that often will not
  heal by restarting (its port is taken, its configuration or data is broken), and the rest of
  the federation works around a missing component as it does around a failed backend: triage
  lists the source as degraded, the router answers 502/503 naming the peer.
- Except an essential component: the registry issues every token and serves the keys every
  component checks them with, so without it nothing can call anything. Giving up on it stops
  `sre up` (a `ConfigError` naming it and its log), which stops everything in reverse order.
- Every event is one line on stderr, like supervisord's: the component, its pid, its exit code
  or signal, its log, and when it restarts; then that it is back (ready again) or given up.

The supervisor runs in the caller's thread and restarts only from `run()`: once Ctrl-C ends
`run()`, nothing restarts a component the caller is stopping.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import httpx

from common.errors import ConfigError

__all__ = ["Child", "RestartPolicy", "Supervisor"]


@dataclass
class Child:
    """A component run as a child process, its output appended to `log`, ready when `ready_url` answers 200."""

    name: str
    command: list[str]
    ready_url: str
    log: Path
    env: Mapping[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    def launch(self) -> None:
        with self.log.open("ab") as log:
            # A process group of its own: Ctrl-C in the terminal reaches `sre up` alone, which
            # stops the components in reverse order (agents deregister while the registry runs).
            self.process = subprocess.Popen(
                self.command, stdout=log, stderr=log, env={**os.environ, **self.env}, process_group=0
            )

    def ready(self) -> bool:
        try:
            return httpx.get(self.ready_url, timeout=1.0).status_code == 200
        except httpx.TransportError:
            return False

    def wait_ready(self, deadline: float) -> None:
        assert self.process is not None
        started = time.monotonic()
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ConfigError(f"{self.name} exited at start-up (is its port taken?); see {self.log}.")
            if self.ready():
                return
            time.sleep(0.2)
        raise ConfigError(f"{self.name} was not ready within {time.monotonic() - started:.0f}s; see {self.log}.")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@dataclass(frozen=True)
class RestartPolicy:
    #: Back-off before the first restart, seconds; doubled for each restart within the window.
    first_delay_seconds: float = 1.0
    max_delay_seconds: float = 30.0
    #: Restarts allowed within `window_seconds`; one more exit and the component is given up.
    max_restarts: int = 5
    window_seconds: float = 300.0

    def delay(self, recent_restarts: int) -> float:
        return min(self.max_delay_seconds, self.first_delay_seconds * 2.0**recent_restarts)


@dataclass
class _Watch:
    child: Child
    restarts: deque[float] = field(default_factory=deque)
    restart_at: float | None = None
    coming_back: bool = False
    given_up: bool = False


class Supervisor:
    def __init__(
        self,
        children: Sequence[Child],
        policy: RestartPolicy | None = None,
        *,
        essential: Collection[str] = (),
        out: TextIO | None = None,
        poll_seconds: float = 0.5,
    ) -> None:
        self.policy = policy or RestartPolicy()
        self.essential = frozenset(essential)
        self._watches = [_Watch(child) for child in children]
        self._out = out
        self._poll_seconds = poll_seconds
        self._stopping = threading.Event()

    def run(self) -> None:
        """Watch until `stop()` (or Ctrl-C); a `ConfigError` when an essential component is given up."""
        while not self._stopping.is_set():
            self.check()
            self._stopping.wait(self._poll_seconds)

    def stop(self) -> None:
        """Stop watching: no component is restarted from now on."""
        self._stopping.set()

    def given_up(self) -> list[str]:
        return [watch.child.name for watch in self._watches if watch.given_up]

    def check(self) -> None:
        """One round: note components that exited, restart those whose back-off is over, report those back."""
        for watch in self._watches:
            if self._stopping.is_set():
                return
            process = watch.child.process
            if watch.given_up or process is None:
                continue
            now = time.monotonic()
            if watch.restart_at is not None:
                if now >= watch.restart_at:
                    self._restart(watch)
            elif process.poll() is not None:
                self._exited(watch, process, now)
            elif watch.coming_back and watch.child.ready():
                watch.coming_back = False
                self._say(f"{watch.child.name} is back (pid {process.pid}).")

    def _exited(self, watch: _Watch, process: subprocess.Popen[bytes], now: float) -> None:
        child, policy = watch.child, self.policy
        while watch.restarts and watch.restarts[0] < now - policy.window_seconds:
            watch.restarts.popleft()
        died = f"{child.name} (pid {process.pid}) {_exit_status(process.returncode)}; its log: {child.log}."
        if len(watch.restarts) >= policy.max_restarts:
            watch.given_up = True
            tried = f"It was restarted {len(watch.restarts)} times within {policy.window_seconds:g}s: giving up on it"
            if child.name in self.essential:
                message = (
                    f"{died} {tried}; {child.name} is essential (every component gets its tokens and keys from "
                    "it), so sre up stops."
                )
                self._say(message)
                raise ConfigError(message)
            self._say(f"{died} {tried}; the other components keep running. Fix the cause, then restart sre up.")
            return
        delay = policy.delay(len(watch.restarts))
        watch.restart_at = now + delay
        self._say(
            f"{died} Restarting it in {delay:g}s (restart {len(watch.restarts) + 1} of at most "
            f"{policy.max_restarts} within {policy.window_seconds:g}s)."
        )

    def _restart(self, watch: _Watch) -> None:
        watch.restart_at = None
        watch.restarts.append(time.monotonic())
        try:
            watch.child.launch()
        except OSError as exc:  # its program or log is gone: the old, exited process stays, counted next round
            self._say(f"{watch.child.name} could not be started again: {exc}.")
            return
        watch.coming_back = True

    def _say(self, line: str) -> None:
        print(f"sre up: {line}", file=self._out or sys.stderr, flush=True)


def _exit_status(returncode: int | None) -> str:
    if returncode is not None and returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with code {returncode}"
