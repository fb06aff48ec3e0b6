"""Background health probing of registered entries, and expiry of stale ones.

Every `interval` seconds `HealthMonitor` probes each entry once, concurrently (at most
`concurrency` at a time), each probe bounded by `timeout` seconds:

- an agent: `GET <origin of its url>/.well-known/agent-card.json` must answer 200 with a JSON
  object (the A2A well-known card location is on the origin, whatever the endpoint's path);
- an MCP server: `GET <origin of its url>/healthz` must answer 200.

A probe that passes marks the entry healthy; anything else marks it unhealthy with a one-line
reason (`HTTP 503`, `connection refused`, `no answer within 2 s`, ...). Redirects are not
followed: a registered URL must answer itself. After each round, entries neither re-registered
nor healthy for `stale_after` seconds are deleted. A failing round is logged and the next one
runs on time: the monitor never stops on its own.

Probes go to URLs that authenticated registrants (`registry:write`) supplied; they carry no
credentials, so nothing of the registry's leaks to a registered URL.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import anyio
import httpx

from common.task_groups import task_group
from registry.store import ProbeTarget, RegistryStore

__all__ = ["AGENT_CARD_PATH", "HEALTH_PATH", "HealthMonitor", "probe_url"]

logger = logging.getLogger(__name__)

AGENT_CARD_PATH = "/.well-known/agent-card.json"
HEALTH_PATH = "/healthz"
DEFAULT_TIMEOUT_SECONDS = 3.0
DEFAULT_CONCURRENCY = 16
# Agent cards are a few KiB; a registered URL must not make the registry buffer gigabytes.
MAX_CARD_BYTES = 1024 * 1024


def probe_url(target: ProbeTarget) -> str:
    parts = urlsplit(target.url)
    path = AGENT_CARD_PATH if target.kind == "agents" else HEALTH_PATH
    return f"{parts.scheme}://{parts.netloc}{path}"


class HealthMonitor:
    def __init__(
        self,
        store: RegistryStore,
        client: httpx.AsyncClient,
        *,
        interval: float,
        stale_after: float,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        concurrency: int = DEFAULT_CONCURRENCY,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        self.store = store
        self.client = client
        self.interval = interval
        self.stale_after = stale_after
        # A probe never outlasts a round, so rounds do not pile up.
        self.timeout = min(timeout, interval)
        self.concurrency = concurrency
        self._sleep = sleep

    async def run(self) -> None:
        """Probe and expire forever, one round every `interval` seconds (cancel to stop)."""
        while True:
            try:
                await self.run_once()
            except Exception:  # a database hiccup must not end health checking for good
                logger.exception("Health round failed; retrying in %g s", self.interval)
            await self._sleep(self.interval)

    async def run_once(self) -> None:
        targets = await self.store.probe_targets()
        limiter = anyio.CapacityLimiter(self.concurrency)

        async def probe_and_mark(target: ProbeTarget) -> None:
            async with limiter:
                error = await self.probe(target)
            changed = await self.store.mark_health(target, "healthy" if error is None else "unhealthy", error)
            if error is not None and changed:
                logger.info("%s %s is unhealthy: %s", target.kind[:-1], target.name, error)

        async with task_group() as group:
            for target in targets:
                group.start_soon(probe_and_mark, target)
        for kind, name in await self.store.expire_stale(self.stale_after):
            logger.info("Expired stale %s %s (neither seen nor healthy for %g s)", kind[:-1], name, self.stale_after)

    async def probe(self, target: ProbeTarget) -> str | None:
        """None when `target` answers as expected, else why not."""
        url = probe_url(target)
        try:
            with anyio.fail_after(self.timeout):
                async with self.client.stream("GET", url, timeout=self.timeout) as response:
                    if response.status_code != 200:
                        return f"{url} answered HTTP {response.status_code}"
                    if target.kind == "servers":
                        return None
                    body = bytearray()
                    async for chunk in response.aiter_bytes():
                        body.extend(chunk)
                        if len(body) > MAX_CARD_BYTES:
                            return f"{url} answered more than {MAX_CARD_BYTES} bytes"
        except (TimeoutError, httpx.TimeoutException):
            return f"no answer from {url} within {self.timeout:g} s"
        except httpx.ConnectError as exc:
            return f"cannot connect to {url}: {_reason(exc)}"
        except httpx.HTTPError as exc:
            return f"request to {url} failed: {type(exc).__name__}"
        try:
            card = json.loads(body)
        except (ValueError, RecursionError):
            return f"{url} did not answer JSON"
        return None if isinstance(card, dict) else f"{url} did not answer a JSON object"


def _reason(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    # httpx wraps OS errors as "[Errno 111] Connection refused"; keep only the sentence.
    return text.split("] ", 1)[-1].lower() if "] " in text else text
