"""Serving an MCP server over Streamable HTTP or stdio, the same way for every server.

`tool_server` assembles a server from its tools; `serve_mcp` serves it. The HTTP app is the SDK's
Streamable HTTP app (`/mcp`, RFC 9728 metadata, bearer auth, DNS rebinding protection) plus
`/healthz` and `/metrics`, request metrics, and an upper bound on request header size. A server
refuses to listen on a non-loopback address without auth. Over stdio, `common.mcp.stdio` serves.

Streamable HTTP is stateless, with JSON responses: every POST is answered by itself, as one JSON
document, whichever replica behind a load balancer receives it. Clients of protocol 2026-07-28
(the `mcp` 2.x client) work that way anyway; clients of the 2025 handshake still send
`initialize`, but get no `Mcp-Session-Id`, and a request that names one is answered 404 (no
session exists; `NoSessionsMiddleware`). What a stateless server cannot do, and these servers'
tools do not: send a request to the client during a call (elicitation, sampling, roots: the SDK
raises `NoBackChannelError`), stream progress or log notifications during a call (a JSON response
carries only the result), or offer the GET event stream for notifications between calls.
A bearer token is verified once and remembered until it expires (`common.auth.token_cache`).

Where the SDK departs from the security checklist, this module and `common.http_guards` correct
it: the configured token leeway also applies to the SDK's own expiry check, the RFC 9728 metadata
names the issuer exactly as tokens carry it, a 401 to a request without credentials names no error
code (RFC 6750 §3.1, `ScopedRoutes` in place of the SDK's guard), a body that is JSON but not one
JSON-RPC message is -32600 (Invalid Request), and an oversized request head gets its 4xx instead
of a reset.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser, RequireAuthMiddleware
from mcp.server.auth.provider import AccessToken, TokenVerifier
from mcp.server.auth.routes import build_resource_metadata_url
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.tools.base import Tool
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp

from common import __version__
from common.auth import ClientCredentials, TokenSource
from common.auth.bearer import bearer_challenge, sent_credentials
from common.auth.discovery import with_discovered_jwks
from common.auth.resource import resource_verifier
from common.auth.token_cache import CachedVerifier
from common.http import create_http_client
from common.http_guards import HeaderLimitMiddleware, InvalidRequestMiddleware, NoSessionsMiddleware
from common.jsonrpc_bounds import MCP_ARGUMENTS_DEPTH, JsonRpcBoundsGuard
from common.mcp.route_scopes import ScopedRoutes
from common.mcp.stdio import serve_stdio
from common.mcp.tool_scopes import ToolScopeGuard
from common.mcp.tools import CONVENTIONS, ToolGate
from common.metrics import CONTENT_TYPE_LATEST, HttpMetricsMiddleware, ServerMetrics
from common.rate_limit import RateLimitMiddleware
from common.registration import RegistryClient, registered
from common.serving import run_http
from common.settings import ServeSettings

__all__ = [
    "MCP_PATH",
    "NO_AUTH",
    "McpAuth",
    "ScopedMount",
    "Transport",
    "mcp_auth",
    "mcp_http_app",
    "serve_mcp",
    "tool_server",
]

logger = logging.getLogger(__name__)

MCP_PATH = "/mcp"


class McpAuth:
    """The token verifier and SDK auth settings of one MCP server, or neither when auth is disabled."""

    def __init__(self, verifier: TokenVerifier | None, settings: AuthSettings | None) -> None:
        self.verifier = verifier
        self.settings = settings

    @property
    def enabled(self) -> bool:
        return self.verifier is not None


def mcp_auth(serve: ServeSettings, scopes: Sequence[str], http_client: httpx.AsyncClient | None = None) -> McpAuth:
    """Auth for an MCP server: tokens from the configured issuer whose audience is `<base_url>/mcp`."""
    resource = serve.base_url + MCP_PATH
    verifier = resource_verifier(serve, resource, http_client or create_http_client(timeout=10.0))
    if verifier is None:
        return McpAuth(None, None)
    settings = AuthSettings(
        # Strings, not AnyHttpUrl(...): AuthSettings keeps an empty path empty, while a bare
        # AnyHttpUrl turns `http://host:port` into `http://host:port/`, which is not the `iss`
        # of our tokens, so the RFC 9728 metadata would name an issuer that does not exist.
        issuer_url=verifier.validation.issuer,
        resource_server_url=resource,
        required_scopes=list(scopes),
        # JwtVerifier checks the audience itself, exactly (RFC 8707 / 9068).
        validate_token_resource=False,
    )
    # Verified once per token, not per request (common.auth.token_cache says why that is safe).
    return McpAuth(CachedVerifier(LeewayAwareVerifier(verifier, serve.auth.leeway_seconds)), settings)


class LeewayAwareVerifier:
    """`verifier` with the token's expiry reported as the end of the accepted leeway.

    The SDK's bearer backend refuses a token once `AccessToken.expires_at` is past, with no
    leeway; `JwtVerifier` has already applied the configured leeway, so a token it accepted
    within that leeway must not be refused again.
    """

    def __init__(self, verifier: TokenVerifier, leeway_seconds: int) -> None:
        self.verifier = verifier
        self.leeway_seconds = leeway_seconds

    async def verify_token(self, token: str) -> AccessToken | None:
        access = await self.verifier.verify_token(token)
        if access is None or access.expires_at is None:
            return access
        return access.model_copy(update={"expires_at": access.expires_at + self.leeway_seconds})


@dataclass(frozen=True)
class ScopedMount:
    """Another HTTP API served beside `/mcp`, with the same tokens and a scope per request."""

    path: str
    app: ASGIApp
    #: The scope a request needs, from its method and path (relative to `path`).
    needed_scope: Callable[[str, str], str]


def transport_security(serve: ServeSettings) -> TransportSecuritySettings:
    hosts = ["127.0.0.1:*", "localhost:*", "[::1]:*"]
    origins = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]
    public = urlsplit(serve.base_url)
    if public.netloc and public.netloc not in hosts:
        hosts.append(public.netloc)
        origins.append(f"{public.scheme}://{public.netloc}")
    return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins)


def mcp_http_app(
    server: MCPServer[Any],
    serve: ServeSettings,
    metrics: ServerMetrics,
    auth: McpAuth,
    *,
    tool_scopes: Mapping[str, str] | None = None,
    mounts: Sequence[ScopedMount] = (),
) -> ASGIApp:
    """The Streamable HTTP app of `server` with health, metrics, request bounds and per-tool scopes."""
    resource_metadata = (
        str(build_resource_metadata_url(auth.settings.resource_server_url))
        if auth.settings is not None and auth.settings.resource_server_url is not None
        else None
    )

    @server.custom_route("/healthz", methods=["GET"])  # type: ignore[untyped-decorator]
    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "server": server.name})

    @server.custom_route("/metrics", methods=["GET"])  # type: ignore[untyped-decorator]
    async def metrics_route(request: Request) -> Response:
        # Metrics name the tools in use and their error rates: same token as the MCP endpoint.
        if auth.enabled and not isinstance(request.scope.get("user"), AuthenticatedUser):
            refused = sent_credentials(request.scope)
            challenge = bearer_challenge(
                error="invalid_token" if refused else None, resource_metadata=resource_metadata
            )
            description = "The bearer token is invalid or expired." if refused else "Authentication required."
            return JSONResponse(
                {"error": "invalid_token", "error_description": description},
                status_code=401,
                headers={"WWW-Authenticate": challenge},
            )
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    app = server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        # No session state and one JSON answer per request: any replica can serve any request.
        stateless_http=True,
        json_response=True,
        transport_security=transport_security(serve),
        max_request_body_size=serve.max_body_bytes,
        host=serve.host,
    )
    # Inside the SDK's /mcp route, after authentication: limits and scopes apply to a known client.
    guarded = _mcp_route(app)
    _refuse_sessions(guarded)
    _require_token(guarded, resource_metadata)
    if tool_scopes:
        guarded.app = ToolScopeGuard(
            guarded.app, tool_scopes, max_body_bytes=serve.max_body_bytes, resource_metadata=resource_metadata
        )
    # Outside the tool-scope guard, which parses the body too: a request too deep for Python's
    # parser is answered here (common.json_bounds), not with a 500 there.
    guarded.app = JsonRpcBoundsGuard(
        guarded.app, params_depth=MCP_ARGUMENTS_DEPTH, max_body_bytes=serve.max_body_bytes, status=400
    )
    guarded.app = RateLimitMiddleware(guarded.app, serve.requests_per_second)
    for mount in mounts:
        scoped = ScopedRoutes(mount.app, mount.needed_scope, enabled=auth.enabled, resource_metadata=resource_metadata)
        app.router.routes.append(Mount(mount.path, app=RateLimitMiddleware(scoped, serve.requests_per_second)))
    routes = (MCP_PATH, "/healthz", "/metrics", "/.well-known", *(mount.path for mount in mounts))
    return HeaderLimitMiddleware(HttpMetricsMiddleware(InvalidRequestMiddleware(app, MCP_PATH), metrics, routes))


def _require_token(route: Route, resource_metadata: str | None) -> None:
    """`ScopedRoutes` in place of the SDK's `RequireAuthMiddleware` on `route` (nothing to do without auth).

    The SDK's guard answers `error="invalid_token"` even to a request that sent no credentials;
    ours names no error code then (RFC 6750 §3.1), and names the missing scope in a 403.
    """
    sdk_guard = route.app
    if not isinstance(sdk_guard, RequireAuthMiddleware):
        return
    app: ASGIApp = sdk_guard.app
    # One guard per required scope (each is required); none means any valid token.
    required: list[str | None] = [*sdk_guard.required_scopes] or [None]
    for needed in required:
        app = ScopedRoutes(app, _always(needed), enabled=True, resource_metadata=resource_metadata)
    route.app = app


def _refuse_sessions(route: Route) -> None:
    """`NoSessionsMiddleware` around the SDK's transport, inside its auth guard when there is one."""
    sdk_guard = route.app
    if isinstance(sdk_guard, RequireAuthMiddleware):
        sdk_guard.app = NoSessionsMiddleware(sdk_guard.app)
    else:
        route.app = NoSessionsMiddleware(sdk_guard)


