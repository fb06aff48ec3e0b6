"""One way to serve any ADK agent over A2A 1.0: `a2a_app()`.

The app is a2a-sdk's JSON-RPC endpoint (`POST /`, `DefaultRequestHandler` running an
`AdkAgentExecutor`) and the public card (`/.well-known/agent-card.json`), plus `/healthz` and
`/metrics`, behind the layers of every REST API here (`common.rest.rest_app`): header limits,
request metrics, bearer verification, per-caller rate limiting.

The SDK does not enforce the card's security, so this module does:

- `POST /` needs a token for the agent's canonical URL (`ServeSettings.base_url`) with scope
  `agents:invoke`: none, a refused or an expired token is HTTP 401, a token without the scope
  403 (checklist row 26), before the SDK reads the body; a body that is not `application/json` is 400
  and a client that accepts neither JSON nor SSE 406 (row 22); bodies are bounded (413), and their JSON
  is held to `common.json_bounds` (row 39: a JSON-RPC error naming the field, `jsonrpc_bounds`);
- `/metrics` needs any valid token for the agent; the card and `/healthz` need none (the card is
  cacheable: `Cache-Control: public, max-age`, `ETag`, `Last-Modified`, `common.agents.card_route`);
- tasks are stored with their owner, the OAuth client of the token (`ClientUser`), and every
  read is scoped to it by the SDK's `DatabaseTaskStore`: another client's task is "not found"
  (row 29), and an ADK session is per (client, context);
- push notifications are disabled: the card says so, the configuration methods answer "push
  notifications not supported", and a message that carries a push configuration is refused
  (row 30), so the agent never calls a caller-chosen URL.

Tasks persist in a database: SQLite by default (`default_task_store_url()`), PostgreSQL by URL
(`postgresql+asyncpg://...`); they survive a restart. Several replicas (processes) of an agent
may share one PostgreSQL task store: each holds a lease on the tasks it runs
(`common.agents.leases`, table `a2a_task_leases` beside the tasks, renewed every
`lease_seconds / 3`). At start-up and every `lease_seconds / 2` while serving, a replica fails
the unfinished tasks whose lease expired or whose holder is a process of this host that is gone
(the replica running it stopped: `INTERRUPTED_MESSAGE`, send the request again) and those left
without a lease past a grace of `lease_seconds` (`common.agents.watchdog`): a replica starting
never fails another's running task, and none reads as running forever. A replica that stops
cleanly fails its own unfinished tasks the same way. A task failed this way is not re-run by
another replica: the SDK starts runs only from a live request (re-driving a stored one would go
through its private task registry, with a made-up call context), and a run cut off part-way may
already have acted (triage records its analysis in the control plane; the caller saw its
stages), so sending the request again is the caller's decision, which the message asks for.

With the task store on PostgreSQL the ADK sessions are stored there too (`DatabaseSessionService`
on the same engine), so a conversation (an A2A context: follow-up questions) may continue on any
replica; on SQLite, or when the caller passes `session_service`, they are that one's (default: in
memory, one process).

At most `max_concurrent_tasks` runs go at once; the others wait, submitted, in arrival order, and
at most `max_queued_tasks` wait (`common.agents.task_queue`, gauges `sre_agent_tasks` on `/metrics`): a
`SendMessage` or
`SendStreamingMessage` beyond that is answered HTTP 429 `queue_full` with `Retry-After` (seconds,
from the recent run time and the queue) before the SDK creates a task, so a storm never builds
an unbounded backlog in memory; the caller sends it again later, or to another replica.

`extra_routes` are served beside the A2A ones, behind the same layers (a component's own REST
API or webhooks, like the router's); each route requires what it needs with a `BearerGuard`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
from a2a.auth.user import UnauthenticatedUser, User
from a2a.extensions.common import HTTP_EXTENSION_HEADER, get_requested_extensions
from a2a.server.context import ServerCallContext
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.routes import ServerCallContextBuilder, create_jsonrpc_routes
from a2a.server.tasks import DatabaseTaskStore, InMemoryPushNotificationConfigStore
from google.adk.agents import BaseAgent
from google.adk.artifacts import InMemoryArtifactService
from google.adk.runners import Runner
from google.adk.sessions import BaseSessionService, DatabaseSessionService, InMemorySessionService
from mcp.server.auth.provider import AccessToken, TokenVerifier
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive
from starlette.types import Message as AsgiMessage

from common import jsonrpc_bounds
from common.agents.card import AgentCardSpec, agent_card
from common.agents.card_route import CARD_MAX_AGE_SECONDS, card_routes
from common.agents.executor import ADMISSION, DEFAULT_MAX_CONCURRENT_TASKS, AdkAgentExecutor
from common.agents.leases import DEFAULT_LEASE_SECONDS, TaskLeases
from common.agents.owner import ClientUser
from common.agents.task_queue import DEFAULT_MAX_QUEUED_TASKS, QueueGauges, TaskQueue, Ticket
from common.agents.watchdog import INTERRUPTED_MESSAGE, Abandoned, TaskWatchdog, fail_tasks
from common.auth.bearer import ACCESS_KEY
from common.database import create_database_engine, display_url
from common.metrics import CONTENT_TYPE_LATEST, ServerMetrics
from common.rest import BearerGuard, Handler, HttpError, read_body, rest_app
from common.scopes import AGENTS_INVOKE
from common.settings import ServeSettings
from common.task_groups import task_group

__all__ = [
    "CARD_PATH",
    "INTERRUPTED_MESSAGE",
    "RPC_PATH",
    "ClientUser",
    "OwnerContextBuilder",
    "a2a_app",
    "default_task_store_url",
]

logger = logging.getLogger(__name__)

RPC_PATH = "/"
CARD_PATH = "/.well-known/agent-card.json"
RATE_EXEMPT = ("/healthz",)
_METRIC_ROUTES = ("/.well-known", "/healthz", "/metrics")
#: The JSON-RPC methods that start a run (A2A 1.0, then 0.3), admitted by the task queue.
_STARTS_RUN = frozenset({"SendMessage", "SendStreamingMessage", "message/send", "message/stream"})
#: Attempts at creating the tables (`_prepare_schema`).
_SCHEMA_ATTEMPTS = 4
#: The ASGI scope key under which the guard leaves a request's admission ticket for the context builder.
_TICKET_KEY = "sre.admission"


def default_task_store_url(data_dir: Path | str, name: str) -> str:
    """`sqlite+aiosqlite:///<data_dir>/<name>-tasks.db`."""
    return f"sqlite+aiosqlite:///{Path(data_dir) / f'{name}-tasks.db'}"


#: Request headers kept out of the SDK's call context: credentials are never passed on.
_CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})


class OwnerContextBuilder(ServerCallContextBuilder):
    """The SDK's call context, with the verified client as its user and no credentials.

    The SDK's default builder copies every header (the bearer token included) into the
    context's state, where an executor could log or forward it; the SDK needs the others (it
    reads `A2A-Version` there), so only credentials are left out.
    """

    def build(self, request: Request) -> ServerCallContext:
        access = request.scope.get(ACCESS_KEY)
        user: User = ClientUser(access.client_id) if isinstance(access, AccessToken) else UnauthenticatedUser()
        headers = {name: value for name, value in request.headers.items() if name not in _CREDENTIAL_HEADERS}
        state: dict[str, object] = {"headers": headers}
        if isinstance(ticket := request.scope.get(_TICKET_KEY), Ticket):
            state[ADMISSION] = ticket
        return ServerCallContext(
            user=user,
            state=state,
            requested_extensions=get_requested_extensions(request.headers.getlist(HTTP_EXTENSION_HEADER)),
        )


async def _refuse_push_url(url: str) -> bool:
    return False


def a2a_app(
    *,
    agent: BaseAgent,
    card: AgentCardSpec,
    serve: ServeSettings,
    verifier: TokenVerifier | None,
    task_store_url: str,
    session_service: BaseSessionService | None = None,
    metrics: ServerMetrics | None = None,
    extra_routes: Sequence[BaseRoute] = (),
    max_concurrent_tasks: int = DEFAULT_MAX_CONCURRENT_TASKS,
    max_queued_tasks: int = DEFAULT_MAX_QUEUED_TASKS,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
    card_max_age_seconds: int = CARD_MAX_AGE_SECONDS,
) -> ASGIApp:
    """The A2A app of `agent`; `verifier=None` means authentication is disabled (loopback only, checked by the caller).

    `verifier` must accept tokens whose audience is `serve.base_url` (`common.auth.resource.resource_verifier`).
    `session_service` keeps the ADK sessions (default: the task store's database on PostgreSQL, else in memory).
    `extra_routes` are served beside the A2A routes, behind the same layers.
    `max_concurrent_tasks` runs of the agent at most run at once; the other tasks wait, submitted, up to
    `max_queued_tasks` (then 429). `lease_seconds`: how long a task's lease lasts without renewal.
    `card_max_age_seconds`: how long callers may cache the public card (`Cache-Control: max-age`).
    """
    metrics = metrics or ServerMetrics(card.name)
    public_card = agent_card(card, serve)
    engine = create_database_engine(task_store_url)
    if session_service is None:
        shared = make_url(task_store_url).get_backend_name() != "sqlite"
        session_service = DatabaseSessionService(db_engine=engine) if shared else InMemorySessionService()
    runner = Runner(
        app_name=agent.name,
        agent=agent,
        session_service=session_service,
        artifact_service=InMemoryArtifactService(),
    )
    task_store = DatabaseTaskStore(engine)
    queue = TaskQueue(max_concurrent=max_concurrent_tasks, max_queued=max_queued_tasks)
    metrics.registry.register(QueueGauges(card.name, queue))
    leases = TaskLeases(engine, lease_seconds=lease_seconds)
    executor = AdkAgentExecutor(runner, queue=queue, leases=leases)
    watchdog = TaskWatchdog(task_store, leases, interval_seconds=lease_seconds / 2, grace_seconds=lease_seconds)
    handler = DefaultRequestHandler(
        agent_executor=executor,
        task_store=task_store,
        agent_card=public_card,
        # Never written: every push URL is refused before it is stored (see the module doc).
        push_config_store=InMemoryPushNotificationConfigStore(),
        push_url_validator=_refuse_push_url,
    )
    guard = BearerGuard(realm="agent", required=verifier is not None)
    max_body = serve.max_body_bytes

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "agent": card.name})

    async def metrics_route(request: Request) -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await _prepare_schema(task_store, leases, runner.session_service)
        logger.info(
            "Agent %s (replica %s) stores its tasks in %s", card.name, leases.holder, display_url(task_store_url)
        )
        await watchdog.sweep()
        try:
            async with task_group() as background:
                background.start_soon(watchdog.run)
                background.start_soon(leases.run)
                yield
                background.cancel_scope.cancel()
        finally:
            await _stop_runs(handler, leases, task_store)
            await runner.close()
            await engine.dispose()

    rpc_routes = create_jsonrpc_routes(
        handler, RPC_PATH, context_builder=OwnerContextBuilder(), enable_v0_3_compat=True
    )
    routes: list[BaseRoute] = [
        *card_routes(public_card, CARD_PATH, max_age_seconds=card_max_age_seconds),
        *(_guarded(route, guard, max_body, queue, card.name) for route in rpc_routes),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", guard(metrics_route), methods=["GET"]),
        *extra_routes,
    ]
    metric_routes = (*_METRIC_ROUTES, *_route_prefixes(extra_routes))
    return rest_app(routes, lifespan, verifier, metrics, metric_routes, serve.requests_per_second, RATE_EXEMPT)


def _route_prefixes(routes: Sequence[BaseRoute]) -> list[str]:
    """Metric labels of `routes`: each path up to its first parameter (`/tasks/{id}` counts as `/tasks`)."""
    prefixes = (route.path.split("{")[0].rstrip("/") for route in routes if isinstance(route, Route))
    return list(dict.fromkeys(prefix for prefix in prefixes if prefix))


async def _prepare_schema(task_store: DatabaseTaskStore, leases: TaskLeases, sessions: BaseSessionService) -> None:
    """Create the tables of the tasks, their leases and (in the database) the sessions, where missing.

    Replicas starting together race to create them, and PostgreSQL refuses the second CREATE TABLE
    of one name: the loser tries again, and finds them. ADK's session tables race too: a replica that
    reads the schema-version table another has just created, before its row is written, gets a
    ValueError ("Schema version not found"), and the next attempt reads the row.
    """
    for attempt in range(1, _SCHEMA_ATTEMPTS + 1):
        try:
            await task_store.initialize()
            await leases.initialize()
            if isinstance(sessions, DatabaseSessionService):
                await sessions.prepare_tables()
            return
        except (DBAPIError, ValueError):
            if attempt == _SCHEMA_ATTEMPTS:
                raise
            logger.info("Creating the agent's tables raced another replica; trying again")
            await anyio.sleep(0.5 * attempt)


async def _stop_runs(handler: DefaultRequestHandler, leases: TaskLeases, task_store: DatabaseTaskStore) -> None:
    """Stop this replica's runs, give up their leases and fail those left unfinished (`INTERRUPTED_MESSAGE`)."""
    held = leases.held()
    await handler.aclose()
    try:
        await leases.release_all()
        failed = await fail_tasks(task_store, [Abandoned(task_id, "", INTERRUPTED_MESSAGE) for task_id in held])
    except Exception:  # the database is gone: the leases expire, and another replica (or the next start) fails them
        logger.exception("Could not fail the %d task(s) this replica was running as it stopped", len(held))
        return
    if failed:
        logger.warning("Stopping: marked %d task(s) this replica was running failed", failed)


def _guarded(route: BaseRoute, guard: BearerGuard, max_body_bytes: int, queue: TaskQueue, agent: str) -> Route:
    """`route` (an SDK JSON-RPC route) behind the bearer guard, a body limit and the task queue's admission."""
    if not isinstance(route, Route):
        raise TypeError(f"Expected a Starlette Route from a2a-sdk, got {type(route).__name__}.")
    endpoint: Handler = route.endpoint

    async def guarded(request: Request) -> Response:
        guard.require(request, AGENTS_INVOKE)
        _negotiate(request)
        body = await read_body(request, max_body_bytes)
        # common.json_bounds, before the SDK's protobuf parse
        out_of_bounds = jsonrpc_bounds.refusal(body, params_depth=jsonrpc_bounds.A2A_DATA_PART_DEPTH)
        if out_of_bounds is not None:
            return out_of_bounds
        ticket: Ticket | None = None
        if _rpc_method(body) in _STARTS_RUN:
            ticket = queue.admit()
            if ticket is None:
                return _queue_full(queue, agent)
            request.scope[_TICKET_KEY] = ticket
        try:
            response = await endpoint(Request(request.scope, _replay(body, request.receive)))
        except BaseException:
            if ticket is not None:
                ticket.settle()
            raise
        if ticket is not None:
            # Settled by the executor when it takes the task; else once the answer (a stream too) has been sent.
            response.background = BackgroundTask(_settle_after, ticket, response.background)
        return response

    return Route(route.path, guarded, methods=list(route.methods or ("POST",)))


# What A2A's JSON-RPC binding answers: JSON, or an SSE stream for the streaming methods.
_ANSWER_TYPES = frozenset({"application/json", "text/event-stream", "application/*", "text/*", "*/*"})


def _negotiate(request: Request) -> None:
    """`HttpError` 400/406 for a request that is not JSON or accepts neither JSON nor SSE (checklist row 22).

    The SDK reads any body as JSON whatever its declared type, so a form post or a text body
    would be run; a client that accepts only, say, HTML could not read the answer.
    """
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise HttpError(400, "invalid_request", "The body must be JSON-RPC with Content-Type: application/json.")
    accept = request.headers.get("accept")
    if accept is not None and not any(
        entry.split(";")[0].strip().lower() in _ANSWER_TYPES for entry in accept.split(",")
    ):
        raise HttpError(
            406, "not_acceptable", "This endpoint answers application/json or text/event-stream; accept one of them."
        )


def _rpc_method(body: bytes) -> str | None:
    """The JSON-RPC method of `body` (already held to its bounds), or None when it names none."""
    try:
        message = json.loads(body)
    except ValueError:
        return None  # the SDK answers the parse error
    method = message.get("method") if isinstance(message, dict) else None
    return method if isinstance(method, str) else None


def _queue_full(queue: TaskQueue, agent: str) -> Response:
    retry_after = queue.retry_after()
    return HttpError(
        429,
        "queue_full",
        f"The {agent} agent is at its limit: {queue.running} task(s) running and {queue.max_queued} waiting "
        f"(max_queued_tasks = {queue.max_queued}). Send the request again in {retry_after} s (Retry-After), "
        "or to another replica.",
        headers={"Retry-After": str(retry_after)},
    ).response()


async def _settle_after(ticket: Ticket, background: BackgroundTask | None) -> None:
    ticket.settle()
    if background is not None:
        await background()


def _replay(body: bytes, receive: Receive) -> Receive:
    """`body` as one message, then the connection's own messages (an SSE stream watches for the disconnect)."""
    sent = False

    async def replay() -> AsgiMessage:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
