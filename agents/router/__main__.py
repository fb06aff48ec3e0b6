"""Run the router: `sre serve router` (or `python -m agents.router`); HTTP only, port 8720.

The router is an A2A agent (skill `route`) with its webhooks and REST facade served beside the
A2A routes. It calls the registry and the other agents with its own OAuth client (`SRE_CLIENT_ID`
and `SRE_CLIENT_SECRET`, a client with `agents:invoke`, and `registry:write` to register itself),
so it refuses to start without one.

The deliveries the webhooks and `/diagnostics/*` record are sent to triage by a background
deliverer (`agents.router.delivery`) that runs as long as the server does, claiming them from the
task store: those recorded before the last stop, and those of other replicas sharing the store
(`ROUTER_TASK_STORE_URL` on one PostgreSQL; each replica registers under the same name and
public URL, `SRE_PUBLIC_URL`, the load balancer's). Related alert deliveries are grouped
(`agents.router.grouping`, `ROUTER_GROUP_WAIT_SECONDS`) by the service graph read from
controlplane-mcp with the router's client (`controlplane:read`).
"""

from __future__ import annotations

import logging
import sys
from typing import Literal

import httpx
from starlette.routing import BaseRoute

from agents.router.agent import RouterAgent
from agents.router.backlog import BacklogLimit
from agents.router.callers import Callers
from agents.router.card import SPEC
from agents.router.dispatch import Dispatcher
from agents.router.facade import FacadeApi
from agents.router.grouping import Grouper
from agents.router.openapi import openapi_document
from agents.router.routing import KeywordChooser, SkillChooser
from agents.router.settings import BasicCredentials, RouterSettings
from agents.router.tasks import TaskRecords
from agents.router.webhooks import WebhookApi
from common.agents import serve_agent
from common.agents.peers import Peers
from common.auth import ClientCredentials, TokenSource
from common.contracts.controlplane import SERVER as CONTROLPLANE
from common.errors import ConfigError
from common.http import create_http_client
from common.mcp.toolbox import mcp_toolbox
from common.rest import BearerGuard
from common.settings import SettingsSource
from common.task_groups import task_group

__all__ = ["create_dispatcher", "router_routes", "serve"]

logger = logging.getLogger(__name__)

COMPONENT = "router"


async def serve(transport: Literal["stdio", "http"], source: SettingsSource) -> None:
    if transport != "http":
        raise ConfigError("The router is served over HTTP only: run `sre serve router`.")
    settings = RouterSettings.from_source(source)
    basic = settings.basic_credentials()
    credentials = ClientCredentials.of_component(settings.serve)
    if credentials is None:
        raise ConfigError(
            "The router calls the registry and the agents with its own OAuth client: set SRE_CLIENT_ID and "
            "SRE_CLIENT_SECRET (a client with the agents:invoke and registry:write scopes, `sre auth add-client`)."
        )
    if settings.model:
        logger.info("SRE_MODEL is set, but the router routes by skill keywords only (no model routing yet)")
    chooser = KeywordChooser(triage_agent=settings.triage_agent)
    records = TaskRecords(settings.agent.task_store(SPEC.name))
    await records.start()
    try:
        async with create_http_client(timeout=10.0) as http:
            tokens = TokenSource(credentials, http)
            grouper = create_grouper(settings, tokens, http)
            dispatcher = create_dispatcher(settings, connect(settings, tokens, http), records, grouper)
            routes = router_routes(settings, dispatcher, chooser, basic)
            agent = RouterAgent(name=SPEC.name, description=SPEC.description, settings=settings, chooser=chooser)
            async with task_group() as background:
                background.start_soon(dispatcher.deliveries.run)
                await serve_agent(agent, SPEC, settings.agent, extra_routes=routes)
                background.cancel_scope.cancel()
    finally:
        await records.close()


def connect(settings: RouterSettings, tokens: TokenSource, http: httpx.AsyncClient) -> Peers:
    """The dispatcher's connections to the registry and the agents, with the router's own tokens."""
    serve = settings.serve
    return Peers(
        tokens=tokens,
        http=http,
        registry_url=serve.registry_url,
        own_name=serve.name or SPEC.name,
        own_url=serve.base_url,
        timeout=settings.peer_timeout_seconds,
    )


def create_grouper(settings: RouterSettings, tokens: TokenSource, http: httpx.AsyncClient) -> Grouper | None:
    """The grouping of related alerts, reading the service graph from controlplane-mcp with the router's own
    tokens (a session for each plan); None when ROUTER_GROUP_WAIT_SECONDS is 0."""
    if not settings.group_wait_seconds:
        return None
    registry_url = settings.serve.registry_url
    return Grouper(
        lambda: mcp_toolbox([CONTROLPLANE], tokens=tokens, http=http, registry_url=registry_url),
        aliases=settings.aliases,
    )


def create_dispatcher(
    settings: RouterSettings, peers: Peers, records: TaskRecords, grouper: Grouper | None = None
) -> Dispatcher:
    return Dispatcher(
        peers,
        records,
        base_url=settings.serve.base_url,
        triage_agent=settings.triage_agent,
        triage_url=settings.triage_url,
        dedup_ttl_seconds=settings.dedup_ttl_seconds,
        delivery_timeout_seconds=settings.delivery_timeout_seconds,
        delivery_max_age_seconds=settings.delivery_max_age_seconds,
        delivery_concurrency=settings.delivery_concurrency,
        delivery_lease_seconds=settings.delivery_lease_seconds,
        delivery_poll_seconds=settings.delivery_poll_seconds,
        planner=grouper,
        group_wait_seconds=settings.group_wait_seconds,
        group_join_seconds=settings.group_join_seconds,
    )


def router_routes(
    settings: RouterSettings, dispatcher: Dispatcher, chooser: SkillChooser, basic: BasicCredentials | None
) -> list[BaseRoute]:
    """The webhooks and the REST facade, served beside the router's A2A routes."""
    serve = settings.serve
    callers = Callers(BearerGuard(realm="agent", required=not serve.auth.disabled), basic)
    limits = (settings.max_body_bytes, settings.max_alerts)
    backlog = BacklogLimit(dispatcher.records.pending_count, settings.max_pending_deliveries)
    webhooks = WebhookApi(dispatcher, callers, *limits, backlog)
    facade = FacadeApi(dispatcher, callers, chooser, *limits, openapi_document(serve.base_url))
    return [*webhooks.routes(), *facade.routes()]


if __name__ == "__main__":
    from cli.main import main

    sys.exit(main(["serve", COMPONENT]))
