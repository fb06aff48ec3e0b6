"""Serving an agent the same way for every component: `serve_agent(agent, spec, settings)`.

Like `common.mcp.serving.serve_mcp` for MCP servers: discover the issuer's JWKS, build the
verifier of the agent's canonical URL, build the A2A app, register the agent in the registry
(when the component has its own client, `SRE_CLIENT_*`) and serve until a signal.

Scaling an agent out: `<PREFIX>MAX_CONCURRENT_TASKS` is what one process runs at once (its
runs share one event loop, so CPU-bound work gains from more processes, not more slots). Run
several processes of the agent on one task store on PostgreSQL (`<PREFIX>TASK_STORE_URL`, which
then holds the ADK sessions too): each on its own port behind a load balancer, every process with
the same `SRE_PUBLIC_URL` (the load balancer's, the audience of the callers' tokens) and `SRE_NAME`;
or, on one host, all on the same port with `SRE_REUSE_PORT=true` (the kernel spreads the
connections). Tasks are leased to the process running them (`<PREFIX>LEASE_SECONDS`), and each
process lets at most `<PREFIX>MAX_QUEUED_TASKS` wait before it answers 429 (`common.agents.app`).
With the default SQLite store, run one process.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import ClassVar

from google.adk.agents import BaseAgent
from google.adk.sessions import BaseSessionService
from pydantic import Field
from starlette.routing import BaseRoute

from common.agents.app import a2a_app, default_task_store_url
from common.agents.card import AgentCardSpec, registration
from common.agents.card_route import CARD_MAX_AGE_SECONDS
from common.agents.executor import DEFAULT_MAX_CONCURRENT_TASKS
from common.agents.leases import DEFAULT_LEASE_SECONDS
from common.agents.task_queue import DEFAULT_MAX_QUEUED_TASKS
from common.auth import ClientCredentials, TokenSource
from common.auth.discovery import with_discovered_jwks
from common.auth.resource import resource_verifier
from common.http import create_http_client
from common.metrics import ServerMetrics
from common.registration import RegistryClient, registered
from common.serving import run_http
from common.settings import DEFAULT_DATA_DIR, FrozenModel, ServeSettings, SettingsSource, build

__all__ = ["AgentSettings", "serve_agent"]

logger = logging.getLogger(__name__)


class AgentSettings(FrozenModel):
    """Where an agent listens and where it keeps its tasks."""

    serve: ServeSettings
    data_dir: Path = Field(default=Path(DEFAULT_DATA_DIR), description="SRE_DATA_DIR")
    task_store_url: str | None = Field(
        default=None,
        description="`<PREFIX>TASK_STORE_URL`: SQLAlchemy URL of the task store "
        "(`postgresql+asyncpg://...`); unset: SQLite `SRE_DATA_DIR/<agent>-tasks.db`.",
    )
    max_concurrent_tasks: int = Field(
        default=DEFAULT_MAX_CONCURRENT_TASKS,
        ge=1,
        le=1000,
        description="`<PREFIX>MAX_CONCURRENT_TASKS`: tasks one process of the agent runs at once; the others "
        "wait (submitted), first come, first served. To run more, start several processes on one task store "
        "(PostgreSQL), each on its own port behind a load balancer, or on one port with `SRE_REUSE_PORT`.",
    )
    max_queued_tasks: int = Field(
        default=DEFAULT_MAX_QUEUED_TASKS,
        ge=0,
        le=100_000,
        description="`<PREFIX>MAX_QUEUED_TASKS`: tasks one process lets wait for a run; beyond that a new "
        "message is answered HTTP 429 with Retry-After (send it again later, or to another replica).",
    )
    lease_seconds: float = Field(
        default=DEFAULT_LEASE_SECONDS,
        ge=1,
        le=3600,
        description="`<PREFIX>LEASE_SECONDS`: how long a replica's hold on a running task lasts without renewal "
        "(renewed every third of it); a task whose replica died is failed about this long after.",
    )
    card_max_age_seconds: int = Field(
        default=CARD_MAX_AGE_SECONDS,
        ge=0,
        description="`<PREFIX>CARD_MAX_AGE_SECONDS`: how long callers may cache the public agent card.",
    )

    #: Its settings read under the agent's own prefix (`TRIAGE_TASK_STORE_URL`), which the agent's settings skip.
    PREFIXED_KEYS: ClassVar[tuple[str, ...]] = (
        "task_store_url",
        "max_concurrent_tasks",
        "max_queued_tasks",
        "lease_seconds",
        "card_max_age_seconds",
    )

    @classmethod
    def from_source(cls, source: SettingsSource, *, prefix: str, default_port: int) -> AgentSettings:
        """`prefix` is the component's, e.g. `TRIAGE_` (`TRIAGE_TASK_STORE_URL`)."""
        values = {
            "serve": ServeSettings.from_source(source, default_port=default_port),
            "data_dir": Path(source.get("SRE_DATA_DIR") or DEFAULT_DATA_DIR),
            **{key: value for key in cls.PREFIXED_KEYS if (value := source.get(f"{prefix}{key}")) is not None},
        }
        # `build`: an invalid value is a ConfigError naming its key, not a traceback.
        return build(cls, values, prefix=prefix)

    def task_store(self, name: str) -> str:
        return self.task_store_url or default_task_store_url(self.data_dir, name)


async def serve_agent(
    agent: BaseAgent,
    spec: AgentCardSpec,
    settings: AgentSettings,
    *,
    session_service: BaseSessionService | None = None,
    on_shutdown: Sequence[Callable[[], Awaitable[None]]] = (),
    extra_routes: Sequence[BaseRoute] = (),
) -> None:
    """Serve `agent` over A2A: discover the issuer's keys, authenticate, register, run.

    `extra_routes` are served beside the A2A routes, behind the same layers (see `a2a_app`).
    """
    async with create_http_client(timeout=10.0) as http:
        serve = settings.serve.model_copy(update={"auth": await with_discovered_jwks(settings.serve.auth, http)})
        app = a2a_app(
            agent=agent,
            card=spec,
            serve=serve,
            verifier=resource_verifier(serve, serve.base_url, http),
            task_store_url=settings.task_store(spec.name),
            session_service=session_service,
            metrics=ServerMetrics(spec.name),
            extra_routes=extra_routes,
            max_concurrent_tasks=settings.max_concurrent_tasks,
            max_queued_tasks=settings.max_queued_tasks,
            lease_seconds=settings.lease_seconds,
            card_max_age_seconds=settings.card_max_age_seconds,
        )
        credentials = ClientCredentials.of_component(serve)
        if credentials is None:
            logger.info("No SRE_CLIENT_ID configured: not registering with the registry at %s", serve.registry_url)
            await run_http(app, serve, on_shutdown=on_shutdown)
            return
        registry = RegistryClient(serve.registry_url, TokenSource(credentials, http), http)
        async with registered(registry, "agents", registration(spec, serve)):
            await run_http(app, serve, on_shutdown=on_shutdown)
