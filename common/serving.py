"""Serving an MCP server over Streamable HTTP (or stdio) the same way for every component.

The HTTP app is the SDK's Streamable HTTP app (`/mcp`, RFC 9728 metadata, bearer auth, DNS
rebinding protection) plus `/healthz` and `/metrics`, request metrics, and an upper bound on
request header size. A server refuses to listen on a non-loopback address without auth.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx
import uvicorn
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import TokenVerifier
from mcp.server.auth.routes import build_resource_metadata_url
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from pydantic import AnyHttpUrl
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from common.auth import JwtVerifier, TokenValidation
from common.errors import ConfigError
from common.http import create_http_client
from common.metrics import CONTENT_TYPE_LATEST, HttpMetricsMiddleware, ServerMetrics
from common.settings import ServeSettings, is_loopback

__all__ = ["MCP_PATH", "McpAuth", "mcp_auth", "mcp_http_app", "run_http"]

logger = logging.getLogger(__name__)

MCP_PATH = "/mcp"
# Real requests carry well under 8 KiB of headers; a 300 KiB Authorization header is an attack.
MAX_HEADER_BYTES = 32 * 1024


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
    config = serve.auth
    if config.disabled:
        if not is_loopback(serve.host):
            raise ConfigError(
                f"Refusing to serve on {serve.host} without authentication: SRE_AUTH_DISABLED is only allowed "
                "on a loopback address. Configure SRE_AUTH_ISSUER instead."
            )
        logger.warning("Authentication is disabled (SRE_AUTH_DISABLED); serving on loopback only.")
        return McpAuth(None, None)
    issuer = config.issuer or ""
    resource = serve.base_url + MCP_PATH
    validation = TokenValidation(
        issuer=issuer,
        jwks_url=config.jwks_url or issuer.rstrip("/") + "/jwks.json",
        audience=resource,
        algorithms=config.algorithms,
        leeway_seconds=config.leeway_seconds,
        profile=config.profile,
        jwks_refetch_cooldown_seconds=config.jwks_refetch_cooldown_seconds,
    )
    verifier = JwtVerifier(validation, http_client or create_http_client(timeout=10.0))
    settings = AuthSettings(
        issuer_url=AnyHttpUrl(issuer),
        resource_server_url=AnyHttpUrl(resource),
        required_scopes=list(scopes),
        # JwtVerifier checks the audience itself, exactly (RFC 8707 / 9068).
        validate_token_resource=False,
    )
    return McpAuth(verifier, settings)


def transport_security(serve: ServeSettings) -> TransportSecuritySettings:
    hosts = ["127.0.0.1:*", "localhost:*", "[::1]:*"]
    origins = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]
    public = urlsplit(serve.base_url)
    if public.netloc and public.netloc not in hosts:
        hosts.append(public.netloc)
        origins.append(f"{public.scheme}://{public.netloc}")
    return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins)


def mcp_http_app(server: MCPServer[Any], serve: ServeSettings, metrics: ServerMetrics, auth: McpAuth) -> ASGIApp:
    """The Streamable HTTP app of `server` with health, metrics and request bounds."""
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
            challenge = "Bearer" + (f' resource_metadata="{resource_metadata}"' if resource_metadata else "")
            return JSONResponse(
                {"error": "invalid_token", "error_description": "Authentication required"},
                status_code=401,
                headers={"WWW-Authenticate": challenge},
            )
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    app = server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        transport_security=transport_security(serve),
        max_request_body_size=serve.max_body_bytes,
        host=serve.host,
    )
    routes = (MCP_PATH, "/healthz", "/metrics", "/.well-known")
    return HeaderLimitMiddleware(HttpMetricsMiddleware(app, metrics, routes))


class HeaderLimitMiddleware:
    """Answers 431 to requests whose headers exceed `MAX_HEADER_BYTES`, before any parsing of them."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_HEADER_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and sum(len(k) + len(v) for k, v in scope.get("headers", ())) > self.max_bytes:
            response = JSONResponse(
                {"error": "request_header_fields_too_large", "error_description": "Request headers are too large."},
                status_code=431,
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


async def run_http(
    app: ASGIApp, serve: ServeSettings, *, on_shutdown: Sequence[Callable[[], Awaitable[None]]] = ()
) -> None:
    config = uvicorn.Config(
        app,
        host=serve.host,
        port=serve.port,
        log_config=None,
        access_log=False,
        lifespan="on",
        # h11 bounds the bytes it buffers for a request head; httptools would accept any size.
        http="h11",
        h11_max_incomplete_event_size=MAX_HEADER_BYTES * 2,
        server_header=False,
    )
    server = uvicorn.Server(config)
    logger.info("Serving on %s (listening on %s:%d)", serve.base_url, serve.host, serve.port)
    try:
        await server.serve()
    finally:
        for hook in on_shutdown:
            await hook()