def _always(scope: str | None) -> Callable[[str, str], str | None]:
    return lambda method, path: scope


def _mcp_route(app: Starlette) -> Route:
    for route in app.routes:
        if isinstance(route, Route) and route.path == MCP_PATH:
            return route
    raise RuntimeError(f"The SDK's app has no {MCP_PATH} route.")


#: How a server is reached: as the child process of a user's own client, or over Streamable HTTP.
Transport = Literal["stdio", "http"]

#: A server over stdio checks no token: it is the user's own client's child process.
NO_AUTH = McpAuth(None, None)


def tool_server(
    name: str,
    *,
    title: str,
    instructions: str,
    tools: Sequence[Tool],
    metrics: ServerMetrics | None = None,
    auth: McpAuth = NO_AUTH,
) -> MCPServer[Any]:
    """An MCP server offering `tools` behind the `ToolGate`; its instructions end with the shared `CONVENTIONS`."""
    return MCPServer(
        name,
        title=title,
        version=__version__,
        instructions=f"{instructions} {CONVENTIONS}",
        tools=list(tools),
        middleware=[ToolGate(tools, metrics)],
        token_verifier=auth.verifier,
        auth=auth.settings,
    )


async def serve_mcp(
    transport: Transport,
    build_server: Callable[[McpAuth], MCPServer[Any]],
    serve: ServeSettings,
    metrics: ServerMetrics,
    *,
    default_name: str,
    scopes: Sequence[str],
    tool_scopes: Mapping[str, str] | None = None,
    mounts: Sequence[ScopedMount] = (),
) -> None:
    """Serve the MCP server `build_server` makes until it is stopped, over stdio or HTTP.

    Over HTTP: discover the issuer's keys, authenticate every request, register with the registry
    while serving. The caller owns what the server uses (its backends' clients) around this call.
    """
    if transport == "stdio":
        await serve_stdio(build_server(NO_AUTH))
        return
    async with create_http_client(timeout=10.0) as http:
        serve = serve.model_copy(update={"auth": await with_discovered_jwks(serve.auth, http)})
        auth = mcp_auth(serve, scopes)
        server = build_server(auth)
        app = mcp_http_app(server, serve, metrics, auth, tool_scopes=tool_scopes, mounts=mounts)
        credentials = ClientCredentials.of_component(serve)
        if credentials is None:
            logger.info("No SRE_CLIENT_ID configured: not registering with the registry at %s", serve.registry_url)
            await run_http(app, serve)
            return
        tokens = TokenSource(credentials, http)
        descriptor = {
            "name": serve.name or default_name,
            "url": serve.base_url + MCP_PATH,
            "transport": "streamable-http",
            "tools": [{"name": t.name, "description": (t.description or "")[:4000]} for t in await server.list_tools()],
            "scopes": sorted({*scopes, *(tool_scopes or {}).values()}),
        }
        async with registered(RegistryClient(serve.registry_url, tokens, http), "servers", descriptor):
            await run_http(app, serve)
