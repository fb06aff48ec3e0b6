"""HealthMonitor in-process: what each kind of answer (or silence) is recorded as, and that it keeps going."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import httpx
import pytest

from registry.health import MAX_CARD_BYTES, HealthMonitor
from registry.models import AgentRegistration, ServerRegistration
from registry.store import RegistryStore

pytestmark = pytest.mark.anyio


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[RegistryStore]:
    opened = RegistryStore(f"sqlite+aiosqlite:///{tmp_path / 'registry.db'}")
    await opened.start()
    yield opened
    await opened.close()


def monitor(store: RegistryStore, handler: httpx.MockTransport, **options: float) -> HealthMonitor:
    client = httpx.AsyncClient(transport=handler)
    return HealthMonitor(store, client, interval=options.get("interval", 1.0), stale_after=300.0, timeout=0.5)


def answering(status: int, body: bytes = b"{}") -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: httpx.Response(status, content=body))


async def health_of(store: RegistryStore, kind: str) -> tuple[str, str | None]:
    entry = await (store.get_agent("a") if kind == "agents" else store.get_server("s"))
    assert entry is not None
    return entry.health.status, entry.health.last_error


async def register_both(store: RegistryStore) -> None:
    await store.register_agent(AgentRegistration(name="a", url="http://agent.test:8721/a2a/v1"))
    await store.register_server(ServerRegistration(name="s", url="http://server.test:8701/mcp"))


async def test_probes_go_to_the_card_and_healthz_on_each_origin(store: RegistryStore) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json={"name": "x"})

    await register_both(store)
    await monitor(store, httpx.MockTransport(handler)).run_once()
    assert sorted(seen) == ["http://agent.test:8721/.well-known/agent-card.json", "http://server.test:8701/healthz"]
    assert await health_of(store, "agents") == ("healthy", None)
    assert await health_of(store, "servers") == ("healthy", None)


@pytest.mark.parametrize(
    ("transport", "agent_error", "server_error"),
    [
        (
            answering(503),
            "http://agent.test:8721/.well-known/agent-card.json answered HTTP 503",
            "http://server.test:8701/healthz answered HTTP 503",
        ),
        (answering(200, b"<html>"), "http://agent.test:8721/.well-known/agent-card.json did not answer JSON", None),
        (
            answering(200, b"[1]"),
            "http://agent.test:8721/.well-known/agent-card.json did not answer a JSON object",
            None,
        ),
        (
            answering(200, b"{" + b" " * (MAX_CARD_BYTES + 1) + b"}"),
            f"http://agent.test:8721/.well-known/agent-card.json answered more than {MAX_CARD_BYTES} bytes",
            None,
        ),
    ],
)
async def test_bad_answers_are_unhealthy_with_the_reason(
    store: RegistryStore, transport: httpx.MockTransport, agent_error: str, server_error: str | None
) -> None:
    await register_both(store)
    await monitor(store, transport).run_once()
    assert await health_of(store, "agents") == ("unhealthy", agent_error)
    assert await health_of(store, "servers") == (("unhealthy", server_error) if server_error else ("healthy", None))


async def test_silence_and_refusal_are_unhealthy(store: RegistryStore) -> None:
    async def hang(request: httpx.Request) -> httpx.Response:
        await anyio.sleep(10)
        raise AssertionError("the probe should have timed out")

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    await register_both(store)
    await monitor(store, httpx.MockTransport(hang)).run_once()
    assert await health_of(store, "servers") == (
        "unhealthy",
        "no answer from http://server.test:8701/healthz within 0.5 s",
    )
    await monitor(store, httpx.MockTransport(refuse)).run_once()
    assert await health_of(store, "servers") == (
        "unhealthy",
        "cannot connect to http://server.test:8701/healthz: connection refused",
    )


async def test_a_failing_round_does_not_stop_the_monitor(store: RegistryStore, monkeypatch: pytest.MonkeyPatch) -> None:
    rounds: list[float] = []

    async def counting_sleep(seconds: float) -> None:
        rounds.append(seconds)
        if len(rounds) == 3:
            raise anyio.get_cancelled_exc_class()

    watcher = HealthMonitor(
        store, httpx.AsyncClient(transport=answering(200)), interval=7, stale_after=1, sleep=counting_sleep
    )

    async def broken() -> None:
        raise OSError("database unavailable")

    monkeypatch.setattr(store, "probe_targets", broken)
    with pytest.raises(anyio.get_cancelled_exc_class()):
        await watcher.run()
    assert rounds == [7, 7, 7]
