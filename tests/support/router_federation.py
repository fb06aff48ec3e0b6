"""A small federation for the router's tests, all real and on 127.0.0.1.

- the registry (`sre serve registry`) with its embedded authorization server and clients:
  `router` (agents:invoke, registry:write), `peers` (registry:write, registers the stand-ins),
  `caller` and `alertmanager` (agents:invoke), `reader` (metrics:read only);
- two stand-in agents served here with `a2a_app` and registered: `triage` and `capacity`. A
  stand-in is a deterministic agent on the kit for the router's plumbing, not the real agent: it records
  who called it and what it received, says one stage, waits while its `Gate` is closed, then
  answers `{"agent": <name>, "received": <the input>}` with a Markdown rendering (or fails, when
  the input says `FAIL_WORD`; `FAIL_LATER_WORD`: fails FAIL_LATER_SECONDS after it began);
- the router (`sre serve router`) with its own client, and HTTP basic credentials for webhooks.

`Federation.token(client)` asks the registry for a real token (for the router unless told);
`Federation.forge(...)` signs one by hand with the registry's own key, read from its data
directory, for the tokens no client can get (other clients, expired, wrong type).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import threading
from collections.abc import AsyncGenerator, Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from google.adk.agents.invocation_context import InvocationContext
from google.adk.events import Event
from pydantic import Field

from common.agents import AGENTS_INVOKE, AgentCardSpec, SkillSpec, a2a_app, default_task_store_url, registration
from common.agents.kit import Kit, Progress
from common.agents.pipeline import AgentRequest, AgentResult, PipelineAgent
from common.auth.resource import resource_verifier
from common.http import create_http_client
from common.settings import AuthConfig, ServeSettings, SettingsSource
from registry.clients import ClientStore
from registry.keys import KeyStore
from registry.settings import RegistrySettings
from support.asgi_server import ServedApp
from support.backends import free_port
from support.eventually import eventually
from support.hostile_tokens import access_token
from support.served import ServedComponent
from support.stand_in_agent import stand_in_settings

__all__ = [
    "FAIL_LATER_SECONDS",
    "FAIL_LATER_WORD",
    "FAIL_WORD",
    "STAGE",
    "Federation",
    "Gate",
    "StandIn",
    "alert",
    "federation",
    "webhook_payload",
]

STAGE = "Stand-in received the request"
FAIL_WORD = "fail-on-purpose"
FAIL_LATER_WORD = "fail-later-on-purpose"
#: Longer than a storm test allows for a post's answer: both copies of an HA pair are answered before it fails.
FAIL_LATER_SECONDS = 12.0
BASIC_USER = "alertmanager"
WRITE = "registry:write"

TRIAGE_SPEC = AgentCardSpec(
    name="triage",
    description="Stand-in for triage: investigates alerts and failed deployments.",
    skills=(
        SkillSpec(
            id="triage-investigate",
            name="Investigate an alert or a failed deployment",
            description="Finds the onset, the changes and the likely cause of an alert or a failed deployment.",
            tags=("alert", "incident", "deployment"),
            examples=("Why is checkout failing?",),
        ),
    ),
)
CAPACITY_SPEC = AgentCardSpec(
    name="capacity",
    description="Stand-in for capacity: forecasts saturation.",
    skills=(
        SkillSpec(
            id="capacity-forecast",
            name="Forecast capacity",
            description="Forecasts when a service runs out of CPU, memory or disk headroom.",
            tags=("capacity", "forecast", "saturation"),
            examples=("When will checkout run out of memory?",),
        ),
    ),
)


class Gate:
    """Open unless a test closes it (`with gate.closed():`); the agents poll it from the server's thread."""

    def __init__(self) -> None:
        self._open = threading.Event()
        self._open.set()

    @property
    def is_open(self) -> bool:
        return self._open.is_set()

    @contextmanager
    def closed(self) -> Iterator[None]:
        self._open.clear()
        try:
            yield
        finally:
            self._open.set()

    def open(self) -> None:
        self._open.set()


class StandInAgent(PipelineAgent):
    gate: Gate
    #: (calling OAuth client, input) of every run, in order.
    received: list[tuple[str, Any]] = Field(default_factory=list)

    async def _run_async_impl(self, ctx: InvocationContext) -> AsyncGenerator[Event, None]:
        # The kit's request does not name the caller: the stand-in records it, with the input, before the kit runs.
        parts = ctx.user_content.parts if ctx.user_content and ctx.user_content.parts else []
        self.received.append((ctx.user_id, _input("\n".join(part.text for part in parts if part.text))))
        async for event in super()._run_async_impl(ctx):
            yield event

    async def handle(self, request: AgentRequest, kit: Kit, progress: Progress) -> AgentResult:
        await progress(STAGE)
        while not self.gate.is_open:
            await asyncio.sleep(0.02)
        if FAIL_LATER_WORD in request.text:
            await asyncio.sleep(FAIL_LATER_SECONDS)
            raise RuntimeError("the stand-in failed on purpose, later")
        if FAIL_WORD in request.text:
            raise RuntimeError("the stand-in failed on purpose")
        return AgentResult({"agent": self.name, "received": _input(request.text)}, f"## {self.name}\n\nDone.")


def _input(text: str) -> Any:
    """The message's JSON, or its text when it is not JSON."""
    try:
        return json.loads(text)
    except ValueError:
        return text


@dataclass
class StandIn:
    spec: AgentCardSpec
    agent: StandInAgent
    url: str

    def inputs(self) -> list[Any]:
        return [value for _, value in self.agent.received]

    def inputs_with(self, marker: str) -> list[Any]:
        """The inputs whose JSON holds `marker` (a test's unique id): deliveries arrive in the background, in
        any order, so a test finds its own by content rather than by position."""
        return [value for value in self.inputs() if any(marker in text for text in strings_in(value))]

    def wait_for_input_with(self, marker: str, count: int = 1, timeout: float = 20.0) -> list[Any]:
        return eventually(
            lambda: found if len(found := self.inputs_with(marker)) >= count else None,
            timeout=timeout,
            what=f"{self.spec.name} to receive {count} input(s) with {marker!r}",
        )

    def wait_for_inputs(self, count: int, timeout: float = 10.0) -> list[Any]:
        eventually(
            lambda: len(self.agent.received) >= count,
            timeout=timeout,
            what=lambda: f"{self.spec.name} to receive {count} input(s); it received {self.agent.received}",
        )
        return self.inputs()


@dataclass
class Federation:
    registry: ServedComponent
    router: ServedComponent
    triage: StandIn
    capacity: StandIn
    gate: Gate
    basic: tuple[str, str]
    router_data: Path
    http: httpx.Client
    _secrets: dict[str, str] = field(default_factory=dict)
    _tokens: dict[tuple[str, str], str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.router.url

    def token(self, client: str = "caller", resource: str | None = None) -> str:
        resource = resource or self.router.url
        if (client, resource) not in self._tokens:
            response = self.http.post(
                f"{self.registry.url}/oauth/token",
                data={"grant_type": "client_credentials", "resource": resource},
                auth=(client, self._secrets[client]),
            )
            assert response.status_code == 200, response.text
            self._tokens[client, resource] = response.json()["access_token"]
        return self._tokens[client, resource]

    def headers(self, client: str = "caller") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(client)}"}

    def forge(self, client: str = "caller", scopes: tuple[str, ...] = (AGENTS_INVOKE,), **kwargs: Any) -> str:
        """A token for the router signed with the registry's key: any client, any claims (`hostile_tokens`)."""
        if "key" not in kwargs:
            settings = RegistrySettings.from_source(SettingsSource.load(self.registry.env))
            kwargs["key"] = KeyStore.for_settings(settings).signing_key().key
        claims = {"client_id": client, "sub": client, **kwargs.pop("claims", {})}
        return access_token(self.registry.url, self.router.url, scopes, claims=claims, **kwargs)

    def post(self, path: str, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
        return self.http.post(f"{self.url}{path}", json=body, headers=self.headers() if headers is None else headers)

    def get(self, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
        return self.http.get(f"{self.url}{path}", headers=self.headers() if headers is None else headers)

    def wait_for_state(self, task_id: str, state: str, timeout: float = 10.0) -> dict[str, Any]:
        """The router's view of task `task_id` (`GET /tasks/{id}`) once it is in `state`."""
        return self._task_once(task_id, lambda now: now == state, timeout)

    def wait_while_submitted(self, task_id: str, timeout: float = 20.0) -> dict[str, Any]:
        """The router's view of task `task_id` once it has left `submitted` (it reached its peer or failed)."""
        return self._task_once(task_id, lambda now: now != "submitted", timeout)

    def wait_for_end(self, task_id: str, timeout: float = 20.0) -> dict[str, Any]:
        """The router's view of task `task_id` once it is neither submitted nor working."""
        return self._task_once(task_id, lambda now: now not in ("submitted", "working"), timeout)

    def _task_once(self, task_id: str, until: Callable[[str], bool], timeout: float) -> dict[str, Any]:
        return eventually(
            lambda: view if until((view := self.get(f"/tasks/{task_id}").json())["state"]) else None,
            timeout=timeout,
            what=lambda: f"router task {task_id} to change state; it is {self.get(f'/tasks/{task_id}').json()}",
        )

    def registry_call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token('peers', self.registry.url)}"}
        return self.http.request(method, f"{self.registry.url}{path}", headers=headers, **kwargs)

    def register(self, spec: AgentCardSpec, url: str) -> None:
        serve = ServeSettings(port=0, public_url=url, registry_url=self.registry.url)
        response = self.registry_call("POST", "/agents", json=registration(spec, serve))
        assert response.status_code in (200, 201), response.text

    def deregister(self, name: str) -> None:
        assert self.registry_call("DELETE", f"/agents/{name}").status_code in (204, 404)

    def router_rows(self) -> int:
        with sqlite3.connect(self.router_data / "router-tasks.db") as db:
            return int(db.execute("SELECT count(*) FROM router_tasks").fetchone()[0])

    def settled(self, timeout: float = 30.0) -> None:
        """Wait until every delivery the router recorded has been sent, and every task the stand-ins created has
        run far enough to record its input: a test counting inputs then sees no earlier test's delivery arrive."""
        eventually(
            self._settled, timeout=timeout, what=lambda: f"the router's deliveries to settle:\n{self.router.log_tail()}"
        )

    def _settled(self) -> bool:
        with sqlite3.connect(self.router_data / "router-tasks.db") as db:
            if db.execute("SELECT count(*) FROM router_tasks WHERE delivery = 'pending'").fetchone()[0]:
                return False
        for stand_in in (self.triage, self.capacity):
            with sqlite3.connect(self.router_data.parent / "agents" / f"{stand_in.spec.name}-tasks.db") as db:
                if db.execute("SELECT count(*) FROM tasks").fetchone()[0] != len(stand_in.agent.received):
                    return False
        return True


@contextmanager
def _stand_in(spec: AgentCardSpec, gate: Gate, registry_url: str, data_dir: Path) -> Iterator[StandIn]:
    port = free_port()
    serve = ServeSettings(
        port=port,
        registry_url=registry_url,
        auth=AuthConfig(issuer=registry_url, jwks_url=f"{registry_url}/jwks.json"),
    )
    agent = StandInAgent(name=spec.name, settings=stand_in_settings(data_dir), gate=gate)
    app = a2a_app(
        agent=agent,
        card=spec,
        serve=serve,
        verifier=resource_verifier(serve, serve.base_url, create_http_client(timeout=10.0)),
        task_store_url=default_task_store_url(data_dir, spec.name),
    )
    with ServedApp(app, port=port):
        yield StandIn(spec, agent, serve.base_url)


@contextmanager
def federation(root: Path, **router_env: str) -> Iterator[Federation]:
    """The federation described in the module doc; `router_env` adds to or overrides the router's settings."""
    registry_data, router_data, agents_data, logs = (root / name for name in ("registry", "router", "agents", "logs"))
    for directory in (registry_data, router_data, agents_data, logs):
        directory.mkdir(parents=True, exist_ok=True)
    clients = ClientStore(registry_data / "clients.toml")
    secrets = {
        "router": clients.add_client("router", [AGENTS_INVOKE, WRITE]),
        "peers": clients.add_client("peers", [WRITE]),
        "caller": clients.add_client("caller", [AGENTS_INVOKE]),
        "alertmanager": clients.add_client("alertmanager", [AGENTS_INVOKE]),
        "reader": clients.add_client("reader", ["metrics:read"]),
    }
    password_file = router_data / "webhook-password"
    password_file.write_text("s3cret-basic-password\n")
    gate = Gate()
    registry_env = {
        "SRE_DATA_DIR": str(registry_data),
        "REGISTRY_TOKEN_REQUESTS_PER_MINUTE": "100000",
        "SRE_REQUESTS_PER_SECOND": "100000",
    }
    with ExitStack() as stack, httpx.Client(timeout=10.0, trust_env=False) as http:
        registry = stack.enter_context(ServedComponent("registry", registry_env, logs))
        triage = stack.enter_context(_stand_in(TRIAGE_SPEC, gate, registry.url, agents_data))
        capacity = stack.enter_context(_stand_in(CAPACITY_SPEC, gate, registry.url, agents_data))
        env = {
            "SRE_DATA_DIR": str(router_data),
            "REGISTRY_URL": registry.url,
            "SRE_CLIENT_ID": "router",
            "SRE_CLIENT_SECRET": secrets["router"],
            "SRE_REQUESTS_PER_SECOND": "100000",
            "ROUTER_WEBHOOK_BASIC_USERNAME": BASIC_USER,
            "ROUTER_WEBHOOK_BASIC_PASSWORD_FILE": str(password_file),
            **router_env,
        }
        router = ServedComponent("router", env, logs)
        fed = Federation(
            registry, router, triage, capacity, gate, (BASIC_USER, "s3cret-basic-password"), router_data, http
        )
        fed._secrets.update(secrets)
        fed.register(TRIAGE_SPEC, triage.url)
        fed.register(CAPACITY_SPEC, capacity.url)
        stack.enter_context(router)
        wait_until_registered(fed, "router")
        yield fed


def strings_in(value: Any) -> Iterator[str]:
    """Every string inside a JSON value, at any depth."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)


def wait_until_registered(fed: Federation, name: str, timeout: float = 20.0) -> None:
    """Tokens for an agent are issued once the registry knows its URL: wait for its registration."""
    eventually(
        lambda: fed.registry_call("GET", f"/agents/{name}").status_code == 200,
        timeout=timeout,
        what=lambda: f"{name} to register:\n{fed.router.log_tail()}",
    )


def alert(name: str = "HighErrorRate", status: str = "firing", **labels: str) -> dict[str, Any]:
    labels = {"alertname": name, "service": "checkout", **labels}
    return {
        "status": status,
        "labels": labels,
        "annotations": {"summary": f"{name} on checkout"},
        "startsAt": "2026-11-03T10:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph",
        "fingerprint": hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16],
    }


def webhook_payload(*alerts: dict[str, Any], group_key: str = '{}:{alertname="HighErrorRate"}') -> dict[str, Any]:
    alerts = alerts or (alert(),)
    return {
        "version": "4",
        "groupKey": group_key,
        "truncatedAlerts": 0,
        "status": "firing" if any(a["status"] == "firing" for a in alerts) else "resolved",
        "receiver": "router",
        "groupLabels": {"alertname": alerts[0]["labels"]["alertname"]},
        "commonLabels": {"service": "checkout"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": list(alerts),
    }
